"""CTC decoding in the graph: greedy (best path) and prefix beam search.

Both decoders take the per-frame log posteriors of a CTC model and return the
transcripts as ``tf.string`` with a confidence in [0, 1]. They use TensorFlow
graph ops only (``tf.while_loop``, ``tf.strings``, ``tf.lookup``), so they trace
into a ``tf.function`` with an ``input_signature`` and export with a SavedModel,
like ``tasks/common/beam_search.py`` does for the sequence-to-sequence tasks.

Class layout (the project's convention): class 0 is the CTC blank and class
``i`` (1 .. len(alphabet)) is ``alphabet[i - 1]``; the default alphabet is
``ALPHABET``, a space followed by the 26 lower-case letters.

Output text: the label sequence mapped to characters, with runs of spaces
collapsed to one and leading and trailing spaces removed (the transcripts of
the speech task are words separated by single spaces).

Prefix beam search (Hannun et al., 2014, "First-Pass Large Vocabulary
Continuous Speech Recognition using Bi-Directional Recurrent DNNs"; the
merging form popularised by Hannun's "Sequence Modeling with CTC", 2017).
Every hypothesis is a label prefix ``l`` with two probabilities after frame t,
``p_b(l)`` (all alignments of ``l`` whose last frame is blank) and ``p_nb(l)``
(last frame non-blank). At frame t, with ``y`` the frame's posteriors:

    stay:    p_b'(l)   += (p_b(l) + p_nb(l)) * y[blank]
             p_nb'(l)  += p_nb(l) * y[last(l)]               (a repeat collapses)
    extend:  p_nb'(l+c) += (p_b(l) + p_nb(l)) * y[c]          c != last(l)
             p_nb'(l+c) += p_b(l) * y[c]                      c == last(l)

An extension ``l+c`` that is itself in the beam is merged into that prefix
(its probability added to the other's ``p_nb'``), so no two hypotheses share
a label prefix, and the beam keeps the ``beam_width`` best prefixes by
``log(p_b + p_nb) + lm_score``. Prefixes that fell out of the beam are
forgotten: an extension that recreates one starts again from the extension's
probability alone (the common form of the algorithm). With a beam wide enough to
hold every prefix, the search is exact: the best hypothesis is the labelling
of highest total probability, and ``p_b + p_nb`` is that total (the tests
check both against enumeration and ``tf.nn.ctc_loss``).

Shallow fusion with a word language model (``lm``, see
``language_model.NgramScorer``): when a word is completed, by emitting a space
after it or by the end of the utterance, the prefix's score gains
``lm_weight * log p_lm(word | previous words) + word_bonus``; at the end it
also gains ``lm_weight * log p_lm(</s> | previous words)``. The fused score of
a hypothesis is ``log p_ctc(l) + lm_weight * log p_lm(words(l)) +
word_bonus * |words(l)|``. The LM term depends on the prefix alone, so merging
equal prefixes keeps their LM score.

Vocabulary constraint (``lexicon``, see ``Lexicon``): the search walks a
character trie of the allowed words next to every prefix, and an extension
by a character that no allowed word continues with is impossible, as is a
space (or the end of the utterance) after a part of a word. So every
transcript is a sequence of allowed words: a misspelling the acoustic model
favours (``thre``, ``fourty``) loses to the nearest spelling that is a word,
and a merged pair of words must be split. A hypothesis that ends inside a
word can only win when no beam ends on a whole word.

Confidence:

* greedy: the geometric mean, over the emitted characters, of each
  character's peak posterior within its run of frames; 0 for an empty
  transcript. A confidently recognised utterance scores near 1 whatever its
  length; characters the model hesitated over pull it down; silence and
  noise that the model maps to blanks give an empty transcript and 0, since
  nothing was recognised.
* beam search: the share of the final beam's (fused) probability held by the
  hypotheses whose text is the chosen one; 0 for an empty transcript. Two
  competing readings of equal weight give 0.5. The mass outside the beam is
  not counted, so the share overstates the text's posterior when much of it
  lies there; and on noisy posteriors without an LM, where many one-letter
  variants share the mass, it falls as the beam widens.
"""

import tensorflow as tf

from tasks.speech_recognition.config import DECODERS

# The speech task's characters; class 0 is the CTC blank.
ALPHABET = " abcdefghijklmnopqrstuvwxyz"

