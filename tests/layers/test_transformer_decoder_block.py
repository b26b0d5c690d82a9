import keras
import numpy as np
import pytest
from keras import ops

from layers.multi_head_attention import MultiHeadAttention
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_decoder_block import TransformerDecoderBlock
from layers.transformer_encoder_block import TransformerEncoderBlock
from tests.harness import run_layer_test

BATCH, LENGTH, ENCODER_LENGTH, WIDTH, HEADS, INTERMEDIATE = 2, 5, 4, 8, 2, 16
HEAD_SIZE = WIDTH // HEADS


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


DECODER_INPUTS = _normal(0, (BATCH, LENGTH, WIDTH))
ENCODER_OUTPUTS = _normal(1, (BATCH, ENCODER_LENGTH, WIDTH))
ENCODER_PADDING_MASK = np.array([[True, True, False, False], [True] * 4])
DECODER_PADDING_MASK = np.array([[True, True, True, False, False], [True] * 5])

ATTENTION_PARAMS = 4 * (WIDTH * WIDTH + WIDTH)
FEEDFORWARD_PARAMS = WIDTH * INTERMEDIATE + INTERMEDIATE + INTERMEDIATE * WIDTH + WIDTH


def _randomize(block):
    """Non-trivial biases and layer-norm parameters, so every weight matters."""
    block.set_weights(
        [
            w + np.random.default_rng(100 + i).normal(scale=0.3, size=w.shape)
            for i, w in enumerate(block.get_weights())
        ]
    )


def _block(norm_first=False, **kwargs):
    return TransformerDecoderBlock(HEADS, INTERMEDIATE, norm_first=norm_first, **kwargs)


def _zero_cache(max_length=LENGTH):
    return np.zeros((BATCH, 2, max_length, HEADS, HEAD_SIZE), "float32")


# Harness -----------------------------------------------------------------


def test_harness_encoder_decoder():
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE},
        {
            "inputs": DECODER_INPUTS,
            "encoder_outputs": ENCODER_OUTPUTS,
            "encoder_padding_mask": ENCODER_PADDING_MASK,
        },
        expected_output_shape=(BATCH, LENGTH, WIDTH),
        expected_output_dtype="float32",
        # Two attentions (8 each), three layer norms (2 each), two dense (2 each).
        expected_num_trainable_weights=26,
        expected_num_trainable_params=2 * ATTENTION_PARAMS + 3 * 2 * WIDTH + FEEDFORWARD_PARAMS,
    )


def test_harness_decoder_only_with_masks_and_dropout():
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE, "dropout": 0.1, "norm_first": True},
        {"inputs": DECODER_INPUTS, "decoder_padding_mask": DECODER_PADDING_MASK},
        expected_output_shape=(BATCH, LENGTH, WIDTH),
        expected_num_trainable_weights=16,
        expected_num_trainable_params=ATTENTION_PARAMS + 2 * 2 * WIDTH + FEEDFORWARD_PARAMS,
    )


def test_harness_with_cache():
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE},
        {
            "inputs": DECODER_INPUTS[:, :2],
            "encoder_outputs": ENCODER_OUTPUTS,
            "encoder_padding_mask": ENCODER_PADDING_MASK,
            "cache": _zero_cache(),
        },
        call_kwargs={"cache_update_index": 1},
        # The cache is written with ops.slice_update, which has no gradient
        # under TensorFlow (XlaDynamicUpdateSlice); the cache is for inference.
        # The other harness cases train the same weights without a cache.
        run_training_check=False,
        expected_output_shape=((BATCH, 2, WIDTH), (BATCH, 2, LENGTH, HEADS, HEAD_SIZE)),
        expected_output_dtype=("float32", "float32"),
    )


def test_harness_with_cross_attention_cache_and_scores():
    block = _block()
    block(DECODER_INPUTS, ENCODER_OUTPUTS)
    cross_cache = ops.convert_to_numpy(block.compute_cross_attention_cache(ENCODER_OUTPUTS))
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE},
        {
            "inputs": DECODER_INPUTS[:, :1],
            "encoder_outputs": ENCODER_OUTPUTS,
            "encoder_padding_mask": ENCODER_PADDING_MASK,
            "cache": _zero_cache(),
            "cross_attention_cache": cross_cache,
        },
        call_kwargs={"cache_update_index": 0, "return_attention_scores": True},
        # The cross-attention's key and value kernels are not used when their
        # products come precomputed, so they get no gradient; the cache is for
        # inference (see test_harness_with_cache).
        run_training_check=False,
        expected_output_shape=(
            (BATCH, 1, WIDTH),
            (BATCH, 2, LENGTH, HEADS, HEAD_SIZE),
            (BATCH, HEADS, 1, ENCODER_LENGTH),
        ),
        expected_output_dtype=("float32", "float32", "float32"),
    )


