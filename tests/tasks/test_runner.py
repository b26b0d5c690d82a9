"""The shared task runner, exercised through the toy task in real processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOY = [sys.executable, "-m", "tests.tasks.toy_task"]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _run(args, check=True, **kwargs):
    result = subprocess.run(TOY + args, cwd=ROOT, capture_output=True, text=True,
                            env=kwargs.pop("env", _env()), timeout=300, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _metrics(out):
    return json.loads((Path(out) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
    """One default two-epoch run (seed 0), shared by the tests that only read it or start it again."""
    out = tmp_path_factory.mktemp("toy") / "run"
    result = _run(["train", "--out", str(out), "--epochs", "2", "--verbose", "0"])
    return out, result


@pytest.fixture(scope="module")
def reference_without_noise(tmp_path_factory):
    """One device, no dropout, no reshuffling: the run the distributed strategies must reproduce."""
    out = tmp_path_factory.mktemp("toy") / "single"
    _run(["train", "--out", str(out)] + NOISELESS)
    return out


# Without dropout and reshuffling the distributed and one-device runs see the same numbers in the
# same order, so any difference is the strategy's own (the distributed copy of a shuffled dataset
# draws its own order).
NOISELESS = ["--epochs", "3", "--verbose", "0", "--dropout", "0", "--no-shuffle"]


@pytest.mark.e2e
def test_train_writes_every_artifact(two_epoch_run):
    out, result = two_epoch_run
    for name in ("model.keras", "saved_model/saved_model.pb", "metrics.json", "history.csv",
                 "training_curves.png", "config.json", "demo.json", "checkpoints/state.json"):
        assert (out / name).exists(), name
    assert any((out / "logs").rglob("*tfevents*")), "no TensorBoard events"
    metrics = _metrics(out)
    assert metrics["epochs_trained"] == 2 and len(metrics["history"]["loss"]) == 2
    history = metrics["history"]
    assert history["double_loss"] == [2.0 * loss for loss in history["loss"]]
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    assert "[toy] done" in result.stdout
    demo = json.loads((out / "demo.json").read_text())
    assert len(demo) == 2 and all(row["output"] for row in demo)


@pytest.mark.e2e
def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    _run(["train", "--out", str(reference), "--epochs", "6", "--verbose", "0"])

    out = tmp_path / "killed"
    state = out / "checkpoints" / "state.json"
    process = subprocess.Popen(
        TOY + ["train", "--out", str(out), "--epochs", "6", "--verbose", "0",
               "--epoch-delay", "1.5"],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
                break
            if process.poll() is not None:
                pytest.fail("the run ended before it could be killed")
            time.sleep(0.1)
        else:
            pytest.fail("no checkpoint appeared")
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    completed = json.loads(state.read_text())["epoch"]
    assert 2 <= completed < 6
    assert not (out / "metrics.json").exists()
    # What a kill between writing state.json and removing the epoch before leaves (whether this kill hit that
    # moment is chance): a weights file the state no longer names.
    checkpoints = out / "checkpoints"
    current = json.loads(state.read_text())["weights_file"]
    (checkpoints / "epoch-0000.weights.h5").write_bytes((checkpoints / current).read_bytes())

    result = _run(["train", "--out", str(out), "--epochs", "6", "--verbose", "0"])
    assert f"resumed after epoch {completed}" in result.stdout
    resumed, uninterrupted = _metrics(out), _metrics(reference)
    assert resumed["history"] == uninterrupted["history"]
    assert resumed["test_mse"] == uninterrupted["test_mse"]
    # Only the newest epoch's weights are kept.
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch-*")) == ["epoch-0006.weights.h5"]


@pytest.mark.e2e
def test_finished_run_started_again_does_not_retrain(two_epoch_run):
    out, _ = two_epoch_run
    first = (out / "metrics.json").read_text()
    result = _run(["train", "--out", str(out), "--epochs", "2", "--verbose", "0"])
    assert "training already complete" in result.stdout
    assert (out / "metrics.json").read_text() == first


@pytest.mark.e2e
def test_same_seed_same_metrics_other_seed_other_metrics(two_epoch_run, tmp_path):
    # The shared run has the default seed, 0; the same seed given by name must repeat it.
    runs = {"a": (two_epoch_run[0] / "metrics.json").read_text()}
    for name, seed in (("b", 0), ("c", 4)):
        _run(["train", "--out", str(tmp_path / name), "--epochs", "2", "--seed", str(seed),
              "--verbose", "0"])
        runs[name] = (tmp_path / name / "metrics.json").read_text()
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


@pytest.mark.e2e
def test_early_stopping_stops_and_restores_best_weights(tmp_path):
    out = tmp_path / "run"
    # A learning rate this large makes the validation loss climb after the
    # first epochs, so patience 1 must stop the run well before epoch 30.
    result = _run(["train", "--out", str(out), "--epochs", "30", "--learning-rate", "0.9",
                   "--early-stopping-patience", "1", "--verbose", "0"])
    metrics = _metrics(out)
    losses = metrics["history"]["val_loss"]
    assert metrics["epochs_trained"] < 30
    assert losses.index(min(losses)) == len(losses) - 2
    assert "restoring the best weights" in result.stdout


@pytest.mark.e2e
def test_mirrored_strategy_on_two_logical_cpus_matches_single_device(reference_without_noise, tmp_path):
    result = _run(["train", "--out", str(tmp_path / "mirrored"), "--strategy", "mirrored",
                   "--logical-cpus", "2"] + NOISELESS)
    assert "2 replica(s)" in result.stdout
    single, mirrored = _metrics(reference_without_noise), _metrics(tmp_path / "mirrored")
    assert mirrored["test_mse"] == pytest.approx(single["test_mse"], rel=1e-4)
    assert mirrored["history"]["loss"] == pytest.approx(single["history"]["loss"], rel=1e-4)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.e2e
def test_multi_worker_strategy_with_two_workers_matches_single_device(reference_without_noise, tmp_path):
    single_dir = reference_without_noise
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    out = tmp_path / "multi"
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(
            TOY + ["train", "--out", str(out), "--strategy", "multi_worker"] + NOISELESS,
            cwd=ROOT, env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        ))
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300)[0])
        finally:
            worker.kill()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
    assert "2 replica(s)" in outputs[0]
    single, multi = _metrics(single_dir), _metrics(out)
    assert multi["test_mse"] == pytest.approx(single["test_mse"], rel=1e-4)
    # Both workers ran every callback hook as often as `fit` runs it on one device.
    fit_calls = json.loads((single_dir / "callbacks.json").read_text())
    assert fit_calls["on_train_begin"] == 1 and fit_calls["on_train_batch_end"] == 3 * 256 // 32
    assert json.loads((out / "callbacks.json").read_text()) == fit_calls
    assert json.loads((out / "workers" / "worker-1" / "callbacks.json").read_text()) == fit_calls
    assert multi["history"]["double_loss"] == [2.0 * loss for loss in multi["history"]["loss"]]
    # Only the chief writes the run's files and TensorBoard events; the other worker keeps scratch space.
    assert (out / "saved_model").exists()
    assert any((out / "logs").rglob("*tfevents*")), "no TensorBoard events from the chief"
    assert not (out / "workers" / "worker-1" / "metrics.json").exists()
    assert not (out / "workers" / "worker-1" / "logs").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--epochs", "many"], "invalid int value"),
        (["train", "--no-such-field", "1"], "unrecognized arguments"),
        (["train", "--strategy", "tpu"], "Invalid value for --strategy"),
        (["train", "--batch-size", "0"], "Expected a positive integer"),
        (["fly"], "unknown command 'fly'"),
    ],
)
def test_bad_invocations_exit_2_with_a_message_and_no_traceback(args, message):
    result = _run(args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_config_fields_with_their_comments():
    result = _run(["train", "--help"])
    text = " ".join(result.stdout.split())  # argparse wraps long help lines
    assert "--epoch-delay" in text
    assert "give tests time to kill the run" in text
    assert "--deterministic" in result.stdout and "--no-deterministic" in result.stdout


def test_tasks_listing_and_unknown_task():
    listing = subprocess.run([sys.executable, "-m", "tasks"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0
    task_dirs = [p.parent.name for p in (ROOT / "tasks").glob("*/__main__.py")]
    for name in task_dirs:
        assert name in listing.stdout
    bad = subprocess.run([sys.executable, "-m", "tasks", "demo", "--only", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown task" in bad.stderr and "Traceback" not in bad.stderr


def test_demo_table_quotes_the_task_headline_metric():
    from tasks.__main__ import _headline

    metrics = {"test_count": 1000, "test_exact_match": 0.957, "history": {}}
    assert _headline(metrics, "test_exact_match") == "test_exact_match=0.957"
    # Without a named headline, a test metric is preferred over anything else.
    assert _headline({"loss": 0.5, "test_mse": 0.25}) == "test_mse=0.25"


@pytest.mark.parametrize("task", ["date_translation", "sentiment", "text_generation", "trigger_word", "word_embeddings"])
def test_every_task_prints_its_help(task, capsys):
    """`train --help` must print every field's comment; a '%' in a comment once crashed argparse."""
    import importlib

    from tasks.common.config import field_help, parse_config

    config_class = importlib.import_module(f"tasks.{task}.config").Config
    with pytest.raises(SystemExit) as exit_info:
        parse_config(config_class, ["--help"], prog=f"python -m tasks.{task} train")
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, comment in field_help(config_class).items():
        assert "--" + name.replace("_", "-") in text
        assert " ".join(comment.split())[:30] in text


