"""AdditiveAttention: harness, the course's one_step_attention with copied
weights, an independent NumPy reference, masks and argument checks."""

import keras
import numpy as np
import pytest
from keras import ops

from layers.additive_attention import AdditiveAttention
from tests.harness import run_layer_test

COURSE_ARGUMENTS = {
    "units": 10,
    "score_mode": "concat",
    "score_activation": "relu",
    "use_bias": True,
    "use_score_bias": True,
}


def _normal(rng, *shape):
    return rng.normal(size=shape).astype("float32")


def test_harness_one_step_course_configuration():
    rng = np.random.default_rng(0)
    run_layer_test(
        AdditiveAttention,
        COURSE_ARGUMENTS,
        {"query": _normal(rng, 2, 6), "values": _normal(rng, 2, 5, 4)},
        expected_output_shape=((2, 4), (2, 5)),
        expected_output_dtype=("float32", "float32"),
        expected_num_trainable_weights=4,
        expected_num_trainable_params=(4 + 6) * 10 + 10 + 10 + 1,
    )


def test_harness_sequence_of_queries_with_mask():
    rng = np.random.default_rng(1)
    run_layer_test(
        AdditiveAttention,
        {"units": 8},
        {
            "query": _normal(rng, 2, 3, 6),
            "values": _normal(rng, 2, 5, 4),
            "mask": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "bool"),
        },
        expected_output_shape=((2, 3, 4), (2, 3, 5)),
        expected_num_trainable_weights=3,
        expected_num_trainable_params=6 * 8 + 4 * 8 + 8,
    )


def test_harness_with_projected_keys():
    rng = np.random.default_rng(7)
    values = _normal(rng, 2, 5, 4)
    layer = AdditiveAttention(units=8, use_bias=True)
    layer(_normal(rng, 2, 6), values)
    run_layer_test(
        AdditiveAttention,
        {"units": 8, "use_bias": True},
        {
            "query": _normal(rng, 2, 6),
            "values": values,
            "projected_keys": ops.convert_to_numpy(layer.project_keys(values)),
        },
        # The values kernel and bias are not used when the keys come projected,
        # so they get no gradient; the other cases train every weight.
        run_training_check=False,
        expected_output_shape=((2, 4), (2, 5)),
        expected_output_dtype=("float32", "float32"),
        expected_num_trainable_weights=4,
    )


def _course_one_step_attention(Tx, n_a2, n_s):
    """The course's one_step_attention, written with Keras layers as there."""
    repeator = keras.layers.RepeatVector(Tx)
    concatenator = keras.layers.Concatenate(axis=-1)
    densor1 = keras.layers.Dense(10, activation="tanh")
    densor2 = keras.layers.Dense(1, activation="relu")
    activator = keras.layers.Softmax(axis=1)
    dotor = keras.layers.Dot(axes=1)

    a = keras.Input((Tx, n_a2))
    s_prev = keras.Input((n_s,))
    repeated = repeator(s_prev)
    concat = concatenator([a, repeated])
    e = densor1(concat)
    energies = densor2(e)
    alphas = activator(energies)
    context = dotor([alphas, a])
    model = keras.Model([a, s_prev], [context, alphas])
    return model, densor1, densor2


def test_matches_the_course_one_step_attention():
    rng = np.random.default_rng(2)
    Tx, n_a2, n_s = 30, 64, 64
    model, densor1, densor2 = _course_one_step_attention(Tx, n_a2, n_s)
    # Energies are relu'd, so make sure some are positive and the test can
    # tell weights apart: a positive bias on densor2. All weights come from the
    # seeded generator (Keras's unseeded initialiser once gave a row whose
    # energies were all clipped to 0, i.e. uniform attention).
    densor1.set_weights([0.3 * _normal(rng, n_a2 + n_s, 10), _normal(rng, 10)])
    densor2.set_weights([_normal(rng, 10, 1), np.array([0.3], "float32")])
    a, s_prev = _normal(rng, 4, Tx, n_a2), _normal(rng, 4, n_s)
    expected_context, expected_alphas = [ops.convert_to_numpy(x) for x in model([a, s_prev])]

    layer = AdditiveAttention(**COURSE_ARGUMENTS)
    layer(s_prev, a)
    layer.set_weights(densor1.get_weights() + densor2.get_weights())
    context, weights = [ops.convert_to_numpy(x) for x in layer(s_prev, a)]

    np.testing.assert_allclose(context, expected_context[:, 0], atol=1e-5)
    np.testing.assert_allclose(weights, expected_alphas[:, :, 0], atol=1e-6)
    # Not a trivially uniform distribution.
    assert weights.std(axis=-1).min() > 1e-4


