"""The harness itself: it passes good layers and catches broken ones."""

import keras
import numpy as np
import pytest

from tests.harness import run_layer_test


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
    with pytest.raises((AssertionError, TypeError)):
        run_layer_test(_ForgetsItsConfig, {"units": 2}, np.ones((2, 3), "float32"))


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
        return super().call(inputs) + self.offset


def test_catches_outputs_that_change_after_reload():
    with pytest.raises(AssertionError, match="reload"):
        run_layer_test(
            _NotPersisted, {"units": 3}, np.ones((2, 4), "float32"),
            run_mixed_precision_check=False, run_training_check=False,
        )
