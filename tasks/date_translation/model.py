"""The two date translation models and their step-by-step decoders.

Both read character ids of the normalised human date (``data.dates``: 0
padding, 1 unknown, 2.. characters) and write the 10 characters of the ISO
date, one at a time, each conditioned on the characters already written
(teacher forcing in training: the decoder input is the start token followed
by the first 9 target characters).

* ``attention``: the course's architecture (Bahdanau et al., 2015): a
  bidirectional LSTM reads the input; at every output step an additive
  attention over its states, queried with the previous post-attention state
  s<t-1>, gives a context c<t>; the post-attention LSTM reads [c<t>, embedding
  of y<t-1>] and a softmax over the 11 output characters follows. Unlike the
  course model it also sees the previous output character, which makes beam
  search meaningful. s<0> comes from the backward encoder state, as in the paper.
* ``transformer``: token and position embeddings, ``encoder_layers`` encoder
  blocks, ``decoder_layers`` causal decoder blocks with cross-attention, and
  a key/value cache for incremental decoding (``decoder_block_forward``).

``Decoder`` wraps either trained model into ``encode`` + ``step_fn`` for
``tasks.common.beam_search`` (greedy and beam search run in one graph).
"""

import keras
import tensorflow as tf
from keras import ops

from data.dates import INPUT_CHARACTERS, OUTPUT_CHARACTERS, OUTPUT_LENGTH
from layers.additive_attention import AdditiveAttention
from layers.lstm_cell import LSTMCell
from layers.scaled_dot_product_attention import masked_softmax
from layers.multi_head_attention import MultiHeadAttention
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_decoder_block import TransformerDecoderBlock
from layers.transformer_encoder_block import TransformerEncoderBlock
from tasks.common.beam_search import beam_search, greedy_search, tile_beams

INPUT_VOCABULARY_SIZE = len(INPUT_CHARACTERS) + 2  # + padding and unknown
OUTPUT_VOCABULARY_SIZE = len(OUTPUT_CHARACTERS)  # what the softmax ranges over
START_ID = OUTPUT_VOCABULARY_SIZE  # the decoder's start token, never predicted
DECODER_VOCABULARY_SIZE = OUTPUT_VOCABULARY_SIZE + 1
MODELS = ("attention", "transformer")


# ---------------------------------------------------------------------------
# Step-by-step additive attention with the query-independent half computed once.
#
# layers.AdditiveAttention projects the encoder states (W_k a) at every call,
# that is at every output step when decoding; these two functions split its
# equation so that the decoder projects them once per input. Same weights and
# equation; a test checks against the layer's own call in the full model.


def additive_attention_keys(layer, values):
    """``W_k a (+ b)``: ``(batch, T_x, units)``."""
    keys = ops.matmul(values, layer.values_kernel)
    return keys + layer.bias if layer.bias is not None else keys


def additive_attention_step(layer, query, values, keys, mask):
    """``(context (batch, d_a), weights (batch, T_x))`` for one query ``(batch, d_q)``."""
    hidden = layer.activation(ops.expand_dims(ops.matmul(query, layer.query_kernel), 1) + keys)
    energies = ops.squeeze(ops.matmul(hidden, layer.score_kernel), -1)  # (batch, T_x)
    if layer.score_bias is not None:
        energies = energies + layer.score_bias
    weights = masked_softmax(layer.score_activation(energies), mask, axis=-1)
    context = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), values), 1)  # (batch, d_a)
    return context, weights


# ---------------------------------------------------------------------------
# Incremental decoding through layers.TransformerDecoderBlock's sub-layers.
#
# The block recomputes the encoder keys and values of its cross-attention at
# every call; decoding one character at a time would then project the whole
# encoder output ten times. These helpers run the block's own sub-layers (same
# weights, same equations; a test checks against the block's full call) with
# the cross-attention keys and values projected once per input.


def cross_attention_cache(block, encoder_outputs):
    """Projected encoder keys and values of ``block``: (batch, 2, T_x, heads, head_dim)."""
    attention = block.cross_attention_layer
    return ops.stack((attention.key_dense(encoder_outputs), attention.value_dense(encoder_outputs)), axis=1)


