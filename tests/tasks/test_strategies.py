"""Every task under every strategy: one device, MirroredStrategy, MultiWorkerMirroredStrategy.

Each task trains at a tiny size in real processes: once on one device, once
mirrored over two logical CPUs, once as two workers on localhost. The
distributed runs must reach the one-device training loss within
``LOSS_TOLERANCE``, run the task's callbacks through the whole lifecycle
(date translation's exact-match callback needs ``on_train_begin``) and leave
TensorBoard events from the chief. A task that cannot train under a strategy
must refuse it at start with a message: word embeddings (their own sparse updates)
refuse both, sentiment refuses mirrored (Keras 3 cannot distribute its string inputs in fit).

The training runs take minutes, so they carry the ``strategies`` marker and
run only when asked: ``pytest -m strategies tests/tasks/test_strategies.py``.
The refusals are cheap and always run.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The final epoch's training loss of a distributed run, relative to one device. Replicas
# draw their own dropout noise and SpecAugment masks (the tiny runs below switch them off where
# they are options) and add up gradients in another order, so the runs agree closely but not to
# the last digit.
LOSS_TOLERANCE = 0.05


def _sentiment_csv(path):
    """Three classes of short texts, each with two of its class's words."""
    import numpy as np

    words = {"joy": "happy smile lovely".split(), "food": "pizza cheese bread".split(),
             "sport": "tennis goal match".split()}
    filler = "the a of and it was very quite".split()
    rng = np.random.default_rng(0)
    lines = ["text,label"]
    for i in range(96):
        label = list(words)[i % 3]
        lines.append(" ".join(list(rng.choice(filler, 4)) + list(rng.choice(words[label], 2))) + f",{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def task_arguments(task, tmp_path):
    """A tiny `train` command line of each task: seconds of training, a few of export."""
    common = ["--verbose", "0", "--epochs", "2"]
    if task == "date_translation":
        return common + ["--model", "attention", "--train-size", "256", "--validation-size", "64",
                         "--test-size", "32", "--batch-size", "64", "--beam-width", "2",
                         "--embedding-dim", "8", "--encoder-units", "8", "--decoder-units", "8",
                         "--attention-units", "8", "--stop-at-exact-match", "0", "--no-serving-jit-compile"]
    if task == "sentiment":
        return common + ["--data", str(_sentiment_csv(tmp_path / "texts.csv")), "--model", "cnn",
                         "--batch-size", "16", "--filters", "8", "--glove-words", "500",
                         "--sequence-length", "16", "--early-stopping-patience", "0", "--dropout", "0"]
    if task == "text_generation":
        return common + ["--units", "16", "--embedding-dim", "8", "--num-samples", "4",
                         "--early-stopping-patience", "0", "--batch-size", "256"]
    if task == "trigger_word":
        return common + ["--model", "streaming", "--num-train-clips", "16", "--num-validation-clips", "4",
                         "--num-test-clips", "4", "--validation-negative-minutes", "0.1",
                         "--test-negative-minutes", "0.1", "--clip-seconds", "3", "--crop-seconds", "0",
                         "--speakers-per-variant", "1", "--synthetic-voices", "0", "--batch-size", "8",
                         "--negative-words", "action,music", "--cache-dir", str(tmp_path / "clips"),
                         "--dropout", "0", "--spec-augment-time-masks", "0",
                         "--spec-augment-frequency-masks", "0"]
    if task == "speech_recognition":
        return common + ["--num-train-utterances", "32", "--num-validation-utterances", "8",
                         "--num-test-utterances", "4", "--synthetic-voices", "0", "--no-augment",
                         "--num-mel-bins", "16", "--conv-filters", "8", "--units", "8", "--num-layers", "1",
                         "--frequency-mask-bins", "4", "--time-masks", "0", "--frequency-masks", "0",
                         "--dropout", "0", "--batch-size", "8", "--warmup-steps", "0", "--beam-width", "2",
                         "--lm-order", "2", "--cache-dir", str(tmp_path / "utterances")]
    raise ValueError(task)


# (task, strategy) pairs that train; the others are refused at start (see the last test).
TRAINABLE = [(task, strategy) for task in ("date_translation", "sentiment", "speech_recognition", "text_generation",
                                           "trigger_word")
             for strategy in ("mirrored", "multi_worker") if (task, strategy) != ("sentiment", "mirrored")]
REFUSED = [("sentiment", "mirrored", "raw-string inputs"), ("word_embeddings", "mirrored", "sparse SGD"),
           ("word_embeddings", "multi_worker", "sparse SGD")]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train(task, strategy, out, arguments):
    """Runs `python -m tasks.<task> train` under ``strategy``; returns (metrics, output)."""
    command = [sys.executable, "-m", f"tasks.{task}", "train", "--out", str(out), "--strategy", strategy]
    command += arguments
    if strategy == "mirrored":
        command += ["--logical-cpus", "2"]
    if strategy != "multi_worker":
        result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return json.loads((Path(out) / "metrics.json").read_text()), result.stdout
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(command, cwd=ROOT, env=_env(TF_CONFIG=tf_config),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=900)[0])
        finally:
            worker.kill()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    return json.loads((Path(out) / "metrics.json").read_text()), outputs[0]


@pytest.fixture(scope="module")
def single_device_runs(tmp_path_factory):
    """One-device reference run of each task, trained on first use."""
    runs = {}

    def get(task):
        if task not in runs:
            directory = tmp_path_factory.mktemp(task)
            arguments = task_arguments(task, directory)
            runs[task] = (train(task, "default", directory / "default", arguments)[0], directory, arguments)
        return runs[task]

    return get


@pytest.fixture
def only_when_asked(request):
    if "strategies" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("trains every task three times (minutes); run with -m strategies")


@pytest.mark.strategies
@pytest.mark.parametrize("task, strategy", TRAINABLE)
def test_distributed_training_reaches_the_single_device_loss(task, strategy, single_device_runs,
                                                             only_when_asked):
    reference, directory, arguments = single_device_runs(task)
    out = directory / strategy
    metrics, output = train(task, strategy, out, arguments)
    assert "2 replica(s)" in output
    assert metrics["epochs_trained"] == reference["epochs_trained"] == 2
    loss, expected = metrics["history"]["loss"][-1], reference["history"]["loss"][-1]
    assert loss == pytest.approx(expected, rel=LOSS_TOLERANCE), (metrics["history"], reference["history"])
    # Task callbacks ran their whole lifecycle: their epoch metrics reached the history.
    assert set(metrics["history"]) == set(reference["history"])
    assert any((out / "logs").rglob("*tfevents*")), "no TensorBoard events from the chief"
    assert (out / "saved_model" / "saved_model.pb").exists()
    if strategy == "multi_worker":
        assert not (out / "workers" / "worker-1" / "logs").exists()
        assert not (out / "workers" / "worker-1" / "metrics.json").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("task, strategy, reason", REFUSED)
def test_unsupported_strategies_are_refused_at_start(task, strategy, reason, tmp_path):
    out = tmp_path / "run"
    env = _env(TF_CONFIG=json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                     "task": {"type": "worker", "index": 0}}))
    result = subprocess.run([sys.executable, "-m", f"tasks.{task}", "train", "--out", str(out),
                             "--strategy", strategy], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{task} cannot train with --strategy {strategy}" in result.stderr and reason in result.stderr
    assert "Supported strategies: default" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()  # refused before anything was written
