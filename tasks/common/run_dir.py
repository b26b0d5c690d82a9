"""A run directory: written by ``train``, read by every other command of a task.

    runs/<task>/
      config.json           the options of the run (a resumed run must match them)
      checkpoints/          state.json + the newest epoch's weights (see tasks/common/fit.py)
      logs/                 TensorBoard events, written by the chief
      model.keras           the trained Keras model
      saved_model/          the serving SavedModel: raw input in, readable answer out
      metrics.json, history.csv, training_curves.png, demo.json, run.json, task plots

``RunDir.prepare(config, ...)`` starts (or resumes) a training run: it checks
a checkpoint's options against the new ones, seeds, and builds the strategy.
``RunDir.open(path, task)`` opens a finished run for ``evaluate``, ``predict``,
``detect`` and the like, with one error message when something is missing.
Everything is written atomically, so a kill at any instant leaves either the
old file or the new one, never half of one.
"""

import csv
import dataclasses
import io
import json
import os
import shutil
import time
from pathlib import Path

from tasks.common import strategy as strategies
from tasks.common.config import STRATEGIES, ConfigError

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"

# Options that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("out", "epochs", "verbose", "resume_changed", "strategy", "logical_cpus",
                     "early_stopping_patience")


# ---------------------------------------------------------------------------
# Atomic writes.


def atomic_write_text(path, text):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, value):
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def replace_directory(tmp_dir, final_dir):
    """Swaps ``tmp_dir`` in for ``final_dir`` with at most a moment without either."""
    final_dir = Path(final_dir)
    old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    shutil.rmtree(old, ignore_errors=True)


def log(task_name, message):
    print(f"[{task_name}] {message}", flush=True)


def changed_options(out, config, resumable=()):
    """{field: (checkpointed value, new value)} for options that differ from the run in ``out``.

    Empty when ``out`` holds no checkpoint. Resuming a checkpoint with other
    options would silently mix two trainings, so the caller refuses (or, for
    ``demo``, starts over) unless ``--resume-changed`` says it is meant.
    """
    out = Path(out)
    if not (out / CHECKPOINT_DIR / STATE_FILE).exists() or not (out / CONFIG_FILE).exists():
        return {}
    previous = json.loads((out / CONFIG_FILE).read_text())
    current = json.loads(json.dumps(config.to_dict(), default=_json_default))
    return {name: (previous.get(name), value) for name, value in current.items()
            if name not in RESUMABLE_CHANGES and name not in resumable and previous.get(name) != value}


# ---------------------------------------------------------------------------
# Plots and tables of the training history.