def test_harness_returning_attention_scores():
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": HEADS, "intermediate_dim": INTERMEDIATE, "norm_first": True},
        {
            "inputs": DECODER_INPUTS,
            "encoder_outputs": ENCODER_OUTPUTS,
            "encoder_padding_mask": ENCODER_PADDING_MASK,
        },
        call_kwargs={"return_attention_scores": True},
        expected_output_shape=((BATCH, LENGTH, WIDTH), (BATCH, HEADS, LENGTH, ENCODER_LENGTH)),
        expected_output_dtype=("float32", "float32"),
        expected_num_trainable_weights=26,
    )


# Cached decoding ------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("with_encoder", [False, True])
def test_step_by_step_cached_decoding_equals_full_decoding(norm_first, with_encoder):
    block = _block(norm_first)
    encoder = {"encoder_outputs": ENCODER_OUTPUTS} if with_encoder else {}
    block(DECODER_INPUTS, **encoder)
    _randomize(block)
    full = ops.convert_to_numpy(block(DECODER_INPUTS, **encoder))

    # A cache longer than the sequence: unwritten positions must stay hidden.
    cache = _zero_cache(max_length=LENGTH + 3)
    steps = []
    for index in range(LENGTH):
        step, cache = block(
            DECODER_INPUTS[:, index : index + 1], cache=cache, cache_update_index=index, **encoder
        )
        steps.append(ops.convert_to_numpy(step))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5, rtol=1e-5)

    # The cache holds the keys and values of the sequence at its positions.
    keys = ops.convert_to_numpy(
        block.self_attention_layer.key_dense(
            block.self_attention_layer_norm(DECODER_INPUTS) if norm_first else DECODER_INPUTS
        )
    )
    np.testing.assert_allclose(ops.convert_to_numpy(cache)[:, 0, :LENGTH], keys, atol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(cache)[:, :, LENGTH:], 0.0)


def test_prefill_then_steps_equals_full_decoding():
    block = _block()
    full = ops.convert_to_numpy(
        block(DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK)
    )
    prefix, cache = block(
        DECODER_INPUTS[:, :3],
        ENCODER_OUTPUTS,
        encoder_padding_mask=ENCODER_PADDING_MASK,
        cache=_zero_cache(),
        cache_update_index=0,
    )
    outputs = [ops.convert_to_numpy(prefix)]
    for index in (3, 4):
        step, cache = block(
            DECODER_INPUTS[:, index : index + 1],
            ENCODER_OUTPUTS,
            encoder_padding_mask=ENCODER_PADDING_MASK,
            cache=cache,
            cache_update_index=ops.convert_to_tensor(index, "int32"),
        )
        outputs.append(ops.convert_to_numpy(step))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cross_attention_cache_step_by_step_equals_full_decoding(norm_first):
    block = _block(norm_first)
    block(DECODER_INPUTS, ENCODER_OUTPUTS)
    _randomize(block)
    full, full_scores = block(
        DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK, return_attention_scores=True
    )
    cross_cache = block.compute_cross_attention_cache(ENCODER_OUTPUTS)
    # The cache holds the cross-attention's projections of the encoder outputs.
    np.testing.assert_allclose(
        ops.convert_to_numpy(cross_cache)[:, 1],
        ops.convert_to_numpy(block.cross_attention_layer.value_dense(ENCODER_OUTPUTS)),
        atol=1e-6,
    )
    # Zero encoder outputs alongside the cache: the block must read the keys and
    # values from the cache, not project the encoder outputs again.
    unused = np.zeros_like(ENCODER_OUTPUTS)
    cache = _zero_cache()
    steps, scores = [], []
    for index in range(LENGTH):
        step, cache, step_scores = block(
            DECODER_INPUTS[:, index : index + 1],
            unused,
            encoder_padding_mask=ENCODER_PADDING_MASK,
            cache=cache,
            cache_update_index=index,
            cross_attention_cache=cross_cache,
            return_attention_scores=True,
        )
        steps.append(ops.convert_to_numpy(step))
        scores.append(ops.convert_to_numpy(step_scores))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), ops.convert_to_numpy(full), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate(scores, axis=2), ops.convert_to_numpy(full_scores), atol=1e-6)
    # Without the cache those zero encoder outputs give other outputs.
    uncached, _ = block(DECODER_INPUTS[:, :1], unused, encoder_padding_mask=ENCODER_PADDING_MASK,
                        cache=_zero_cache(), cache_update_index=0)
    assert not np.allclose(ops.convert_to_numpy(uncached), steps[0], atol=1e-3)


