"""Resumable fitting: where a run survives ``kill -9`` and continues exactly.

:func:`fit_resumable` is the one call a task's ``train.py`` makes to train.
What makes a resumed run identical to an uninterrupted one lives here:

* :class:`ResumableCheckpoint` writes, at the end of every epoch, the weights
  (with the optimizer state) under a new name, then ``state.json`` (epoch,
  history, early stopping, dropout seed-generator states) pointing at them,
  then removes every weights file it no longer names; a kill between any two
  steps leaves a consistent pair (and the next epoch removes what it left).
* :func:`epoch_stream` fits on one endless stream of epochs positioned after
  the completed ones: ``dataset.repeat()``, so a seeded reshuffling pipeline
  replays the same orders, or, for a task that gives a function of the epoch
  index, that function's dataset of each epoch in turn.
* :func:`restore` loads the weights and the seed-generator states back.

Under ``--strategy multi_worker``, :func:`fit_multi_worker` replaces
``model.fit`` (which fails under that strategy in Keras 3) with a plain loop
that runs the same callback lifecycle.
"""

import json
import os
import time
from pathlib import Path

from tasks.common.run_dir import STATE_FILE, atomic_write_json
from tasks.common.strategy import shard_by_data


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


def _save_weights_atomically(model, directory, name):
    tmp = directory / f".tmp-{os.getpid()}-{name}"
    model.save_weights(str(tmp))
    os.replace(tmp, directory / name)
    return name


def random_states(model):
    """The seed-generator states (dropout noise) that weight files leave out."""
    return {
        v.path: v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")
    }


def _make_resumable_checkpoint():
    import keras

    class ResumableCheckpoint(keras.callbacks.Callback):
        """Checkpoints each completed epoch atomically and decides early stopping."""

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
            state.weights_file = _save_weights_atomically(
                self.model, state.directory, f"epoch-{epoch + 1:04d}.weights.h5"
            )
            if improved and self.patience > 0:
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
                for path, v in random_states(self.model).items()
            }
            state.save()
            # Every weights file the state no longer names goes, including one left by a run killed between
            # saving its state and removing the file before it.
            keep = {state.weights_file, state.best_weights_file}
            for stale in (*state.directory.glob("epoch-*.weights.h5"), *state.directory.glob("best-*.weights.h5")):
                if stale.name not in keep:
                    stale.unlink(missing_ok=True)

    return ResumableCheckpoint


def restore(model, state, checkpoint_dir):
    """Loads the newest epoch's weights (with the optimizer) and the dropout seed states."""
    import numpy as np

    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(Path(checkpoint_dir) / state.weights_file))
    for path, value in state.random_states.items():
        variable = random_states(model).get(path)
        if variable is not None:
            variable.assign(np.asarray(value, dtype=variable.dtype).reshape(variable.shape))


def epoch_stream(dataset, completed_epochs, log_fn):
    """One endless stream of epochs, positioned after ``completed_epochs``; returns (stream, steps).

    ``dataset`` is one epoch's ``tf.data.Dataset``, or a function from the
    epoch index (an int64 scalar tensor, counted from 0) to that epoch's
    dataset.

    A function of the epoch is fed its index by ``tf.data`` itself, so each
    epoch's data depend only on its index: not on how many iterators were
    opened before (Keras peeks a batch from an extra one under a distribution
    strategy), and a resumed run starts at its next epoch without drawing the
    finished ones again.

    A plain dataset is fitted as ``dataset.repeat()`` with ``steps_per_epoch``,
    which keeps one iterator for the whole run, so a seeded
    ``shuffle(reshuffle_each_iteration=True)`` draws the same sequence of
    orders in one long run as in a run that was stopped and resumed: on resume
    the finished epochs are skipped, not re-drawn from the start of the seed stream.
    """
    import tensorflow as tf

    per_epoch = dataset if callable(dataset) else None
    if per_epoch is not None:
        dataset = per_epoch(tf.constant(0, tf.int64))
    steps = int(dataset.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The training dataset is infinite; give it a finite length per epoch.")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        log_fn("counting training batches (the dataset does not know its length)")
        steps = int(dataset.reduce(0, lambda count, _: count + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    if steps == 0:
        raise ValueError("The training dataset is empty.")
    if per_epoch is not None:
        return tf.data.Dataset.counter(completed_epochs).flat_map(per_epoch), steps
    stream = dataset.repeat()
    if completed_epochs:
        stream = stream.skip(completed_epochs * steps)
    return stream, steps


def fit_resumable(model, run, train, validation=None, callbacks=()):
    """Fits ``model`` on ``train`` for ``run.config.epochs``, resuming ``run``'s checkpoint.

    ``train`` is one epoch's dataset or a function of the epoch index (see
    :func:`epoch_stream`).

    ``callbacks`` are the task's own; they run before the checkpoint and
    TensorBoard, so metrics they add to the epoch logs (e.g. exact match of
    decoded outputs) reach the history and the event files. Afterwards, if
    early stopping fired, the best epoch's weights are restored. Sets
    ``run.state`` (epochs, history) and returns the model.
    """
    import keras

    config = run.config

    state = RunState.load(run.checkpoint_dir)
    # Non-chief workers checkpoint into their scratch directory.
    state.directory = run.work_dir / "checkpoints"
    run.state = state
    if state.weights_file:
        with run.strategy.scope():
            restore(model, state, run.checkpoint_dir)
        run.log(f"resumed after epoch {state.epoch} from {run.checkpoint_dir / state.weights_file}")
    train, steps_per_epoch = epoch_stream(train, state.epoch, run.log)
    if config.strategy == "multi_worker":
        train, validation = shard_by_data(train), shard_by_data(validation)

    callbacks = list(callbacks) + [_make_resumable_checkpoint()(state, config.early_stopping_patience)]
    if run.is_chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.dir / "logs")))
    if state.epoch < config.epochs and not state.stopped_early:
        run.log(f"training epochs {state.epoch + 1}..{config.epochs}")
        fit = model.fit
        if config.strategy == "multi_worker":
            fit = _multi_worker_fit(model, run.strategy, run.log)
        fit(
            train,
            validation_data=validation,
            epochs=config.epochs,
            initial_epoch=state.epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=config.verbose,
            # Tasks shuffle inside their tf.data pipelines, seeded.
            shuffle=False,
        )
    else:
        run.log("training already complete; going on to evaluation")
    if state.stopped_early and state.best_weights_file:
        run.log(f"early stopping: restoring the best weights (val_loss {state.best_val_loss:.4f})")
        with run.strategy.scope():
            model.load_weights(str(state.directory / state.best_weights_file))
    return model