def write_history_csv(path, history):
    keys = sorted(history)
    rows = max((len(v) for v in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch"] + keys)
    for i in range(rows):
        writer.writerow([i + 1] + [history[k][i] if i < len(history[k]) else "" for k in keys])
    atomic_write_text(path, buffer.getvalue())


def plot_history(path, history, title):
    """Training curves: one panel per metric, training and validation together."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(k for k in history if not k.startswith("val_") and k != "learning_rate")
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label="training")
        if f"val_{name}" in history:
            axis.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"],
                      marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = Path(path).with_name(f".tmp-{os.getpid()}-{Path(path).name}")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------
# The run directory.


class RunDir:
    """One run directory; see the module docstring for its layout.

    Attributes set by :meth:`prepare` (training): ``config``, ``strategy``,
    ``is_chief`` and ``work_dir`` (the run directory on the chief, a scratch
    directory ``workers/<name>/`` on the other workers of a multi-worker job,
    so that only the chief writes the run's files).
    """

    def __init__(self, path, task_name, config=None):
        self.dir = Path(path)
        self.task_name = task_name
        self.config = config
        self.strategy = None
        self.is_chief, self.worker_name = True, "chief"
        self.work_dir = self.dir
        self.state = None  # the fit.RunState after fit_resumable
        self._saved_model_dir = None  # set by open() when given a SavedModel directory itself
        self.started = time.time()

    # Paths.
    @property
    def checkpoint_dir(self):
        return self.dir / CHECKPOINT_DIR

    @property
    def model_path(self):
        return self.dir / MODEL_FILE

    @property
    def saved_model_dir(self):
        return self._saved_model_dir or self.dir / SAVED_MODEL_DIR

    def log(self, message):
        log(self.task_name, message)

    # ------------------------------------------------------------------ training

    @classmethod
    def prepare(cls, config, task_name, *, resumable_options=(), restart_on_change=False,
                strategies_supported=STRATEGIES, strategy_reason=""):
        """Starts or resumes the run in ``config.out`` (default ``runs/<task>``).

        In this order: refuses a strategy the task does not support; splits the
        CPU into logical devices (before TensorFlow starts); compares the options
        with a checkpoint's (refusing a change unless ``--resume-changed``; a
        demo, ``restart_on_change``, starts over instead); seeds every generator;
        builds the strategy; writes ``config.json`` from the chief.
        """
        strategies.check_strategy(task_name, config.strategy, strategies_supported, strategy_reason)
        out = Path(config.out or os.path.join("runs", task_name))
        if not config.out:
            config = config.replace(out=str(out))
        run = cls(out, task_name, config)
        run.is_chief, run.worker_name = strategies.worker_identity()
        run.work_dir = out if run.is_chief else out / "workers" / run.worker_name
        run.work_dir.mkdir(parents=True, exist_ok=True)

        strategies.configure_devices(config)
        changes = changed_options(out, config, resumable_options)
        if changes:
            listed = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in sorted(changes.items()))
            if restart_on_change:
                run.log(f"options changed since the checkpoint in {out} ({listed}); starting over")
                if run.is_chief:
                    shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
            elif config.resume_changed:
                run.log(f"resuming {out} with changed options ({listed})")
            else:
                raise ConfigError(f"{out} holds a checkpoint trained with other options ({listed}). Run the "
                                  f"same command to resume it, add --resume-changed to continue it with the new "
                                  f"options, or choose another --out.")

        strategies.seed_everything(config)
        run.strategy = strategies.make_strategy(config)
        run.log(f"run directory {out} | strategy {config.strategy} "
                f"({run.strategy.num_replicas_in_sync} replica(s)) | seed {config.seed}")
        if run.is_chief:
            atomic_write_json(out / CONFIG_FILE, config.to_dict())
        return run

    def save_model(self, model):
        """Writes ``model.keras``; returns the model that evaluation and export should use.

        Under a distributed strategy that is a fresh copy loaded from the file,
        outside the strategy: evaluation and export run on one device of the
        chief, and a model still bound to ``multi_worker`` would wait for the
        other workers' collectives.
        """
        tmp = self.dir / f".tmp-{os.getpid()}-{MODEL_FILE}"
        model.save(str(tmp))
        os.replace(tmp, self.model_path)
        if self.config is not None and self.config.strategy != "default":
            import keras

            return keras.models.load_model(str(self.model_path))
        return model

    def export(self, export_fn):
        """Calls ``export_fn(directory)`` on a scratch directory, then swaps it in as ``saved_model/``."""
        self.log("exporting SavedModel")
        tmp = self.dir / f".tmp-{os.getpid()}-{SAVED_MODEL_DIR}"
        shutil.rmtree(tmp, ignore_errors=True)
        export_fn(tmp)
        replace_directory(tmp, self.saved_model_dir)
        return self.saved_model_dir

    def verify_saved_model(self, query, inputs):
        """Reloads ``saved_model/`` as a server would and asks it ``inputs``.

        ``query(loaded, inputs)`` returns one readable answer per input; the
        rows ``{"input", "output"}`` go to ``demo.json`` through :meth:`write`.
        Inputs that do not print (waveforms) come as a dict ``{description: input}``,
        and the descriptions are the rows' inputs.
        """
        import tensorflow as tf

        if isinstance(inputs, dict):
            descriptions, inputs = list(inputs), list(inputs.values())
        else:
            inputs = list(inputs)
            descriptions = [_describe(i) for i in inputs]
        if not inputs:
            return []
        loaded = tf.saved_model.load(str(self.saved_model_dir))
        answers = list(query(loaded, inputs))
        if len(answers) != len(inputs):
            raise RuntimeError(f"the SavedModel gave {len(answers)} answers for {len(inputs)} inputs")
        return [{"input": d, "output": str(a)} for d, a in zip(descriptions, answers)]

    def write(self, metrics, demo=(), parameters=None, headline_metric=None):
        """Writes metrics.json (with the history), history.csv, training_curves.png, demo.json and run.json."""
        history = self.state.history if self.state is not None else {}
        metrics = dict(metrics or {})
        metrics["epochs_trained"] = self.state.epoch if self.state is not None else 0
        metrics["history"] = history
        write_history_csv(self.dir / "history.csv", history)
        plot_history(self.dir / "training_curves.png", history, f"{self.task_name}: training curves")
        demo = list(demo)
        atomic_write_json(self.dir / "demo.json", demo)
        atomic_write_json(self.dir / "metrics.json", metrics)
        atomic_write_json(self.dir / "run.json", {"seconds": round(time.time() - self.started, 1),
                                                  "parameters": parameters,
                                                  "headline_metric": headline_metric})
        summary = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in metrics.items()
            if k != "history" and not isinstance(v, (dict, list))
            and (headline_metric is None or k == headline_metric)
        )
        self.log(f"metrics: {summary}")
        for row in demo:
            self.log(f"  {row['input']!r} -> {row['output']}")
        self.log(f"done in {time.time() - self.started:.0f} s; SavedModel at {self.saved_model_dir}")
        return metrics

    def finish_worker(self):
        """What a non-chief worker returns: it trained its share, the chief writes the results."""
        self.log(f"worker {self.worker_name} done")
        return {}

    # ------------------------------------------------------------------ reading

    @classmethod
    def open(cls, path, task_name, needs=(SAVED_MODEL_DIR,)):
        """Opens a finished run for reading: ``path`` is a run directory or its ``saved_model/``.

        ``needs`` names what the caller reads (``saved_model``, ``model.keras``,
        ``config.json``); anything missing is one ``ConfigError`` that says how
        to make it. A bare SavedModel directory opens too, with no config.
        """
        original = Path(path)
        run = cls(original, task_name)
        if (original / "saved_model.pb").exists():
            # A SavedModel directory: the saved_model/ of a run, or one on its own.
            run.dir = original.parent if original.name == SAVED_MODEL_DIR else original
            run._saved_model_dir = original
        missing = []
        for name in needs:
            target = run.saved_model_dir / "saved_model.pb" if name == SAVED_MODEL_DIR else run.dir / name
            if not target.exists():
                missing.append(name)
        if missing:
            raise ConfigError(f"{original} is not a finished {task_name} run: no {' or '.join(missing)} in it. "
                              f"Train one first with `python -m tasks.{task_name} train --out {original}`.")
        return run

    def read_config(self, config_class):
        """The run's config (the class's defaults where config.json is absent or lacks a field)."""
        path = self.dir / CONFIG_FILE
        if not path.exists():
            return config_class()
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not valid JSON ({error}); the run directory is damaged.") from None
        names = {f.name for f in dataclasses.fields(config_class)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names}
        return config_class(**values)

    def load_model(self):
        import keras

        return keras.models.load_model(str(self.model_path))

    def load_saved_model(self):
        import tensorflow as tf

        return tf.saved_model.load(str(self.saved_model_dir))


def _describe(value):
    if isinstance(value, (str, int, float)):
        return value
    return str(value)
