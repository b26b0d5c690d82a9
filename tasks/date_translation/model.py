"""The two date translation models, each owning its step-by-step decoding.

Both read the ids of ``tasks.date_translation.data`` (the caller's order token,
then the normalised characters: 0 padding, 1 unknown) and write the 19
characters of the fixed-layout answer (``YYYYMMDDhhmmssSHHMM``, ``_`` for an
absent part, ``#`` for not a date), one at a time, each conditioned on the
characters already written (teacher forcing in training: the decoder input is
the start token followed by the first 18 target characters). Decoding masks
every step with the calendar mask (``data.allowed_tokens``), so only real
dates, times and offsets come out.

* ``AttentionDateModel`` (``--model attention``): the course's architecture
  (Bahdanau et al., 2015): a bidirectional LSTM reads the input; at every
  output step an additive attention over its states, queried with the
  previous post-attention state s<t-1>, gives a context c<t>; the
  post-attention LSTM reads [c<t>, embedding of y<t-1>] and a softmax over the
  14 output characters follows. Unlike the course model it also sees the
  previous output character, which makes beam search meaningful. s<0> comes
  from the backward encoder state, as in the paper.
* ``TransformerDateModel`` (``--model transformer``): token and position
  embeddings, ``encoder_layers`` encoder blocks, ``decoder_layers`` causal
  decoder blocks with cross-attention, decoded one character at a time with
  the blocks' self- and cross-attention caches.

Each model has the same inference interface, which training checks, beam
search, export and error analysis all use:

    memory, state = model.encode(encoder_ids)
    logits, state = model.decode_step(memory, state, token_ids, step)

``memory`` is what every step reads and none changes (the encoder's outputs,
the attention keys computed once per input); ``state`` is what each step
updates (LSTM states, key/value caches); both are dicts of tensors whose
leading axis is the batch, so beam search tiles them and reorders ``state``.
The teacher-forced ``call`` runs the same step (attention model) or the same
blocks over the whole sequence (Transformer), and a test checks that it
agrees with ``decode_step``. ``decode`` runs greedy or beam search in TF ops
(one graph, exportable and XLA-compilable).

What the calendar mask removes is counted, not hidden: the search picks each
character among the allowed ones, but the answer's log probability is the
model's own (unmasked) one, log P(answer | input), so an answer the mask forced
on a model that wanted a forbidden character (``29 feb 2019`` read as
2019-02-29, then forced to another day) gets a low confidence; and with
``not_a_date_above`` an answer whose search met a step where the mask removed
more than that share of the model's probability becomes "not a date".
"""

import keras
import tensorflow as tf
from keras import ops

from tasks.date_translation.data import (ABSENT as ABSENT_ID, DAY, HOUR, INPUT_VOCABULARY_SIZE, NOT_A_DATE_ID,
                                         OUTPUT_CHARACTERS, OUTPUT_LENGTH, SIGN, allowed_tokens)
from layers.additive_attention import AdditiveAttention
from layers.lstm_cell import LSTMCell
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_decoder_block import TransformerDecoderBlock
from layers.transformer_encoder_block import TransformerEncoderBlock
from tasks.common.beam_search import NEG_INF, beam_search, greedy_search, tile_beams

OUTPUT_VOCABULARY_SIZE = len(OUTPUT_CHARACTERS)  # what the softmax ranges over
START_ID = OUTPUT_VOCABULARY_SIZE  # the decoder's start token, never predicted
DECODER_VOCABULARY_SIZE = OUTPUT_VOCABULARY_SIZE + 1
MODELS = ("attention", "transformer")
# The steps after which a row may have finished (written `#` or `_`, repeated to the end under the
# calendar mask): after the year's first character, the day's tens, the hour's tens, the offset sign.
FINISHING_STEPS = (1, DAY + 1, HOUR + 1, SIGN + 1)


def decoder_inputs(targets):
    """Teacher forcing: (batch, 19) target ids -> start token + the first 18."""
    start = tf.fill([tf.shape(targets)[0], 1], START_ID)
    return tf.concat([start, tf.cast(targets[:, :-1], tf.int32)], axis=1)


