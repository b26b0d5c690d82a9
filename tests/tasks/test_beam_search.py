"""Beam search against exhaustive search and greedy decoding."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.beam_search import beam_search, greedy_search, tile_beams

VOCAB_SIZE = 4
PAD, EOS = 0, 3
TABLE_ROWS = 997


def make_table(seed, vocab_size=VOCAB_SIZE):
    """Log-softmax rows of a random table; peaked so that hypotheses differ a lot."""
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(TABLE_ROWS, vocab_size))
    logits = logits - logits.max(axis=1, keepdims=True)
    return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype("float32")


def next_hash(state, token):
    # The state is a hash of the whole prefix, so P(next | prefix) depends on all of it.
    return (state * 31 + token + 1) % TABLE_ROWS


def make_step_fn(table):
    table = tf.constant(table)

    def step_fn(token_ids, state, step):
        state = tf.where(step == 0, state, next_hash(state, token_ids))
        return tf.gather(table, state), state

    return step_fn


def reference_log_prob(table, start, sequence):
    state, total = start, 0.0
    for step, token in enumerate(sequence):
        if step > 0:
            state = next_hash(state, sequence[step - 1])
        total += float(table[state, token])
    return total


def all_sequences(max_length, eos_id):
    """Every sequence: ends at its first end token, or has max_length tokens."""
    others = [t for t in range(VOCAB_SIZE) if t != eos_id]
    for length in range(1, max_length + 1):
        for prefix in itertools.product(others, repeat=length - 1):
            yield prefix + (eos_id,)
        if length == max_length:
            yield from itertools.product(others, repeat=length)


def exhaustive_ranking(table, start, max_length, eos_id, alpha):
    scored = []
    for sequence in all_sequences(max_length, eos_id):
        score = reference_log_prob(table, start, sequence) / len(sequence) ** alpha
        scored.append((score, sequence))
    scored.sort(key=lambda item: -item[0])
    return scored


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_wide_beam_is_exhaustive_search(alpha):
    table = make_table(seed=1)
    max_length = 4
    starts = np.array([5, 17, 123], dtype="int32")
    beam_width = 128  # >= the 121 possible sequences
    result = beam_search(
        make_step_fn(table),
        start_ids=tf.zeros([3], tf.int32),
        initial_state=tile_beams(tf.constant(starts), beam_width),
        beam_width=beam_width,
        max_length=max_length,
        vocab_size=VOCAB_SIZE,
        eos_id=EOS,
        pad_id=PAD,
        alpha=alpha,
    )
    for example, start in enumerate(starts):
        expected = exhaustive_ranking(table, int(start), max_length, EOS, alpha)
        # The whole ranking of the ten best agrees, not only the winner.
        for rank in range(10):
            score, sequence = expected[rank]
            length = int(result["lengths"][example, rank])
            got = tuple(result["sequences"][example, rank, :length].numpy().tolist())
            assert got == sequence, (rank, got, sequence)
            np.testing.assert_allclose(result["scores"][example, rank], score, rtol=1e-5)
            # Positions after the end token hold the pad token.
            assert np.all(result["sequences"][example, rank, length:].numpy() == PAD)


def test_narrow_beam_can_miss_but_scores_are_consistent():
    table = make_table(seed=2)
    result = beam_search(
        make_step_fn(table),
        tf.zeros([2], tf.int32),
        tile_beams(tf.constant([3, 8]), 2),
        beam_width=2,
        max_length=5,
        vocab_size=VOCAB_SIZE,
        eos_id=EOS,
        alpha=0.5,
    )
    for example, start in enumerate([3, 8]):
        for rank in range(2):
            length = int(result["lengths"][example, rank])
            sequence = result["sequences"][example, rank, :length].numpy().tolist()
            expected = reference_log_prob(table, start, sequence)
            np.testing.assert_allclose(result["log_probs"][example, rank], expected, rtol=1e-5)
            np.testing.assert_allclose(
                result["scores"][example, rank], expected / length**0.5, rtol=1e-5
            )
    assert np.all(np.diff(result["scores"].numpy(), axis=1) <= 0)


def python_greedy(table, start, max_length, eos_id):
    state, sequence = start, []
    for step in range(max_length):
        if step > 0:
            state = next_hash(state, sequence[-1])
        token = int(np.argmax(table[state]))
        sequence.append(token)
        if token == eos_id:
            break
    return sequence


@pytest.mark.parametrize("eos_id", [EOS, None])
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_width_one_is_greedy(eos_id, alpha):
    table = make_table(seed=3)
    starts = np.arange(0, 400, 7, dtype="int32")
    step_fn = make_step_fn(table)
    batch = len(starts)
    beam = beam_search(
        step_fn,
        tf.zeros([batch], tf.int32),
        tf.constant(starts),
        beam_width=1,
        max_length=6,
        vocab_size=VOCAB_SIZE,
        eos_id=eos_id,
        alpha=alpha,
    )
    greedy = greedy_search(step_fn, tf.zeros([batch], tf.int32), tf.constant(starts), 6, eos_id)
    np.testing.assert_array_equal(beam["sequences"][:, 0], greedy["sequences"])
    np.testing.assert_array_equal(beam["lengths"][:, 0], greedy["lengths"])
    np.testing.assert_allclose(beam["log_probs"][:, 0], greedy["log_probs"], rtol=1e-6)
    for example, start in enumerate(starts):
        expected = python_greedy(table, int(start), 6, eos_id)
        length = int(greedy["lengths"][example])
        assert greedy["sequences"][example, :length].numpy().tolist() == expected
    if eos_id is not None:
        # The table is random enough that some greedy outputs end early.
        assert int(tf.reduce_min(greedy["lengths"])) < 6


def test_compiles_with_unknown_batch_and_a_nested_state():
    table = make_table(seed=4)
    inner = make_step_fn(table)

    def step_fn(token_ids, state, step):
        log_probs, hashed = inner(token_ids, state["hash"], step)
        # A float state of rank 2 exercises reordering of wider tensors.
        return log_probs, {"hash": hashed, "total": state["total"] + log_probs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def decode(starts):
        state = {
            "hash": tile_beams(starts, 3),
            "total": tf.zeros([tf.shape(starts)[0] * 3, VOCAB_SIZE]),
        }
        return beam_search(
            step_fn, tf.zeros_like(starts), state, 3, 5, VOCAB_SIZE, eos_id=EOS, alpha=0.6
        )

    compiled = decode(tf.constant([1, 2, 3, 4], tf.int32))
    assert compiled["sequences"].shape == (4, 3, 5)
    eager = beam_search(
        step_fn,
        tf.zeros([4], tf.int32),
        {"hash": tile_beams(tf.constant([1, 2, 3, 4]), 3), "total": tf.zeros([12, VOCAB_SIZE])},
        3,
        5,
        VOCAB_SIZE,
        eos_id=EOS,
        alpha=0.6,
    )
    np.testing.assert_array_equal(compiled["sequences"], eager["sequences"])


def test_rejects_bad_arguments():
    step_fn = make_step_fn(make_table(seed=5))
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step_fn, tf.zeros([1], tf.int32), tf.zeros([1], tf.int32), 0, 3, VOCAB_SIZE)
    with pytest.raises(ValueError, match="max_length"):
        beam_search(step_fn, tf.zeros([1], tf.int32), tf.zeros([1], tf.int32), 1, 0, VOCAB_SIZE)