# Log probability of impossible hypotheses. A finite value keeps the arithmetic
# free of inf - inf; anything below NEG_INF / 2 counts as impossible.
NEG_INF = -1e9
# Score added to a hypothesis that ends inside a word of the lexicon: far below any whole-word one, far above
# the impossible (float32 keeps the scores' order at this size).
INCOMPLETE_WORD = -1e4


def _check_alphabet(alphabet):
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(
            f"Invalid value for argument alphabet. Expected a non-empty string of "
            f"characters. Received: alphabet={alphabet!r}"
        )
    if len(set(alphabet)) != len(alphabet):
        raise ValueError(
            f"Invalid value for argument alphabet. Expected distinct characters. "
            f"Received: alphabet={alphabet!r}"
        )


def _check_inputs(log_probs, lengths, alphabet):
    _check_alphabet(alphabet)
    log_probs = tf.cast(tf.convert_to_tensor(log_probs), tf.float32)
    if log_probs.shape.rank is not None and log_probs.shape.rank != 3:
        raise ValueError(
            f"Expected log_probs of shape (batch, time, classes). "
            f"Received: shape={log_probs.shape}"
        )
    num_classes = log_probs.shape[-1]
    if num_classes is not None and num_classes != len(alphabet) + 1:
        raise ValueError(
            f"log_probs has {num_classes} classes; the alphabet needs "
            f"len(alphabet) + 1 = {len(alphabet) + 1} (class 0 is the blank)."
        )
    lengths = tf.cast(tf.convert_to_tensor(lengths), tf.int32)
    # Lengths past the end of the input are clipped to it.
    lengths = tf.minimum(lengths, tf.shape(log_probs)[1])
    return log_probs, lengths


def _character_table(alphabet):
    """String per class: "" for the blank, ``alphabet[i - 1]`` for class i."""
    return tf.constant([""] + list(alphabet))


def normalize_spaces(texts):
    """Runs of spaces collapsed to one, leading and trailing spaces removed."""
    return tf.strings.strip(tf.strings.regex_replace(texts, " +", " "))


def labels_to_text(labels, mask, alphabet=ALPHABET):
    """``(..., length)`` class ids -> ``(...)`` strings, keeping positions where ``mask``."""
    strings = tf.gather(_character_table(alphabet), tf.where(mask, labels, 0))
    return normalize_spaces(tf.strings.reduce_join(strings, axis=-1))


# Written with graph ops throughout; AutoGraph would only slow the tracing.
@tf.autograph.experimental.do_not_convert
def greedy_decode(log_probs, lengths, alphabet=ALPHABET):
    """Best-path CTC decoding: the most probable class per frame, repeats collapsed, blanks dropped.

    Args:
        log_probs: float ``(batch, time, len(alphabet) + 1)`` log posteriors
            (posteriors or logits give the same path; the confidence needs
            log posteriors).
        lengths: int ``(batch,)`` valid frames of each utterance.
        alphabet: the characters of classes 1, 2, ...

    Returns:
        ``texts`` tf.string ``(batch,)`` and ``confidence`` float32
        ``(batch,)``: the geometric mean of the emitted characters' peak
        posteriors, 0 for an empty transcript (see the module docstring).
    """
    log_probs, lengths = _check_inputs(log_probs, lengths, alphabet)
    best, emitted, confidence = _best_path(log_probs, lengths, alphabet)
    return labels_to_text(best, emitted, alphabet), confidence