def step_scores(logits, allowed, token_ids, previous_ids):
    """What the calendar mask did at one step: the model's own log probability of the chosen character
    and the probability mass the mask removed (what the model gave to forbidden characters).

    ``logits`` float32 ``(batch, 14)`` (unmasked), ``allowed`` bool ``(batch, 14)``, ``token_ids`` the
    characters chosen at this step and ``previous_ids`` those of the step before (the start token at
    step 0), int32 ``(batch,)``. Returns two float32 ``(batch,)``. Both are 0 on a row that has finished
    (its previous character is ``_`` or ``#``, so the mask repeats it): those characters are the
    layout's, not a choice, and the unrolled search does not even run the model for them.
    """
    log_probs = tf.nn.log_softmax(logits)  # (batch, 14), the model's own distribution
    chosen = tf.gather(log_probs, token_ids, batch_dims=1)
    removed = 1.0 - tf.reduce_sum(tf.where(allowed, tf.exp(log_probs), 0.0), axis=-1)
    open_ = tf.logical_or(previous_ids < ABSENT_ID, tf.equal(previous_ids, START_ID))
    return tf.where(open_, chosen, 0.0), tf.where(open_, tf.clip_by_value(removed, 0.0, 1.0), 0.0)


def calendar_rule(ids, model_log_probs, removed, not_a_date_above=None):
    """The answer and its log probability under the model, with the not-a-date rule.

    ``ids`` int32 ``(batch, 19)``: the masked search's answer; ``model_log_probs`` and ``removed``
    float32 ``(batch, 19)``: ``step_scores`` of its steps. The log probability is the sum of the
    model's own per-character log probabilities, log P(answer | input) under the model, not
    renormalised over what the mask allowed. With ``not_a_date_above`` (a share in (0, 1]; 1 never
    fires), a row whose mask removed more than that at some step is answered not a date, with log
    probability log(P(the answer's prefix before that step) * removed mass there): the probability
    the model gave to that prefix followed by a character the calendar forbids.
    """
    log_probs = tf.reduce_sum(model_log_probs, axis=1)
    if not_a_date_above is None:
        return ids, log_probs
    over = removed > not_a_date_above  # (batch, 19)
    fired = tf.reduce_any(over, axis=1)
    first = tf.argmax(tf.cast(over, tf.int32), axis=1, output_type=tf.int32)  # the first such step
    before = tf.range(OUTPUT_LENGTH)[tf.newaxis] < first[:, tf.newaxis]
    prefix = tf.reduce_sum(tf.where(before, model_log_probs, 0.0), axis=1)
    impossible = prefix + tf.math.log(tf.maximum(tf.gather(removed, first, batch_dims=1), 1e-30))
    ids = tf.where(fired[:, tf.newaxis], NOT_A_DATE_ID, ids)
    return ids, tf.where(fired, impossible, log_probs)


def rule_limit(not_a_date_above):
    """A config's ``not_a_date_above`` as ``decode`` takes it: ``None`` (the rule off) for 1, which never
    fires, so the search skips the rule's work."""
    return not_a_date_above if not_a_date_above is not None and not_a_date_above < 1 else None


def _check_limit(not_a_date_above):
    if not_a_date_above is not None and not 0.0 < not_a_date_above <= 1.0:
        raise ValueError("Invalid value for argument not_a_date_above. Expected a share in (0, 1] or None. "
                         f"Received: not_a_date_above={not_a_date_above}")


