"""tasks/sentiment: preprocessing, the models, the run directory, the SavedModel (fuzzed), the CLI.

Default tests train tiny models on a synthetic three-class CSV (seconds); the
real Rotten Tomatoes figures are `@pytest.mark.slow`.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.common.config import ConfigError
from tasks.sentiment import model as models
from tasks.sentiment.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ("food", "joy", "sport")
WORDS = {
    "joy": ["happy", "wonderful", "delighted", "smile", "laughing", "love"],
    "sport": ["baseball", "football", "tennis", "match", "goal", "team"],
    "food": ["pizza", "dinner", "bread", "cheese", "lunch", "soup"],
}
FILLER = ["the", "a", "we", "had", "today", "with", "my", "friends", "and", "was"]


def synthetic_csv(path, rows=240, seed=0):
    """Three classes, each text holding two of its class's words among fillers."""
    rng = np.random.default_rng(seed)
    lines = ["text,label"]
    for i in range(rows):
        label = CLASSES[i % 3]
        words = list(rng.choice(FILLER, 5)) + list(rng.choice(WORDS[label], 2))
        rng.shuffle(words)
        lines.append(f'"{" ".join(words).capitalize()}!",{label}')
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_config(tmp_path, **changes):
    values = dict(out=str(tmp_path / "run"), data=str(synthetic_csv(tmp_path / "emotions.csv")),
                  model="ensemble", epochs=3, batch_size=16, units=8, filters=8, num_heads=2, num_layers=1,
                  intermediate_dim=16, glove_words=2000, sequence_length=16, learning_rate=5e-3,
                  early_stopping_patience=0, verbose=0, ensemble_members=("cnn", "mean", "gru", "ngram"))
    values.update(changes)
    return Config(**values)


# ---------------------------------------------------------------------------
# Preprocessing.


def standardize(texts, **kwargs):
    return [t.decode("utf-8") for t in models.StandardizeText(**kwargs)(tf.constant(texts)).numpy()]


def test_standardize_splits_punctuation_and_clitics_like_glove():
    assert standardize(["Don't MISS it!! It's <br/>the film's best."]) == [
        "do n't miss it ! ! it 's the film 's best ."
    ]


def test_standardize_is_total_on_bad_input():
    texts = [b"", b"   \t\n", b"\xff\xfe\xfa", "caf\u00e9 \u2014 \U0001f600".encode(), "\u00a0".encode(), b"a\x00b"]
    out = standardize(texts)
    assert out[0] == out[1] == out[4] == models.EMPTY_TOKEN
    assert out[2] == "\ufffd \ufffd \ufffd"  # Each invalid byte is its own replacement-character token.
    assert out[3] == "café — 😀"
    assert "\x00" not in out[5]


def test_standardize_truncates_to_max_chars():
    (out,) = standardize(["é" * 50 + " tail"], max_chars=10)
    assert out == "é" * 10


def test_standardize_rejects_bad_argument():
    with pytest.raises(ValueError, match="max_chars"):
        models.StandardizeText(max_chars=0)


def test_vocabulary_orders_by_frequency_then_adds_extra_words():
    vocabulary = models.build_vocabulary([["b", "a", "b"], ["c", "b", "a"]], extra_words=["a", "zebra", "two words"])
    assert vocabulary == ["b", "a", "c", "zebra"]
    assert models.build_vocabulary([["b", "a", "b"]], min_count=2) == ["b"]


def test_nbsvm_member_votes_the_right_way():
    tokens = [["good", "film"], ["great", "film"], ["bad", "film"], ["awful", "film"]] * 10
    labels = [1, 1, 0, 0] * 10
    grams, weights, character_grams, character_weights, bias = models.fit_nbsvm(tokens, labels, 2)
    assert character_grams == [] and character_weights.shape == (0, 2)
    assert set(grams) >= {"good", "bad", "good film"}
    assert weights[grams.index("good"), 1] > 0 > weights[grams.index("bad"), 1]
    assert np.all(weights[:, 0] == 0)  # Two classes: one regression, class 0's logit stays 0.
    assert abs(weights[grams.index("film"), 1]) < 0.05  # A word in every text carries no vote.


