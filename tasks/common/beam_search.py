"""Batched beam search and greedy decoding over any decoder step function.

Both run inside one ``tf.while_loop``, so they trace into a ``tf.function`` and
export with a SavedModel (the date translation task decodes in its serving
graph with them).

The decoder is a step function

    log_probs, new_state = step_fn(token_ids, state, step)

* ``token_ids``: int32 ``(rows,)``, the last token of every hypothesis (the
  start token at step 0);
* ``state``: any nest of tensors whose leading dimension is ``rows`` (LSTM
  states, a Transformer's key/value cache, ...);
* ``step``: scalar int32, the position being predicted (0 for the first token);
* ``log_probs``: float32 ``(rows, vocab_size)``, log P(next token | prefix).

Beam search calls it with ``rows = batch * beam_width``, beams of one example
next to each other, and reorders every state tensor along the leading
dimension when hypotheses are re-ranked. Tensors that every beam shares (an
encoder's outputs) are best closed over by ``step_fn`` after ``tile_beams``.

Scoring (Wu et al., 2016, without the coverage term): a hypothesis of T_y
tokens, the end token included, scores ``log P(y | x) / T_y ** alpha``. Once a
hypothesis emits ``eos_id`` it is finished: it keeps its beam, is extended only
with ``pad_id`` at no cost, and keeps its length. The beam keeps the
``beam_width`` best hypotheses by that score at every step (a live hypothesis
of t tokens is scored with T_y = t). The search stops after ``max_length``
tokens or once every beam of every example has finished.

Two properties the tests check: a beam as wide as the number of possible
sequences returns the exact best sequence under the score, and at width 1 the
search is greedy decoding (whatever alpha is, since all candidates of one beam
then have the same length).
"""

import tensorflow as tf

# Log probability of impossible hypotheses. A finite value keeps the arithmetic
# free of inf - inf.
NEG_INF = -1e9


def tile_beams(tensor, beam_width):
    """``(batch, ...)`` -> ``(batch * beam_width, ...)``, each row repeated beam_width times."""
    return tf.repeat(tensor, beam_width, axis=0)


def length_penalty(length, alpha):
    """``T_y ** alpha`` as float32 (1 when alpha is 0)."""
    return tf.pow(tf.cast(tf.maximum(length, 1), tf.float32), alpha)


def _gather_beams(tensor, beam_indices, batch_size, beam_width):
    """Reorder a ``(batch * beam, ...)`` tensor with ``beam_indices`` ``(batch, beam)``."""
    shape = tf.shape(tensor)
    tensor = tf.reshape(tensor, tf.concat([[batch_size, beam_width], shape[1:]], 0))
    tensor = tf.gather(tensor, beam_indices, axis=1, batch_dims=1)
    return tf.reshape(tensor, shape)