class DateTranslationModel(keras.Model):
    """What both date models share: the search over ``decode_step`` and the teacher-forced call.

    Subclasses define ``encode(encoder_ids) -> (memory, state)``,
    ``decode_step(memory, state, token_ids, step) -> (logits, state)`` and
    ``teacher_forced(encoder_ids, decoder_ids, return_attention=False)``,
    and say in ``attention_description`` what their attention weights are.
    """

    attention_description = ""

    def call(self, inputs, training=None):
        """``(encoder_ids (batch, T_x), decoder_ids (batch, 19))`` -> logits ``(batch, 19, 14)``."""
        encoder_ids, decoder_ids = inputs
        return self.teacher_forced(encoder_ids, decoder_ids, training=training)

    def decode(self, encoder_ids, beam_width=1, constrained=True, unrolled=True, not_a_date_above=None,
               return_details=False):
        """Greedy (``beam_width`` 1) or beam search: ids ``(batch, 19)``, log P(ids | input) ``(batch,)``.

        ``constrained`` (the default, and what the SavedModel serves) masks every
        step with ``data.allowed_tokens``, so only real calendar dates and times
        can come out. The search ranks characters under the mask (renormalised
        over the allowed ones), but the returned log probability is the model's
        own, unmasked (``calendar_rule``): what the mask removed from the chosen
        path lowers it. ``not_a_date_above`` (None: off) answers "not a date"
        where the mask removed more than that share at some step of the answer.
        Unconstrained decoding returns the plain log P of its answer.

        With ``return_details``, a dict instead: ``sequences`` and ``log_probs``
        (the answer), ``search_sequences`` and ``search_log_probs`` (the masked
        search's answer and its renormalised log probability, what the confidence
        was before), and per step of the search's answer ``model_log_probs`` and
        ``removed`` (``step_scores``, ``(batch, 19)``).

        All in TF ops: it traces into a ``tf.function`` (XLA included) and
        exports. Greedy search is written out as 19 steps (``unrolled``, what
        serving uses: each step's mask is built for its position alone, and the
        model's own probabilities come from the same steps) or run as
        ``greedy_search``'s loop; both give the same answers. After the loop or
        beam search, the chosen answer is fed back through ``decode_step`` once
        to read the model's own probabilities of it.
        """
        _check_limit(not_a_date_above)
        encoder_ids = tf.convert_to_tensor(encoder_ids, tf.int32)
        memory, model_state = self.encode(encoder_ids)
        # The characters written so far ride in the state, so beam search reorders them with the beams.
        state = dict(model_state, history=tf.zeros([tf.shape(encoder_ids)[0], OUTPUT_LENGTH], tf.int32))
        start_ids = tf.fill([tf.shape(encoder_ids)[0]], START_ID)
        if beam_width == 1 and unrolled:
            ids, search_log_probs, model_log_probs, removed = self._greedy_unrolled(
                memory, state, start_ids, constrained)
        else:
            ids, search_log_probs = self._search(memory, state, start_ids, beam_width, constrained)
            model_log_probs, removed = (self._replay(memory, model_state, ids) if constrained
                                        else (tf.zeros_like(ids, tf.float32),) * 2)
        if constrained:
            sequences, log_probs = calendar_rule(ids, model_log_probs, removed, not_a_date_above)
        else:
            sequences, log_probs = ids, search_log_probs
        if not return_details:
            return sequences, log_probs
        return {"sequences": sequences, "log_probs": log_probs, "search_sequences": ids,
                "search_log_probs": search_log_probs, "model_log_probs": model_log_probs, "removed": removed}

    def _search(self, memory, state, start_ids, beam_width, constrained):
        """``greedy_search`` or ``beam_search`` over ``decode_step``: ids ``(batch, 19)`` and their log P
        (renormalised under the mask when ``constrained``)."""
        if beam_width > 1:
            memory, state = (tf.nest.map_structure(lambda t: tile_beams(t, beam_width), nest)
                             for nest in (memory, state))

        def step_fn(token_ids, state, step):
            # token_ids is the character written at step - 1 (the start token at step 0).
            written = tf.one_hot(step - 1, OUTPUT_LENGTH, on_value=True, off_value=False, dtype=tf.bool)
            history = tf.where(written[tf.newaxis], token_ids[:, tf.newaxis], state["history"])
            model_state = {k: v for k, v in state.items() if k != "history"}
            logits, model_state = self.decode_step(memory, model_state, token_ids, step)
            logits = tf.cast(logits, tf.float32)
            if constrained:
                logits = tf.where(allowed_tokens(history, step), logits, NEG_INF)
            return tf.nn.log_softmax(logits), dict(model_state, history=history)

        if beam_width == 1:
            result = greedy_search(step_fn, start_ids, state, OUTPUT_LENGTH)
            return result["sequences"], result["log_probs"]
        result = beam_search(step_fn, start_ids, state, beam_width, OUTPUT_LENGTH, OUTPUT_VOCABULARY_SIZE)
        return result["sequences"][:, 0], result["log_probs"][:, 0]

    def _replay(self, memory, state, ids):
        """``step_scores`` of every step of the answer ``ids`` (batch, 19), fed back one character at a
        time through ``decode_step``: two float32 ``(batch, 19)``."""
        token_ids = tf.fill([tf.shape(ids)[0]], START_ID)
        chosen, removed = [], []
        for position in range(OUTPUT_LENGTH):
            logits, state = self.decode_step(memory, state, token_ids, position)
            step_chosen, step_removed = step_scores(tf.cast(logits, tf.float32), allowed_tokens(ids, position),
                                                    ids[:, position], token_ids)
            chosen.append(step_chosen)
            removed.append(step_removed)
            token_ids = ids[:, position]
        return tf.stack(chosen, axis=1), tf.stack(removed, axis=1)

    def _greedy_unrolled(self, memory, state, token_ids, constrained):
        """Greedy search written out step by step: the answer always has 19 characters, so no loop is
        needed, and each step's calendar mask is built for its own position only (``allowed_tokens`` with
        a Python int). Same answers and probabilities as ``greedy_search`` over the search's step.

        Under the mask, a row that has written ``#`` (not a date) or ``_`` (no day, no time, no
        offset) has finished: every later character is that one again, with probability 1. Where
        such a row can first appear (after the year's first character, the day's, the hour's and the
        offset sign), the remaining steps run only if some row of the batch has not finished;
        otherwise the rows are completed without running the model.

        Returns the ids ``(batch, 19)``, their log P under the mask ``(batch,)`` and, per step,
        ``step_scores`` ``(batch, 19)`` each (0 for the steps of finished rows).
        """
        model_state = {k: v for k, v in state.items() if k != "history"}
        batch_size = tf.shape(token_ids)[0]

        def run(step, model_state, token_ids, written, log_probs, scores):
            """Steps ``step``..18, after ``written`` (a list of ``step`` (batch,) id tensors) and
            ``scores`` (a list of their ``step_scores`` pairs)."""
            if not (constrained and step in FINISHING_STEPS):
                return run_steps(step, model_state, token_ids, written, log_probs, scores)
            last = written[-1]

            def complete():
                rest = tf.repeat(last[:, tf.newaxis], OUTPUT_LENGTH - step, axis=1)  # (batch, 19 - step)
                unscored = tf.zeros([batch_size, OUTPUT_LENGTH - step])  # finished rows' steps count 0
                return (tf.concat([tf.stack(written, axis=1), rest], axis=1), log_probs,
                        *(tf.concat([tf.stack(part, axis=1), unscored], axis=1) for part in zip(*scores)))

            return tf.cond(tf.reduce_all(last >= ABSENT_ID), complete,
                           lambda: run_steps(step, model_state, token_ids, written, log_probs, scores))

        def run_steps(step, model_state, token_ids, written, log_probs, scores):
            """Steps ``step`` up to the next of ``FINISHING_STEPS`` (or the end), then ``run`` on."""
            stop = min([s for s in FINISHING_STEPS if s > step] + [OUTPUT_LENGTH]) if constrained else OUTPUT_LENGTH
            for position in range(step, stop):
                logits, model_state = self.decode_step(memory, model_state, token_ids, position)
                logits = tf.cast(logits, tf.float32)
                allowed = tf.ones(tf.shape(logits), tf.bool)
                if constrained:
                    history = tf.stack(written + [tf.zeros_like(token_ids)] * (OUTPUT_LENGTH - position), axis=1)
                    allowed = allowed_tokens(history, position)
                step_log_probs = tf.nn.log_softmax(tf.where(allowed, logits, NEG_INF))  # (batch, 14)
                chosen_ids = tf.argmax(step_log_probs, axis=-1, output_type=tf.int32)
                log_probs = log_probs + tf.gather(step_log_probs, chosen_ids, batch_dims=1)
                scores = scores + [step_scores(logits, allowed, chosen_ids, token_ids)]
                token_ids = chosen_ids
                written = written + [token_ids]
            if stop == OUTPUT_LENGTH:
                return (tf.stack(written, axis=1), log_probs,
                        *(tf.stack(part, axis=1) for part in zip(*scores)))
            return run(stop, model_state, token_ids, written, log_probs, scores)

        return run(0, model_state, token_ids, [], tf.zeros([batch_size], tf.float32), [])

    def attention_weights(self, encoder_ids, output_ids):
        """Attention of each output character over the input, ``(batch, 19, T_x)``, for the heat map.

        The attention model's additive attention; for the Transformer, the last
        decoder block's cross-attention, averaged over heads.
        """
        encoder_ids = tf.convert_to_tensor(encoder_ids, tf.int32)
        decoder_ids = decoder_inputs(tf.convert_to_tensor(output_ids, tf.int32))
        _, weights = self.teacher_forced(encoder_ids, decoder_ids, return_attention=True)
        return weights


