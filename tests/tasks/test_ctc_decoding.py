"""CTC greedy decoding and prefix beam search against independent references.

References: ``tf.nn.ctc_greedy_decoder`` and ``keras.ops.ctc_decode`` for the
best path; a plain-Python prefix beam search written here from Hannun's
description; exhaustive enumeration of every alignment on tiny inputs (with
``tf.nn.ctc_loss`` for the labelling's probability); ``pyctcdecode``.
"""

import collections
import itertools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.speech_recognition.ctc_decoding import (
    ALPHABET,
    Lexicon,
    greedy_decode,
    prefix_beam_search,
    prefix_beam_search_beams,
)
from tasks.speech_recognition.language_model import NgramLanguageModel


def compiled(function, **kwargs):
    """``function(log_probs, lengths, **kwargs)`` as a tf.function (eager while loops are slow)."""
    return tf.function(lambda log_probs, lengths: function(log_probs, lengths, **kwargs),
                       reduce_retracing=True)


def random_log_probs(seed, batch, time, num_classes, scale=2.0):
    logits = np.random.default_rng(seed).normal(scale=scale, size=(batch, time, num_classes))
    return tf.nn.log_softmax(logits.astype("float32")).numpy()


def to_text(labels, alphabet):
    return " ".join("".join(alphabet[label - 1] for label in labels).split())


def decoded(tensor):
    return [text.decode() for text in tensor.numpy()]


# A plain-Python prefix beam search (Hannun, "Sequence Modeling with CTC", 2017).
def logsumexp(*values):
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