@pytest.mark.e2e
def test_resuming_with_changed_options_is_refused_unless_asked(tmp_path):
    out = tmp_path / "run"
    _run(["train", "--out", str(out), "--epochs", "1", "--verbose", "0"])
    # More epochs is how a finished run is extended: allowed.
    extended = _run(["train", "--out", str(out), "--epochs", "2", "--verbose", "0"])
    assert "resumed after epoch 1" in extended.stdout
    # Another learning rate would mix two trainings: exit 2, one line naming the option, no traceback.
    refused = _run(["train", "--out", str(out), "--epochs", "3", "--learning-rate", "0.05", "--verbose", "0"],
                   check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "learning_rate" in refused.stderr and "--resume-changed" in refused.stderr
    assert json.loads((out / "config.json").read_text())["learning_rate"] != 0.05
    resumed = _run(["train", "--out", str(out), "--epochs", "3", "--learning-rate", "0.05", "--resume-changed",
                    "--verbose", "0"])
    assert "resumed after epoch 2" in resumed.stdout and "changed options" in resumed.stdout
    assert _metrics(out)["epochs_trained"] == 3


@pytest.mark.e2e
def test_demo_starts_over_when_its_settings_changed(tmp_path):
    out = tmp_path / "demo"
    _run(["demo", "--out", str(out), "--verbose", "0"])
    again = _run(["demo", "--out", str(out), "--batch-size", "16", "--verbose", "0"])
    assert "starting over" in again.stdout and "resumed" not in again.stdout
    assert len(_metrics(out)["history"]["loss"]) == 2


def test_run_dir_open_names_what_is_missing_and_reads_a_saved_model_dir(tmp_path):
    from tasks.common.config import ConfigError
    from tasks.common.run_dir import RunDir
    from tests.tasks.toy_task import ToyConfig

    with pytest.raises(ConfigError, match=r"no saved_model in it\. Train one first with "
                                          r"`python -m tasks\.toy train --out "):
        RunDir.open(tmp_path / "missing", "toy")
    run_dir = tmp_path / "run"
    (run_dir / "saved_model").mkdir(parents=True)
    (run_dir / "saved_model" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConfigError, match="no model.keras or config.json"):
        RunDir.open(run_dir, "toy", needs=("saved_model", "model.keras", "config.json"))
    (run_dir / "config.json").write_text(json.dumps({"epochs": 3, "num_examples": 8, "not_a_field": 1}))
    # The run's saved_model/ opens the run itself; its config keeps defaults for absent fields.
    run = RunDir.open(run_dir / "saved_model", "toy", needs=("saved_model", "config.json"))
    assert run.dir == run_dir and run.saved_model_dir == run_dir / "saved_model"
    assert run.read_config(ToyConfig) == ToyConfig(epochs=3, num_examples=8)
    (run_dir / "config.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        run.read_config(ToyConfig)


@pytest.mark.parametrize("task, command", [
    ("date_translation", ["translate", "3 may 1979"]),
    ("sentiment", ["predict", "a fine film"]),
    ("text_generation", ["sample"]),
    ("trigger_word", ["detect", "clip.wav"]),
])
@pytest.mark.e2e
def test_every_task_command_reports_a_missing_run_the_same_way(task, command, tmp_path):
    missing = tmp_path / "no_run"
    result = subprocess.run([sys.executable, "-m", f"tasks.{task}", command[0], "--model", str(missing)]
                            + command[1:], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"{missing} is not a finished {task} run" in result.stderr
    assert f"python -m tasks.{task} train --out {missing}" in result.stderr


def test_epoch_stream_feeds_a_function_of_the_epoch_its_index():
    """Each epoch of a per-epoch pipeline depends only on its index, not on iterators opened before."""
    import tensorflow as tf

    from tasks.common.fit import epoch_stream

    opened = []

    def epoch_rows(epoch):
        opened.append(int(epoch))  # a Python counter would shift with every extra iterator
        rng = tf.random.Generator.from_seed(int(epoch) * 7 + 1)
        yield from rng.uniform((3, 2)).numpy()

    def per_epoch(epoch):
        dataset = tf.data.Dataset.from_generator(epoch_rows, args=(epoch,),
                                                 output_signature=tf.TensorSpec((2,), tf.float32))
        return dataset.apply(tf.data.experimental.assert_cardinality(3)).batch(2)

    def batches(stream, count):
        return [batch.numpy().tolist() for batch in stream.take(count)]

    def epoch_batches(epoch):
        return [batch.numpy().tolist() for batch in per_epoch(tf.constant(epoch, tf.int64))]

    stream, steps = epoch_stream(per_epoch, 0, print)
    assert steps == 2
    next(iter(stream))  # what Keras does before fitting under a strategy
    whole_run = batches(stream, 6)
    assert whole_run == epoch_batches(0) + epoch_batches(1) + epoch_batches(2)
    assert whole_run[:2] != whole_run[2:4]
    # A run resumed after two epochs starts at the third, without drawing the first two.
    opened.clear()
    resumed, _ = epoch_stream(per_epoch, 2, print)
    assert batches(resumed, 2) == whole_run[4:] and opened == [2]