def decoder_block_forward(block, x, encoder_outputs, encoder_mask, cache=None, cache_update_index=None,
                          cross_cache=None, return_attention_scores=False):
    """``block``'s inference-mode forward pass, optionally cached, optionally with cross-attention scores."""

    def sublayer(x, norm, function):
        y = function(norm(x) if block.norm_first else x) + x
        return y if block.norm_first else norm(y)

    new_cache = []

    def self_attention(h):
        if cache is None:
            return block.self_attention_layer(h, h, use_causal_mask=True)
        h, updated = block.self_attention_layer(h, h, use_causal_mask=True, cache=cache,
                                                cache_update_index=cache_update_index)
        new_cache.append(updated)
        return h

    scores = []
    cross_mask = ops.expand_dims(encoder_mask, 1)  # (batch, 1, T_x)

    def cross_attention(h):
        result = block.cross_attention_layer(h, encoder_outputs, attention_mask=cross_mask,
                                             cache=cross_cache, return_attention_scores=return_attention_scores)
        if not isinstance(result, (tuple, list)):
            return result
        if return_attention_scores:
            scores.append(result[-1])
        return result[0]

    def feedforward(h):
        return block.feedforward_output_dense(block.feedforward_intermediate_dense(h))

    x = sublayer(x, block.self_attention_layer_norm, self_attention)
    x = sublayer(x, block.cross_attention_layer_norm, cross_attention)
    x = sublayer(x, block.feedforward_layer_norm, feedforward)
    outputs = [x]
    if cache is not None:
        outputs.append(new_cache[0])
    if return_attention_scores:
        outputs.append(scores[0])  # (batch, heads, T_y, T_x)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


# ---------------------------------------------------------------------------
# Models.


def _attention_decoder_loop(layers, values, encoder_mask, initial_state, decoder_embeddings,
                            return_weights=False):
    """Teacher-forced post-attention decoder, unrolled over the 10 output steps."""
    state = initial_state
    logits, weights = [], []
    for step in range(OUTPUT_LENGTH):
        context, step_weights = layers["attention"](state[0], values, mask=encoder_mask)
        cell_input = ops.concatenate([context, decoder_embeddings[:, step, :]], axis=-1)
        output, state = layers["decoder_cell"](cell_input, state)
        logits.append(layers["output_dense"](output))
        weights.append(step_weights)
    logits = ops.stack(logits, axis=1)  # (batch, 10, output vocabulary)
    if return_weights:
        return logits, ops.stack(weights, axis=1)  # (batch, 10, T_x)
    return logits


def _attention_layers(model):
    return {name: model.get_layer(name) for name in (
        "encoder_embedding", "encoder", "decoder_init", "decoder_embedding", "attention",
        "decoder_cell", "output_dense")}


def _attention_encode(layers, encoder_ids, encoder_units):
    encoder_mask = ops.not_equal(encoder_ids, 0)
    embedded = layers["encoder_embedding"](encoder_ids)
    values = layers["encoder"](embedded, mask=encoder_mask)  # (batch, T_x, 2 * encoder_units)
    # s<0> and c<0> from the backward LSTM's summary of the whole input.
    initial = layers["decoder_init"](values[:, 0, encoder_units:])
    state = list(ops.split(initial, 2, axis=-1))
    return values, encoder_mask, state


def build_attention_model(config):
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_ids")
    decoder_ids = keras.Input((OUTPUT_LENGTH,), dtype="int32", name="decoder_ids")
    layers = {
        "encoder_embedding": keras.layers.Embedding(
            INPUT_VOCABULARY_SIZE, config.embedding_dim, name="encoder_embedding"),
        "encoder": keras.layers.Bidirectional(
            keras.layers.RNN(LSTMCell(config.encoder_units), return_sequences=True), name="encoder"),
        "decoder_init": keras.layers.Dense(2 * config.decoder_units, activation="tanh", name="decoder_init"),
        "decoder_embedding": keras.layers.Embedding(
            DECODER_VOCABULARY_SIZE, config.embedding_dim, name="decoder_embedding"),
        "attention": AdditiveAttention(config.attention_units, name="attention"),
        "decoder_cell": LSTMCell(config.decoder_units, name="decoder_cell"),
        "output_dense": keras.layers.Dense(OUTPUT_VOCABULARY_SIZE, name="output_dense"),
    }
    values, encoder_mask, state = _attention_encode(layers, encoder_ids, config.encoder_units)
    decoder_embeddings = layers["decoder_embedding"](decoder_ids)
    logits = _attention_decoder_loop(layers, values, encoder_mask, state, decoder_embeddings)
    return keras.Model([encoder_ids, decoder_ids], logits, name="date_attention")


