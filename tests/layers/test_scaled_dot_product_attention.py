"""scaled_dot_product_attention: a 2x2 example worked by hand, a NumPy
reference, the fused path against the explicit one, masks and errors."""

import numpy as np
import pytest
from keras import ops

from layers.scaled_dot_product_attention import multi_head_dot_product_attention
from layers.scaled_dot_product_attention import scaled_dot_product_attention


def _numpy(x):
    return ops.convert_to_numpy(x)


def test_two_by_two_example_worked_by_hand():
    query = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    key = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    value = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    # Q K^T / sqrt(2) = [[1/sqrt(2), 0], [0, 1/sqrt(2)]].
    # Row 0: softmax([0.70711, 0]) = [e^0.70711, 1] / (e^0.70711 + 1)
    #      = [2.02812, 1] / 3.02812 = [0.66976, 0.33024]; row 1 is mirrored.
    # Output row 0 = 0.66976 * [1, 2] + 0.33024 * [3, 4] = [1.66048, 2.66048],
    # output row 1 = 0.33024 * [1, 2] + 0.66976 * [3, 4] = [2.33952, 3.33952].
    output, weights = scaled_dot_product_attention(query, key, value)
    np.testing.assert_allclose(
        _numpy(weights), [[0.66976, 0.33024], [0.33024, 0.66976]], atol=1e-5
    )
    np.testing.assert_allclose(
        _numpy(output), [[1.66048, 2.66048], [2.33952, 3.33952]], atol=1e-5
    )
    # Row 0 may only look at key 0: weights [1, 0], output = value 0.
    mask = np.array([[True, False], [True, True]])
    output, weights = scaled_dot_product_attention(query, key, value, mask=mask)
    np.testing.assert_allclose(_numpy(weights), [[1.0, 0.0], [0.33024, 0.66976]], atol=1e-5)
    np.testing.assert_allclose(_numpy(output), [[1.0, 2.0], [2.33952, 3.33952]], atol=1e-5)
    # scale=1 instead of 1/sqrt(2): softmax([1, 0]) = [0.73106, 0.26894].
    _, weights = scaled_dot_product_attention(query, key, value, scale=1.0)
    np.testing.assert_allclose(_numpy(weights)[0], [0.73106, 0.26894], atol=1e-5)


def _reference(query, key, value, mask, scale):
    scores = query @ np.swapaxes(key, -1, -2) * scale
    scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ value, weights


@pytest.mark.parametrize("rank", [3, 4])
def test_matches_numpy_and_fused_path_matches_explicit_path(rank):
    rng = np.random.default_rng(rank)
    lead = (2,) if rank == 3 else (2, 3)
    query = rng.normal(size=lead + (4, 5)).astype("float32")
    key = rng.normal(size=lead + (6, 5)).astype("float32")
    value = rng.normal(size=lead + (6, 5)).astype("float32")
    mask = rng.uniform(size=lead + (4, 6)) > 0.3
    mask[..., 0] = True  # every query sees at least one key
    expected_output, expected_weights = _reference(query, key, value, mask, 1 / np.sqrt(5))
    output, weights = scaled_dot_product_attention(query, key, value, mask=mask)
    np.testing.assert_allclose(_numpy(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(_numpy(output), expected_output, atol=1e-5)
    fused = scaled_dot_product_attention(query, key, value, mask=mask, return_weights=False)
    np.testing.assert_allclose(_numpy(fused), expected_output, atol=1e-5)
    # A mask without the batch axes broadcasts.
    shared_mask = mask[(0,) * (rank - 2)]
    fused = scaled_dot_product_attention(query, key, value, mask=shared_mask, return_weights=False)
    expected_output, _ = _reference(query, key, value, shared_mask, 1 / np.sqrt(5))
    np.testing.assert_allclose(_numpy(fused), expected_output, atol=1e-5)


def test_value_width_may_differ_from_key_width():
    rng = np.random.default_rng(3)
    query, key = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    value = rng.normal(size=(2, 5, 7))
    expected, _ = _reference(query, key, value, np.ones((3, 5), bool), 0.5)
    output = scaled_dot_product_attention(
        query.astype("float32"), key.astype("float32"), value.astype("float32"), return_weights=False
    )
    np.testing.assert_allclose(_numpy(output), expected, atol=1e-5)


def test_fully_masked_row_gets_zero_weights():
    rng = np.random.default_rng(4)
    query, key, value = (rng.normal(size=(1, 3, 2)).astype("float32") for _ in range(3))
    mask = np.array([[[True, True, False], [False, False, False], [True, True, True]]])
    output, weights = scaled_dot_product_attention(query, key, value, mask=mask)
    np.testing.assert_array_equal(_numpy(weights)[0, 1], 0.0)
    np.testing.assert_array_equal(_numpy(output)[0, 1], 0.0)
    np.testing.assert_array_equal(_numpy(weights)[0, 0, 2], 0.0)


def test_multi_head_layout_causal_paths_agree():
    rng = np.random.default_rng(5)
    # (batch, T, heads, d)
    query, key, value = (rng.normal(size=(2, 5, 3, 4)).astype("float32") for _ in range(3))
    fused, none = multi_head_dot_product_attention(query, key, value, is_causal=True)
    assert none is None
    explicit, weights = multi_head_dot_product_attention(
        query, key, value, is_causal=True, return_weights=True
    )
    np.testing.assert_allclose(_numpy(fused), _numpy(explicit), atol=1e-5)
    # Lower-triangular weights: no query looks ahead.
    upper = np.triu(np.ones((5, 5), bool), k=1)
    np.testing.assert_array_equal(_numpy(weights)[:, :, upper], 0.0)
    # Same result through the (..., T, d) function.
    per_head = [np.transpose(x, (0, 2, 1, 3)) for x in (query, key, value)]
    output, _ = scaled_dot_product_attention(*per_head, mask=~upper)
    np.testing.assert_allclose(np.transpose(_numpy(output), (0, 2, 1, 3)), _numpy(explicit), atol=1e-5)


def test_mismatched_feature_sizes():
    query = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match="same feature size"):
        scaled_dot_product_attention(query, np.zeros((2, 5, 6), "float32"), np.zeros((2, 5, 4), "float32"))
    with pytest.raises(ValueError, match="same length"):
        scaled_dot_product_attention(query, np.zeros((2, 5, 4), "float32"), np.zeros((2, 6, 4), "float32"))
