"""The shared task runner: one ``train`` for every task.

A task supplies hooks (data, model, evaluation, export, a few demo inputs) by
subclassing :class:`Task`; the runner gives it, without the task rewriting
any of it:

* a command line built from the task's config dataclass
  (``python -m tasks.<task> train --epochs 20 --batch-size 64``);
* a run directory (``--out DIR``) holding ``checkpoints/``, ``model.keras``,
  ``saved_model/``, TensorBoard ``logs/``, ``history.csv``, ``metrics.json``
  and plots;
* resume after an interruption, ``kill -9`` included: every completed epoch is
  checkpointed atomically (weights, optimizer state and history), and a run
  started again with the same ``--out`` continues from the last completed
  epoch, seeing the same data order it would have seen without the stop;
* ``tf.distribute`` strategies (``--strategy mirrored|multi_worker``);
* reproducibility: ``--seed`` fixes data and initial weights, and with
  ``--deterministic`` (the default) the same seed gives the same metrics.json.
"""

import csv
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from tasks.common.config import (
    ConfigError,
    TrainConfig,
    fail,
    parse_config,
)

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"


class Task:
    """Base class of a task; see ``tasks/date_translation/train.py`` for a full one."""

    name = "task"
    description = ""
    config_class = TrainConfig
    # Config overrides for `make demo`: a small model and data set that still
    # shows the task working end to end in a minute or two.
    demo_overrides = {}
    # The metric that the demo table and the README quote.
    headline_metric = None
    # Config fields (beyond --epochs and the like) that may change when a run is resumed.
    resumable_options = ()

    def build_data(self, config):
        """Returns an object with ``.train`` and ``.validation`` batched datasets."""
        raise NotImplementedError

    def build_model(self, config, data):
        """Returns a compiled ``keras.Model``; called inside the strategy scope."""
        raise NotImplementedError

    def callbacks(self, config, data, out_dir):
        return []

    def evaluate(self, model, data, config, out_dir):
        """Returns a JSON-able dict of metrics; may write plots into ``out_dir``."""
        return {}

    def export(self, model, data, config, export_dir):
        """Writes a SavedModel whose ``serving_default`` maps raw inputs to answers."""
        model.export(str(export_dir), verbose=False)

    def demo_inputs(self, config):
        return []

    def query_saved_model(self, loaded, inputs):
        """Readable answers from ``tf.saved_model.load(export_dir)`` for ``inputs``."""
        return []

    def commands(self):
        """Extra subcommands: name -> ``fn(argv) -> int``."""
        return {}


# ---------------------------------------------------------------------------
# Small file helpers: everything the runner writes is written atomically, so a
# kill at any instant leaves either the old file or the new one, never half.


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
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _replace_directory(tmp_dir, final_dir):
    """Swaps ``tmp_dir`` in for ``final_dir`` with at most a moment without either."""
    final_dir = Path(final_dir)
    old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    shutil.rmtree(old, ignore_errors=True)


def log(task_name, message):
    print(f"[{task_name}] {message}", flush=True)


# ---------------------------------------------------------------------------
# Environment: devices, seeds, strategy.


def configure_devices(config):
    """Splits the CPU into logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    if config.logical_cpus > 0:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * config.logical_cpus
            )
        except RuntimeError as error:
            raise ConfigError(f"--logical-cpus must be set before TensorFlow starts: {error}")


def make_strategy(config):
    import tensorflow as tf

    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("--strategy multi_worker needs the TF_CONFIG environment variable "
                              "describing the cluster (see the README).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_identity():
    """(is_chief, worker name) from TF_CONFIG; a single process is the chief."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type is None:
        return True, "chief"
    has_chief = "chief" in tf_config.get("cluster", {})
    is_chief = task_type == "chief" or (task_type == "worker" and index == 0 and not has_chief)
    return is_chief, f"{task_type}-{index}"


def seed_everything(config):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


# ---------------------------------------------------------------------------
# Checkpoints and resume.