def build_transformer_model(config):
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_ids")
    decoder_ids = keras.Input((OUTPUT_LENGTH,), dtype="int32", name="decoder_ids")
    encoder_mask = ops.not_equal(encoder_ids, 0)
    x = TokenAndPositionEmbedding(
        INPUT_VOCABULARY_SIZE, config.sequence_length, config.model_dim, mask_zero=False,
        name="encoder_embedding")(encoder_ids)
    for index in range(config.encoder_layers):
        x = TransformerEncoderBlock(
            config.num_heads, config.intermediate_dim, config.dropout, activation="gelu", norm_first=True,
            name=f"encoder_block_{index}")(x, padding_mask=encoder_mask)
    encoder_outputs = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(x)
    # Output id 0 is the digit "0", not padding, hence mask_zero=False.
    y = TokenAndPositionEmbedding(
        DECODER_VOCABULARY_SIZE, OUTPUT_LENGTH, config.model_dim, mask_zero=False,
        name="decoder_embedding")(decoder_ids)
    for index in range(config.decoder_layers):
        y = TransformerDecoderBlock(
            config.num_heads, config.intermediate_dim, config.dropout, activation="gelu", norm_first=True,
            name=f"decoder_block_{index}")(y, encoder_outputs, encoder_padding_mask=encoder_mask)
    y = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(y)
    logits = keras.layers.Dense(OUTPUT_VOCABULARY_SIZE, name="output_dense")(y)
    return keras.Model([encoder_ids, decoder_ids], logits, name="date_transformer")


def build_model(config):
    if config.model == "attention":
        return build_attention_model(config)
    if config.model == "transformer":
        return build_transformer_model(config)
    raise ValueError(f"Unknown model {config.model!r}. Expected one of {MODELS}")


def decoder_inputs(targets):
    """Teacher forcing: (batch, 10) target ids -> start token + the first 9."""
    start = tf.fill([tf.shape(targets)[0], 1], START_ID)
    return tf.concat([start, tf.cast(targets[:, :-1], tf.int32)], axis=1)


# ---------------------------------------------------------------------------
# Step-by-step decoding of a trained model.