def test_nbsvm_character_ngrams_vote_too():
    # "superb" and "superbly" share n-grams, so a word never seen in training still gets a vote.
    tokens = [["superb", "film"], ["a", "superbly", "made", "film"], ["dreadful", "film"], ["dreadfully", "dull"]] * 10
    nbsvm = models.fit_nbsvm(tokens, [1, 1, 0, 0] * 10, 2, character_widths=(2, 4))
    assert {" s", "sup", "uper", "ly "} <= set(nbsvm.character_ngrams)
    layer = models.CharacterNgramLogits(nbsvm.character_ngrams, 2, 2, 4)
    layer.set_weights_of_ngrams(nbsvm.character_weights)
    logits = layer(tf.constant(["superbness", "dreadfulness"])).numpy()
    assert logits[0, 1] > 0 > logits[1, 1]


def test_character_ngram_layer_matches_the_python_function():
    texts = ["a superbly made film !", "", "日本 😀 naïve", "x " * 70, "[empty]"]
    token_lists = [t.split() for t in texts]
    vocabulary = sorted({g for tokens in token_lists for g in models.character_ngrams(tokens, 2, 5, 64)})[::2]
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(len(vocabulary), 3)).astype("float32")
    layer = models.CharacterNgramLogits(vocabulary, 3, 2, 5, max_tokens=64)
    layer.set_weights_of_ngrams(weights)
    index = {g: i for i, g in enumerate(vocabulary)}
    expected = [sum((weights[index[g]] for g in models.character_ngrams(tokens, 2, 5, 64) if g in index),
                    np.zeros(3, "float32")) for tokens in token_lists]
    np.testing.assert_allclose(layer(tf.constant(texts)).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert models.character_ngrams(["film"], 2, 3) == [" f", "fi", "il", "lm", "m ", " fi", "fil", "ilm", "lm "]
    with pytest.raises(ValueError, match="min_width"):
        models.CharacterNgramLogits(vocabulary, 3, 4, 2)


def test_member_weights_match_a_logistic_regression_on_member_logits():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    # Two informative members of different sharpness and one that is noise.
    logits = np.stack([2.0 * (labels - 0.5) + rng.normal(0, 1.0, 400),
                       0.5 * (labels - 0.5) + rng.normal(0, 0.3, 400) + 0.4,
                       rng.normal(0, 1.0, 400)], 1)
    members = [np.stack([1 / (1 + np.exp(x)), 1 / (1 + np.exp(-x))], 1) for x in logits.T]
    weights, bias = models.fit_member_weights(members, labels, regularization=1.0)
    reference = LogisticRegression(C=1.0, tol=1e-8).fit(logits, labels)
    np.testing.assert_allclose(weights, reference.coef_[0], atol=1e-3)
    np.testing.assert_allclose(bias[1] - bias[0], reference.intercept_[0], atol=1e-3)
    combination = models.MemberCombination()
    combined = combination([tf.constant(m, tf.float32) for m in members]).numpy()  # geometric mean before fitting
    np.testing.assert_allclose(np.log(combined[:, 1] / combined[:, 0]), logits.mean(1), rtol=1e-4, atol=1e-4)
    combination.set_member_weights(weights, bias)
    combined = combination([tf.constant(m, tf.float32) for m in members]).numpy()
    np.testing.assert_allclose(combined[:, 1], reference.predict_proba(logits)[:, 1], atol=1e-4)


def test_masked_mean_of_all_padding_is_zero_not_nan():
    inputs = np.ones((2, 3, 4), "float32")
    mask = np.array([[True, False, False], [False, False, False]])
    out = models.MaskedMean()(inputs, mask=mask).numpy()
    np.testing.assert_allclose(out, [[1] * 4, [0] * 4])


# ---------------------------------------------------------------------------
# Config.


def test_config_rejects_unknown_model_and_members():
    with pytest.raises(ConfigError, match="--model"):
        Config(model="bert")
    with pytest.raises(ConfigError, match="--ensemble-members"):
        Config(ensemble_members=("cnn", "svm"))
    with pytest.raises(ConfigError, match="--dropout"):
        Config(dropout=1.0)
    with pytest.raises(ConfigError, match="--char-ngram-max"):
        Config(char_ngram_min=4, char_ngram_max=3)


# ---------------------------------------------------------------------------
# Every model reads raw strings.


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """One data build shared by the model tests (the ensemble's includes the n-gram model)."""
    from tasks.sentiment.train import build_data

    config = tiny_config(tmp_path_factory.mktemp("data"))
    return config, build_data(config)


@pytest.mark.parametrize("kind", models.MODELS)
def test_every_model_maps_raw_strings_to_probabilities(tiny_data, kind):
    from tasks.sentiment.train import build_model

    config, data = tiny_data
    config = config.replace(model=kind)
    model = build_model(config, data)
    texts = tf.constant(["A wonderful smile", "", "\xff", "⚽ " * 500])
    probabilities = models.probabilities_of(model(texts))
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(probabilities.numpy()))
    if kind == "lstm":  # Tracing a training step of two RNNs costs most of a minute; the tiny run trains a GRU.
        return
    texts, labels = next(iter(data.train))
    if kind != "ensemble":  # The ensemble's targets are a dict; the tiny run below trains it.
        labels = labels["probabilities"]
    logs = model.train_on_batch(texts, labels, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_glove_rows_initialise_the_embedding(tiny_data):
    from tasks.sentiment.train import build_model, word_vectors

    config, data = tiny_data
    model = build_model(config.replace(model="lstm"), data)
    glove = word_vectors()
    row = 2 + data.vocabulary.index("happy")
    np.testing.assert_allclose(model.get_layer("word_embedding").embeddings.numpy()[row], glove["happy"])
    assert data.glove_coverage > 0.9


# ---------------------------------------------------------------------------
# One tiny training run through the shared runner, reused below.


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tasks.common.runner import train
    from tasks.sentiment.train import TASK

    tmp_path = tmp_path_factory.mktemp("sentiment")
    config = tiny_config(tmp_path)
    metrics = train(TASK, config)
    return config, metrics


@pytest.mark.e2e
def test_run_directory_holds_model_metrics_and_plots(tiny_run):
    config, metrics = tiny_run
    out = config.out
    for name in ("model.keras", "metrics.json", "confusion_matrix.png", "reliability.png", "training_curves.png",
                 "history.csv", "saved_model/saved_model.pb", "saved_model/assets.extra/class_names.json"):
        assert os.path.exists(os.path.join(out, name)), name
    saved = json.load(open(os.path.join(out, "metrics.json")))
    assert saved["test"]["class_names"] == list(CLASSES)
    assert np.sum(saved["test"]["confusion_matrix"]) == saved["test"]["examples"] == 24
    assert set(saved["member_accuracy"]["test"]) == {"cnn", "mean", "gru", "ngram"}
    assert set(saved["member_weights"]) == {"cnn", "mean", "gru", "ngram", "class_bias"}
    # Two class words per text make the three classes easy.
    assert saved["test_accuracy"] >= 0.9, saved["test_accuracy"]
    assert "out_of_domain_accuracy" not in saved  # Only for negative/positive models.
    assert saved["temperature"] > 0 and 0 <= saved["test_ece"] <= 1 and 0 <= saved["test_ece_uncalibrated"] <= 1


def calibrated(model, texts, run_dir):
    """The Keras model's probabilities scaled by the temperature the run's SavedModel was exported with."""
    from tasks.sentiment.calibration import apply_temperature
    from tasks.sentiment.export import temperature_of

    probabilities = models.probabilities_of(model(tf.constant(texts))).numpy()
    return apply_temperature(probabilities, temperature_of(run_dir))


@pytest.mark.e2e
def test_keras_file_reloads_with_the_same_outputs(tiny_run):
    import keras

    import layers  # noqa: F401 - registers the layers

    config, _ = tiny_run
    model = keras.models.load_model(os.path.join(config.out, "model.keras"))
    loaded = tf.saved_model.load(os.path.join(config.out, "saved_model"))
    texts = ["we had pizza and soup", "the team scored a goal", ""]
    keras_probabilities = calibrated(model, texts, config.out)
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), keras_probabilities, atol=1e-5)
    assert [s.decode() for s in served["label"].numpy()[:2]] == ["food", "sport"]