def _best_path(log_probs, lengths, alphabet):
    """Greedy decoding's labels ``(batch, time)``, emitted mask and confidence, without building the text."""
    batch_size = tf.shape(log_probs)[0]
    max_time = tf.shape(log_probs)[1]
    valid = tf.sequence_mask(lengths, max_time)  # (batch, time)
    best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (batch, time)
    best_log_prob = tf.reduce_max(log_probs, axis=-1)  # (batch, time)
    # A blank before the first frame, so a first non-blank frame starts a run.
    previous = tf.pad(best, [[0, 0], [1, 0]])[:, :max_time]
    starts_run = tf.not_equal(best, previous)
    emitted = valid & starts_run & tf.not_equal(best, 0)  # (batch, time)

    # Peak posterior of every run of equal labels, read at the run's first frame.
    run_ids = tf.cumsum(tf.cast(starts_run, tf.int32), axis=1)  # (batch, time)
    run_ids += tf.range(batch_size)[:, tf.newaxis] * (max_time + 1)
    run_peaks = tf.math.unsorted_segment_max(
        tf.reshape(tf.where(valid, best_log_prob, NEG_INF), [-1]),
        tf.reshape(run_ids, [-1]),
        num_segments=batch_size * (max_time + 1),
    )
    peaks = tf.gather(run_peaks, run_ids)  # (batch, time)
    num_emitted = tf.reduce_sum(tf.cast(emitted, tf.float32), axis=1)
    sum_log_peaks = tf.reduce_sum(tf.where(emitted, peaks, 0.0), axis=1)
    confidence = tf.where(
        num_emitted > 0, tf.exp(sum_log_peaks / tf.maximum(num_emitted, 1.0)), 0.0
    )
    # Spaces alone strip to an empty transcript, which claims nothing.
    space = alphabet.index(" ") + 1 if " " in alphabet else -1
    says_something = tf.reduce_any(emitted & tf.not_equal(best, space), axis=1)
    return best, emitted, tf.where(says_something, confidence, 0.0)


class Lexicon:
    """The words a transcript may hold, as a character trie for ``prefix_beam_search(lexicon=...)``.

    Args:
        words: the allowed words (iterable of non-empty strings of the
            alphabet's characters other than the space; repeats are ignored).
        alphabet: the characters of classes 1, 2, ... (must contain a space).

    The trie is two constant tables: ``next_node`` int32 ``(nodes, classes)``,
    the node a class leads to from a node (-1: no allowed word continues so),
    where the space leads back to the root (node 0) from the root and from a
    node that ends a word; and ``ends_word`` bool ``(nodes,)``, true at the
    root and at word ends (where a transcript may stop).

    Example:

    >>> lexicon = Lexicon(["two", "ten"])
    >>> lexicon.num_nodes  # root, t, tw, two, te, ten
    6
    """

    def __init__(self, words, alphabet=ALPHABET):
        _check_alphabet(alphabet)
        if " " not in alphabet:
            raise ValueError(
                "A lexicon needs a space in the alphabet to find word ends. "
                f"Received: alphabet={alphabet!r}"
            )
        if isinstance(words, str):
            raise ValueError(
                "Invalid value for argument words. Expected an iterable of words, not one string. "
                f"Received: words={words!r}"
            )
        words = sorted(set(words))
        if not words:
            raise ValueError("Invalid value for argument words. Expected at least one word. Received: []")
        for word in words:
            if not isinstance(word, str) or not word or any(c == " " or c not in alphabet for c in word):
                raise ValueError(
                    "Invalid value for argument words. Every word must be a non-empty string of the "
                    f"alphabet's characters without spaces. Received: {word!r}"
                )
        self.words = words
        self.alphabet = alphabet
        class_of = {character: i + 1 for i, character in enumerate(alphabet)}
        children, ends = [{}], [True]
        for word in words:
            node = 0
            for character in word:
                if class_of[character] not in children[node]:
                    children[node][class_of[character]] = len(children)
                    children.append({})
                    ends.append(False)
                node = children[node][class_of[character]]
            ends[node] = True
        space = class_of[" "]
        table = [[-1] * (len(alphabet) + 1) for _ in children]
        for node, row in enumerate(children):
            for label, child in row.items():
                table[node][label] = child
            if ends[node]:
                table[node][space] = 0
        self.num_nodes = len(children)
        self.next_node = tf.constant(table, tf.int32)
        self.ends_word = tf.constant(ends, tf.bool)

    def __repr__(self):
        return f"Lexicon({len(self.words)} words, {self.num_nodes} trie nodes)"


def _logaddexp(a, b):
    larger = tf.maximum(a, b)
    return larger + tf.math.log1p(tf.exp(-tf.abs(a - b)))


def _gather(tensor, indices):
    return tf.gather(tensor, indices, batch_dims=1)


def _push_word(histories, word_ids):
    """Shift ``word_ids`` into ``(batch, beam, order - 1)`` histories (oldest word first)."""
    if histories.shape[-1] == 0:
        return histories
    return tf.concat([histories[..., 1:], word_ids[..., tf.newaxis]], axis=-1)


