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


def test_run_directory_holds_model_metrics_and_plots(tiny_run):
    config, metrics = tiny_run
    out = config.out
    for name in ("model.keras", "metrics.json", "confusion_matrix.png", "training_curves.png", "history.csv",
                 "saved_model/saved_model.pb", "saved_model/assets.extra/class_names.json"):
        assert os.path.exists(os.path.join(out, name)), name
    saved = json.load(open(os.path.join(out, "metrics.json")))
    assert saved["test"]["class_names"] == list(CLASSES)
    assert np.sum(saved["test"]["confusion_matrix"]) == saved["test"]["examples"] == 24
    assert set(saved["member_accuracy"]["test"]) == {"cnn", "mean", "gru", "ngram"}
    assert set(saved["member_weights"]) == {"cnn", "mean", "gru", "ngram", "class_bias"}
    # Two class words per text make the three classes easy.
    assert saved["test_accuracy"] >= 0.9, saved["test_accuracy"]
    assert "out_of_domain_accuracy" not in saved  # Only for negative/positive models.


def test_keras_file_reloads_with_the_same_outputs(tiny_run):
    import keras

    import layers  # noqa: F401 - registers the layers

    config, _ = tiny_run
    model = keras.models.load_model(os.path.join(config.out, "model.keras"))
    loaded = tf.saved_model.load(os.path.join(config.out, "saved_model"))
    texts = ["we had pizza and soup", "the team scored a goal", ""]
    keras_probabilities = models.probabilities_of(model(tf.constant(texts))).numpy()
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), keras_probabilities, atol=1e-5)
    assert [s.decode() for s in served["label"].numpy()[:2]] == ["food", "sport"]


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
    keras_probabilities = models.probabilities_of(model(tf.constant(texts))).numpy()
    served = loaded.signatures["serving_default"](text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(served, keras_probabilities, atol=1e-5)
    one_by_one = [loaded.signatures["serving_default"](text=tf.constant([t]))["probabilities"].numpy()[0]
                  for t in texts[:5] + texts[-4:]]
    np.testing.assert_allclose(one_by_one, served[list(range(5)) + list(range(96, 100))], atol=1e-5)


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
    expected = models.probabilities_of(model(tf.constant(["happy smile love", "tennis match"]))).numpy()
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


def test_serving_an_empty_batch(serving_function):
    out = serving_function(text=tf.constant([], dtype=tf.string))
    assert out["probabilities"].shape == (0, 3) and out["label"].shape == (0,)


# ---------------------------------------------------------------------------
# Command line.


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tasks.sentiment", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


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
    assert os.path.exists(metrics["plot"])
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,anger\n")
    result = run_cli("evaluate", "--model", config.out, "--data", str(bad))
    assert result.returncode == 2 and "anger" in result.stderr


def test_unknown_model_is_a_clean_cli_error():
    result = run_cli("train", "--model", "bert")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--model" in result.stderr


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

