import keras
import numpy as np
import pytest
from keras import ops

from layers.multi_head_attention import MultiHeadAttention
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_encoder_block import TransformerEncoderBlock
from tests.harness import run_layer_test

BATCH, LENGTH, WIDTH, HEADS, INTERMEDIATE = 2, 5, 8, 2, 16


def _inputs(seed=0, shape=(BATCH, LENGTH, WIDTH)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


PADDING_MASK = np.array([[True, True, True, False, False], [True] * 5])


# Attention (8) + two layer norms (2 + 2) + two dense layers (2 + 2).
NUM_WEIGHTS = 16
NUM_PARAMS = 4 * (WIDTH * WIDTH + WIDTH) + 2 * 2 * WIDTH + (
    WIDTH * INTERMEDIATE + INTERMEDIATE + INTERMEDIATE * WIDTH + WIDTH
)


def test_harness():
    run_layer_test(
        TransformerEncoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE},
        _inputs(),
        expected_output_shape=(BATCH, LENGTH, WIDTH),
        expected_output_dtype="float32",
        expected_num_trainable_weights=NUM_WEIGHTS,
        expected_num_trainable_params=NUM_PARAMS,
    )


def test_harness_with_padding_mask_and_dropout():
    run_layer_test(
        TransformerEncoderBlock,
        {
            "num_heads": HEADS,
            "intermediate_dim": INTERMEDIATE,
            "dropout": 0.1,
            "activation": "gelu",
            "norm_first": True,
        },
        {"inputs": _inputs(), "padding_mask": PADDING_MASK},
        expected_output_shape=(BATCH, LENGTH, WIDTH),
        expected_num_trainable_weights=NUM_WEIGHTS,
    )


def _reference_block(block, norm_first):
    """The same block assembled from keras.layers with the block's weights."""
    x = keras.Input((None, WIDTH))
    attention_mask = keras.Input((None, None), dtype="bool")
    attention = keras.layers.MultiHeadAttention(HEADS, WIDTH // HEADS)
    norm_1 = keras.layers.LayerNormalization(epsilon=1e-5)
    norm_2 = keras.layers.LayerNormalization(epsilon=1e-5)
    dense_1 = keras.layers.Dense(INTERMEDIATE, activation="relu")
    dense_2 = keras.layers.Dense(WIDTH)
    if norm_first:
        h = norm_1(x)
        h = x + attention(h, h, attention_mask=attention_mask)
        y = h + dense_2(dense_1(norm_2(h)))
    else:
        h = norm_1(x + attention(x, x, attention_mask=attention_mask))
        y = norm_2(h + dense_2(dense_1(h)))
    model = keras.Model([x, attention_mask], y)
    attention.set_weights(block.self_attention_layer.get_weights())
    norm_1.set_weights(block.self_attention_layer_norm.get_weights())
    norm_2.set_weights(block.feedforward_layer_norm.get_weights())
    dense_1.set_weights(block.feedforward_intermediate_dense.get_weights())
    dense_2.set_weights(block.feedforward_output_dense.get_weights())
    return model


@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_keras_assembled_block(norm_first):
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE, norm_first=norm_first)
    x = _inputs(1)
    ours = block(x, padding_mask=PADDING_MASK)
    # Random biases and layer-norm gains, so that every weight matters.
    block.set_weights(
        [w + np.random.default_rng(i).normal(scale=0.3, size=w.shape) for i, w in enumerate(block.get_weights())]
    )
    ours = ops.convert_to_numpy(block(x, padding_mask=PADDING_MASK))
    reference = _reference_block(block, norm_first)
    full_mask = np.broadcast_to(PADDING_MASK[:, None, :], (BATCH, LENGTH, LENGTH))
    theirs = ops.convert_to_numpy(reference([x, full_mask]))
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def test_padded_positions_do_not_change_unpadded_outputs():
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE)
    x = _inputs(2)
    perturbed = x.copy()
    perturbed[0, 3:] += 10.0 * _inputs(3, shape=(2, WIDTH))
    before = ops.convert_to_numpy(block(x, padding_mask=PADDING_MASK))
    after = ops.convert_to_numpy(block(perturbed, padding_mask=PADDING_MASK))
    np.testing.assert_allclose(after[0, :3], before[0, :3], atol=1e-5)
    np.testing.assert_allclose(after[1], before[1], atol=1e-5)
    # Without the mask the perturbation does reach the unpadded positions.
    unmasked = ops.convert_to_numpy(block(perturbed))
    assert not np.allclose(unmasked[0, :3], before[0, :3], atol=1e-3)


def test_permutation_equivariant_without_positions():
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE, norm_first=True)
    x = _inputs(4, shape=(BATCH, 7, WIDTH))
    outputs = ops.convert_to_numpy(block(x))
    for seed in range(3):
        permutation = np.random.default_rng(seed).permutation(7)
        permuted = ops.convert_to_numpy(block(x[:, permutation]))
        np.testing.assert_allclose(permuted, outputs[:, permutation], atol=1e-5)


def test_attention_mask_restricts_attention():
    # With a causal attention mask, earlier outputs ignore later inputs.
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE)
    causal = np.tril(np.ones((LENGTH, LENGTH), bool))[None].repeat(BATCH, 0)
    x = _inputs(5)
    perturbed = x.copy()
    perturbed[:, 3:] += 5.0
    before = ops.convert_to_numpy(block(x, attention_mask=causal))
    after = ops.convert_to_numpy(block(perturbed, attention_mask=causal))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-5)


def test_reads_the_implicit_keras_mask():
    tokens = np.array([[4, 2, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    inputs = keras.Input((None,), dtype="int32")
    embedding = TokenAndPositionEmbedding(10, 8, WIDTH)
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE)
    model = keras.Model(inputs, block(embedding(inputs)))
    implicit = ops.convert_to_numpy(model(tokens))
    explicit = ops.convert_to_numpy(
        block(embedding(tokens), padding_mask=ops.convert_to_tensor(tokens != 0))
    )
    np.testing.assert_allclose(implicit, explicit, atol=1e-5)
    # And eagerly, straight from the embedding's output.
    eager = ops.convert_to_numpy(block(embedding(tokens)))
    np.testing.assert_allclose(eager, explicit, atol=1e-5)


def test_dropout_only_in_training():
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE, dropout=0.5)
    x = _inputs(6)
    inference = [ops.convert_to_numpy(block(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = ops.convert_to_numpy(block(x, training=True))
    assert not np.allclose(training, inference[0])


def test_uses_our_multi_head_attention():
    block = TransformerEncoderBlock(HEADS, INTERMEDIATE)
    block(_inputs())
    assert isinstance(block.self_attention_layer, MultiHeadAttention)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads"),
        ({"num_heads": 2.0}, "num_heads"),
        ({"intermediate_dim": 0}, "intermediate_dim"),
        ({"intermediate_dim": -4}, "intermediate_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"layer_norm_epsilon": 0}, "layer_norm_epsilon"),
        ({"activation": "no_such_activation"}, "activation|Could not interpret"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerEncoderBlock(**{"num_heads": HEADS, "intermediate_dim": INTERMEDIATE, **kwargs})


def test_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(3, INTERMEDIATE)(_inputs())