@tf.autograph.experimental.do_not_convert
def prefix_beam_search_beams(
    log_probs,
    lengths,
    alphabet=ALPHABET,
    beam_width=8,
    lm=None,
    lm_weight=0.5,
    word_bonus=1.0,
    prune_top_k=None,
    lexicon=None,
):
    """CTC prefix beam search returning the whole final beam, best first.

    Args:
        log_probs: float ``(batch, time, len(alphabet) + 1)`` log posteriors.
        lengths: int ``(batch,)`` valid frames of each utterance.
        alphabet: the characters of classes 1, 2, ...
        beam_width: Python int >= 1, the prefixes kept after every frame.
        lm: None, or a word language model scorer with the interface of
            ``language_model.NgramScorer`` (``order``, ``bos_id``, ``eos_id``,
            ``word_ids(words)``, ``log_prob_ids(histories, word_ids)``, natural
            logs), or a ``language_model.NgramLanguageModel`` (its scorer is
            used). Words are split at the alphabet's space. To export, the
            scorer must be an attribute of the module or model being saved,
            so that its lookup tables are saved with it.
        lm_weight: weight of the LM's log probability in shallow fusion
            (a float or a scalar tensor, e.g. a serving input).
        word_bonus: added for every completed word (counters the LM's
            preference for fewer words); a float or a scalar tensor.
        prune_top_k: None to extend every prefix by every character, or a
            Python int: extend only by the frame's ``prune_top_k`` most
            probable characters (the blank and the repeat of a prefix's last
            character are always scored).
        lexicon: None, or a ``Lexicon`` (or a list of words, made into one):
            transcripts are then sequences of its words (module docstring).

    Returns:
        A dict of tensors, beams sorted by score, best first:
        ``texts`` tf.string ``(batch, beam_width)``, ``scores`` float32
        ``(batch, beam_width)`` (the fused score; ``log p_ctc`` without an
        LM), ``acoustic_log_probs`` float32 ``(batch, beam_width)``
        (``log(p_b + p_nb)``), ``labels`` int32 ``(batch, beam_width, time)``
        and ``label_lengths`` int32 ``(batch, beam_width)``. Impossible beams
        (fewer prefixes than ``beam_width``) score about ``NEG_INF``; with a
        lexicon, beams that end inside a word score ``INCOMPLETE_WORD`` less.
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(
            f"Invalid value for argument beam_width. Expected a positive integer. "
            f"Received: beam_width={beam_width}"
        )
    if prune_top_k is not None and (not isinstance(prune_top_k, int) or prune_top_k < 1):
        raise ValueError(
            f"Invalid value for argument prune_top_k. Expected None or a positive "
            f"integer. Received: prune_top_k={prune_top_k}"
        )
    log_probs, lengths = _check_inputs(log_probs, lengths, alphabet)
    if lexicon is not None and not isinstance(lexicon, Lexicon):
        lexicon = Lexicon(lexicon, alphabet)
    if lexicon is not None and lexicon.alphabet != alphabet:
        raise ValueError(
            f"The lexicon was built for another alphabet. Received: lexicon alphabet "
            f"{lexicon.alphabet!r}, alphabet={alphabet!r}"
        )
    if lm is not None:
        if " " not in alphabet:
            raise ValueError(
                "A word language model needs a space in the alphabet to find word ends. "
                f"Received: alphabet={alphabet!r}"
            )
        if hasattr(lm, "scorer"):
            lm = lm.scorer()
        space_id = alphabet.index(" ") + 1
        lm_weight = tf.cast(lm_weight, tf.float32)
        word_bonus = tf.cast(word_bonus, tf.float32)
    num_chars = len(alphabet)
    width = beam_width
    top_k = num_chars if prune_top_k is None else min(prune_top_k, num_chars)
    characters = _character_table(alphabet)
    batch_size = tf.shape(log_probs)[0]
    max_time = tf.shape(log_probs)[1]
    positions = tf.range(max_time)

    # Only the first beam (the empty prefix) is live at the start.
    first_beam = tf.one_hot(0, width, on_value=0.0, off_value=NEG_INF)
    state = {
        "labels": tf.zeros([batch_size, width, max_time], tf.int32),
        "label_lengths": tf.zeros([batch_size, width], tf.int32),
        "last": tf.zeros([batch_size, width], tf.int32),
        "log_blank": tf.tile(first_beam[tf.newaxis], [batch_size, 1]),
        "log_non_blank": tf.fill([batch_size, width], NEG_INF),
        "lm_scores": tf.zeros([batch_size, width], tf.float32),
    }
    if lexicon is not None:
        state["nodes"] = tf.zeros([batch_size, width], tf.int32)  # trie node of the word being spelled
    if lm is not None:
        # The word being spelled, and the ids of the order - 1 words before it.
        state["words"] = tf.fill([batch_size, width], "")
        state["histories"] = tf.fill(
            [batch_size, width, lm.order - 1], tf.constant(lm.bos_id, tf.int64)
        )

    def word_completion(words, histories):
        """Fused LM term of completing each beam's current word (0 for no word)."""
        word_ids = lm.word_ids(words)  # (batch, beam)
        has_word = tf.strings.length(words) > 0
        term = lm_weight * lm.log_prob_ids(histories, word_ids) + word_bonus
        return tf.where(has_word, term, 0.0), word_ids, has_word

    def step(t, state):
        frame = log_probs[:, t, :]  # (batch, classes)
        active = t < lengths  # (batch,)
        labels = state["labels"]
        label_lengths = state["label_lengths"]
        last = state["last"]
        log_blank = state["log_blank"]
        log_non_blank = state["log_non_blank"]
        lm_scores = state["lm_scores"]
        total = _logaddexp(log_blank, log_non_blank)  # (batch, beam)
        alive = total > NEG_INF / 2

        # Stay: the prefix is unchanged by a blank or by repeating its last label.
        stay_blank = total + frame[:, :1]
        stay_non_blank = tf.where(last > 0, log_non_blank + _gather(frame, last), NEG_INF)

        # Extend by a character c: after a blank only when c repeats the last label.
        if top_k == num_chars:
            char_log_probs = frame[:, 1:]  # (batch, k)
            chars = tf.broadcast_to(tf.range(1, num_chars + 1), tf.shape(char_log_probs))
        else:
            char_log_probs, chars = tf.math.top_k(frame[:, 1:], k=top_k)
            chars = chars + 1
        repeats = tf.equal(chars[:, tf.newaxis, :], last[:, :, tf.newaxis])  # (batch, beam, k)
        extend_non_blank = (
            tf.where(repeats, log_blank[..., tf.newaxis], total[..., tf.newaxis])
            + char_log_probs[:, tf.newaxis, :]
        )

        if lexicon is not None:
            # The trie node each extension leads to; -1: no allowed word continues so.
            next_rows = tf.gather(lexicon.next_node, state["nodes"])  # (batch, beam, classes)
            next_nodes = tf.gather(
                next_rows, tf.broadcast_to(chars[:, tf.newaxis, :], tf.shape(extend_non_blank)), batch_dims=2
            )  # (batch, beam, k)
            extend_non_blank = tf.where(next_nodes >= 0, extend_non_blank, NEG_INF)

        # An extension p + c that is already beam q is merged into q's stay.
        within = positions[tf.newaxis, tf.newaxis, :] < label_lengths[..., tf.newaxis]
        same_labels = tf.equal(labels[:, :, tf.newaxis, :], labels[:, tf.newaxis, :, :])
        prefix_of = tf.reduce_all(
            same_labels | tf.logical_not(within[:, :, tf.newaxis, :]), axis=-1
        )  # (batch, p, q): q's first len(p) labels are p
        is_parent = (
            prefix_of
            & tf.equal(label_lengths[:, tf.newaxis, :], label_lengths[:, :, tf.newaxis] + 1)
            & alive[:, :, tf.newaxis]
            & alive[:, tf.newaxis, :]
        )
        merges = is_parent[:, :, tf.newaxis, :] & tf.equal(
            chars[:, tf.newaxis, :, tf.newaxis], last[:, tf.newaxis, tf.newaxis, :]
        )  # (batch, p, k, q)
        merged = tf.reduce_max(
            tf.where(merges, extend_non_blank[..., tf.newaxis], NEG_INF), axis=[1, 2]
        )  # (batch, q): at most one extension per beam, so max is the sum
        stay_non_blank = _logaddexp(stay_non_blank, merged)
        extend_non_blank = tf.where(tf.reduce_any(merges, axis=-1), NEG_INF, extend_non_blank)

        # Word LM: a space after a word completes it.
        extend_lm = tf.broadcast_to(lm_scores[..., tf.newaxis], tf.shape(extend_non_blank))
        if lm is not None:
            completion, word_ids, has_word = word_completion(state["words"], state["histories"])
            is_space = tf.equal(chars, space_id)[:, tf.newaxis, :]  # (batch, 1, k)
            extend_lm = extend_lm + tf.where(is_space, completion[..., tf.newaxis], 0.0)

        # Keep the beam_width best of the beam (stay) and beam * k (extend) candidates.
        stay_scores = _logaddexp(stay_blank, stay_non_blank) + lm_scores
        extend_scores = tf.reshape(extend_non_blank + extend_lm, [batch_size, width * top_k])
        candidates = tf.concat([stay_scores, extend_scores], axis=1)
        _, chosen = tf.math.top_k(candidates, k=width)  # (batch, beam)
        is_extend = chosen >= width
        extend_index = tf.maximum(chosen - width, 0)
        source = tf.where(is_extend, extend_index // top_k, chosen)
        new_char = tf.where(is_extend, _gather(chars, extend_index % top_k), 0)

        source_lengths = _gather(label_lengths, source)
        write = tf.one_hot(source_lengths, max_time, on_value=True, off_value=False, dtype=tf.bool)
        write &= is_extend[..., tf.newaxis]
        new_state = {
            "labels": tf.where(write, new_char[..., tf.newaxis], _gather(labels, source)),
            "label_lengths": source_lengths + tf.cast(is_extend, tf.int32),
            "last": tf.where(is_extend, new_char, _gather(last, source)),
            "log_blank": tf.where(is_extend, NEG_INF, _gather(stay_blank, source)),
            "log_non_blank": tf.where(
                is_extend,
                _gather(tf.reshape(extend_non_blank, [batch_size, -1]), extend_index),
                _gather(stay_non_blank, source),
            ),
            "lm_scores": tf.where(
                is_extend,
                _gather(tf.reshape(extend_lm, [batch_size, -1]), extend_index),
                _gather(lm_scores, source),
            ),
        }
        if lexicon is not None:
            new_state["nodes"] = tf.where(
                is_extend,
                _gather(tf.reshape(next_nodes, [batch_size, -1]), extend_index),
                _gather(state["nodes"], source),
            )
        if lm is not None:
            source_words = _gather(state["words"], source)
            source_histories = _gather(state["histories"], source)
            emits_space = is_extend & tf.equal(new_char, space_id)
            completes = emits_space & _gather(has_word, source)
            spelled = tf.strings.join([source_words, tf.gather(characters, new_char)])
            new_state["words"] = tf.where(emits_space, "", spelled)
            new_state["histories"] = tf.where(
                completes[..., tf.newaxis],
                _push_word(source_histories, _gather(word_ids, source)),
                source_histories,
            )
        # Utterances that have ended keep their beams.
        return t + 1, {
            key: tf.where(
                tf.reshape(active, [-1] + [1] * (value.shape.rank - 1)), value, state[key]
            )
            for key, value in new_state.items()
        }

    num_steps = tf.minimum(tf.reduce_max(tf.concat([lengths, [0]], 0)), max_time)
    # The batch (and the labels' time axis) may be static outside the loop and dynamic inside.
    invariants = {
        key: tf.TensorShape([None]).concatenate(value.shape[1:]) for key, value in state.items()
    }
    invariants["labels"] = tf.TensorShape([None, width, None])
    _, state = tf.while_loop(
        lambda t, state: t < num_steps,
        step,
        (tf.constant(0), state),
        shape_invariants=(tf.TensorShape([]), invariants),
    )

    acoustic = _logaddexp(state["log_blank"], state["log_non_blank"])
    scores = acoustic + state["lm_scores"]
    if lm is not None:
        # The last word is completed by the end of the utterance, then </s>.
        completion, word_ids, has_word = word_completion(state["words"], state["histories"])
        histories = tf.where(
            has_word[..., tf.newaxis],
            _push_word(state["histories"], word_ids),
            state["histories"],
        )
        end = tf.fill(tf.shape(word_ids), tf.constant(lm.eos_id, tf.int64))
        scores += completion + lm_weight * lm.log_prob_ids(histories, end)
    if lexicon is not None:
        scores = tf.where(tf.gather(lexicon.ends_word, state["nodes"]), scores, scores + INCOMPLETE_WORD)
    scores, order = tf.math.top_k(scores, k=width)
    labels = _gather(state["labels"], order)
    label_lengths = _gather(state["label_lengths"], order)
    within = positions[tf.newaxis, tf.newaxis, :] < label_lengths[..., tf.newaxis]
    return {
        "texts": labels_to_text(labels, within, alphabet),
        "scores": scores,
        "acoustic_log_probs": _gather(acoustic, order),
        "labels": labels,
        "label_lengths": label_lengths,
    }


@tf.autograph.experimental.do_not_convert
def prefix_beam_search(
    log_probs,
    lengths,
    alphabet=ALPHABET,
    beam_width=8,
    lm=None,
    lm_weight=0.5,
    word_bonus=1.0,
    prune_top_k=None,
    lexicon=None,
):
    """CTC prefix beam search, optionally fused with a word LM: the best transcript per utterance.

    Arguments as ``prefix_beam_search_beams``. Returns ``texts`` tf.string
    ``(batch,)`` and ``confidence`` float32 ``(batch,)``: the share of the
    final beam's probability (under the fused score) held by the beams whose
    text is the best one's, 0 for an empty transcript. With a lexicon, where
    every beam may agree on words forced onto noise, the share is multiplied
    by what the words cost the acoustics,
    ``exp(min(0, log p_ctc(text) - log p(best path)) / len(text))`` (the
    per-character ratio of the text's CTC probability to that of the single
    most probable frame path), and by greedy decoding's confidence (how
    peaked the frames' posteriors are), so that noise does not come out
    confident.
    """
    beams = prefix_beam_search_beams(
        log_probs,
        lengths,
        alphabet=alphabet,
        beam_width=beam_width,
        lm=lm,
        lm_weight=lm_weight,
        word_bonus=word_bonus,
        prune_top_k=prune_top_k,
        lexicon=lexicon,
    )
    texts = beams["texts"][:, 0]
    shares = tf.nn.softmax(beams["scores"], axis=-1)  # (batch, beam)
    same_text = tf.equal(beams["texts"], texts[:, tf.newaxis])
    confidence = tf.minimum(tf.reduce_sum(tf.where(same_text, shares, 0.0), axis=-1), 1.0)  # float rounding
    if lexicon is not None:
        log_probs, lengths = _check_inputs(log_probs, lengths, alphabet)
        valid = tf.sequence_mask(lengths, tf.shape(log_probs)[1])
        best_path = tf.reduce_sum(tf.where(valid, tf.reduce_max(log_probs, axis=-1), 0.0), axis=1)
        characters = tf.cast(tf.maximum(beams["label_lengths"][:, 0], 1), tf.float32)
        confidence *= tf.exp(tf.minimum(beams["acoustic_log_probs"][:, 0] - best_path, 0.0) / characters)
        confidence *= _best_path(log_probs, lengths, alphabet)[2]
    confidence = tf.where(tf.strings.length(texts) > 0, confidence, 0.0)
    return texts, confidence


def decode(log_probs, lengths, decoder, beam_width=8, lm=None, lm_weight=0.5, word_bonus=1.0, lexicon=None,
           alphabet=ALPHABET):
    """``(texts, confidence)`` of the decoding named ``decoder`` (one of ``DECODERS``).

    ``beam_lm`` needs ``lm``; ``beam_lm_lexicon`` needs ``lm`` and ``lexicon``
    (the LM's words: ``Lexicon(language_model.words())``). The other arguments
    are those of ``prefix_beam_search``.
    """
    if decoder not in DECODERS:
        raise ValueError(f"Invalid value for argument decoder. Expected one of {DECODERS}. "
                         f"Received: decoder={decoder!r}")
    if decoder == "greedy":
        return greedy_decode(log_probs, lengths, alphabet)
    if decoder != "beam" and lm is None:
        raise ValueError(f"decoder={decoder!r} needs a language model (lm).")
    if decoder == "beam_lm_lexicon" and lexicon is None:
        raise ValueError("decoder='beam_lm_lexicon' needs a lexicon.")
    return prefix_beam_search(log_probs, lengths, alphabet, beam_width=beam_width,
                              lm=None if decoder == "beam" else lm, lm_weight=lm_weight, word_bonus=word_bonus,
                              lexicon=lexicon if decoder == "beam_lm_lexicon" else None)
