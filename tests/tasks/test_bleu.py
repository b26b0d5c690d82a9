"""BLEU agrees with sacrebleu, the reference implementation, to 1e-6."""

import math

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import sacrebleu
import sacrebleu.tokenizers.tokenizer_13a

from tasks.common.bleu import BleuMetric, corpus_bleu, sentence_bleu, tokenize_13a

# Words chosen to exercise every 13a rule: punctuation, digits with periods/commas/dashes,
# HTML entities, brackets, and plain words that repeat so n-grams match and get clipped.
VOCABULARY = [
    "the", "cat", "sat", "on", "the", "mat", "a", "dog", "ran", "3.5", "1,000", "U.S.", "it's",
    "-", "1990-2000", "&amp;", "&quot;hi&quot;", "(x)", "end.", "Hello,", "world!", "e-mail", "$5", "x/y",
]
words = st.sampled_from(VOCABULARY)
sentences = st.lists(words, min_size=0, max_size=14).map(" ".join)
nonempty_sentences = st.lists(words, min_size=1, max_size=14).map(" ".join)
SMOOTHING = ["exp", "floor", "add-k", "none"]


@st.composite
def corpora(draw):
    size = draw(st.integers(1, 6))
    hypotheses = draw(st.lists(sentences, min_size=size, max_size=size))
    num_streams = draw(st.integers(1, 3))
    references = [draw(st.lists(nonempty_sentences, min_size=size, max_size=size)) for _ in range(num_streams)]
    return hypotheses, references


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(corpus=corpora(), smooth_method=st.sampled_from(SMOOTHING), effective_order=st.booleans(),
                  lowercase=st.booleans())
def test_corpus_bleu_matches_sacrebleu(corpus, smooth_method, effective_order, lowercase):
    hypotheses, references = corpus
    ours = corpus_bleu(hypotheses, references, smooth_method=smooth_method, effective_order=effective_order,
                       lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(hypotheses, references, smooth_method=smooth_method,
                                   use_effective_order=effective_order, lowercase=lowercase)
    assert ours.score == pytest.approx(theirs.score, abs=1e-6)
    assert ours.brevity_penalty == pytest.approx(theirs.bp, abs=1e-9)
    assert (ours.hypothesis_length, ours.reference_length) == (theirs.sys_len, theirs.ref_len)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(hypothesis_text=sentences, references=st.lists(nonempty_sentences, min_size=1, max_size=4),
                  smooth_method=st.sampled_from(SMOOTHING), smooth_value=st.sampled_from([None, 0.01, 0.5, 2.0]))
def test_sentence_bleu_matches_sacrebleu(hypothesis_text, references, smooth_method, smooth_value):
    if smooth_method in ("none", "exp"):
        smooth_value = None
    ours = sentence_bleu(hypothesis_text, references, smooth_method=smooth_method, smooth_value=smooth_value)
    theirs = sacrebleu.sentence_bleu(hypothesis_text, references, smooth_method=smooth_method,
                                     smooth_value=smooth_value)
    assert ours.score == pytest.approx(theirs.score, abs=1e-6)


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(line=st.lists(st.sampled_from(list("ab1.,-&;<>()/ $'\"\n") + ["&amp;", "<skipped>"]),
                                max_size=30).map("".join))
def test_13a_tokenizer_matches_sacrebleu(line):
    assert tokenize_13a(line) == sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()(line)


def test_fixed_cases():
    # Identical text is 100; an empty hypothesis is 0; a short exact prefix is cut by the brevity penalty.
    assert corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score == pytest.approx(100.0)
    assert corpus_bleu([""], [["the cat"]]).score == 0.0
    score = corpus_bleu(["the cat sat on"], [["the cat sat on the mat"]])
    assert score.brevity_penalty == pytest.approx(math.exp(1 - 6 / 4))
    assert score.score == pytest.approx(100 * math.exp(1 - 6 / 4))


def test_variable_number_of_references():
    # A None in a stream means that segment has fewer references, as in sacrebleu.
    hypotheses = ["the cat sat on the mat", "a dog ran on the mat ."]
    references = [["the cat is on the mat", "a dog ran ."], ["a cat sat on the mat", None]]
    ours = corpus_bleu(hypotheses, references).score
    assert ours == pytest.approx(sacrebleu.corpus_bleu(hypotheses, references).score, abs=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="smooth_method"):
        corpus_bleu(["a"], [["a"]], smooth_method="laplace")
    with pytest.raises(ValueError, match="tokenize"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(ValueError, match="reference streams"):
        corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="Expected a list of strings"):
        sentence_bleu("a", "a")


@pytest.mark.parametrize("smooth_method", SMOOTHING)
def test_keras_metric_matches_corpus_bleu_on_ids(smooth_method):
    rng = np.random.default_rng(0)
    metric = BleuMetric(smooth_method=smooth_method, pad_id=0, end_id=1)
    hypotheses, references = [], []
    for _ in range(3):
        # Small vocabulary so n-grams repeat and clipping matters; trailing pads and an end token.
        y_true = rng.integers(2, 6, size=(4, 9))
        y_pred = rng.integers(2, 6, size=(4, 9))
        y_true[:, 7:] = 0
        y_pred[0, 5] = 1
        y_pred[1, 3:] = 0
        metric.update_state(y_true, y_pred)
        for true_row, pred_row in zip(y_true, y_pred):
            pred_row = list(pred_row)
            pred_row = pred_row[: pred_row.index(1)] if 1 in pred_row else pred_row
            hypotheses.append(" ".join(str(t) for t in pred_row if t != 0))
            references.append(" ".join(str(t) for t in true_row if t != 0))
    expected = corpus_bleu(hypotheses, [references], tokenize="none", smooth_method=smooth_method).score
    assert float(metric.result()) == pytest.approx(expected, abs=1e-3)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_keras_metric_in_compiled_model_and_config_round_trip():
    # Scores (batch, time, vocab) are reduced with argmax inside a compiled evaluate().
    inputs = keras.Input((5,), dtype="int32")
    embedding = keras.layers.Embedding(8, 8)
    outputs = embedding(inputs)
    model = keras.Model(inputs, outputs)
    # Never predict the pad id: the metric drops n-grams that contain a pad,
    # while joining the ids without pads below would make n-grams across it.
    weights = embedding.get_weights()[0]
    weights[:, 0] = -10.0
    embedding.set_weights([weights])
    metric = BleuMetric(pad_id=0)
    model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
    data = np.array([[2, 3, 4, 5, 0], [6, 7, 2, 3, 4]])
    results = model.evaluate(data, data, verbose=0, return_dict=True)
    predictions = np.argmax(model.predict(data, verbose=0), axis=-1)
    hypotheses = [" ".join(str(t) for t in row if t != 0) for row in predictions]
    references = [" ".join(str(t) for t in row if t != 0) for row in data]
    assert results["bleu"] == pytest.approx(corpus_bleu(hypotheses, [references], tokenize="none").score, abs=1e-3)
    clone = BleuMetric.from_config(metric.get_config())
    assert clone.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="max_order"):
        BleuMetric(max_order=0)