class RunState:
    """What survives an interruption: completed epochs, history, early stopping."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.epoch = 0
        self.history = {}
        self.weights_file = None
        self.best_weights_file = None
        self.best_val_loss = None
        self.stopped_early = False
        self.random_states = {}

    @classmethod
    def load(cls, directory):
        state = cls(directory)
        path = state.directory / STATE_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            state.epoch = saved["epoch"]
            state.history = saved["history"]
            state.weights_file = saved.get("weights_file")
            state.best_weights_file = saved.get("best_weights_file")
            state.best_val_loss = saved.get("best_val_loss")
            state.stopped_early = saved.get("stopped_early", False)
            state.random_states = saved.get("random_states", {})
        return state

    def save(self):
        atomic_write_json(
            self.directory / STATE_FILE,
            {
                "epoch": self.epoch,
                "history": self.history,
                "weights_file": self.weights_file,
                "best_weights_file": self.best_weights_file,
                "best_val_loss": self.best_val_loss,
                "stopped_early": self.stopped_early,
                "random_states": self.random_states,
            },
        )


# Options that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("out", "epochs", "verbose", "resume_changed", "strategy", "logical_cpus",
                     "early_stopping_patience")


def changed_options(out, config, resumable=()):
    """{field: (checkpointed value, new value)} for options that differ from the run in ``out``.

    Empty when ``out`` holds no checkpoint. Resuming a checkpoint with other
    options would silently mix two trainings, so the caller refuses (or, for
    ``demo``, starts over) unless ``--resume-changed`` says it is meant.
    """
    out = Path(out)
    if not (out / CHECKPOINT_DIR / STATE_FILE).exists() or not (out / "config.json").exists():
        return {}
    previous = json.loads((out / "config.json").read_text())
    current = json.loads(json.dumps(config.to_dict(), default=_json_default))
    return {name: (previous.get(name), value) for name, value in current.items()
            if name not in RESUMABLE_CHANGES and name not in resumable and previous.get(name) != value}


def _save_weights_atomically(model, directory, name):
    tmp = directory / f".tmp-{os.getpid()}-{name}"
    model.save_weights(str(tmp))
    os.replace(tmp, directory / name)
    return name


def _make_resumable_checkpoint(keras):
    class ResumableCheckpoint(keras.callbacks.Callback):
        """Checkpoints each completed epoch atomically and decides early stopping.

        The weights file (which includes the optimizer state) is written first
        under a new name, then ``state.json`` is replaced to point at it, then
        the previous epoch's file is removed: a kill between any two steps
        leaves a consistent pair.
        """

        def __init__(self, state, patience):
            super().__init__()
            self.state = state
            self.patience = patience

        def on_epoch_end(self, epoch, logs=None):
            state = self.state
            for key, value in (logs or {}).items():
                state.history.setdefault(key, []).append(float(value))
            state.epoch = epoch + 1
            val_loss = (logs or {}).get("val_loss")
            improved = val_loss is not None and (
                state.best_val_loss is None or val_loss < state.best_val_loss
            )
            if improved:
                state.best_val_loss = float(val_loss)
            state.directory.mkdir(parents=True, exist_ok=True)
            previous, previous_best = state.weights_file, None
            state.weights_file = _save_weights_atomically(
                self.model, state.directory, f"epoch-{epoch + 1:04d}.weights.h5"
            )
            if improved and self.patience > 0:
                previous_best = state.best_weights_file
                state.best_weights_file = _save_weights_atomically(
                    self.model, state.directory, f"best-{epoch + 1:04d}.weights.h5"
                )
            if self.patience > 0 and val_loss is not None:
                losses = state.history["val_loss"]
                best_epoch = losses.index(min(losses))
                if len(losses) - 1 - best_epoch >= self.patience:
                    state.stopped_early = True
                    self.model.stop_training = True
            state.random_states = {
                path: [int(x) for x in keras.ops.convert_to_numpy(v).reshape(-1)]
                for path, v in _random_states(self.model).items()
            }
            state.save()
            for stale in (previous, previous_best):
                if stale and stale not in (state.weights_file, state.best_weights_file):
                    (state.directory / stale).unlink(missing_ok=True)

    return ResumableCheckpoint


def _restore(model, path):
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(path))


def _epoch_stream(dataset, completed_epochs, log_fn):
    """One endless stream of epochs, positioned after ``completed_epochs``.

    Fitting on ``dataset.repeat()`` with ``steps_per_epoch`` keeps one iterator
    for the whole run, so a seeded ``shuffle(reshuffle_each_iteration=True)``
    draws the same sequence of orders in one long run as in a run that was
    stopped and resumed: on resume the finished epochs are skipped, not
    re-drawn from the start of the seed stream.
    """
    import tensorflow as tf

    steps = int(dataset.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The training dataset is infinite; give it a finite length per epoch.")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        log_fn("counting training batches (the dataset does not know its length)")
        steps = int(dataset.reduce(0, lambda count, _: count + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    if steps == 0:
        raise ValueError("The training dataset is empty.")
    stream = dataset.repeat()
    if completed_epochs:
        stream = stream.skip(completed_epochs * steps)
    return stream, steps


def _random_states(model):
    """The seed-generator states (dropout noise) that weight files leave out."""
    return {
        v.path: v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")
    }


def _multi_worker_fit(model, strategy, log_fn):
    """``model.fit``'s signature, served by :func:`_fit_multi_worker`."""

    def fit(train_ds, validation_data, epochs, initial_epoch, steps_per_epoch, callbacks, **_):
        model.stop_training = False
        _fit_multi_worker(model, strategy, train_ds, validation_data, steps_per_epoch,
                          initial_epoch, epochs, callbacks, log_fn)

    return fit