# ---------------------------------------------------------------------------
# The multi-worker loop.


def _multi_worker_fit(model, strategy, log_fn):
    """``model.fit``'s signature, served by :func:`fit_multi_worker`."""

    def fit(train, validation_data, epochs, initial_epoch, steps_per_epoch, callbacks, **_):
        fit_multi_worker(model, strategy, train, validation_data, steps_per_epoch, initial_epoch,
                         epochs, callbacks, log_fn)

    return fit


def fit_multi_worker(model, strategy, train, validation, steps_per_epoch, initial_epoch, epochs,
                     callbacks, log_fn):
    """A plain epoch loop over ``model.train_step`` for MultiWorkerMirroredStrategy.

    Keras 3's ``fit`` fails under this strategy (keras-team/keras#20585: it
    reduces scalar logs along axis 0 across workers). This loop runs the
    model's own ``train_step``/``test_step`` under ``strategy.run``, averages
    the logs over all replicas inside a ``tf.function`` (so every worker sees
    the same numbers and takes the same early-stopping decision), and drives
    the callbacks through a ``CallbackList`` in the order ``fit`` does:
    train begin, epoch begin, train batch begin/end, test begin, test batch
    begin/end, test end, epoch end, train end.
    """
    import keras
    import tensorflow as tf

    def reduce_logs(logs):
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    @tf.function
    def train_step(iterator):
        return reduce_logs(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(iterator):
        return reduce_logs(strategy.run(model.test_step, args=(next(iterator),)))

    def as_floats(logs):
        return {k: float(v) for k, v in logs.items()}

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=False, add_progbar=False, model=model,
        verbose=0, epochs=epochs, steps=steps_per_epoch)
    validation_steps = _num_batches(validation) if validation is not None else 0
    model.stop_training = False
    train_iterator = iter(strategy.experimental_distribute_dataset(train))
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        started = time.time()
        for metric in model.metrics:
            metric.reset_state()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            logs = as_floats(train_step(train_iterator))
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        logs = dict(logs)
        if validation is not None:
            for metric in model.metrics:
                metric.reset_state()
            callback_list.on_test_begin()
            val_logs = {}
            val_iterator = iter(strategy.experimental_distribute_dataset(validation))
            for step in range(validation_steps):
                callback_list.on_test_batch_begin(step)
                val_logs = as_floats(test_step(val_iterator))
                callback_list.on_test_batch_end(step, val_logs)
            callback_list.on_test_end(val_logs)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        log_fn(f"epoch {epoch + 1}/{epochs} ({time.time() - started:.1f} s): "
               + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def _num_batches(dataset):
    """Every worker must run the same number of steps, so a dataset of unknown length is counted once."""
    import tensorflow as tf

    steps = int(dataset.cardinality())
    if steps < 0:
        steps = int(dataset.reduce(0, lambda count, _: count + 1)) if steps == tf.data.UNKNOWN_CARDINALITY else 0
    return steps