def test_cached_decoding_with_a_padding_mask_over_the_cache():
    # Left padding: step 0 of the first sequence is padding and must be
    # invisible to every later step, cached or not.
    block = _block()
    padding = np.array([[False, True, True, True, True], [True] * 5])
    full = ops.convert_to_numpy(block(DECODER_INPUTS, decoder_padding_mask=padding))
    cache = _zero_cache()
    steps = []
    for index in range(LENGTH):
        step, cache = block(
            DECODER_INPUTS[:, index : index + 1],
            decoder_padding_mask=padding,
            cache=cache,
            cache_update_index=index,
        )
        steps.append(ops.convert_to_numpy(step))
    steps = np.concatenate(steps, axis=1)
    np.testing.assert_allclose(steps[:, 1:], full[:, 1:], atol=1e-5, rtol=1e-5)


# Attention scores -------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_cross_attention_scores_match_keras_multi_head_attention(norm_first):
    block = _block(norm_first)
    block(DECODER_INPUTS, ENCODER_OUTPUTS)
    _randomize(block)
    outputs, scores = block(
        DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK, return_attention_scores=True
    )
    scores = ops.convert_to_numpy(scores)
    np.testing.assert_allclose(
        ops.convert_to_numpy(outputs),
        ops.convert_to_numpy(block(DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK)),
        atol=1e-5,
    )
    assert scores.shape == (BATCH, HEADS, LENGTH, ENCODER_LENGTH)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(scores[0, :, :, 2:], 0.0)  # padded encoder positions
    assert scores[1].std(-1).min() > 1e-3  # not uniform: the test can tell weights apart

    # Reference: the cross-attention's query, from Keras's layers with the
    # block's weights, into keras.layers.MultiHeadAttention.
    norm = keras.layers.LayerNormalization(epsilon=1e-5)
    self_attention = keras.layers.MultiHeadAttention(HEADS, HEAD_SIZE)
    cross_attention = keras.layers.MultiHeadAttention(HEADS, HEAD_SIZE)
    norm.build((None, None, WIDTH))
    self_attention.build((None, None, WIDTH), (None, None, WIDTH))
    cross_attention.build((None, None, WIDTH), (None, None, WIDTH))
    self_attention.set_weights(block.self_attention_layer.get_weights())
    cross_attention.set_weights(block.cross_attention_layer.get_weights())
    if norm_first:
        norm.set_weights(block.self_attention_layer_norm.get_weights())
        h = DECODER_INPUTS + self_attention(norm(DECODER_INPUTS), norm(DECODER_INPUTS), use_causal_mask=True)
        norm.set_weights(block.cross_attention_layer_norm.get_weights())
        query = norm(h)
    else:
        norm.set_weights(block.self_attention_layer_norm.get_weights())
        query = norm(DECODER_INPUTS + self_attention(DECODER_INPUTS, DECODER_INPUTS, use_causal_mask=True))
    mask = np.broadcast_to(ENCODER_PADDING_MASK[:, None, :], (BATCH, LENGTH, ENCODER_LENGTH))
    _, expected = cross_attention(query, ENCODER_OUTPUTS, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(scores, ops.convert_to_numpy(expected), atol=1e-5)


def test_decoder_only_block_returns_causal_self_attention_scores():
    block = _block()
    padding = np.array([[True, True, True, True, True], [False, True, True, True, True]])
    _, scores = block(DECODER_INPUTS, decoder_padding_mask=padding, return_attention_scores=True)
    scores = ops.convert_to_numpy(scores)
    assert scores.shape == (BATCH, HEADS, LENGTH, LENGTH)
    np.testing.assert_array_equal(np.triu(scores, k=1), 0.0)  # no weight on later steps
    np.testing.assert_array_equal(scores[1, :, :, 0], 0.0)  # nor on the padded step
    np.testing.assert_allclose(scores[:, :, 1:].sum(-1), 1.0, atol=1e-5)
    # With a cache, over the cache positions: query i sees positions <= index + i.
    step, cache, step_scores = block(DECODER_INPUTS[:, :2], cache=_zero_cache(), cache_update_index=0,
                                     return_attention_scores=True)
    step_scores = ops.convert_to_numpy(step_scores)
    assert step_scores.shape == (BATCH, HEADS, 2, LENGTH)
    np.testing.assert_array_equal(step_scores[..., 0, 1:], 0.0)
    np.testing.assert_array_equal(step_scores[..., 1, 2:], 0.0)
    np.testing.assert_allclose(step_scores[0], scores[0, :, :2, :], atol=1e-6)


# Properties -----------------------------------------------------------------


@pytest.mark.parametrize("with_encoder", [False, True])
def test_future_inputs_do_not_change_earlier_outputs(with_encoder):
    block = _block(norm_first=True)
    encoder = {"encoder_outputs": ENCODER_OUTPUTS} if with_encoder else {}
    before = ops.convert_to_numpy(block(DECODER_INPUTS, **encoder))
    for t in range(LENGTH - 1):
        perturbed = DECODER_INPUTS.copy()
        perturbed[:, t + 1 :] += 10.0 * _normal(t, perturbed[:, t + 1 :].shape)
        after = ops.convert_to_numpy(block(perturbed, **encoder))
        np.testing.assert_allclose(after[:, : t + 1], before[:, : t + 1], atol=1e-5)
        assert not np.allclose(after[:, t + 1 :], before[:, t + 1 :], atol=1e-3)
    # Without the causal mask the future does leak into the past.
    acausal = ops.convert_to_numpy(block(perturbed, use_causal_mask=False, **encoder))
    reference = ops.convert_to_numpy(block(DECODER_INPUTS, use_causal_mask=False, **encoder))
    assert not np.allclose(acausal[:, :1], reference[:, :1], atol=1e-3)


def test_padded_encoder_positions_do_not_change_outputs():
    block = _block()
    before = ops.convert_to_numpy(
        block(DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK)
    )
    perturbed = ENCODER_OUTPUTS.copy()
    perturbed[0, 2:] += 10.0
    after = ops.convert_to_numpy(
        block(DECODER_INPUTS, perturbed, encoder_padding_mask=ENCODER_PADDING_MASK)
    )
    np.testing.assert_allclose(after, before, atol=1e-5)
    unmasked = ops.convert_to_numpy(block(DECODER_INPUTS, perturbed))
    assert not np.allclose(unmasked[0], before[0], atol=1e-3)


def test_padded_decoder_positions_do_not_change_unpadded_outputs():
    block = _block()
    before = ops.convert_to_numpy(
        block(DECODER_INPUTS, use_causal_mask=False, decoder_padding_mask=DECODER_PADDING_MASK)
    )
    perturbed = DECODER_INPUTS.copy()
    perturbed[0, 3:] -= 10.0
    after = ops.convert_to_numpy(
        block(perturbed, use_causal_mask=False, decoder_padding_mask=DECODER_PADDING_MASK)
    )
    np.testing.assert_allclose(after[0, :3], before[0, :3], atol=1e-5)
    np.testing.assert_allclose(after[1], before[1], atol=1e-5)


def test_reads_implicit_masks_of_both_sequences():
    tokens = np.array([[4, 2, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    source = np.array([[5, 6, 0, 0], [1, 2, 3, 9]], "int32")
    decoder_tokens = keras.Input((None,), dtype="int32")
    encoder_tokens = keras.Input((None,), dtype="int32")
    decoder_embedding = TokenAndPositionEmbedding(10, 8, WIDTH)
    encoder_embedding = TokenAndPositionEmbedding(10, 8, WIDTH)
    encoder = TransformerEncoderBlock(HEADS, INTERMEDIATE)
    block = _block()
    outputs = block(decoder_embedding(decoder_tokens), encoder(encoder_embedding(encoder_tokens)))
    model = keras.Model([decoder_tokens, encoder_tokens], outputs)
    implicit = ops.convert_to_numpy(model([tokens, source]))
    explicit = ops.convert_to_numpy(
        block(
            decoder_embedding(tokens),
            encoder(encoder_embedding(source), padding_mask=source != 0),
            decoder_padding_mask=tokens != 0,
            encoder_padding_mask=source != 0,
        )
    )
    np.testing.assert_allclose(implicit, explicit, atol=1e-5)


# Independent reference --------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_keras_assembled_block(norm_first):
    block = _block(norm_first)
    block(DECODER_INPUTS, ENCODER_OUTPUTS)
    _randomize(block)
    ours = ops.convert_to_numpy(
        block(DECODER_INPUTS, ENCODER_OUTPUTS, encoder_padding_mask=ENCODER_PADDING_MASK)
    )

    x = keras.Input((None, WIDTH))
    memory = keras.Input((None, WIDTH))
    cross_mask = keras.Input((None, None), dtype="bool")
    self_attention = keras.layers.MultiHeadAttention(HEADS, HEAD_SIZE)
    cross_attention = keras.layers.MultiHeadAttention(HEADS, HEAD_SIZE)
    norms = [keras.layers.LayerNormalization(epsilon=1e-5) for _ in range(3)]
    dense_1 = keras.layers.Dense(INTERMEDIATE, activation="relu")
    dense_2 = keras.layers.Dense(WIDTH)
    if norm_first:
        h = norms[0](x)
        h = x + self_attention(h, h, use_causal_mask=True)
        c = norms[1](h)
        c = h + cross_attention(c, memory, attention_mask=cross_mask)
        y = c + dense_2(dense_1(norms[2](c)))
    else:
        h = norms[0](x + self_attention(x, x, use_causal_mask=True))
        c = norms[1](h + cross_attention(h, memory, attention_mask=cross_mask))
        y = norms[2](c + dense_2(dense_1(c)))
    reference = keras.Model([x, memory, cross_mask], y)
    self_attention.set_weights(block.self_attention_layer.get_weights())
    cross_attention.set_weights(block.cross_attention_layer.get_weights())
    norms[0].set_weights(block.self_attention_layer_norm.get_weights())
    norms[1].set_weights(block.cross_attention_layer_norm.get_weights())
    norms[2].set_weights(block.feedforward_layer_norm.get_weights())
    dense_1.set_weights(block.feedforward_intermediate_dense.get_weights())
    dense_2.set_weights(block.feedforward_output_dense.get_weights())
    full_cross_mask = np.broadcast_to(
        ENCODER_PADDING_MASK[:, None, :], (BATCH, LENGTH, ENCODER_LENGTH)
    )
    theirs = ops.convert_to_numpy(reference([DECODER_INPUTS, ENCODER_OUTPUTS, full_cross_mask]))
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


# Errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads"),
        ({"intermediate_dim": 0}, "intermediate_dim"),
        ({"dropout": 1.5}, "dropout"),
        ({"layer_norm_epsilon": -1.0}, "layer_norm_epsilon"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerDecoderBlock(**{"num_heads": HEADS, "intermediate_dim": INTERMEDIATE, **kwargs})


def test_rejects_misuse_of_cross_attention_and_cache():
    decoder_only = _block()
    decoder_only(DECODER_INPUTS)
    with pytest.raises(ValueError, match="without cross-attention"):
        decoder_only(DECODER_INPUTS, ENCODER_OUTPUTS)
    encoder_decoder = _block()
    encoder_decoder(DECODER_INPUTS, ENCODER_OUTPUTS)
    with pytest.raises(ValueError, match="needs encoder_outputs"):
        encoder_decoder(DECODER_INPUTS)
    with pytest.raises(ValueError, match="cache_update_index"):
        decoder_only(DECODER_INPUTS[:, :1], cache=_zero_cache())
    with pytest.raises(ValueError, match="no cross-attention cache"):
        decoder_only.compute_cross_attention_cache(ENCODER_OUTPUTS)
    with pytest.raises(ValueError, match="cannot take encoder_outputs or a cross_attention_cache"):
        decoder_only(DECODER_INPUTS, cross_attention_cache=np.zeros((BATCH, 2, ENCODER_LENGTH, HEADS, HEAD_SIZE)))
    cross_cache = encoder_decoder.compute_cross_attention_cache(ENCODER_OUTPUTS)
    with pytest.raises(ValueError, match="needs encoder_outputs"):
        encoder_decoder(DECODER_INPUTS, cross_attention_cache=cross_cache)
    with pytest.raises(ValueError, match="divisible"):
        TransformerDecoderBlock(3, INTERMEDIATE)(DECODER_INPUTS)


@pytest.mark.parametrize("block_class", [TransformerDecoderBlock, TransformerEncoderBlock])
def test_self_attention_projects_in_one_product(block_class, monkeypatch):
    """Full calls and cached steps take the fused projection (three small products cost decoding speed)."""
    calls = []
    fused = MultiHeadAttention._project_self_attention

    def spy(self, inputs):
        calls.append(tuple(inputs.shape))
        return fused(self, inputs)

    monkeypatch.setattr(MultiHeadAttention, "_project_self_attention", spy)
    block = block_class(HEADS, INTERMEDIATE)
    block(DECODER_INPUTS)
    assert calls == [(BATCH, LENGTH, WIDTH)]
    if block_class is TransformerDecoderBlock:
        block(DECODER_INPUTS[:, :1], cache=_zero_cache(), cache_update_index=0)
        assert calls[-1] == (BATCH, 1, WIDTH)
