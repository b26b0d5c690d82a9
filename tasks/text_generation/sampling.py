"""Sampling from a language model: temperature, top-k and top-p (nucleus), in the graph.

Given logits z over the vocabulary, the next character is drawn from

    P(c) = softmax(z / T)_c   restricted to the k most likely characters (top-k) and/or
                              to the smallest set whose probability reaches p (top-p),

renormalised. T -> 0 approaches greedy decoding; ``temperature=0`` *is* greedy
(argmax). Everything here is TensorFlow ops so that the whole sampling loop,
prompt priming included, runs inside one ``tf.function`` and exports in a
SavedModel.

References: Holtzman et al., "The Curious Case of Neural Text Degeneration"
(top-p), ICLR 2020; Fan et al., "Hierarchical Neural Story Generation" (top-k), 2018.
"""

import tensorflow as tf

_NEGATIVE_INFINITY = float("-inf")


def filter_logits(logits, top_k=0, top_p=1.0):
    """Sets to -inf every logit outside the top-k and outside the top-p nucleus.

    Args:
        logits: (batch, vocabulary) float tensor.
        top_k: keep the k largest logits per row; 0 keeps all. Ties with the k-th
            largest value are kept too.
        top_p: keep the smallest set of most likely tokens whose probability sum
            reaches ``top_p`` (the most likely token is always kept); 1 keeps all.

    Returns:
        (batch, vocabulary) logits with the filtered entries at -inf.
    """
    logits = tf.convert_to_tensor(logits)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, logits.dtype)
    vocabulary = tf.shape(logits)[-1]
    negative_infinity = tf.constant(_NEGATIVE_INFINITY, logits.dtype)

    # Top-k: everything below the k-th largest logit goes.
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary), vocabulary)
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    kth_largest = tf.gather(sorted_logits, k - 1, axis=-1)[:, None]  # (batch, 1)
    logits = tf.where(logits < kth_largest, negative_infinity, logits)

    # Top-p on what top-k left: a token stays if the tokens more likely than it hold less than p.
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    probability_before = tf.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
    keep = tf.logical_or(probability_before < top_p, top_p >= 1.0)
    smallest_kept = tf.reduce_min(
        tf.where(keep, sorted_logits, tf.constant(float("inf"), logits.dtype)), axis=-1, keepdims=True
    )
    return tf.where(logits < smallest_kept, negative_infinity, logits)


def sample_next(logits, temperature, top_k, top_p, seed):
    """Draws one id per row: (batch, vocabulary) logits -> (batch,) int32.

    ``seed`` is a shape-(2,) integer tensor (stateless sampling: the same seed gives
    the same draw). ``temperature <= 0`` returns the argmax.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    temperature = tf.cast(temperature, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / tf.maximum(temperature, 1e-6)
    filtered = filter_logits(scaled, top_k, top_p)
    sampled = tf.random.stateless_categorical(filtered, 1, seed=seed, dtype=tf.int32)[:, 0]
    return tf.where(temperature > 0, sampled, greedy)


def generate_ids(step_fn, states, prompt_ids, prompt_lengths, *, start_id, pad_id, end_id, max_new_tokens,
                 temperature, top_k, top_p, seed):
    """Primes a recurrent model with each prompt, then samples up to ``max_new_tokens`` ids.

    The model reads ``start_id`` first, then the prompt (teacher forcing: the prompt's
    ids replace the draws while they last), then its own draws. Rows of different
    prompt lengths run in one batch.

    Args:
        step_fn: ``(token_ids (batch,), states) -> (logits (batch, vocabulary), states)``.
        states: initial recurrent states (any nest of (batch, ...) tensors).
        prompt_ids: (batch, max_prompt_length) int32, padded with ``pad_id``.
        prompt_lengths: (batch,) int32.
        start_id: the first input of every row.
        pad_id: padding; never sampled.
        end_id: the draw that ends a row (it is not returned), or -1 to never stop.
        max_new_tokens: how many ids to draw after the prompt at most.
        temperature, top_k, top_p: see :func:`sample_next`.
        seed: shape-(2,) int tensor; step t uses ``seed + [0, t]``.

    Returns:
        (batch, max_prompt_length + max_new_tokens) int32: the prompt followed by the draws,
        ``pad_id`` after a row ended.
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths, tf.int32)
    seed = tf.cast(seed, tf.int64)
    batch_size = tf.shape(prompt_ids)[0]
    max_prompt_length = tf.shape(prompt_ids)[1]
    max_new_tokens = tf.cast(max_new_tokens, tf.int32)
    total_steps = max_prompt_length + max_new_tokens
    # One extra column so prompt_ids[:, t] is defined (as padding) after the longest prompt.
    padded_prompts = tf.pad(prompt_ids, [[0, 0], [0, 1]], constant_values=pad_id)

    def body(t, token, states, finished, outputs):
        logits, states = step_fn(token, states)
        vocabulary = tf.shape(logits)[-1]
        # Padding is not a character: it may never be drawn.
        logits = tf.where(tf.one_hot(pad_id, vocabulary, on_value=True, off_value=False)[None, :],
                          _NEGATIVE_INFINITY, tf.cast(logits, tf.float32))
        drawn = sample_next(logits, temperature, top_k, top_p, seed + tf.stack([tf.constant(0, tf.int64), tf.cast(t, tf.int64)]))
        in_prompt = t < prompt_lengths
        prompt_token = padded_prompts[:, tf.minimum(t, max_prompt_length)]
        token = tf.where(in_prompt, prompt_token, drawn)
        ended = tf.logical_and(tf.logical_not(in_prompt), tf.equal(drawn, end_id))
        # Each row may draw max_new_tokens after its own prompt, however long the other prompts are.
        out_of_budget = t >= prompt_lengths + max_new_tokens
        finished = tf.logical_or(finished, tf.logical_or(ended, out_of_budget))
        outputs = outputs.write(t, tf.where(finished, tf.fill([batch_size], pad_id), token))
        return t + 1, token, states, finished, outputs

    def not_done(t, token, states, finished, outputs):
        return tf.logical_and(t < total_steps, tf.logical_not(tf.reduce_all(finished)))

    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
    _, _, _, _, outputs = tf.while_loop(
        not_done,
        body,
        (tf.constant(0), tf.fill([batch_size], tf.cast(start_id, tf.int32)), states,
         tf.zeros([batch_size], tf.bool), outputs),
    )
    # (total_steps, batch) -> (batch, total_steps); steps skipped after every row ended stay padding.
    written = tf.transpose(outputs.stack())
    return tf.pad(written, [[0, 0], [0, total_steps - tf.shape(written)[1]]], constant_values=pad_id)
