import keras
import numpy as np
import pytest
from keras import ops

from layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from tests.harness import run_layer_test

TOKENS = np.array([[3, 7, 1, 0, 0], [9, 2, 4, 6, 5]], "int32")


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_harness(position):
    run_layer_test(
        TokenAndPositionEmbedding,
        {
            "vocabulary_size": 10,
            "sequence_length": 8,
            "embedding_dim": 6,
            "position": position,
        },
        TOKENS,
        expected_output_shape=(2, 5, 6),
        expected_output_dtype="float32",
        expected_num_trainable_weights=1 if position == "sinusoidal" else 2,
        expected_num_trainable_params=10 * 6 + (8 * 6 if position == "learned" else 0),
    )


def test_sinusoidal_is_embedding_plus_encoding():
    layer = TokenAndPositionEmbedding(10, 8, 6, scale_embeddings=True)
    outputs = ops.convert_to_numpy(layer(TOKENS))
    table = ops.convert_to_numpy(layer.token_embedding.embeddings)
    encoding = ops.convert_to_numpy(
        SinusoidalPositionalEncoding()(np.zeros((2, 5, 6), "float32"))
    )
    np.testing.assert_allclose(outputs, table[TOKENS] * np.sqrt(6) + encoding, atol=1e-6)


def test_learned_is_embedding_plus_table_rows():
    layer = TokenAndPositionEmbedding(10, 8, 6, position="learned")
    outputs = ops.convert_to_numpy(layer(TOKENS, start_index=2))
    table = ops.convert_to_numpy(layer.token_embedding.embeddings)
    positions = ops.convert_to_numpy(layer.position_embeddings)
    np.testing.assert_allclose(outputs, table[TOKENS] + positions[2:7], atol=1e-6)


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_start_index_matches_whole_sequence(position):
    layer = TokenAndPositionEmbedding(10, 8, 6, position=position)
    whole = ops.convert_to_numpy(layer(TOKENS))
    for start in range(TOKENS.shape[1]):
        step = layer(TOKENS[:, start : start + 1], start_index=start)
        np.testing.assert_allclose(ops.convert_to_numpy(step), whole[:, start : start + 1], atol=1e-6)


def test_emits_padding_mask():
    layer = TokenAndPositionEmbedding(10, 8, 6)
    mask = layer.compute_mask(TOKENS)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), TOKENS != 0)
    assert TokenAndPositionEmbedding(10, 8, 6, mask_zero=False).compute_mask(TOKENS) is None


def test_mask_reaches_the_next_layer():
    # An LSTM that honours the mask stops updating its state at the padding,
    # so the padded sequence gives the same final state as the unpadded one.
    inputs = keras.Input((None,), dtype="int32")
    embedded = TokenAndPositionEmbedding(10, 8, 6, name="embed")(inputs)
    outputs = keras.layers.LSTM(4, name="lstm")(embedded)
    model = keras.Model(inputs, outputs)
    padded = ops.convert_to_numpy(model(np.array([[3, 7, 1, 0, 0]], "int32")))
    unpadded = ops.convert_to_numpy(model(np.array([[3, 7, 1]], "int32")))
    np.testing.assert_allclose(padded, unpadded, atol=1e-6)


def test_rejects_too_long_inputs():
    with pytest.raises(ValueError, match="sequence_length"):
        TokenAndPositionEmbedding(10, 4, 6)(TOKENS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocabulary_size": 0}, "vocabulary_size"),
        ({"sequence_length": -3}, "sequence_length"),
        ({"embedding_dim": 2.5}, "embedding_dim"),
        ({"position": "rotary"}, "position"),
        ({"max_wavelength": 0}, "max_wavelength"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    arguments = {"vocabulary_size": 10, "sequence_length": 8, "embedding_dim": 6, **kwargs}
    with pytest.raises(ValueError, match=match):
        TokenAndPositionEmbedding(**arguments)