@pytest.mark.e2e
def test_serving_in_length_buckets_gives_each_text_the_padded_models_answer(tiny_run):
    """A batch of 100 is served in buckets of similar length, each cut to its longest text plus the widest
    convolution (export.py); every text must still get what the Keras model gives it at full padding."""
    import keras

    import layers  # noqa: F401

    config, _ = tiny_run
    model = keras.models.load_model(os.path.join(config.out, "model.keras"))
    loaded = tf.saved_model.load(os.path.join(config.out, "saved_model"))
    rng = np.random.default_rng(1)
    words = sum(WORDS.values(), []) + FILLER
    texts = [" ".join(rng.choice(words, n)) for n in rng.integers(0, 40, 96)] + ["goal " * 100, "", "\xff", "pizza"]
    keras_probabilities = calibrated(model, texts, config.out)
    served = loaded.signatures["serving_default"](text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(served, keras_probabilities, atol=1e-5)
    one_by_one = [loaded.signatures["serving_default"](text=tf.constant([t]))["probabilities"].numpy()[0]
                  for t in texts[:5] + texts[-4:]]
    np.testing.assert_allclose(one_by_one, served[list(range(5)) + list(range(96, 100))], atol=1e-5)


@pytest.mark.e2e
def test_saved_model_in_a_fresh_process_matches(tiny_run):
    config, _ = tiny_run
    code = (
        "import json, sys, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "out = m.signatures['serving_default'](text=tf.constant(['happy smile love', 'tennis match']))\n"
        "print(json.dumps({'p': out['probabilities'].numpy().tolist(), 'dtype': out['probabilities'].dtype.name,"
        " 'label': [x.decode() for x in out['label'].numpy()]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, os.path.join(config.out, "saved_model")],
                            capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["dtype"] == "float32" and served["label"] == ["joy", "sport"]
    import keras

    import layers  # noqa: F401

    model = keras.models.load_model(os.path.join(config.out, "model.keras"))
    expected = calibrated(model, ["happy smile love", "tennis match"], config.out)
    np.testing.assert_allclose(served["p"], expected, atol=1e-5)


@pytest.fixture(scope="module")
def serving_function(tiny_run):
    config, _ = tiny_run
    return tf.saved_model.load(os.path.join(config.out, "saved_model")).signatures["serving_default"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2028\u3000"), max_size=20),
        st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=30),
        st.text(alphabet=st.sampled_from("日本語の映画Прекрасныйفيلمअच्छा"), max_size=50),
        st.builds(lambda n: "great " * n, st.integers(1000, 5000)),
    ),
    min_size=1, max_size=8,
))
@pytest.mark.e2e
def test_serving_function_answers_any_input(serving_function, texts):
    batch = [t if isinstance(t, bytes) else t.encode("utf-8", "surrogatepass") for t in texts]
    out = serving_function(text=tf.constant(batch, dtype=tf.string))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (len(batch), 3) and probabilities.dtype == np.float32
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert {label.decode() for label in out["label"].numpy()} <= set(CLASSES)
    # Repeated into a batch of at least 64, the same texts go through the length buckets: same answers.
    repeated = serving_function(text=tf.constant(batch * (64 // len(batch) + 1), dtype=tf.string))
    np.testing.assert_allclose(repeated["probabilities"].numpy()[: len(batch)], probabilities, atol=1e-5)


@pytest.mark.e2e
def test_serving_an_empty_batch(serving_function):
    out = serving_function(text=tf.constant([], dtype=tf.string))
    assert out["probabilities"].shape == (0, 3) and out["label"].shape == (0,)


# ---------------------------------------------------------------------------
# Calibration.


def test_expected_calibration_error_on_hand_worked_values():
    from tasks.sentiment.calibration import expected_calibration_error, reliability_bins

    # Confidences 0.9 (right), 0.82 (wrong), 0.58 (right), 0.55 (right). With 15 bins of width 1/15 they
    # fall in bins 13, 12, 8 and 8: ECE = (|1 - 0.9| + |0 - 0.82| + 2 * |1 - (0.58 + 0.55) / 2|) / 4.
    probabilities = np.array([[0.9, 0.1], [0.18, 0.82], [0.58, 0.42], [0.45, 0.55]])
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx((0.1 + 0.82 + 2 * 0.435) / 4)
    counts, confidence, accuracy = reliability_bins(probabilities, labels)
    assert counts.tolist() == [0] * 8 + [2, 0, 0, 0, 1, 1, 0]
    assert confidence[8] == pytest.approx(0.565) and accuracy[8] == 1.0 and accuracy[12] == 0.0
    # One bin: |mean confidence 0.7125 - accuracy 0.75|.
    assert expected_calibration_error(probabilities, labels, bins=1) == pytest.approx(0.0375)
    assert expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == 0.0
    assert expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1, 0])) == 1.0