class Decoder:
    """Greedy and beam search decoding of a trained date model, all in TF ops.

    ``decode(encoder_ids, beam_width)`` returns ids ``(batch, 10)`` and the
    sequence log probability ``(batch,)``; it can be traced into a
    ``tf.function`` and exported. The model kind is read from its name.
    """

    def __init__(self, model):
        self.model = model
        if model.name == "date_attention":
            self.kind = "attention"
            self.layers = _attention_layers(model)
            self.encoder_units = self.layers["encoder"].forward_layer.cell.units
        elif model.name == "date_transformer":
            self.kind = "transformer"
            self.encoder_blocks = [l for l in model.layers if l.name.startswith("encoder_block_")]
            self.decoder_blocks = [l for l in model.layers if l.name.startswith("decoder_block_")]
            self.encoder_embedding = model.get_layer("encoder_embedding")
            self.decoder_embedding = model.get_layer("decoder_embedding")
            self.encoder_norm = model.get_layer("encoder_norm")
            self.decoder_norm = model.get_layer("decoder_norm")
            self.output_dense = model.get_layer("output_dense")
        else:
            raise ValueError(f"Not a date translation model: {model.name!r}")

    # -- attention model --------------------------------------------------

    def _attention_setup(self, encoder_ids, beam_width):
        values, encoder_mask, state = _attention_encode(self.layers, encoder_ids, self.encoder_units)
        attention = self.layers["attention"]
        # The shortcut covers the layer's default "additive" score mode.
        keys = additive_attention_keys(attention, values) if attention.score_mode == "additive" else None
        if beam_width > 1:
            values, encoder_mask = tile_beams(values, beam_width), tile_beams(encoder_mask, beam_width)
            keys = tile_beams(keys, beam_width) if keys is not None else None
            state = [tile_beams(s, beam_width) for s in state]
        layers = self.layers

        def step_fn(token_ids, state, step):
            embedded = layers["decoder_embedding"](token_ids)  # (rows, embedding_dim)
            if keys is not None:
                context, _ = additive_attention_step(attention, state[0], values, keys, encoder_mask)
            else:
                context, _ = attention(state[0], values, mask=encoder_mask)
            output, new_state = layers["decoder_cell"](ops.concatenate([context, embedded], -1), list(state))
            return tf.nn.log_softmax(layers["output_dense"](output)), tuple(new_state)

        return step_fn, tuple(state)

    # -- transformer --------------------------------------------------------

    def _transformer_encode(self, encoder_ids):
        encoder_mask = ops.not_equal(encoder_ids, 0)
        x = self.encoder_embedding(encoder_ids)
        for block in self.encoder_blocks:
            x = block(x, padding_mask=encoder_mask)
        return self.encoder_norm(x), encoder_mask

    def _transformer_setup(self, encoder_ids, beam_width):
        encoder_outputs, encoder_mask = self._transformer_encode(encoder_ids)
        cross_caches = [cross_attention_cache(block, encoder_outputs) for block in self.decoder_blocks]
        if beam_width > 1:
            encoder_outputs, encoder_mask = tile_beams(encoder_outputs, beam_width), tile_beams(encoder_mask, beam_width)
            cross_caches = [tile_beams(c, beam_width) for c in cross_caches]
        rows = tf.shape(encoder_outputs)[0]
        caches = tuple(
            tf.zeros([rows, 2, OUTPUT_LENGTH, block.num_heads, block.self_attention_layer.key_dim])
            for block in self.decoder_blocks
        )

        def step_fn(token_ids, caches, step):
            y = self.decoder_embedding(token_ids[:, tf.newaxis], start_index=step)  # (rows, 1, dim)
            new_caches = []
            for block, cache, cross_cache in zip(self.decoder_blocks, caches, cross_caches):
                y, cache = decoder_block_forward(block, y, encoder_outputs, encoder_mask, cache=cache,
                                                 cache_update_index=step, cross_cache=cross_cache)
                new_caches.append(cache)
            logits = self.output_dense(self.decoder_norm(y))[:, 0, :]
            return tf.nn.log_softmax(logits), tuple(new_caches)

        return step_fn, caches

    # -- both -------------------------------------------------------------

    def decode(self, encoder_ids, beam_width=1):
        encoder_ids = tf.convert_to_tensor(encoder_ids, tf.int32)
        setup = self._attention_setup if self.kind == "attention" else self._transformer_setup
        step_fn, state = setup(encoder_ids, beam_width)
        start_ids = tf.fill([tf.shape(encoder_ids)[0]], START_ID)
        if beam_width == 1:
            result = greedy_search(step_fn, start_ids, state, OUTPUT_LENGTH)
            return result["sequences"], result["log_probs"]
        result = beam_search(step_fn, start_ids, state, beam_width, OUTPUT_LENGTH,
                             OUTPUT_VOCABULARY_SIZE)
        return result["sequences"][:, 0], result["log_probs"][:, 0]

    def attention_weights(self, encoder_ids, output_ids):
        """Attention of each output character over the input, ``(batch, 10, T_x)``.

        For the Transformer: the last decoder block's cross-attention, averaged over heads.
        """
        encoder_ids = tf.convert_to_tensor(encoder_ids, tf.int32)
        decoder_ids = decoder_inputs(tf.convert_to_tensor(output_ids, tf.int32))
        if self.kind == "attention":
            values, encoder_mask, state = _attention_encode(self.layers, encoder_ids, self.encoder_units)
            embedded = self.layers["decoder_embedding"](decoder_ids)
            _, weights = _attention_decoder_loop(self.layers, values, encoder_mask, state, embedded,
                                                 return_weights=True)
            return weights
        encoder_outputs, encoder_mask = self._transformer_encode(encoder_ids)
        y = self.decoder_embedding(decoder_ids)
        scores = None
        for block in self.decoder_blocks:
            y, scores = decoder_block_forward(block, y, encoder_outputs, encoder_mask, return_attention_scores=True)
        return ops.mean(scores, axis=1)  # (batch, 10, T_x)