def _fit_multi_worker(model, strategy, train_ds, val_ds, steps_per_epoch, initial_epoch, epochs,
                      callbacks, log_fn):
    """A plain epoch loop over ``model.train_step`` for MultiWorkerMirroredStrategy.

    Keras 3's ``fit`` fails under this strategy (keras-team/keras#20585: it
    reduces scalar logs along axis 0 across workers). The loop below runs the
    model's own ``train_step``/``test_step`` under ``strategy.run``, averages
    the logs over all replicas inside a ``tf.function`` (so every worker sees
    the same numbers and takes the same early-stopping decision), and calls
    the callbacks' epoch hooks.
    """
    import tensorflow as tf

    def reduce_logs(logs):
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    @tf.function
    def train_step(iterator):
        return reduce_logs(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(iterator):
        return reduce_logs(strategy.run(model.test_step, args=(next(iterator),)))

    for callback in callbacks:
        callback.set_model(model)
    train_iterator = iter(strategy.experimental_distribute_dataset(train_ds))
    for epoch in range(initial_epoch, epochs):
        started = time.time()
        for metric in model.metrics:
            metric.reset_state()
        for _ in range(steps_per_epoch):
            logs = train_step(train_iterator)
        logs = {k: float(v) for k, v in logs.items()}
        if val_ds is not None:
            for metric in model.metrics:
                metric.reset_state()
            val_steps = int(val_ds.cardinality())
            val_iterator = iter(strategy.experimental_distribute_dataset(val_ds))
            for _ in range(val_steps):
                val_logs = test_step(val_iterator)
            logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        log_fn(f"epoch {epoch + 1}/{epochs} ({time.time() - started:.1f} s): "
               + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break


# ---------------------------------------------------------------------------
# Plots and tables.


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
# The train command.


def train(task, config, restart_on_change=False):
    """Runs data, model, fit (resumable), evaluate, save, export; returns metrics."""
    started = time.time()
    out = Path(config.out or os.path.join("runs", task.name))
    if not config.out:
        config = config.replace(out=str(out))
    is_chief, worker_name = worker_identity()
    # Non-chief workers of a multi-worker job keep their own scratch directory
    # so that only the chief writes the run's files.
    work_dir = out if is_chief else out / "workers" / worker_name
    work_dir.mkdir(parents=True, exist_ok=True)

    configure_devices(config)
    import keras
    import numpy as np
    import tensorflow as tf

    changes = changed_options(out, config, task.resumable_options)
    if changes:
        listed = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in sorted(changes.items()))
        if restart_on_change:
            log(task.name, f"options changed since the checkpoint in {out} ({listed}); starting over")
            if is_chief:
                shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
        elif config.resume_changed:
            log(task.name, f"resuming {out} with changed options ({listed})")
        else:
            raise ConfigError(f"{out} holds a checkpoint trained with other options ({listed}). Run the same "
                              f"command to resume it, add --resume-changed to continue it with the new options, "
                              f"or choose another --out.")

    seed_everything(config)
    strategy = make_strategy(config)
    log(task.name, f"run directory {out} | strategy {config.strategy} "
                   f"({strategy.num_replicas_in_sync} replica(s)) | seed {config.seed}")
    if is_chief:
        atomic_write_json(out / "config.json", config.to_dict())

    # Data and model.
    log(task.name, "building data")
    data = task.build_data(config)
    with strategy.scope():
        model = task.build_model(config, data)
    log(task.name, f"model {model.name}: {model.count_params():,} parameters")

    train_ds, val_ds = data.train, getattr(data, "validation", None)
    if config.strategy == "multi_worker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds = train_ds.with_options(options)
        val_ds = val_ds.with_options(options) if val_ds is not None else None

    # Resume.
    state = RunState.load(out / CHECKPOINT_DIR)
    state.directory = work_dir / CHECKPOINT_DIR
    if state.weights_file:
        with strategy.scope():
            _restore(model, out / CHECKPOINT_DIR / state.weights_file)
        log(task.name, f"resumed after epoch {state.epoch} from {out / CHECKPOINT_DIR / state.weights_file}")
        for path, value in state.random_states.items():
            variable = _random_states(model).get(path)
            if variable is not None:
                variable.assign(np.asarray(value, dtype=variable.dtype).reshape(variable.shape))
    train_ds, steps_per_epoch = _epoch_stream(train_ds, state.epoch, lambda m: log(task.name, m))

    # Fit.
    ResumableCheckpoint = _make_resumable_checkpoint(keras)
    # Task callbacks come first: those that add metrics to the epoch logs
    # (e.g. exact match on decoded outputs) must do so before the checkpoint
    # records the history and TensorBoard writes it.
    callbacks = list(task.callbacks(config, data, work_dir)) + [
        ResumableCheckpoint(state, config.early_stopping_patience),
        keras.callbacks.TensorBoard(log_dir=str(work_dir / "logs")),
    ]
    if state.epoch < config.epochs and not state.stopped_early:
        log(task.name, f"training epochs {state.epoch + 1}..{config.epochs}")
        fit = model.fit
        if config.strategy == "multi_worker":
            callbacks = [c for c in callbacks if not isinstance(c, keras.callbacks.TensorBoard)]
            fit = _multi_worker_fit(model, strategy, lambda m: log(task.name, m))
        fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            initial_epoch=state.epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=config.verbose,
            # Tasks shuffle inside their tf.data pipelines, seeded.
            shuffle=False,
        )
    else:
        log(task.name, "training already complete; going on to evaluation")
    if state.stopped_early and state.best_weights_file:
        log(task.name, f"early stopping: restoring the best weights (val_loss {state.best_val_loss:.4f})")
        with strategy.scope():
            model.load_weights(str(state.directory / state.best_weights_file))

    if not is_chief:
        log(task.name, f"worker {worker_name} done")
        return {}

    # Save, evaluate, plot.
    tmp_model = out / f".tmp-{os.getpid()}-model.keras"
    model.save(str(tmp_model))
    os.replace(tmp_model, out / "model.keras")
    if config.strategy == "multi_worker":
        # Evaluation and export run on the chief alone; a model still bound to
        # the multi-worker strategy would wait for the other workers' collectives.
        model = keras.models.load_model(str(out / "model.keras"))
    log(task.name, "evaluating")
    metrics = dict(task.evaluate(model, data, config, out) or {})
    metrics["epochs_trained"] = state.epoch
    metrics["history"] = state.history
    write_history_csv(out / "history.csv", state.history)
    plot_history(out / "training_curves.png", state.history, f"{task.name}: training curves")

    # Export, then reload and query the SavedModel like a server would.
    log(task.name, "exporting SavedModel")
    export_dir = out / "saved_model"
    tmp_export = out / f".tmp-{os.getpid()}-saved_model"
    shutil.rmtree(tmp_export, ignore_errors=True)
    task.export(model, data, config, tmp_export)
    _replace_directory(tmp_export, export_dir)
    loaded = tf.saved_model.load(str(export_dir))
    inputs = list(task.demo_inputs(config))
    answers = list(task.query_saved_model(loaded, inputs)) if inputs else []
    demo = [{"input": _describe(i), "output": str(a)} for i, a in zip(inputs, answers)]
    atomic_write_json(out / "demo.json", demo)
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_json(out / "run.json", {"seconds": round(time.time() - started, 1),
                                         "parameters": int(model.count_params()),
                                         "headline_metric": task.headline_metric})

    headline = task.headline_metric
    summary = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if k != "history" and not isinstance(v, (dict, list)) and (headline is None or k == headline)
    )
    log(task.name, f"metrics: {summary}")
    for row in demo:
        log(task.name, f"  {row['input']!r} -> {row['output']}")
    log(task.name, f"done in {time.time() - started:.0f} s; SavedModel at {export_dir}")
    return metrics