@keras.saving.register_keras_serializable(package="seqmodels")
class AttentionDateModel(DateTranslationModel):
    """Bi-LSTM encoder, additive attention, post-attention LSTM (the course's model, with output feedback).

    Example:

    >>> model = AttentionDateModel(encoder_units=8, decoder_units=8)
    >>> memory, state = model.encode(np.array([[5, 6, 7]], "int32"))
    >>> logits, state = model.decode_step(memory, state, np.array([START_ID], "int32"), 0)
    >>> tuple(logits.shape)
    (1, 14)

    Args:
        embedding_dim: width of the input and output character embeddings.
        encoder_units: LSTM units per direction of the encoder.
        decoder_units: units of the post-attention LSTM (s<t>).
        attention_units: width of the additive attention's hidden layer.
    """

    attention_description = "additive attention"

    def __init__(self, embedding_dim=16, encoder_units=32, decoder_units=64, attention_units=16,
                 name="date_attention", **kwargs):
        super().__init__(name=name, **kwargs)
        self.embedding_dim = embedding_dim
        self.encoder_units = encoder_units
        self.decoder_units = decoder_units
        self.attention_units = attention_units
        self.encoder_embedding = keras.layers.Embedding(INPUT_VOCABULARY_SIZE, embedding_dim, name="encoder_embedding")
        self.encoder = keras.layers.Bidirectional(
            keras.layers.RNN(LSTMCell(encoder_units), return_sequences=True), name="encoder")
        self.decoder_init = keras.layers.Dense(2 * decoder_units, activation="tanh", name="decoder_init")
        self.decoder_embedding = keras.layers.Embedding(DECODER_VOCABULARY_SIZE, embedding_dim,
                                                        name="decoder_embedding")
        self.attention = AdditiveAttention(attention_units, name="attention")
        # Built now: encode() projects the keys before the first step calls the layer.
        self.attention.build((None, decoder_units), (None, None, 2 * encoder_units))
        self.decoder_cell = LSTMCell(decoder_units, name="decoder_cell")
        self.output_dense = keras.layers.Dense(OUTPUT_VOCABULARY_SIZE, name="output_dense")

    def encode(self, encoder_ids, training=None):
        """``memory``: encoder states ``values`` (batch, T_x, 2 * encoder_units), their attention
        ``keys`` (batch, T_x, attention_units) and ``mask``; ``state``: s<0> and c<0>."""
        mask = ops.not_equal(encoder_ids, 0)
        values = self.encoder(self.encoder_embedding(encoder_ids), mask=mask, training=training)
        # s<0> and c<0> from the backward LSTM's summary of the whole input.
        hidden, cell = ops.split(self.decoder_init(values[:, 0, self.encoder_units:]), 2, axis=-1)
        memory = {"values": values, "keys": self.attention.project_keys(values), "mask": mask}
        return memory, {"hidden": hidden, "cell": cell}

    def decode_step(self, memory, state, token_ids, step=None, return_attention=False, training=None):
        """One output character: logits ``(batch, 14)`` and the new state (``step`` is unused here).

        With ``return_attention``, also the attention weights ``(batch, T_x)`` of this step.
        """
        context, weights = self.attention(state["hidden"], memory["values"], mask=memory["mask"],
                                          projected_keys=memory["keys"])  # (batch, 2 * encoder_units)
        embedded = self.decoder_embedding(token_ids)  # (batch, embedding_dim)
        output, (hidden, cell) = self.decoder_cell(ops.concatenate([context, embedded], axis=-1),
                                                   [state["hidden"], state["cell"]], training=training)
        logits = self.output_dense(output)
        new_state = {"hidden": hidden, "cell": cell}
        return (logits, new_state, weights) if return_attention else (logits, new_state)

    def teacher_forced(self, encoder_ids, decoder_ids, return_attention=False, training=None):
        """``decode_step`` over the 19 teacher tokens: logits ``(batch, 19, 14)`` (and weights ``(batch, 19, T_x)``)."""
        memory, state = self.encode(encoder_ids, training=training)
        logits, weights = [], []
        for step in range(OUTPUT_LENGTH):
            step_logits, state, step_weights = self.decode_step(
                memory, state, decoder_ids[:, step], step, return_attention=True, training=training)
            logits.append(step_logits)
            weights.append(step_weights)
        logits = ops.stack(logits, axis=1)
        return (logits, ops.stack(weights, axis=1)) if return_attention else logits

    def get_config(self):
        config = super().get_config()
        config.update({"embedding_dim": self.embedding_dim, "encoder_units": self.encoder_units,
                       "decoder_units": self.decoder_units, "attention_units": self.attention_units})
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class TransformerDateModel(DateTranslationModel):
    """Pre-norm Transformer encoder-decoder with learned positions over characters.

    Args:
        sequence_length: the longest input, in characters (the position table's size).
        model_dim: embedding and residual width.
        num_heads: attention heads of every block.
        intermediate_dim: feed-forward width of every block.
        encoder_layers, decoder_layers: number of blocks.
        dropout: dropout of every block.
    """

    attention_description = "cross-attention, last block, mean of heads"

    def __init__(self, sequence_length=32, model_dim=48, num_heads=4, intermediate_dim=96, encoder_layers=1,
                 decoder_layers=1, dropout=0.0, name="date_transformer", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sequence_length = sequence_length
        self.model_dim = model_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.dropout = dropout
        # Each sublayer is built as soon as it exists, in the order of the forward pass: the
        # random seeds of initializers and dropout are then drawn in the same order as when
        # this model was a Functional one (same weights for the same seed).
        encoder_shape, decoder_shape = (None, None, model_dim), (None, OUTPUT_LENGTH, model_dim)
        self.encoder_embedding = TokenAndPositionEmbedding(
            INPUT_VOCABULARY_SIZE, sequence_length, model_dim, mask_zero=False, name="encoder_embedding")
        self.encoder_embedding.build((None, None))
        self.encoder_blocks = []
        for index in range(encoder_layers):
            self.encoder_blocks.append(TransformerEncoderBlock(
                num_heads, intermediate_dim, dropout, activation="gelu", norm_first=True,
                name=f"encoder_block_{index}"))
            self.encoder_blocks[-1].build(encoder_shape)
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")
        self.encoder_norm.build(encoder_shape)
        # Output id 0 is the digit "0", not padding, hence mask_zero=False.
        self.decoder_embedding = TokenAndPositionEmbedding(
            DECODER_VOCABULARY_SIZE, OUTPUT_LENGTH, model_dim, mask_zero=False, name="decoder_embedding")
        self.decoder_embedding.build((None, OUTPUT_LENGTH))
        self.decoder_blocks = []
        for index in range(decoder_layers):
            self.decoder_blocks.append(TransformerDecoderBlock(
                num_heads, intermediate_dim, dropout, activation="gelu", norm_first=True,
                name=f"decoder_block_{index}"))
            self.decoder_blocks[-1].build(decoder_shape, encoder_shape)
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")
        self.decoder_norm.build(decoder_shape)
        self.output_dense = keras.layers.Dense(OUTPUT_VOCABULARY_SIZE, name="output_dense")
        self.output_dense.build(decoder_shape)

    def _encoder_outputs(self, encoder_ids, training=None):
        mask = ops.not_equal(encoder_ids, 0)
        x = self.encoder_embedding(encoder_ids)
        for block in self.encoder_blocks:
            x = block(x, padding_mask=mask, training=training)
        return self.encoder_norm(x), mask  # (batch, T_x, model_dim), (batch, T_x)

    def encode(self, encoder_ids, training=None):
        """``memory``: encoder ``outputs``, ``mask`` and each decoder block's ``cross_caches``
        (projected once per input); ``state``: each block's empty self-attention ``caches``."""
        outputs, mask = self._encoder_outputs(encoder_ids, training=training)
        cross_caches = tuple(block.compute_cross_attention_cache(outputs) for block in self.decoder_blocks)
        head_size = self.model_dim // self.num_heads
        # (batch, 2, 19, heads, head_size): keys and values of the characters written so far.
        caches = tuple(ops.zeros((ops.shape(outputs)[0], 2, OUTPUT_LENGTH, self.num_heads, head_size), outputs.dtype)
                       for _ in self.decoder_blocks)
        return {"outputs": outputs, "mask": mask, "cross_caches": cross_caches}, {"caches": caches}

    def decode_step(self, memory, state, token_ids, step, return_attention=False, training=None):
        """Output character ``step``: logits ``(batch, 14)`` and the new caches.

        With ``return_attention``, also the last block's cross-attention scores
        ``(batch, heads, 1, T_x)``.
        """
        y = self.decoder_embedding(token_ids[:, None], start_index=step)  # (batch, 1, model_dim)
        caches, scores = [], None
        for block, cache, cross_cache in zip(self.decoder_blocks, state["caches"], memory["cross_caches"]):
            results = block(y, memory["outputs"], encoder_padding_mask=memory["mask"], cache=cache,
                            cache_update_index=step, cross_attention_cache=cross_cache,
                            return_attention_scores=return_attention, training=training)
            y, cache = results[:2]
            scores = results[2] if return_attention else None
            caches.append(cache)
        logits = self.output_dense(self.decoder_norm(y))[:, 0, :]
        new_state = {"caches": tuple(caches)}
        return (logits, new_state, scores) if return_attention else (logits, new_state)

    def teacher_forced(self, encoder_ids, decoder_ids, return_attention=False, training=None):
        """All 19 steps at once through the same blocks (causal): logits ``(batch, 19, 14)``, and with
        ``return_attention`` the last block's cross-attention averaged over heads ``(batch, 19, T_x)``."""
        outputs, mask = self._encoder_outputs(encoder_ids, training=training)
        y = self.decoder_embedding(decoder_ids)
        scores = None
        for block in self.decoder_blocks:
            results = block(y, outputs, encoder_padding_mask=mask, return_attention_scores=return_attention,
                            training=training)
            y, scores = results if return_attention else (results, None)
        logits = self.output_dense(self.decoder_norm(y))
        return (logits, ops.mean(scores, axis=1)) if return_attention else logits

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "model_dim": self.model_dim,
                       "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                       "encoder_layers": self.encoder_layers, "decoder_layers": self.decoder_layers,
                       "dropout": self.dropout})
        return config


def build_model(config):
    """The ``config.model`` date model, built (its weights exist)."""
    if config.model == "attention":
        model = AttentionDateModel(config.embedding_dim, config.encoder_units, config.decoder_units,
                                   config.attention_units)
    elif config.model == "transformer":
        model = TransformerDateModel(config.sequence_length, config.model_dim, config.num_heads,
                                     config.intermediate_dim, config.encoder_layers, config.decoder_layers,
                                     config.dropout)
    else:
        raise ValueError(f"Unknown model {config.model!r}. Expected one of {MODELS}")
    model((keras.Input((None,), dtype="int32"), keras.Input((OUTPUT_LENGTH,), dtype="int32")))
    return model


def load_model(path):
    """A date model saved with ``model.save(path)``, with a clear error for runs saved before these classes."""
    model = keras.models.load_model(str(path))
    if not isinstance(model, DateTranslationModel):
        raise ValueError(
            f"{path} holds a {type(model).__name__} named {model.name!r}, not a date translation model "
            f"({', '.join(c.__name__ for c in DateTranslationModel.__subclasses__())}); runs saved before the "
            "date models became their own classes do not load: train the run again.")
    return model