def test_additive_mode_matches_numpy_bahdanau():
    rng = np.random.default_rng(3)
    layer = AdditiveAttention(units=7)
    s, a = _normal(rng, 3, 4, 5), _normal(rng, 3, 6, 2)
    layer(s, a)
    W_q, W_k, v = [ops.convert_to_numpy(w) for w in layer.get_weights()]
    # e<t,t'> = v^T tanh(W_q s<t> + W_k a<t'>)
    e = np.einsum("btsu,u->bts", np.tanh((s @ W_q)[:, :, None] + (a @ W_k)[:, None]), v[:, 0])
    alpha = np.exp(e - e.max(-1, keepdims=True))
    alpha /= alpha.sum(-1, keepdims=True)
    context, weights = [ops.convert_to_numpy(x) for x in layer(s, a)]
    np.testing.assert_allclose(weights, alpha, atol=1e-6)
    np.testing.assert_allclose(context, alpha @ a, atol=1e-5)


def test_sequence_of_queries_equals_one_step_at_a_time():
    rng = np.random.default_rng(4)
    layer = AdditiveAttention(units=5, use_bias=True)
    s, a = _normal(rng, 2, 3, 4), _normal(rng, 2, 6, 3)
    context, weights = [ops.convert_to_numpy(x) for x in layer(s, a)]
    for t in range(3):
        step_context, step_weights = [ops.convert_to_numpy(x) for x in layer(s[:, t], a)]
        np.testing.assert_allclose(step_context, context[:, t], atol=1e-6)
        np.testing.assert_allclose(step_weights, weights[:, t], atol=1e-6)


def test_masked_values_get_no_weight_and_do_not_leak():
    rng = np.random.default_rng(5)
    layer = AdditiveAttention(units=6)
    s, a = _normal(rng, 2, 4), _normal(rng, 2, 5, 3)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], "bool")
    context, weights = [ops.convert_to_numpy(x) for x in layer(s, a, mask=mask)]
    np.testing.assert_array_equal(weights[~mask], 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    perturbed = a.copy()
    perturbed[~mask] += 10.0
    other_context, _ = [ops.convert_to_numpy(x) for x in layer(s, perturbed, mask=mask)]
    np.testing.assert_allclose(other_context, context, atol=1e-5)
    unmasked_context, _ = [ops.convert_to_numpy(x) for x in layer(s, perturbed)]
    assert np.abs(unmasked_context - context).max() > 1e-3


@pytest.mark.parametrize("arguments", [{"units": 5, "use_bias": True}, COURSE_ARGUMENTS])
def test_projected_keys_computed_once_give_the_same_steps(arguments):
    rng = np.random.default_rng(8)
    layer = AdditiveAttention(**arguments)
    s, a = _normal(rng, 3, 4, 6), _normal(rng, 3, 7, 2)
    mask = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1] * 6 + [0]], "bool")
    layer(s[:, 0], a, mask=mask)
    layer.set_weights([w + 0.2 * _normal(rng, *w.shape) for w in layer.get_weights()])
    keys = layer.project_keys(a)
    assert tuple(keys.shape) == (3, 7, layer.units)
    for t in range(4):
        expected = [ops.convert_to_numpy(x) for x in layer(s[:, t], a, mask=mask)]
        stepped = [ops.convert_to_numpy(x) for x in layer(s[:, t], a, mask=mask, projected_keys=keys)]
        np.testing.assert_allclose(stepped[0], expected[0], atol=1e-6)
        np.testing.assert_allclose(stepped[1], expected[1], atol=1e-6)
    # The given keys are the ones used: keys equal at every position give equal
    # energies, so uniform weights over the unmasked positions.
    _, uniform = layer(s[:, 0], a, mask=mask, projected_keys=ops.zeros_like(keys) + 0.5)
    np.testing.assert_allclose(ops.convert_to_numpy(uniform), mask / mask.sum(-1, keepdims=True), atol=1e-6)


def test_project_keys_needs_a_built_layer_and_the_right_width():
    rng = np.random.default_rng(9)
    layer = AdditiveAttention(units=4)
    with pytest.raises(ValueError, match="project_keys needs the layer's weights"):
        layer.project_keys(_normal(rng, 2, 5, 3))
    layer(_normal(rng, 2, 6), _normal(rng, 2, 5, 3))
    with pytest.raises(ValueError, match="feature size of projected_keys"):
        layer(_normal(rng, 2, 6), _normal(rng, 2, 5, 3), projected_keys=_normal(rng, 2, 5, 7))


def test_bad_arguments():
    for kwargs, match in [
        ({"units": 0}, "units"),
        ({"units": -2}, "units"),
        ({"units": 4, "score_mode": "dot"}, "score_mode"),
    ]:
        with pytest.raises(ValueError, match=f"argument {match}. Expected"):
            AdditiveAttention(**kwargs)


def test_mismatched_shapes():
    rng = np.random.default_rng(6)
    layer = AdditiveAttention(units=4)
    with pytest.raises(ValueError, match="values"):
        layer(_normal(rng, 2, 3), _normal(rng, 2, 5))
    layer(_normal(rng, 2, 3), _normal(rng, 2, 5, 4))
    with pytest.raises(ValueError, match="feature size of query"):
        layer(_normal(rng, 2, 6), _normal(rng, 2, 5, 4))
    with pytest.raises(ValueError, match="feature size of values"):
        layer(_normal(rng, 2, 3), _normal(rng, 2, 5, 7))
