"""The shared layer test harness.

Every layer test calls :func:`run_layer_test`. It checks, in order:

1. ``get_config`` round trip: every constructor argument is in the config
   with the value it was given, and ``from_config`` and Keras
   (de)serialisation give the same config back;
2. eager call: output shapes and dtypes, weight counts, and
   ``compute_output_shape`` (where the layer has one) against the real
   output shape;
3. symbolic call inside a Functional model: output shapes agree with eager;
4. one ``fit`` step: every trainable weight receives a gradient and changes
   (except those the test names as unused in its configuration);
5. a ``mixed_float16`` pass (float16 compute, float32 variables, finite outputs);
6. ``.keras`` save and reload with identical outputs;
7. SavedModel export (``model.export``) and reload with identical outputs
   (TensorFlow backend only).

It is written against public Keras APIs only; nothing is imported from
``keras.src``.
"""

import inspect
import os
import tempfile

import keras
import numpy as np
from keras import ops


def _as_call(input_data):
    """Splits ``input_data`` into positional and keyword call arguments."""
    if isinstance(input_data, dict):
        return [], dict(input_data)
    if isinstance(input_data, (list, tuple)):
        return list(input_data), {}
    return [input_data], {}


def _flatten(structure):
    return keras.tree.flatten(structure)


def _to_numpy(structure):
    return [ops.convert_to_numpy(x) for x in _flatten(structure)]


def _is_float_dtype(dtype):
    return "float" in str(dtype)


def _assert_close(actual, expected, atol, rtol, what):
    actual, expected = _to_numpy(actual), _to_numpy(expected)
    if len(actual) != len(expected):
        raise AssertionError(f"{what}: {len(actual)} outputs, expected {len(expected)}")
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            a, e, atol=atol, rtol=rtol, err_msg=f"{what}: output {i} differs"
        )


def _symbolic_inputs(args, kwargs):
    """Makes ``keras.Input`` tensors mirroring the concrete call arguments."""

    def make(name, value):
        value = np.asarray(value)
        return keras.Input(shape=value.shape[1:], dtype=str(value.dtype), name=name)

    sym_args = [make(f"input_{i}", v) for i, v in enumerate(args)]
    sym_kwargs = {k: make(k, v) for k, v in kwargs.items()}
    return sym_args, sym_kwargs


class _CallWrapper:
    """Binds a layer to its non-tensor call arguments (e.g. ``use_causal_mask``)."""

    def __init__(self, layer, call_kwargs):
        self.layer = layer
        self.call_kwargs = call_kwargs

    def __call__(self, *args, **kwargs):
        return self.layer(*args, **kwargs, **self.call_kwargs)


def _functional_model(layer, args, kwargs, call_kwargs):
    sym_args, sym_kwargs = _symbolic_inputs(args, kwargs)
    outputs = _CallWrapper(layer, call_kwargs)(*sym_args, **sym_kwargs)
    inputs = sym_args + list(sym_kwargs.values())
    return keras.Model(inputs, outputs), sym_args, sym_kwargs