def test_area_under_roc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    from tasks.sentiment.evaluate import area_under_roc

    # Worked by hand: positives score 0.9 and 0.5, negatives 0.5 and 0.1; of the 4 pairs, 3 are ordered
    # right and one is a tie (half), so AUC = 3.5 / 4.
    assert area_under_roc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.7, 1.0), 1)  # rounded so that many scores tie
    assert area_under_roc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert area_under_roc(labels, -scores) == pytest.approx(1 - roc_auc_score(labels, scores))
    assert np.isnan(area_under_roc([1, 1], [0.2, 0.3]))


def test_out_of_domain_metrics_separate_the_ranking_from_the_boundary(monkeypatch):
    from data import sentiment as sentiment_data
    from tasks.sentiment.evaluate import out_of_domain_metrics

    # A model that ranks perfectly (more "good" is more positive) but whose boundary answers negative
    # for everything: accuracy is the negative share, AUC is 1 and the positive rate 0.
    texts = ["good good good", "good good", "good", "bad", "bad bad"]
    labels = np.array([1, 1, 1, 0, 0], np.int32)
    monkeypatch.setattr(sentiment_data, "OUT_OF_DOMAIN_SETS", {"toy": lambda: (texts, labels)})

    def model(batch, training=False):
        goods = np.array([t.decode().split().count("good") for t in batch.numpy()], np.float32)
        positive = 0.1 + 0.1 * goods
        return tf.constant(np.stack([1 - positive, positive], 1))

    result = out_of_domain_metrics(model)["out_of_domain"]["toy"]
    assert result["accuracy"] == pytest.approx(0.4)
    assert result["auc"] == pytest.approx(1.0)
    assert result["positive_rate"] == 0.0 and result["true_positive_rate"] == pytest.approx(0.6)
    assert result["balanced_accuracy"] == pytest.approx(0.5)


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    from tasks.sentiment.calibration import apply_temperature, expected_calibration_error, fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 3))
    true_probabilities = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in true_probabilities])
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.05)
    # The same against a brute-force search of the negative log-likelihood.
    grid = np.linspace(1.0, 4.0, 301)
    nll = [-np.mean(np.log(apply_temperature(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), t)
                           [np.arange(len(labels)), labels])) for t in grid]
    assert temperature == pytest.approx(grid[int(np.argmin(nll))], abs=0.011)
    raw = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scaled = apply_temperature(raw, temperature)
    assert np.array_equal(scaled.argmax(1), raw.argmax(1))  # accuracy cannot change
    assert expected_calibration_error(scaled, labels) < 0.02 < expected_calibration_error(raw, labels)
    assert apply_temperature(raw, 1.0) is raw
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(logits, labels[:10])


