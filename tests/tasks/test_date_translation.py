"""The date translation task: decoding, serving graph, bad input, commands.

The default tests use tiny models (a run of the whole task takes well under a
minute on an idle machine); the accuracy figures live in the slow test and in
bench/date_translation.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from data import dates
from tasks.common.config import ConfigError
from tasks.date_translation.config import Config
from tasks.date_translation.export import DateTranslator, is_calendar_date, padded_batch_size, preprocess
from tasks.date_translation.model import (
    START_ID,
    AttentionDateModel,
    TransformerDateModel,
    build_model,
    decoder_inputs,
    load_model,
)
from tasks.date_translation.train import TASK, ExactMatchCallback, learning_rate_schedule

REPO = Path(__file__).resolve().parents[2]
TINY = dict(embedding_dim=8, encoder_units=8, decoder_units=8, attention_units=8, model_dim=16,
            num_heads=2, intermediate_dim=32, encoder_layers=1, decoder_layers=1)
SAMPLES = ["Saturday, May 9, 2018", "3rd of march 1979", "12.05.07", "05/03/1979", "", "hello world",
           "x" * 80, "  THE 1ST OF JANUARY 2000  ", "☃ 3 mai 1979"]


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="--model"):
        Config(model="rnn")
    with pytest.raises(ConfigError, match="multiple"):
        Config(model_dim=30, num_heads=4)
    with pytest.raises(ConfigError, match="--beam-width"):
        Config(beam_width=0)
    with pytest.raises(ConfigError, match="--warmup-steps"):
        Config(warmup_steps=-1)


def test_learning_rate_warms_up_then_decays_to_5_percent():
    config = Config(train_size=1000, batch_size=100, epochs=3, learning_rate=4e-3,
                    learning_rate_schedule="cosine", warmup_steps=10)
    schedule = learning_rate_schedule(config)
    rates = [float(schedule(step)) for step in (0, 5, 10, 20, 30)]
    assert rates[0] == pytest.approx(0.0, abs=1e-9)
    assert rates[1] == pytest.approx(2e-3, rel=1e-3)  # linear warmup
    assert rates[2] == pytest.approx(4e-3, rel=1e-3)  # the peak
    assert rates[2] > rates[3] > rates[4]
    assert rates[4] == pytest.approx(0.05 * 4e-3, rel=1e-3)  # 30 steps = 3 epochs: the floor
    assert learning_rate_schedule(config.replace(learning_rate_schedule="constant")) == 4e-3


class _ScriptedExactMatch(ExactMatchCallback):
    """Scores from a script instead of decoding, each after a pause that the clock must not count."""

    def __init__(self, scores, pause, **kwargs):
        super().__init__(dates.generate(4, "validation", seed=0), 32, **kwargs)
        self.scripted, self.pause = list(scores), pause

    def score(self):
        import time

        time.sleep(self.pause)
        return self.scripted.pop(0) if self.scripted else 0.5


def test_exact_match_checks_every_n_steps_and_stops_at_the_target():
    import time

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((64, 3), "float32"), np.zeros((64, 1), "float32")
    callback = _ScriptedExactMatch([0.1, 0.5, 0.2, 0.95], pause=0.2, stop_at=0.9, every_steps=3)
    started = time.perf_counter()
    model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[callback])  # 8 steps an epoch
    elapsed = time.perf_counter() - started
    # Checks at steps 3, 6, 9: the third reaches 0.9 and stops training in the second epoch.
    assert [c["step"] for c in callback.checks] == [3, 6, 8, 9]  # step 8: the end of epoch 1
    assert callback.steps == 9
    assert callback.reached["step"] == 9 and callback.reached["epoch"] == 2
    assert callback.reached["exact_match"] == 0.95
    # The training clock leaves out the time spent scoring.
    assert callback.train_seconds <= elapsed - 4 * 0.2
    assert callback.reached_at == callback.reached["wall_seconds"] <= callback.train_seconds


def test_padded_batch_size_buckets():
    sizes = tf.constant([0, 1, 8, 9, 16, 17, 1000, 1024, 2000])
    assert padded_batch_size(sizes).numpy().tolist() == [8, 8, 8, 16, 16, 32, 1024, 1024, 2048]


# ---------------------------------------------------------------------------
# The serving graph's preprocessing agrees with data.dates.


@pytest.fixture(scope="module")
def compiled_preprocess():
    return tf.function(lambda text: preprocess(text, 32), input_signature=[tf.TensorSpec([None], tf.string)])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=40), st.text(alphabet=" ,.-/0123456789aBcDmayMAY\t\n", max_size=45)),
                min_size=1, max_size=4))
def test_preprocess_in_graph_matches_python(compiled_preprocess, texts):
    ids, lengths = compiled_preprocess(tf.constant(texts))
    ids = ids.numpy()
    assert 1 <= ids.shape[1] <= 32
    for row, text in zip(range(len(texts)), texts):
        expected = dates.encode_input(text, 32)[: ids.shape[1]]
        assert ids[row].tolist() == expected, text
        assert int(lengths[row]) == len(dates.normalize(text))


def test_is_calendar_date():
    cases = {"2018-05-09": True, "2000-02-29": True, "1900-02-29": False, "2024-02-29": True,
             "2023-02-29": False, "2018-04-31": False, "2018-13-01": False, "2018-00-10": False,
             "1899-12-31": False, "2100-01-01": False, "20-18-0509": False, "----------": False}
    result = is_calendar_date(tf.constant(list(cases))).numpy().tolist()
    assert result == list(cases.values())


# ---------------------------------------------------------------------------
# The models own their decoding: step by step agrees with the teacher-forced model.


@pytest.fixture(scope="module", params=["attention", "transformer"])
def tiny_model(request):
    keras.utils.set_random_seed(1)
    config = Config(model=request.param, **TINY)
    return build_model(config), config


def test_incremental_decoding_matches_the_full_model(tiny_model):
    model, config = tiny_model
    pairs = dates.generate(16, "test", seed=4)
    inputs = tf.constant(np.array([dates.encode_input(p.human, 32) for p in pairs], "int32")[:, :28])
    greedy_ids, greedy_log_probs = model.decode(inputs, 1)
    # Teacher forcing on the greedy output must reproduce it step by step.
    logits = model([inputs, decoder_inputs(greedy_ids)])
    np.testing.assert_array_equal(np.argmax(logits, -1), greedy_ids)
    log_softmax = tf.nn.log_softmax(logits).numpy()
    chosen = np.take_along_axis(log_softmax, greedy_ids.numpy()[..., None], -1)[..., 0]
    np.testing.assert_allclose(greedy_log_probs, chosen.sum(1), rtol=1e-4, atol=1e-4)
    # Beam search scores its answer with the same model, and never does worse than greedy
    # by more than what a narrow beam can lose; at width 4 it usually does better.
    beam_ids, beam_log_probs = model.decode(inputs, 4)
    logits = model([inputs, decoder_inputs(beam_ids)])
    log_softmax = tf.nn.log_softmax(logits).numpy()
    chosen = np.take_along_axis(log_softmax, beam_ids.numpy()[..., None], -1)[..., 0]
    np.testing.assert_allclose(beam_log_probs, chosen.sum(1), rtol=1e-4, atol=1e-4)
    assert np.mean(beam_log_probs.numpy() >= greedy_log_probs.numpy() - 1e-4) >= 0.75


def test_teacher_forced_call_equals_decode_step_by_step(tiny_model):
    model, _ = tiny_model
    pairs = dates.generate(6, "test", seed=5)
    inputs = tf.constant(np.array([dates.encode_input(p.human, 24) for p in pairs], "int32"))
    # Random targets, not the model's own answers: every step is fed a token it did not choose.
    targets = np.random.default_rng(0).integers(0, 11, size=(6, dates.OUTPUT_LENGTH)).astype("int32")
    teacher_ids = decoder_inputs(tf.constant(targets)).numpy()
    logits = ops.convert_to_numpy(model([inputs, teacher_ids]))
    full_weights = ops.convert_to_numpy(model.attention_weights(inputs, targets))
    memory, state = model.encode(inputs)
    for step in range(dates.OUTPUT_LENGTH):
        step_logits, state, weights = model.decode_step(memory, state, teacher_ids[:, step], step,
                                                        return_attention=True)
        np.testing.assert_allclose(ops.convert_to_numpy(step_logits), logits[:, step], atol=1e-5, rtol=1e-5)
        weights = ops.convert_to_numpy(weights)
        weights = weights.mean(axis=1)[:, 0] if weights.ndim == 4 else weights  # heads of the Transformer
        np.testing.assert_allclose(weights, full_weights[:, step], atol=1e-6)
    assert teacher_ids[0, 0] == START_ID


def test_model_config_and_keras_file_round_trip(tiny_model, tmp_path):
    model, config = tiny_model
    expected_class = AttentionDateModel if config.model == "attention" else TransformerDateModel
    assert isinstance(model, expected_class)
    clone = expected_class.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    inputs = np.array([dates.encode_input("3rd of march 1979", 20), dates.encode_input("12.05.07", 20)], "int32")
    model.save(tmp_path / "model.keras")
    reloaded = load_model(tmp_path / "model.keras")
    assert type(reloaded) is expected_class and reloaded.get_config() == model.get_config()
    for beam_width in (1, 3):
        ids, log_probs = model.decode(inputs, beam_width)
        reloaded_ids, reloaded_log_probs = reloaded.decode(inputs, beam_width)
        np.testing.assert_array_equal(reloaded_ids, ids)
        np.testing.assert_allclose(reloaded_log_probs, log_probs, atol=1e-6)


def test_a_model_saved_before_the_model_classes_is_refused_clearly(tmp_path):
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_ids")
    decoder_ids = keras.Input((dates.OUTPUT_LENGTH,), dtype="int32", name="decoder_ids")
    embedded = keras.layers.Embedding(40, 4)(decoder_ids)
    keras.Model([encoder_ids, decoder_ids], keras.layers.Dense(11)(embedded), name="date_attention").save(
        tmp_path / "model.keras")
    with pytest.raises(ValueError, match="not a date translation model.*train the run again"):
        load_model(tmp_path / "model.keras")


def test_xla_serving_matches_the_plain_graph(tiny_model):
    model, config = tiny_model
    texts = tf.constant(SAMPLES)
    plain = DateTranslator(model, config.sequence_length, 2, jit_compile=False)
    compiled = DateTranslator(model, config.sequence_length, 2, jit_compile=True)
    for beam_width in (1, 2):
        expected, served = plain.translate(texts, beam_width), compiled.translate(texts, beam_width)
        assert served["date"].numpy().tolist() == expected["date"].numpy().tolist()
        np.testing.assert_allclose(served["confidence"], expected["confidence"], atol=1e-5)


def test_attention_weights_are_distributions_over_real_characters(tiny_model):
    model, _ = tiny_model
    inputs = np.array([dates.encode_input("3 may 1979", 16)], "int32")
    ids, _ = model.decode(inputs, 1)
    weights = np.asarray(model.attention_weights(inputs, ids))
    assert weights.shape == (1, 10, 16)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-4)
    assert np.all(weights[..., len("3 may 1979"):] < 1e-6)  # padding gets no attention


# ---------------------------------------------------------------------------
# A whole run through the shared runner: train, evaluate, export, commands.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from tasks.common.runner import train

    out = tmp_path_factory.mktemp("date_run")
    config = Config(out=str(out), train_size=256, validation_size=64, test_size=96, epochs=1,
                    batch_size=64, beam_width=2, verbose=0, **TINY)
    metrics = train(TASK, config)
    return out, metrics, config


def test_run_writes_metrics_plots_and_a_saved_model(run_dir):
    out, metrics, config = run_dir
    for name in ("model.keras", "metrics.json", "attention.png", "training_curves.png", "demo.json"):
        assert (out / name).exists(), name
    assert metrics["test_count"] == 96
    # The figure is the share of test dates the saved model's greedy search gets right, counted here.
    model = load_model(out / "model.keras")
    pairs = dates.generate(96, "test", seed=config.seed)
    ids, _ = model.decode(np.array([dates.encode_input(p.human, config.sequence_length) for p in pairs], "int32"))
    right = [dates.decode_output(row) == pair.iso for row, pair in zip(ids.numpy(), pairs)]
    assert metrics["test_exact_match"] == pytest.approx(np.mean(right))
    assert set(metrics["test_exact_match_by_family"]) <= set(dates.FAMILIES)
    assert "val_loss" in metrics["history"]
    loaded = tf.saved_model.load(str(out / "saved_model"))
    assert set(loaded.signatures) == {"serving_default", "greedy", "beam"}
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["text"]
    assert spec.dtype == tf.string and spec.shape.as_list() == [None]


RELOAD_SCRIPT = """
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
result = {}
for name in ("serving_default", "greedy", "beam"):
    out = loaded.signatures[name](text=tf.constant(texts, tf.string))
    result[name] = {"date": [d.decode() for d in out["date"].numpy()],
                    "confidence": out["confidence"].numpy().tolist(),
                    "dtypes": [out["date"].dtype.name, out["confidence"].dtype.name]}