def _describe(value):
    if isinstance(value, (str, int, float)):
        return value
    return str(value)


# ---------------------------------------------------------------------------
# Command line.


def _usage(task):
    lines = [f"usage: python -m tasks.{task.name} COMMAND [options]", "", task.description, "",
             "commands:",
             "  train     train, evaluate and export (see `train --help` for every config field)",
             "  demo      `train` with the small quickstart settings"]
    for name, function in sorted(task.commands().items()):
        doc = (function.__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<9} {doc[0] if doc else ''}")
    return "\n".join(lines)


def main(task, argv=None):
    """Entry point of ``python -m tasks.<task>``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage(task))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command in ("train", "demo"):
            defaults = task.demo_overrides if command == "demo" else None
            config = parse_config(task.config_class, rest, prog=f"python -m tasks.{task.name} {command}",
                                  defaults=defaults)
            # A demo is disposable: when its settings changed (a newer checkout), it starts over.
            train(task, config, restart_on_change=command == "demo")
            return 0
        commands = task.commands()
        if command not in commands:
            known = ", ".join(["train", "demo"] + sorted(commands))
            fail(f"unknown command {command!r} for task {task.name}. Known commands: {known}")
        return int(commands[command](rest) or 0)
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        print(f"\n[{task.name}] interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


__all__ = ["Task", "TrainConfig", "main", "train", "atomic_write_json", "atomic_write_text",
           "plot_history"]
