import math

import keras
import numpy as np
import pytest
from keras import ops

from layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding
from tests.harness import run_layer_test


def test_harness():
    inputs = np.random.default_rng(0).normal(size=(2, 7, 6)).astype("float32")
    run_layer_test(
        SinusoidalPositionalEncoding,
        {"max_wavelength": 10000},
        inputs,
        expected_output_shape=(2, 7, 6),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


def test_hand_worked_values():
    # d = 4, max_wavelength = 10000: the two frequencies are 1 and 1/100.
    # PE[p] = [sin(p), cos(p), sin(p / 100), cos(p / 100)].
    encoding = SinusoidalPositionalEncoding()(np.zeros((1, 3, 4), "float32"))
    expected = [
        [0.0, 1.0, 0.0, 1.0],
        [0.84147098, 0.54030231, 0.00999983, 0.99995000],
        [0.90929743, -0.41614684, 0.01999867, 0.99980001],
    ]
    np.testing.assert_allclose(ops.convert_to_numpy(encoding)[0], expected, atol=1e-6)


def test_interleaving_and_odd_width_against_formula():
    max_wavelength, width, length = 50.0, 5, 9
    encoding = SinusoidalPositionalEncoding(max_wavelength=max_wavelength)(
        np.zeros((length, width), "float32")
    )
    expected = np.zeros((length, width))
    for p in range(length):
        for j in range(width):
            angle = p / max_wavelength ** (2 * (j // 2) / width)
            expected[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(ops.convert_to_numpy(encoding), expected, atol=1e-6)


def test_start_index_shifts_positions():
    layer = SinusoidalPositionalEncoding()
    whole = ops.convert_to_numpy(layer(np.zeros((2, 10, 8), "float32")))
    for start in (0, 3, 9):
        step = layer(np.zeros((2, 1, 8), "float32"), start_index=start)
        np.testing.assert_allclose(ops.convert_to_numpy(step), whole[:, start : start + 1], atol=1e-6)
    # A tensor start index works too (as inside a compiled decoding loop).
    step = layer(np.zeros((2, 1, 8), "float32"), start_index=ops.convert_to_tensor(4, "int32"))
    np.testing.assert_allclose(ops.convert_to_numpy(step), whole[:, 4:5], atol=1e-6)


def test_mixed_precision_keeps_float32_angles():
    layer = SinusoidalPositionalEncoding(dtype="mixed_float16")
    encoding = layer(np.zeros((1, 1, 4), "float16"), start_index=3000)
    assert keras.backend.standardize_dtype(encoding.dtype) == "float16"
    # sin(3000) computed in float32 is accurate to the float16 rounding.
    np.testing.assert_allclose(
        ops.convert_to_numpy(encoding)[0, 0, 0].astype("float32"), math.sin(3000), atol=2e-3
    )


def test_passes_mask_through():
    layer = SinusoidalPositionalEncoding()
    mask = np.array([[True, True, False]])
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer.compute_mask(np.zeros((1, 3, 4), "float32"), mask)), mask
    )


@pytest.mark.parametrize("bad", [0, -1.0, "10000", None, True])
def test_rejects_bad_max_wavelength(bad):
    with pytest.raises(ValueError, match="max_wavelength"):
        SinusoidalPositionalEncoding(max_wavelength=bad)