# ---------------------------------------------------------------------------
# Explanations, on a tiny two-class model that has to learn negation.

POSITIVE_WORDS = ["good", "great", "fun", "charming", "brilliant", "lovely"]
NEGATIVE_WORDS = ["bad", "dull", "boring", "awful", "weak", "tedious"]
TEMPLATES = ["the film is {}", "it was {} .", "a {} movie", "{} acting", "the plot was {} , the cast too"]


def negation_corpus(size=800, seed=0):
    """Texts with one opinion word, negated in half of them ("not good", "not bad at all"): the label is
    the word's polarity, flipped by `not`."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(size):
        positive, negated = i % 2 == 0, (i // 2) % 2 == 0
        word = rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)
        slot = ("not {} at all" if rng.random() < 0.3 else "not {}") if negated else "{}"
        texts.append(TEMPLATES[rng.integers(len(TEMPLATES))].format(slot.format(word)))
        labels.append(int(positive != negated))
    return texts, np.asarray(labels, np.int32)


@pytest.fixture(scope="module")
def negation_model(tmp_path_factory):
    """An ensemble of a CNN and the NBSVM member trained on `negation_corpus`, its combination and
    temperature fitted on held-out texts, exported: (keras model, SavedModel directory, temperature)."""
    from data.word_vectors import load_glove
    from tasks.sentiment.calibration import fit_temperature
    from tasks.sentiment.export import export_saved_model

    tf.keras.utils.set_random_seed(0)
    texts, labels = negation_corpus()
    train_texts, train_labels, held_texts, held_labels = texts[:640], labels[:640], texts[640:], labels[640:]
    config = Config(model="ensemble", ensemble_members=("cnn", "ngram"), filters=16, sequence_length=16,
                    learning_rate=5e-3, batch_size=32, char_ngram_max=0)
    tokens = models.standardize_python(train_texts)
    glove = load_glove()
    vocabulary = models.build_vocabulary(tokens, 1, glove.words[:2000])
    matrix, _ = models.embedding_matrix(vocabulary, glove)
    nbsvm = models.fit_nbsvm(tokens, train_labels, 2, 1, regularization=1.0, max_tokens=16)
    model = models.compile_classifier(models.build_classifier(config, vocabulary, matrix, 2, nbsvm), config)
    targets = {name: train_labels for name in models.output_names(config)}
    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(train_texts), targets)).shuffle(640, seed=0).batch(32)
    model.fit(dataset, epochs=4, verbose=0)
    models.combine_members(model, held_texts, held_labels)
    temperature = fit_temperature(model, (held_texts, held_labels))
    export_dir = tmp_path_factory.mktemp("negation") / "saved_model"
    export_saved_model(model, ("negative", "positive"), export_dir, temperature=temperature)
    return model, export_dir, temperature


@pytest.mark.e2e
def test_explanations_find_the_negation(negation_model):
    from tasks.sentiment.explain import explain

    _, export_dir, _ = negation_model
    loaded = tf.saved_model.load(str(export_dir))
    (good, _, _), (bad, _, _), (not_good, _, not_good_words), (not_bad, _, not_bad_words) = explain(
        loaded, ["good", "bad", "not good", "not bad at all"])
    assert (good, bad, not_good, not_bad) == ("positive", "negative", "negative", "positive")
    assert [word for word, _ in not_good_words] == ["not", "good"]
    assert [word for word, _ in not_bad_words] == ["not", "bad", "at", "all"]
    # The answer's probability falls most when one of the decisive words is taken out.
    top_word, top_score = max(not_good_words, key=lambda pair: pair[1])
    assert top_word in ("not", "good") and top_score > 0.2
    # In "not bad at all" it is `not` that turns the answer positive: without it the text reads negative.
    scores = dict(not_bad_words)
    assert scores["not"] > 0.5 and scores["not"] == max(scores.values())
    assert abs(scores["at"]) < scores["not"] / 2 and abs(scores["all"]) < scores["not"] / 2


@pytest.mark.e2e
def test_explain_signature_agrees_with_serving_the_occluded_texts(negation_model):
    """Each contribution is p(class | text) - p(class | text without the word), computed here independently
    with serving_default on texts rebuilt in Python."""
    _, export_dir, _ = negation_model
    loaded = tf.saved_model.load(str(export_dir))
    texts = ["the film is not boring at all", "a charming movie", "", "Not GOOD!!", "it was dull , the cast too"]
    out = loaded.signatures["explain"](text=tf.constant(texts))
    serve = loaded.signatures["serving_default"]
    np.testing.assert_allclose(out["probabilities"].numpy(), serve(text=tf.constant(texts))["probabilities"].numpy(),
                               atol=1e-5)
    for row, text in enumerate(texts):
        words = [w.decode() for w in out["tokens"].numpy()[row] if w]
        assert words == models.standardize_python([text])[0]
        variants = [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        expected = (serve(text=tf.constant([" ".join(words)]))["probabilities"].numpy()
                    - serve(text=tf.constant(variants))["probabilities"].numpy())  # (words, classes)
        np.testing.assert_allclose(out["class_contributions"].numpy()[row, : len(words)], expected, atol=1e-5)
        answer = int(np.argmax(out["probabilities"].numpy()[row]))
        np.testing.assert_allclose(out["contributions"].numpy()[row, : len(words)], expected[:, answer], atol=1e-5)
        assert np.all(out["contributions"].numpy()[row, len(words) :] == 0)


@pytest.mark.e2e
def test_saved_model_probabilities_use_the_fitted_temperature(negation_model):
    from tasks.sentiment.calibration import apply_temperature
    from tasks.sentiment.export import temperature_of

    model, export_dir, temperature = negation_model
    assert temperature_of(export_dir) == pytest.approx(temperature) and temperature != 1.0
    texts = ["good", "not good", "a weak movie", "it was not tedious at all ."]
    raw = models.probabilities_of(model(tf.constant(texts))).numpy()
    served = tf.saved_model.load(str(export_dir)).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), apply_temperature(raw, temperature), atol=1e-5)
    assert not np.allclose(served["probabilities"].numpy(), raw, atol=1e-3)


# ---------------------------------------------------------------------------
# Command line.


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tasks.sentiment", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.e2e
def test_predict_command(tiny_run, serving_function, tmp_path):
    config, _ = tiny_run
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("soup and bread for dinner\n\n")
    result = run_cli("predict", "--model", config.out, "football team goal", "--file", str(texts_file))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip("\n").split("\n")
    assert len(lines) == 3
    assert lines[0].split("\t")[0] == "sport" and lines[1].split("\t")[0] == "food"
    # The printed probabilities (three decimals) are the SavedModel's, the empty line's too.
    texts = ["football team goal", "soup and bread for dinner", ""]
    expected = serving_function(text=tf.constant(texts))["probabilities"].numpy().max(axis=1)
    printed = [float(line.split("\t")[1]) for line in lines]
    np.testing.assert_allclose(printed, expected, atol=6e-4)


@pytest.mark.e2e
def test_predict_command_explains(negation_model):
    _, export_dir, _ = negation_model
    result = run_cli("predict", "--model", str(export_dir), "--explain", "not bad at all")
    assert result.returncode == 0, result.stderr[-2000:]
    answer, explanation = result.stdout.strip("\n").split("\n")
    assert answer.split("\t")[0] == "positive" and answer.split("\t")[2] == "not bad at all"
    pairs = explanation.strip().split("  ")
    assert [pair.split(" ")[0] for pair in pairs] == ["not", "bad", "at", "all"]
    assert pairs[0].startswith("not +") and float(pairs[0].split(" ")[1]) > 0.5
    result = run_cli("predict", "--model", str(export_dir), "--explain", "--json", "not good")
    record = json.loads(result.stdout)
    assert record["label"] == "negative" and [w for w, _ in record["contributions"]] == ["not", "good"]


@pytest.mark.e2e
def test_evaluate_command_reads_csv_and_jsonl(tiny_run, tmp_path):
    config, _ = tiny_run
    jsonl = tmp_path / "check.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in [
        ("lovely happy smile", "joy"), ("cheese pizza", "food"), ("tennis goal", 2)]) + "\n")
    result = run_cli("evaluate", "--model", config.out, "--data", str(jsonl))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    assert metrics["examples"] == 3 and metrics["accuracy"] == 1.0 and metrics["macro_f1"] == 1.0
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert os.path.exists(metrics["plot"]) and os.path.exists(metrics["reliability_plot"])
    assert 0 <= metrics["ece"] <= 1 and metrics["temperature"] > 0
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,anger\n")
    result = run_cli("evaluate", "--model", config.out, "--data", str(bad))
    assert result.returncode == 2 and "anger" in result.stderr


def test_unknown_model_is_a_clean_cli_error():
    result = run_cli("train", "--model", "bert")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--model" in result.stderr


@pytest.mark.e2e
def test_unusable_data_file_is_a_clean_cli_error(tmp_path):
    path = tmp_path / "one_class.csv"
    path.write_text("text,label\nonly one class here,a\n")
    result = run_cli("train", "--out", str(tmp_path / "run"), "--data", str(path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "two classes" in result.stderr


# ---------------------------------------------------------------------------
# Real training on Rotten Tomatoes (minutes): `make test-slow`.


@pytest.mark.slow
@pytest.mark.parametrize("kind, floor", [("average", 0.65), ("cnn", 0.74), ("ensemble", 0.81)])
def test_rotten_tomatoes_accuracy(tmp_path, kind, floor):
    from tasks.common.runner import train
    from tasks.sentiment.train import TASK

    metrics = train(TASK, Config(out=str(tmp_path / kind), model=kind, verbose=0))
    assert metrics["test_accuracy"] >= floor