def _model_inputs(args, kwargs):
    return [np.asarray(a) for a in args] + [np.asarray(v) for v in kwargs.values()]


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    *,
    call_kwargs=None,
    expected_output_shape=None,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    expected_num_trainable_params=None,
    weights_without_gradient=(),
    run_training_check=True,
    run_mixed_precision_check=True,
    run_save_check=True,
    run_saved_model_check=True,
    atol=1e-6,
    rtol=1e-6,
):
    """Runs the shared checks on one layer configuration.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: one array, a list of arrays (positional call arguments) or a
            dict of arrays (keyword call arguments).
        call_kwargs: non-tensor call arguments (flags such as
            ``use_causal_mask=True``), passed to every call.
        expected_output_shape: a shape tuple, or a nested structure of shape
            tuples for layers returning several tensors.
        expected_output_dtype: dtype string (or nested structure of them).
        expected_num_trainable_weights / expected_num_non_trainable_weights:
            number of weight variables after the first call.
        expected_num_trainable_params: total scalar count of trainable weights.
        weights_without_gradient: paths (or path endings, e.g. ``"key/kernel"``)
            of trainable weights that this configuration leaves unused; the
            fit check requires that exactly these do not change.
        run_*_check: switch individual checks off where they cannot apply
            (for example a layer without trainable weights has no ``fit`` check
            worth running, and a layer that returns a Python structure cannot
            be exported).
        atol, rtol: tolerance for "identical outputs" after reload.

    Returns:
        The eager outputs of the first layer instance.
    """
    call_kwargs = dict(call_kwargs or {})
    args, kwargs = _as_call(input_data)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        if key in ("dtype",):
            continue
        if key not in config:
            raise AssertionError(f"get_config() lacks the init argument {key!r}")
        if not _config_value_matches(config[key], value):
            raise AssertionError(
                f"get_config() has {key}={config[key]!r}, but the layer was made with "
                f"{key}={value!r}"
            )
    revived = layer_cls.from_config(config)
    if revived.get_config() != config:
        raise AssertionError("from_config(get_config()) changes the config")
    serialized = keras.saving.serialize_keras_object(layer)
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is layer_cls, "deserialisation gives another class"
    if deserialized.get_config() != config:
        raise AssertionError("Keras deserialisation changes the config")

    # 2. Eager call.
    outputs = layer(*args, **kwargs, **call_kwargs)
    if expected_output_shape is not None:
        actual_shapes = keras.tree.map_structure(lambda x: tuple(x.shape), outputs)
        _assert_same_structure_values(actual_shapes, expected_output_shape, "eager output shape")
    if expected_output_dtype is not None:
        actual_dtypes = keras.tree.map_structure(
            lambda x: keras.backend.standardize_dtype(x.dtype), outputs
        )
        _assert_same_structure_values(actual_dtypes, expected_output_dtype, "eager output dtype")
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            f"{len(layer.trainable_weights)} trainable weights, "
            f"expected {expected_num_trainable_weights}"
        )
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, (
            f"{len(layer.non_trainable_weights)} non-trainable weights, "
            f"expected {expected_num_non_trainable_weights}"
        )
    if expected_num_trainable_params is not None:
        count = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        assert count == expected_num_trainable_params, (
            f"{count} trainable parameters, expected {expected_num_trainable_params}"
        )
    for value in _to_numpy(outputs):
        if _is_float_dtype(value.dtype):
            assert np.all(np.isfinite(value)), "eager outputs are not finite"
    _check_compute_output_shape(layer, args, kwargs, outputs)

    # 3. Symbolic call in a Functional model that shares the built layer.
    model, _, _ = _functional_model(layer, args, kwargs, call_kwargs)
    symbolic_shapes = [tuple(t.shape) for t in _flatten(model.outputs)]
    eager_shapes = [tuple(x.shape) for x in _flatten(outputs)]
    for sym, eag in zip(symbolic_shapes, eager_shapes):
        if len(sym) != len(eag) or any(s is not None and s != e for s, e in zip(sym, eag)):
            raise AssertionError(f"symbolic shape {sym} disagrees with eager shape {eag}")
    model_inputs = _model_inputs(args, kwargs)
    model_outputs = model(model_inputs)
    _assert_close(model_outputs, outputs, 1e-5, 1e-5, "functional model vs eager layer")

    # 4. One fit step: gradients reach the weights and change them.
    if run_training_check and layer.trainable_weights:
        train_model, _, _ = _functional_model(
            layer_cls(**init_kwargs), args, kwargs, call_kwargs
        )
        float_outputs = [
            o for o in _flatten(train_model.outputs) if _is_float_dtype(o.dtype)
        ]
        train_model = keras.Model(train_model.inputs, float_outputs)
        # Random targets: with zeros, a layer whose outputs start at zero
        # would get no gradient at all.
        rng = np.random.default_rng(0)
        targets = [
            rng.normal(size=tuple(x.shape)).astype("float32")
            for x in _flatten(train_model(model_inputs))
        ]
        train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse"] * len(targets))
        weights = train_model.trainable_weights
        before = [ops.convert_to_numpy(w) for w in weights]
        train_model.fit(model_inputs, targets, batch_size=len(model_inputs[0]), epochs=1, verbose=0)
        after = [ops.convert_to_numpy(w) for w in weights]
        # With plain SGD a weight moves exactly when its gradient is nonzero.
        unchanged = {w.path for w, b, a in zip(weights, before, after) if np.array_equal(b, a)}
        expected = {w.path for w in weights if _named_in(w.path, weights_without_gradient)}
        if unchanged != expected:
            raise AssertionError(
                "one fit step: weights without a gradient "
                f"{sorted(unchanged - expected)}; expected no gradient for {sorted(expected)}, "
                f"got one for {sorted(expected - unchanged)}"
            )

    # 5. mixed_float16.
    if run_mixed_precision_check:
        mp_layer = layer_cls(**{**init_kwargs, "dtype": "mixed_float16"})
        mp_outputs = mp_layer(*args, **kwargs, **call_kwargs)
        for value in _flatten(mp_outputs):
            dtype = keras.backend.standardize_dtype(value.dtype)
            if _is_float_dtype(dtype):
                assert dtype == "float16", f"mixed_float16 output has dtype {dtype}"
                assert np.all(np.isfinite(ops.convert_to_numpy(value))), (
                    "mixed_float16 outputs are not finite"
                )
        for weight in mp_layer.weights:
            if _is_float_dtype(weight.dtype):
                assert keras.backend.standardize_dtype(weight.dtype) == "float32", (
                    f"mixed_float16 variable {weight.path} is {weight.dtype}"
                )

    with tempfile.TemporaryDirectory() as tmp:
        # 6. .keras save and reload.
        if run_save_check:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            reloaded = keras.models.load_model(path)
            _assert_close(reloaded(model_inputs), model_outputs, atol, rtol, ".keras reload")

        # 7. SavedModel export and reload (TensorFlow backend).
        if run_saved_model_check and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            export_path = os.path.join(tmp, "saved_model")
            model.export(export_path, verbose=False)
            restored = tf.saved_model.load(export_path)
            exported_outputs = restored.serve(model_inputs)
            _assert_close(exported_outputs, model_outputs, atol, rtol, "SavedModel reload")

    return outputs