def beam_search(
    step_fn,
    start_ids,
    initial_state,
    beam_width,
    max_length,
    vocab_size,
    eos_id=None,
    pad_id=0,
    alpha=0.0,
):
    """Beam search for the ``beam_width`` best continuations of every example.

    Args:
        step_fn: ``(token_ids, state, step) -> (log_probs, new_state)``, see the
            module docstring. Called with ``batch * beam_width`` rows.
        start_ids: int32 ``(batch,)`` start tokens.
        initial_state: nest of ``(batch * beam_width, ...)`` tensors (use
            ``tile_beams`` on a per-example state), or ``()``.
        beam_width: Python int >= 1.
        max_length: Python int or scalar tensor >= 1, the most tokens generated.
        vocab_size: Python int, the width of ``log_probs``.
        eos_id: end-of-sequence token, or None when every output has exactly
            ``max_length`` tokens.
        pad_id: the token written after a hypothesis has finished.
        alpha: length normalisation exponent (0 ranks by log P alone).

    Returns:
        A dict of tensors, beams sorted best first:
        ``sequences`` int32 ``(batch, beam_width, max_length)`` (end token
        included, ``pad_id`` after it), ``scores`` float32 ``(batch, beam_width)``
        (``log P / T_y ** alpha``), ``log_probs`` float32 ``(batch, beam_width)``
        and ``lengths`` int32 ``(batch, beam_width)``.
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(
            f"Invalid value for argument beam_width. Expected a positive integer. "
            f"Received: beam_width={beam_width}"
        )
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(
            f"Invalid value for argument vocab_size. Expected a positive integer. "
            f"Received: vocab_size={vocab_size}"
        )
    if isinstance(max_length, int) and max_length < 1:
        raise ValueError(
            f"Invalid value for argument max_length. Expected a positive integer. "
            f"Received: max_length={max_length}"
        )
    start_ids = tf.convert_to_tensor(start_ids, tf.int32)
    max_length = tf.convert_to_tensor(max_length, tf.int32)
    alpha = tf.convert_to_tensor(alpha, tf.float32)
    batch_size = tf.shape(start_ids)[0]
    rows = batch_size * beam_width

    # Only the first beam of each example is live at the start; the others hold
    # copies that must not be chosen, hence their impossible log probability.
    first_beam = tf.one_hot(0, beam_width, on_value=0.0, off_value=NEG_INF)
    log_probs = tf.tile(first_beam[tf.newaxis], [batch_size, 1])  # (batch, beam)
    sequences = tf.zeros([batch_size, beam_width, max_length], tf.int32)
    finished = tf.zeros([batch_size, beam_width], tf.bool)
    lengths = tf.zeros([batch_size, beam_width], tf.int32)
    last_ids = tile_beams(start_ids, beam_width)  # (rows,)
    vocab = tf.range(vocab_size)

    def cond(step, sequences, log_probs, finished, lengths, last_ids, state):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(step, sequences, log_probs, finished, lengths, last_ids, state):
        step_log_probs, new_state = step_fn(last_ids, state, step)
        step_log_probs = tf.reshape(
            tf.cast(step_log_probs, tf.float32), [batch_size, beam_width, vocab_size]
        )
        # A finished hypothesis has one continuation, pad at no cost.
        pad_only = tf.where(tf.equal(vocab, pad_id), 0.0, NEG_INF)  # (vocab,)
        step_log_probs = tf.where(finished[..., tf.newaxis], pad_only, step_log_probs)
        candidate_log_probs = log_probs[..., tf.newaxis] + step_log_probs  # (batch, beam, vocab)
        candidate_lengths = tf.where(finished, lengths, step + 1)[..., tf.newaxis]
        candidate_lengths = tf.broadcast_to(candidate_lengths, tf.shape(candidate_log_probs))
        candidate_scores = candidate_log_probs / length_penalty(candidate_lengths, alpha)

        # Keep the beam_width best of the beam_width * vocab candidates.
        flat_scores = tf.reshape(candidate_scores, [batch_size, beam_width * vocab_size])
        _, top_indices = tf.math.top_k(flat_scores, k=beam_width)  # (batch, beam)
        beam_indices = top_indices // vocab_size
        token_ids = top_indices % vocab_size

        def pick(tensor):
            flat = tf.reshape(tensor, [batch_size, beam_width * vocab_size])
            return tf.gather(flat, top_indices, batch_dims=1)

        new_log_probs = pick(candidate_log_probs)
        new_lengths = pick(candidate_lengths)
        was_finished = tf.gather(finished, beam_indices, batch_dims=1)
        new_finished = was_finished
        if eos_id is not None:
            new_finished = tf.logical_or(was_finished, tf.equal(token_ids, eos_id))
        new_sequences = tf.gather(sequences, beam_indices, batch_dims=1)
        position = tf.one_hot(step, max_length, on_value=True, off_value=False, dtype=tf.bool)
        new_sequences = tf.where(
            position[tf.newaxis, tf.newaxis], token_ids[..., tf.newaxis], new_sequences
        )
        new_state = tf.nest.map_structure(
            lambda t: _gather_beams(t, beam_indices, batch_size, beam_width), new_state
        )
        return (
            step + 1,
            new_sequences,
            new_log_probs,
            new_finished,
            new_lengths,
            tf.reshape(token_ids, [rows]),
            new_state,
        )

    state_invariants = tf.nest.map_structure(
        lambda t: tf.TensorShape([None]).concatenate(t.shape[1:]), initial_state
    )
    _, sequences, log_probs, finished, lengths, _, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(0), sequences, log_probs, finished, lengths, last_ids, initial_state),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, beam_width, None]),
            tf.TensorShape([None, beam_width]),
            tf.TensorShape([None, beam_width]),
            tf.TensorShape([None, beam_width]),
            tf.TensorShape([None]),
            state_invariants,
        ),
    )
    # Final ranking by the normalised score.
    scores = log_probs / length_penalty(lengths, alpha)
    scores, order = tf.math.top_k(scores, k=beam_width)
    return {
        "sequences": tf.gather(sequences, order, batch_dims=1),
        "scores": scores,
        "log_probs": tf.gather(log_probs, order, batch_dims=1),
        "lengths": tf.gather(lengths, order, batch_dims=1),
    }


def greedy_search(step_fn, start_ids, initial_state, max_length, eos_id=None, pad_id=0):
    """The most probable next token at every step, in one ``tf.while_loop``.

    Same step function contract as ``beam_search`` with ``batch`` rows. Returns
    ``sequences`` int32 ``(batch, max_length)``, ``log_probs`` float32
    ``(batch,)`` and ``lengths`` int32 ``(batch,)``.
    """
    start_ids = tf.convert_to_tensor(start_ids, tf.int32)
    max_length = tf.convert_to_tensor(max_length, tf.int32)
    batch_size = tf.shape(start_ids)[0]

    def cond(step, sequences, log_probs, finished, lengths, last_ids, state):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(step, sequences, log_probs, finished, lengths, last_ids, state):
        step_log_probs, new_state = step_fn(last_ids, state, step)
        step_log_probs = tf.cast(step_log_probs, tf.float32)
        token_ids = tf.argmax(step_log_probs, axis=-1, output_type=tf.int32)
        token_log_probs = tf.gather(step_log_probs, token_ids, batch_dims=1)
        token_ids = tf.where(finished, pad_id, token_ids)
        log_probs = log_probs + tf.where(finished, 0.0, token_log_probs)
        lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        if eos_id is not None:
            finished = tf.logical_or(finished, tf.equal(token_ids, eos_id))
        position = tf.one_hot(step, max_length, on_value=True, off_value=False, dtype=tf.bool)
        sequences = tf.where(position[tf.newaxis], token_ids[:, tf.newaxis], sequences)
        return step + 1, sequences, log_probs, finished, lengths, token_ids, new_state

    state_invariants = tf.nest.map_structure(
        lambda t: tf.TensorShape([None]).concatenate(t.shape[1:]), initial_state
    )
    _, sequences, log_probs, _, lengths, _, _ = tf.while_loop(
        cond,
        body,
        (
            tf.constant(0),
            tf.zeros([batch_size, max_length], tf.int32),
            tf.zeros([batch_size], tf.float32),
            tf.zeros([batch_size], tf.bool),
            tf.zeros([batch_size], tf.int32),
            start_ids,
            initial_state,
        ),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None]),
            tf.TensorShape([None]),
            tf.TensorShape([None]),
            tf.TensorShape([None]),
            state_invariants,
        ),
    )
    return {"sequences": sequences, "log_probs": log_probs, "lengths": lengths}
