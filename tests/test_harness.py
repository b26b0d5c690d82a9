"""The harness itself: it passes good layers and catches broken ones."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.harness import run_layer_test

# The checks after the fit step, switched off where a test is about the ones before.
_QUICK = {"run_mixed_precision_check": False, "run_save_check": False, "run_saved_model_check": False}


def test_passes_keras_dense():
    run_layer_test(
        keras.layers.Dense,
        {"units": 3},
        np.random.default_rng(0).normal(size=(2, 4)).astype("float32"),
        expected_output_shape=(2, 3),
        expected_output_dtype="float32",
        expected_num_trainable_weights=2,
        expected_num_trainable_params=4 * 3 + 3,
    )


def test_passes_keras_multi_head_attention_with_keyword_inputs():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 3, 8)).astype("float32")
    value = rng.normal(size=(2, 5, 8)).astype("float32")
    run_layer_test(
        keras.layers.MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4},
        {"query": query, "value": value},
        expected_output_shape=(2, 3, 8),
        expected_num_trainable_weights=8,
    )


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _ForgetsItsConfig(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return inputs * self.units

    def get_config(self):
        # Written by hand and forgetting `units`.
        return {"name": self.name, "trainable": self.trainable}


def test_catches_missing_config():
    with pytest.raises(AssertionError, match="get_config.. lacks the init argument 'units'"):
        run_layer_test(_ForgetsItsConfig, {"units": 2}, np.ones((2, 3), "float32"))


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _MisreportsItsConfig(keras.layers.Dense):
    """Reports its kernel initializer as "zeros" whatever it was made with.

    The round trip alone cannot see this: the revived layer reports the same.
    """

    def get_config(self):
        return {**super().get_config(), "kernel_initializer": keras.initializers.serialize(
            keras.initializers.Zeros())}


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _RoundsItsUnits(keras.layers.Layer):
    """Keeps `units` but reports it rounded down to even numbers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return inputs * self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units // 2 * 2}


def test_catches_config_values_that_differ_from_the_arguments():
    with pytest.raises(AssertionError, match="get_config.. has kernel_initializer="):
        run_layer_test(
            _MisreportsItsConfig, {"units": 3, "kernel_initializer": "ones"}, np.ones((2, 4), "float32")
        )
    with pytest.raises(AssertionError, match="get_config.. has units=2"):
        run_layer_test(_RoundsItsUnits, {"units": 3}, np.ones((2, 4), "float32"))
    # The same layers pass where the report happens to be right, so it is the
    # value check that fails above.
    run_layer_test(_RoundsItsUnits, {"units": 2}, np.ones((2, 4), "float32"), **_QUICK)
    run_layer_test(
        _MisreportsItsConfig, {"units": 3, "kernel_initializer": "zeros"}, np.ones((2, 4), "float32"),
        **_QUICK,
    )


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _DeadWeight(keras.layers.Dense):
    """A Dense layer with an extra trainable weight that the output ignores."""

    def build(self, input_shape):
        super().build(input_shape)
        self.unused = self.add_weight(shape=(self.units,), name="unused", initializer="ones")

    def call(self, inputs):
        return super().call(inputs) + 0.0 * ops.sum(ops.stop_gradient(self.unused))


def test_catches_a_weight_without_gradient():
    inputs = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    with pytest.raises(AssertionError, match=r"weights without a gradient \['.*unused'\]"):
        run_layer_test(_DeadWeight, {"units": 3}, inputs)
    # Declared as unused, the same layer passes ...
    run_layer_test(_DeadWeight, {"units": 3}, inputs, weights_without_gradient=["unused"], **_QUICK)
    # ... and a declaration that is wrong (the kernel does get a gradient) fails.
    with pytest.raises(AssertionError, match="got one for"):
        run_layer_test(_DeadWeight, {"units": 3}, inputs, weights_without_gradient=["unused", "kernel"])


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _WrongOutputShape(keras.layers.Dense):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units + 1)


def test_catches_wrong_compute_output_shape():
    with pytest.raises(AssertionError, match="compute_output_shape gives"):
        run_layer_test(_WrongOutputShape, {"units": 3}, np.ones((2, 4), "float32"))


def test_catches_wrong_shape():
    with pytest.raises(AssertionError, match="shape"):
        run_layer_test(
            keras.layers.Dense, {"units": 3}, np.ones((2, 4), "float32"),
            expected_output_shape=(2, 4),
        )


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class _NotPersisted(keras.layers.Dense):
    """Draws a fresh random offset on every build, so reloading changes outputs."""

    def build(self, input_shape):
        super().build(input_shape)
        self.offset = np.random.default_rng().normal(size=(self.units,)).astype("float32")

    def call(self, inputs):
        return super().call(inputs) + ops.convert_to_tensor(self.offset)


def test_catches_outputs_that_change_after_reload():
    with pytest.raises(AssertionError, match="reload"):
        run_layer_test(
            _NotPersisted, {"units": 3}, np.ones((2, 4), "float32"),
            run_mixed_precision_check=False, run_training_check=False,
        )