print(json.dumps(result))
"""


def test_saved_model_in_a_fresh_process_matches_the_keras_model(run_dir):
    out, _, config = run_dir
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(out / "saved_model"), json.dumps(SAMPLES)],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    served = json.loads(completed.stdout.strip().splitlines()[-1])
    model = keras.models.load_model(str(out / "model.keras"))
    translator = DateTranslator(model, config.sequence_length, config.beam_width)
    for name, beam_width in (("serving_default", 1), ("greedy", 1), ("beam", config.beam_width)):
        expected = translator.translate(tf.constant(SAMPLES), beam_width)
        assert served[name]["dtypes"] == ["string", "float32"]
        assert served[name]["date"] == [d.decode() for d in expected["date"].numpy()]
        np.testing.assert_allclose(served[name]["confidence"], expected["confidence"].numpy(), atol=1e-5)
    # The documented bad-input policy: empty and too-long inputs get confidence 0.
    confidence = served["serving_default"]["confidence"]
    assert confidence[SAMPLES.index("")] == 0.0
    assert confidence[SAMPLES.index("x" * 80)] == 0.0


@pytest.fixture(scope="module")
def serving(run_dir):
    out, _, _ = run_dir
    return tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=40), st.just(""),
                          st.text(alphabet="0123456789/.-, ", max_size=200)), min_size=1, max_size=5))
def test_serving_never_fails_on_any_string(serving, texts):
    outputs = serving(text=tf.constant(texts, tf.string))
    answers = outputs["date"].numpy()
    confidences = outputs["confidence"].numpy()
    assert answers.shape == confidences.shape == (len(texts),)
    for answer, confidence in zip(answers, confidences):
        assert len(answer) == 10 and set(answer.decode()) <= set(dates.OUTPUT_CHARACTERS)
        assert 0.0 <= confidence <= 1.0


def test_empty_batch(serving):
    outputs = serving(text=tf.constant([], tf.string))
    assert outputs["date"].shape == (0,)


def test_translate_command(run_dir, capsys, tmp_path):
    out, _, _ = run_dir
    from tasks.common.runner import main

    listing = tmp_path / "dates.txt"
    listing.write_text("3 may 1979\n12.05.07\n")
    plot = tmp_path / "attention.png"
    status = main(TASK, ["translate", "--model", str(out), "Saturday, May 9, 2018", "hello",
                         "--file", str(listing), "--threshold", "1.01", "--decoding", "beam", "--attention-plot", str(plot)])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    # Threshold above 1: every answer is flagged as low confidence.
    assert all("low confidence" in line for line in lines)
    assert all(len(line.split("\t")[0]) == 10 for line in lines)
    assert plot.exists() and plot.stat().st_size > 1000


def test_evaluate_and_generate_commands(run_dir, serving, capsys, tmp_path):
    out, _, _ = run_dir
    from tasks.common.runner import main

    data = tmp_path / "test.tsv"
    assert main(TASK, ["generate", "--split", "test", "--size", "40", "--out", str(data)]) == 0
    capsys.readouterr()
    assert main(TASK, ["evaluate", "--model", str(out), "--data", str(data)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 40
    # The SavedModel's own answers to the generated file, counted here.
    pairs = dates.read_tsv(data)
    answers = serving(text=tf.constant([p.human for p in pairs]))["date"].numpy()
    assert result["exact_match"] == pytest.approx(np.mean([a.decode() == p.iso for a, p in zip(answers, pairs)]))
    assert sum(v["count"] for v in result["by_family"].values()) == 40


# ---------------------------------------------------------------------------
# The accuracy figure (minutes of training): `make test-slow`.


@pytest.mark.slow
@pytest.mark.parametrize("model_kind", ["transformer", "attention"])
def test_reaches_99_9_percent_exact_match(tmp_path, model_kind):
    from tasks.common.runner import train

    # The settings bench/date_translation.py measured for each model, trained to the end of the schedule.
    settings_by_kind = {"attention": {}, "transformer": dict(batch_size=128, learning_rate=5e-3, epochs=3, warmup_steps=100)}
    metrics = train(TASK, Config(out=str(tmp_path / model_kind), model=model_kind, stop_at_exact_match=0.0, verbose=0,
                                 **settings_by_kind[model_kind]))
    assert metrics["test_count"] == 10000
    assert metrics["test_exact_match"] >= 0.999
    assert min(metrics["test_exact_match_by_family"].values()) >= 0.99