def reference_beam_search(log_probs, beam_width, prune_top_k=None, lm_score=None):
    """All final beams as (labels, fused score, acoustic log prob), best first.

    ``lm_score(labels, final)`` is the fused LM term of a prefix (None: no LM).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    num_classes = log_probs.shape[1]
    lm_score = lm_score or (lambda labels, final: 0.0)
    beams = {(): (0.0, -math.inf)}  # prefix -> (log p_blank, log p_non_blank)
    for frame in log_probs:
        chars = range(1, num_classes)
        if prune_top_k is not None:
            chars = [int(c) + 1 for c in np.argsort(-frame[1:], kind="stable")[:prune_top_k]]
        next_beams = collections.defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_non_blank) in beams.items():
            total = logsumexp(p_blank, p_non_blank)
            entry = next_beams[prefix]
            entry[0] = logsumexp(entry[0], total + frame[0])
            if prefix:
                entry[1] = logsumexp(entry[1], p_non_blank + frame[prefix[-1]])
            for c in chars:
                extended = next_beams[prefix + (c,)]
                if prefix and prefix[-1] == c:
                    extended[1] = logsumexp(extended[1], p_blank + frame[c])
                else:
                    extended[1] = logsumexp(extended[1], total + frame[c])
        ranked = sorted(
            next_beams.items(),
            key=lambda item: logsumexp(*item[1]) + lm_score(item[0], False),
            reverse=True,
        )
        beams = dict((prefix, tuple(p)) for prefix, p in ranked[:beam_width])
    final = [
        (prefix, logsumexp(*p) + lm_score(prefix, True), logsumexp(*p))
        for prefix, p in beams.items()
    ]
    return sorted(final, key=lambda beam: beam[1], reverse=True)


def graph_beams(log_probs, lengths, alphabet, **kwargs):
    beams = compiled(prefix_beam_search_beams, alphabet=alphabet, **kwargs)(log_probs, lengths)
    results = []
    for b in range(len(lengths)):
        rows = []
        for w in range(beams["scores"].shape[1]):
            score = float(beams["scores"][b, w])
            if score < -1e8:
                continue
            length = int(beams["label_lengths"][b, w])
            labels = tuple(int(x) for x in beams["labels"][b, w, :length])
            rows.append((labels, score, float(beams["acoustic_log_probs"][b, w])))
        results.append(rows)
    return results


def assert_same_beams(graph, reference):
    assert [beam[0] for beam in graph] == [beam[0] for beam in reference]
    np.testing.assert_allclose([b[1] for b in graph], [b[1] for b in reference], atol=2e-3)
    np.testing.assert_allclose([b[2] for b in graph], [b[2] for b in reference], atol=2e-3)


# Greedy decoding.
def test_greedy_matches_tf_and_keras_best_path():
    batch, time = 6, 40
    log_probs = random_log_probs(0, batch, time, len(ALPHABET) + 1, scale=1.5)
    # Blank-heavy frames make repeats separated by blanks, and blanks only at the end.
    log_probs[:, ::3, 0] += 2.0
    lengths = np.array([40, 31, 1, 0, 17, 40], dtype=np.int32)
    texts, confidence = greedy_decode(log_probs, lengths)

    decoded_tf, _ = tf.nn.ctc_greedy_decoder(
        tf.transpose(log_probs, [1, 0, 2]), lengths, blank_index=0
    )
    dense_tf = tf.sparse.to_dense(decoded_tf[0], default_value=-1).numpy()
    decoded_keras, _ = keras.ops.ctc_decode(log_probs, lengths, strategy="greedy", mask_index=0)
    dense_keras = keras.ops.convert_to_numpy(decoded_keras[0])
    for b in range(batch):
        row_tf = dense_tf[b] if b < len(dense_tf) else []
        expected = to_text([x for x in row_tf if x > 0], ALPHABET)
        assert decoded(texts)[b] == expected
        assert to_text([x for x in dense_keras[b] if x > 0], ALPHABET) == expected
    assert decoded(texts)[3] == "" and float(confidence[3]) == 0.0
    assert np.all((confidence.numpy() >= 0) & (confidence.numpy() <= 1))


def test_greedy_confidence_is_geometric_mean_of_character_peaks():
    alphabet = "ab"
    blank, a, b = 0, 1, 2
    # Frames: a (0.6), a (0.9), blank, b (0.8), blank; then padding past the length.
    posteriors = np.full((1, 7, 3), 0.05, dtype=np.float32)
    best = [(a, 0.6), (a, 0.9), (blank, 0.7), (b, 0.8), (blank, 0.9), (a, 0.99), (a, 0.99)]
    for t, (label, p) in enumerate(best):
        posteriors[0, t] = (1 - p) / 2
        posteriors[0, t, label] = p
    texts, confidence = greedy_decode(np.log(posteriors), [5], alphabet=alphabet)
    assert decoded(texts) == ["ab"]
    np.testing.assert_allclose(float(confidence[0]), math.sqrt(0.9 * 0.8), rtol=1e-5)

    # Silence: blanks everywhere, however confident, recognise nothing.
    silence = np.full((1, 10, 3), 0.001, dtype=np.float32)
    silence[..., blank] = 0.998
    texts, confidence = greedy_decode(np.log(silence), [10], alphabet=alphabet)
    assert decoded(texts) == [""] and float(confidence[0]) == 0.0


def test_greedy_collapses_spaces_and_rejects_bad_shapes():
    # Labels: " a  b " -> "a b".
    labels = [1, 2, 0, 1, 1, 0, 1, 3, 1]
    log_probs = np.log(np.eye(4, dtype=np.float32)[labels] * 0.97 + 0.01)[np.newaxis]
    texts, _ = greedy_decode(log_probs, [len(labels)], alphabet=" ab")
    assert decoded(texts) == ["a b"]
    # Only spaces: the transcript strips to nothing, and its confidence is 0 however peaked.
    spaces = np.log(np.eye(4, dtype=np.float32)[[1, 0, 1, 1, 0]] * 0.97 + 0.01)[np.newaxis]
    for decode in (greedy_decode, prefix_beam_search):
        texts, confidence = decode(spaces, [5], alphabet=" ab")
        assert decoded(texts) == [""] and float(confidence[0]) == 0.0
    # No frames at all: empty transcripts with confidence 0.
    empty = np.zeros((2, 0, 4), dtype=np.float32)
    for decode in (greedy_decode, prefix_beam_search):
        texts, confidence = decode(empty, [0, 0], alphabet=" ab")
        assert decoded(texts) == ["", ""] and confidence.numpy().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="len\\(alphabet\\) \\+ 1"):
        greedy_decode(log_probs, [9], alphabet=" abc")
    with pytest.raises(ValueError, match="distinct"):
        greedy_decode(log_probs, [9], alphabet="aab")


# Prefix beam search without a language model.
@pytest.mark.parametrize("beam_width,prune_top_k", [(1, None), (4, None), (8, 3), (16, None)])
def test_beam_search_matches_python_reference(beam_width, prune_top_k):
    alphabet = " abc"
    lengths = np.array([30, 22, 30], dtype=np.int32)
    log_probs = random_log_probs(1 + beam_width, 3, 30, len(alphabet) + 1, scale=1.5)
    graph = graph_beams(
        log_probs, lengths, alphabet, beam_width=beam_width, prune_top_k=prune_top_k
    )
    for b, length in enumerate(lengths):
        reference = reference_beam_search(log_probs[b, :length], beam_width, prune_top_k)
        assert_same_beams(graph[b], reference)


def test_beam_width_one_is_greedy_on_peaked_posteriors():
    log_probs = random_log_probs(3, 4, 50, len(ALPHABET) + 1, scale=6.0)
    lengths = np.array([50, 40, 30, 20], dtype=np.int32)
    greedy_texts, _ = greedy_decode(log_probs, lengths)
    beam_texts, _ = compiled(prefix_beam_search, beam_width=1)(log_probs, lengths)
    assert decoded(beam_texts) == decoded(greedy_texts)


def exhaustive_best(log_probs):
    """The labelling of highest total probability over all alignments, and that log probability."""
    time, num_classes = log_probs.shape
    totals = collections.defaultdict(lambda: -math.inf)
    for path in itertools.product(range(num_classes), repeat=time):
        labelling = tuple(k for k, _ in itertools.groupby(path) if k != 0)
        path_log_prob = float(sum(log_probs[t, k] for t, k in enumerate(path)))
        totals[labelling] = logsumexp(totals[labelling], path_log_prob)
    return max(totals.items(), key=lambda item: item[1])


def exact_log_prob(log_probs, labels, alphabet=ALPHABET):
    """log p(labels | x) over all alignments, from tf.nn.ctc_loss; labels: ids or a text."""
    if isinstance(labels, str):
        labels = [alphabet.index(char) + 1 for char in labels]
    if not labels:
        return float(np.sum(log_probs[:, 0]))
    loss = tf.nn.ctc_loss(
        labels=tf.constant([labels], tf.int32),
        logits=log_probs[np.newaxis],
        label_length=[len(labels)],
        logit_length=[len(log_probs)],
        logits_time_major=False,
        blank_index=0,
    )
    return -float(loss[0])


def test_wide_beam_finds_the_most_probable_labelling():
    alphabet, time, batch = "ab", 6, 4
    # 2 ** 0 + ... + 2 ** 6 = 127 labellings of at most 6 labels: the beam holds them all.
    log_probs = random_log_probs(10, batch, time, 3, scale=1.0)
    lengths = [time] * batch
    beams = compiled(prefix_beam_search_beams, alphabet=alphabet, beam_width=128)(
        log_probs, lengths
    )
    texts, _ = compiled(prefix_beam_search, alphabet=alphabet, beam_width=128)(log_probs, lengths)
    for b in range(batch):
        best_labels, best_log_prob = exhaustive_best(log_probs[b])
        length = int(beams["label_lengths"][b, 0])
        assert tuple(beams["labels"][b, 0, :length].numpy()) == best_labels
        np.testing.assert_allclose(float(beams["scores"][b, 0]), best_log_prob, atol=1e-4)
        # The beam's probability of that labelling is the full CTC probability.
        np.testing.assert_allclose(
            float(beams["scores"][b, 0]), exact_log_prob(log_probs[b], best_labels), atol=1e-4
        )
        assert decoded(texts)[b] == to_text(best_labels, alphabet)


def pyctcdecode_best(log_probs, alphabet, beam_width, exact):
    from pyctcdecode import build_ctcdecoder

    decoder = build_ctcdecoder([""] + list(alphabet))
    if exact:
        beams = decoder.decode_beams(
            log_probs,
            beam_width=beam_width,
            beam_prune_logp=-math.inf,
            token_min_logp=-math.inf,
            prune_history=False,
        )
    else:
        beams = decoder.decode_beams(log_probs, beam_width=beam_width)
    return beams[0][0], beams[0][3]


def test_beam_search_agrees_with_pyctcdecode_without_pruning():
    # 1 + 3 + ... + 3 ** 6 = 1093 prefixes fit the beam. pyctcdecode keeps (prefix, last label)
    # states and merges texts that differ only in spaces, so the exact comparison uses an
    # alphabet without a space.
    pytest.importorskip("pyctcdecode")
    alphabet, time, batch = "abc", 6, 3
    log_probs = random_log_probs(20, batch, time, 4, scale=1.0)
    beams = compiled(prefix_beam_search_beams, alphabet=alphabet, beam_width=1100)(
        log_probs, [time] * batch
    )
    for b in range(batch):
        text, log_prob = pyctcdecode_best(log_probs[b], alphabet, beam_width=4000, exact=True)
        assert beams["texts"][b, 0].numpy().decode() == text
        np.testing.assert_allclose(float(beams["scores"][b, 0]), log_prob, atol=1e-3)


def synthetic_posteriors(text, seed, frames_per_char=4, noise=1.0, alphabet=ALPHABET):
    """Posteriors of an utterance of ``text``: each character peaks for a frame, blanks between."""
    rng = np.random.default_rng(seed)
    labels = []
    for char in text:
        labels += [alphabet.index(char) + 1] + [0] * (frames_per_char - 1)
    labels += [0] * 3
    logits = rng.normal(scale=noise, size=(len(labels), len(alphabet) + 1))
    logits[np.arange(len(labels)), labels] += 4.0
    return tf.nn.log_softmax(logits.astype("float32")).numpy()


def batch_of(utterances):
    time = max(len(u) for u in utterances)
    log_probs = np.stack([np.pad(u, [[0, time - len(u)], [0, 0]]) for u in utterances])
    return log_probs, np.array([len(u) for u in utterances], dtype=np.int32)


def test_beam_search_against_pyctcdecode_on_speech_like_posteriors():
    pytest.importorskip("pyctcdecode")
    sentences = ["seven four two oh nine", "the third of march", "quarter past nine", "noon"]
    beam_search = compiled(prefix_beam_search, beam_width=16)
    # Clean posteriors: both decoders read the same text at their default pruning.
    clean = [synthetic_posteriors(s, seed, noise=0.7) for seed, s in enumerate(sentences)]
    ours = decoded(beam_search(*batch_of(clean))[0])
    assert ours == [pyctcdecode_best(u, ALPHABET, beam_width=16, exact=False)[0] for u in clean]
    # Noisy ones: where they differ, ours is the labelling of higher exact probability
    # (pyctcdecode spends beam slots on the blank- and non-blank-ending copies of a prefix).
    noisy = [synthetic_posteriors(s, seed, noise=1.5) for seed, s in enumerate(sentences)]
    ours = decoded(beam_search(*batch_of(noisy))[0])
    better = worse = 0
    for utterance, text in zip(noisy, ours):
        theirs, _ = pyctcdecode_best(utterance, ALPHABET, beam_width=16, exact=False)
        if text != theirs:
            ours_log_prob = exact_log_prob(utterance, text)
            theirs_log_prob = exact_log_prob(utterance, theirs)
            better += ours_log_prob > theirs_log_prob
            worse += ours_log_prob < theirs_log_prob
    assert better > 0 and worse == 0


# The word language model.
NUMBER_TEXTS = [
    "one two three",
    "two three four",
    "twenty two",
    "two thousand and one",
    "the third of march",
    "march the third",
    "one two three four",
    "seven four two oh nine",
    "two three",
    "the second of may",
]


def test_kneser_ney_by_hand_on_a_bigram_model():
    # Text: "a b", "b". Bigram counts: <s> a 1, a b 1, <s> b 1, b </s> 2, so D2 = n1 / (n1 + 2 n2)
    # = 3 / 5. Continuation counts: a 1 (after <s>), b 2 (after a, <s>), </s> 1, so D1 = 2 / 4;
    # four predictable tokens (a, b, </s>, <unk>), gamma_1 = D1 * 3 / 4.
    lm = NgramLanguageModel.from_texts(["a b", "b"], order=2)
    gamma_1 = 0.5 * 3 / 4
    p_b = (2 - 0.5) / 4 + gamma_1 / 4
    p_end = (1 - 0.5) / 4 + gamma_1 / 4
    assert math.isclose(math.exp(lm.log_prob("b")), (1 - 0.6) / 2 + 0.6 * 2 / 2 * p_b)
    assert math.isclose(math.exp(lm.log_prob("b", ["a"])), (1 - 0.6) / 1 + 0.6 * 1 / 1 * p_b)
    assert math.isclose(math.exp(lm.log_prob("</s>", ["a"])), 0.6 * p_end)
    assert math.isclose(math.exp(lm.log_prob("zebra", ["a"])), 0.6 * gamma_1 / 4)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_language_model_is_a_distribution_in_python_and_in_the_graph(order):
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=order)
    predictable = [w for w in lm.vocabulary if w != "<s>"]
    histories = [[], ["two"], ["one", "two"], ["of", "march"], ["zebra"], ["two", "zebra"]]
    scorer = lm.scorer()
    for history in histories:
        log_probs = [lm.log_prob(word, history) for word in predictable]
        assert math.isclose(sum(math.exp(v) for v in log_probs), 1.0, rel_tol=1e-9)
        history_ids = lm._history_ids(history)
        graph = scorer.log_prob_ids(
            np.array([history_ids] * len(predictable), dtype=np.int64).reshape(
                len(predictable), order - 1
            ),
            np.array([lm.vocabulary.index(w) for w in predictable], dtype=np.int64),
        ).numpy()
        np.testing.assert_allclose(graph, log_probs, atol=1e-5)
    # Unknown words share <unk>'s floor, below every word of the text.
    assert lm.log_prob("zebra", ["two"]) == lm.log_prob("<unk>", ["two"])
    assert lm.log_prob("zebra") < min(lm.log_prob(w) for w in predictable if w != "<unk>")


def test_language_model_prefers_training_sentences_and_saves_to_json(tmp_path):
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=3)
    rng = np.random.default_rng(0)
    for sentence in NUMBER_TEXTS:
        words = sentence.split()
        if len(set(words)) < 2:
            continue
        shuffled = list(words)
        while shuffled == words:
            rng.shuffle(shuffled)
        assert lm.score(sentence) > lm.score(shuffled)
    path = tmp_path / "lm.json"
    lm.save(path)
    loaded = NgramLanguageModel.load(path)
    for sentence in NUMBER_TEXTS + ["three two one", "zebra two"]:
        assert loaded.score(sentence) == lm.score(sentence)
    assert loaded.discounts == lm.discounts
    with pytest.raises(ValueError, match="order"):
        NgramLanguageModel.from_texts(NUMBER_TEXTS, order=0)


def fused_lm_score(lm, alphabet, lm_weight, word_bonus):
    """The shallow-fusion term of a label prefix, from the Python LM (for the reference search)."""

    def score(labels, final):
        pieces = "".join(alphabet[label - 1] for label in labels).split(" ")
        words = [word for word in pieces[:-1] if word]
        if final and pieces[-1]:
            words.append(pieces[-1])
        total = sum(
            lm_weight * lm.log_prob(word, words[:i]) + word_bonus for i, word in enumerate(words)
        )
        if final:
            total += lm_weight * lm.log_prob("</s>", words)
        return total

    return score


@pytest.mark.parametrize("order,beam_width", [(2, 4), (3, 8)])
def test_beam_search_with_lm_matches_python_reference(order, beam_width):
    alphabet = " eonrtw"  # enough letters for one, two, three, ten
    lm = NgramLanguageModel.from_texts(
        ["one two", "two three", "one one", "ten two one", "three ten"], order=order
    )
    lengths = np.array([25, 18, 0], dtype=np.int32)  # an empty utterance scores only </s>
    log_probs = random_log_probs(40 + order, 3, 25, len(alphabet) + 1, scale=1.5)
    # More spaces than random, so that words are completed often.
    log_probs[:, ::4, 1] += 2.0
    log_probs = tf.nn.log_softmax(log_probs).numpy()
    options = dict(lm_weight=0.8, word_bonus=0.5)
    graph = graph_beams(log_probs, lengths, alphabet, beam_width=beam_width, lm=lm, **options)
    score = fused_lm_score(lm, alphabet, **options)
    for b, length in enumerate(lengths):
        reference = reference_beam_search(log_probs[b, :length], beam_width, lm_score=score)
        assert_same_beams(graph[b], reference)


def test_beam_search_rejects_bad_arguments():
    log_probs = random_log_probs(0, 1, 5, 4)
    with pytest.raises(ValueError, match="beam_width"):
        prefix_beam_search(log_probs, [5], alphabet="abc", beam_width=0)
    with pytest.raises(ValueError, match="prune_top_k"):
        prefix_beam_search(log_probs, [5], alphabet="abc", prune_top_k=0)
    lm = NgramLanguageModel.from_texts(["a b"], order=2)
    with pytest.raises(ValueError, match="space"):
        prefix_beam_search(log_probs, [5], alphabet="abc", lm=lm)


def test_language_model_resolves_an_acoustic_ambiguity():
    # "two three" where the second letter of "two" sounds as much like "o" as "w":
    # the acoustics alone prefer "too three".
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=3)
    log_probs = synthetic_posteriors("two three", seed=0, noise=0.0)
    second = 4  # frame of the "w"
    posteriors = np.full(len(ALPHABET) + 1, 0.05 / 26)
    posteriors[ALPHABET.index("o") + 1] = 0.5
    posteriors[ALPHABET.index("w") + 1] = 0.45
    log_probs[second] = np.log(posteriors)
    log_probs = log_probs[np.newaxis]
    greedy_texts, _ = greedy_decode(log_probs, [log_probs.shape[1]])
    plain, _ = compiled(prefix_beam_search, beam_width=8)(log_probs, [log_probs.shape[1]])
    fused, confidence = compiled(prefix_beam_search, beam_width=8, lm=lm, lm_weight=1.0)(
        log_probs, [log_probs.shape[1]]
    )
    assert decoded(greedy_texts) == ["too three"]
    assert decoded(plain) == ["too three"]
    assert decoded(fused) == ["two three"]
    assert 0.5 < float(confidence[0]) <= 1.0


def test_decoders_in_a_saved_model_give_the_same_texts(tmp_path):
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=3)
    spec = [
        tf.TensorSpec([None, None, len(ALPHABET) + 1], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ]

    class Decoder(tf.Module):
        def __init__(self):
            super().__init__()
            self.lm = lm.scorer()

        @tf.function(input_signature=spec)
        def greedy(self, log_probs, lengths):
            return greedy_decode(log_probs, lengths)

        @tf.function(input_signature=spec)
        def beam(self, log_probs, lengths):
            return prefix_beam_search(log_probs, lengths, beam_width=4, prune_top_k=8)

        @tf.function(input_signature=spec)
        def beam_lm(self, log_probs, lengths):
            return prefix_beam_search(log_probs, lengths, beam_width=4, lm=self.lm, lm_weight=1.0)

        @tf.function(input_signature=spec)
        def beam_lexicon(self, log_probs, lengths):
            return prefix_beam_search(log_probs, lengths, beam_width=4, lm=self.lm, lm_weight=1.0,
                                      lexicon=Lexicon(lm.vocabulary[3:]))

    sentences = ["two three", "the third of march", "seven four two oh nine"]
    log_probs, lengths = batch_of(
        [synthetic_posteriors(s, seed, noise=0.7) for seed, s in enumerate(sentences)]
    )
    module = Decoder()
    names = ["greedy", "beam", "beam_lm", "beam_lexicon"]
    expected = {name: getattr(module, name)(log_probs, lengths) for name in names}
    tf.saved_model.save(module, str(tmp_path / "decoder"))
    del module
    loaded = tf.saved_model.load(str(tmp_path / "decoder"))
    for name, (texts, confidence) in expected.items():
        loaded_texts, loaded_confidence = getattr(loaded, name)(log_probs, lengths)
        assert decoded(loaded_texts) == decoded(texts)
        np.testing.assert_allclose(loaded_confidence.numpy(), confidence.numpy(), rtol=1e-6)
    assert decoded(expected["beam_lm"][0]) == sentences


# The vocabulary constraint.
def test_lexicon_trie_by_hand_and_bad_words():
    lexicon = Lexicon(["two", "ten", "two"], alphabet=" etwno")
    space, e, t, w, n, o = range(1, 7)
    # Nodes in order of insertion of the sorted words: root 0, t 1, te 2, ten 3, tw 4, two 5.
    assert lexicon.num_nodes == 6
    table = lexicon.next_node.numpy()
    assert table[0, t] == 1 and table[1, e] == 2 and table[2, n] == 3 and table[1, w] == 4 and table[4, o] == 5
    assert table[0, space] == 0 and table[3, space] == 0 and table[5, space] == 0
    assert (table[[1, 2, 4], space] == -1).all() and table[0, o] == -1 and (table[:, 0] == -1).all()
    assert lexicon.ends_word.numpy().tolist() == [True, False, False, True, False, True]
    for words, message in [([], "at least one word"), (["two words"], "without spaces"), (["tw0"], "alphabet"),
                           ("two", "not one string"), ([""], "non-empty")]:
        with pytest.raises(ValueError, match=message):
            Lexicon(words, alphabet=" etwno")
    with pytest.raises(ValueError, match="space"):
        Lexicon(["ab"], alphabet="ab")
    with pytest.raises(ValueError, match="another alphabet"):
        prefix_beam_search(random_log_probs(0, 1, 4, 4), [4], alphabet="ab ", lexicon=Lexicon(["ab"], " ab"))


def test_wide_beam_with_a_lexicon_finds_the_most_probable_word_sequence():
    alphabet, time, batch = " ab", 6, 6
    words = ["a", "ab", "bba"]
    log_probs = random_log_probs(11, batch, time, 4, scale=1.5)
    lengths = [time] * batch
    beams = compiled(prefix_beam_search_beams, alphabet=alphabet, beam_width=256, lexicon=words)(
        log_probs, lengths)
    unconstrained, _ = compiled(prefix_beam_search, alphabet=alphabet, beam_width=256)(log_probs, lengths)
    changed = 0
    for b in range(batch):
        totals = collections.defaultdict(lambda: -math.inf)
        for path in itertools.product(range(4), repeat=time):
            labelling = tuple(k for k, _ in itertools.groupby(path) if k != 0)
            totals[labelling] = logsumexp(totals[labelling], float(sum(log_probs[b, t, k] for t, k in enumerate(path))))
        # A labelling is a word sequence when every run of letters between spaces is a word.
        allowed = {labels: total for labels, total in totals.items()
                   if all(run in words for run in "".join(alphabet[k - 1] for k in labels).split())}
        best_labels, best_log_prob = max(allowed.items(), key=lambda item: item[1])
        length = int(beams["label_lengths"][b, 0])
        assert tuple(beams["labels"][b, 0, :length].numpy()) == best_labels
        np.testing.assert_allclose(float(beams["scores"][b, 0]), best_log_prob, atol=1e-4)
        # Every beam that ends on a whole word (the others score INCOMPLETE_WORD less) is a word sequence;
        # the impossible ones (about NEG_INF: fewer prefixes than the width) are left out.
        for text, beam_score in zip(decoded(beams["texts"][b]), beams["scores"][b].numpy()):
            if beam_score < -1e8:
                continue
            assert (beam_score > -1e3) == all(run in words for run in text.split()), (text, beam_score)
        changed += decoded(unconstrained)[b] != to_text(best_labels, alphabet)
    assert changed > 0  # the constraint changes some answers, or the test shows nothing


def test_lexicon_spells_a_word_the_acoustics_misspell():
    # "three" said with one "e" (the acoustic model's common error): plain beam search reads the
    # non-word "thre"; with the training vocabulary as the lexicon only whole words can come out.
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=3)
    log_probs = synthetic_posteriors("two thre four", seed=0, noise=0.0)[np.newaxis]
    lengths = [log_probs.shape[1]]
    plain, _ = compiled(prefix_beam_search, beam_width=8)(log_probs, lengths)
    with_lm, _ = compiled(prefix_beam_search, beam_width=8, lm=lm, lm_weight=1.0)(log_probs, lengths)
    constrained, confidence = compiled(prefix_beam_search, beam_width=8, lm=lm, lm_weight=1.0,
                                       lexicon=Lexicon(lm.vocabulary[3:]))(log_probs, lengths)
    assert decoded(plain) == ["two thre four"]
    # The LM alone does not mend it: it would rather merge the unknown word with the next one.
    assert any(word not in lm.vocabulary for word in decoded(with_lm)[0].split())
    assert decoded(constrained) == ["two three four"]
    assert 0.0 < float(confidence[0]) <= 1.0


def test_lexicon_confidence_is_high_on_clear_words_and_low_on_noise_forced_into_words():
    lm = NgramLanguageModel.from_texts(NUMBER_TEXTS, order=3)
    clear = synthetic_posteriors("two three four", seed=0, noise=0.3)  # each character's peak about 0.67
    noise = random_log_probs(3, 1, 40, len(ALPHABET) + 1, scale=1.0)[0]  # no character stands out
    search = compiled(prefix_beam_search, beam_width=8, lm=lm, lm_weight=1.0, lexicon=Lexicon(lm.words()))
    texts, confidence = search(*batch_of([clear, noise]))
    beams = compiled(prefix_beam_search_beams, beam_width=8, lm=lm, lm_weight=1.0, lexicon=Lexicon(lm.words()))(
        *batch_of([clear, noise]))
    shares = tf.nn.softmax(beams["scores"], axis=-1).numpy()
    share_only = (shares * (beams["texts"].numpy() == beams["texts"].numpy()[:, :1])).sum(axis=1)
    assert decoded(texts)[0] == "two three four" and float(confidence[0]) > 0.6
    assert decoded(texts)[1] and all(word in lm.words() for word in decoded(texts)[1].split())
    # The beams agree on the forced words far more than the acoustics support them.
    assert float(confidence[1]) < 0.2 and float(confidence[1]) < 0.5 * share_only[1], (confidence, share_only)