def _named_in(path, names):
    names = [names] if isinstance(names, str) else names
    return any(path == name or path.endswith("/" + name) for name in names)


_OBJECT_MODULES = {
    "keras.initializers": keras.initializers,
    "keras.regularizers": keras.regularizers,
    "keras.constraints": keras.constraints,
}


def _config_value_matches(stored, given):
    """Whether a config entry holds the constructor argument it came from.

    Plain values must be equal (lists and tuples alike, ints and floats alike,
    booleans only with booleans); a serialised initializer, regularizer or
    constraint must equal the serialisation of what the argument names
    (``"glorot_uniform"``, a config dict or an object), and a serialised
    activation the name of the function given.
    """
    if isinstance(stored, dict) and stored.get("module") in _OBJECT_MODULES:
        module = _OBJECT_MODULES[stored["module"]]
        return stored == module.serialize(module.get(given))
    if isinstance(stored, str) and stored != given and (given is None or callable(given)):
        # An activation: `None` is stored as "linear", a function by its name.
        return stored == keras.activations.serialize(keras.activations.get(given))
    if isinstance(stored, (list, tuple)) and isinstance(given, (list, tuple)):
        return len(stored) == len(given) and all(
            _config_value_matches(s, g) for s, g in zip(stored, given)
        )
    if isinstance(stored, bool) or isinstance(given, bool):
        return stored is given or stored == given and type(stored) is type(given)
    if isinstance(stored, (int, float)) and isinstance(given, (int, float)):
        return float(stored) == float(given)
    return stored == given


def _shape_arguments(fn, layer, args, kwargs):
    """The `*_shape` arguments Keras would pass to `fn` (`build`-style) for this call."""
    bound = inspect.signature(layer.call).bind_partial(*args, **kwargs).arguments
    shapes = {f"{name}_shape": tuple(np.shape(value)) for name, value in bound.items()}
    params = [
        p.name for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if len(params) == 1:
        return {params[0]: next(iter(shapes.values()))}
    return {name: shape for name, shape in shapes.items() if name in params}


def _check_compute_output_shape(layer, args, kwargs, outputs):
    """`compute_output_shape` of the input shapes must give the eager output shape.

    Like Keras's attention layers, a layer that returns extra tensors (scores,
    caches) may describe only its first output.
    """
    if type(layer).compute_output_shape is keras.layers.Layer.compute_output_shape:
        return
    fn = layer.compute_output_shape
    computed = fn(**_shape_arguments(fn, layer, args, kwargs))
    actual = [tuple(x.shape) for x in _flatten(outputs)]
    computed = _shape_structures(computed)
    if len(computed) == 1:
        actual = actual[:1]
    matches = len(computed) == len(actual) and all(
        len(c) == len(a) and all(d is None or d == e for d, e in zip(c, a))
        for c, a in zip(computed, actual)
    )
    if not matches:
        raise AssertionError(
            f"compute_output_shape gives {computed}, but the layer returns shape {actual}"
        )


def _shape_structures(structure):
    """Flattens a nested structure of shape tuples into a list of them."""
    if isinstance(structure, dict):
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)) and all(isinstance(d, (int, type(None))) for d in structure):
        return [tuple(structure)]
    result = []
    for item in structure:
        result.extend(_shape_structures(item))
    return result


def _assert_same_structure_values(actual, expected, what):
    if isinstance(expected, tuple) and all(isinstance(e, (int, type(None))) for e in expected):
        expected_flat = [expected]
        actual_flat = [actual] if isinstance(actual, tuple) and all(
            isinstance(a, (int, type(None))) for a in actual
        ) else None
        if actual_flat is None:
            raise AssertionError(f"{what}: got a structure {actual}, expected {expected}")
    elif isinstance(expected, str):
        expected_flat, actual_flat = [expected], [actual] if isinstance(actual, str) else None
        if actual_flat is None:
            actual_flat = list(_flatten(actual))
            if len(actual_flat) != 1:
                raise AssertionError(f"{what}: got {actual}, expected {expected}")
    else:
        expected_flat = list(expected)
        actual_flat = list(actual)
    if len(expected_flat) != len(actual_flat):
        raise AssertionError(f"{what}: got {actual}, expected {expected}")
    for a, e in zip(actual_flat, expected_flat):
        if isinstance(e, tuple):
            if tuple(a) != tuple(e):
                raise AssertionError(f"{what}: got {actual}, expected {expected}")
        elif a != e:
            raise AssertionError(f"{what}: got {actual}, expected {expected}")
