"""A tiny regression task that exercises every runner step in seconds.

Run as ``python -m tests.tasks.toy_task train --out DIR``. The data are
shuffled every epoch, so resume is only exact if the runner replays the
shuffle order, and the model uses dropout, so reproducibility is only exact if
the seed reaches the weights and the noise. ``train`` below has the shape of
every task's ``train.py``.
"""

import dataclasses
import json
import time

import numpy as np

from tasks.common.config import TrainConfig, option
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands, main

NAME = "toy"


@dataclasses.dataclass(frozen=True)
class ToyConfig(TrainConfig):
    epochs: int = option(6, "Enough epochs to interrupt in the middle.")
    batch_size: int = option(32, "Divides the training set, so every replica gets whole batches.")
    num_examples: int = option(256, "Small enough to train in a second per epoch.")
    epoch_delay: float = option(0.0, "Seconds to sleep after each epoch, to give tests time to kill the run.")
    learning_rate: float = option(0.01, "Large enough that the loss moves visibly in six epochs.")
    dropout: float = option(0.1, "Random noise in training that the seed must control.")
    shuffle: bool = option(True, "Reshuffle every epoch: resume must replay the order.")


@dataclasses.dataclass
class ToyData:
    train: object
    validation: object
    test: tuple


def build_data(config):
    import tensorflow as tf

    rng = np.random.default_rng(config.seed)
    x = rng.normal(size=(config.num_examples, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None] + 0.1
    train = tf.data.Dataset.from_tensor_slices((x, y))
    if config.shuffle:
        train = train.shuffle(config.num_examples, seed=config.seed, reshuffle_each_iteration=True)
    return ToyData(train=train.batch(config.batch_size),
                   validation=tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(config.batch_size),
                   test=(x[-64:], y[-64:]))


def build_model(config):
    import keras

    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.Dropout(config.dropout)(hidden)
    outputs = keras.layers.Dense(1)(hidden)
    model = keras.Model(inputs, outputs, name="toy")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    return model


def lifecycle_callback(config, record_path):
    """A callback that adds a task metric to the epoch logs and records how often each hook ran.

    Keras is imported here, not at the top, so that `--help` and bad arguments answer at once.
    """
    import keras

    class LifecycleCallback(keras.callbacks.Callback):
        """Adds a task metric to the epoch logs and records how often each callback hook ran."""

        HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_begin", "on_test_end", "on_epoch_end", "on_train_end")

        def __init__(self, config, record_path):
            super().__init__()
            self.config = config
            self.record_path = record_path
            self.calls = dict.fromkeys(self.HOOKS, 0)

        def on_train_begin(self, logs=None):
            self.calls["on_train_begin"] += 1

        def on_epoch_begin(self, epoch, logs=None):
            self.calls["on_epoch_begin"] += 1

        def on_train_batch_begin(self, batch, logs=None):
            self.calls["on_train_batch_begin"] += 1

        def on_train_batch_end(self, batch, logs=None):
            self.calls["on_train_batch_end"] += 1

        def on_test_begin(self, logs=None):
            self.calls["on_test_begin"] += 1

        def on_test_end(self, logs=None):
            self.calls["on_test_end"] += 1

        def on_epoch_end(self, epoch, logs=None):
            self.calls["on_epoch_end"] += 1
            # A task metric added to the epoch logs must reach the history.
            logs["double_loss"] = 2.0 * logs["loss"]
            time.sleep(self.config.epoch_delay)

        def on_train_end(self, logs=None):
            self.calls["on_train_end"] += 1
            self.record_path.write_text(json.dumps(self.calls))

    return LifecycleCallback(config, record_path)


def train(config, restart_on_change=False):
    run = RunDir.prepare(config, NAME, resumable_options=("epoch_delay",),  # a kill test slows a run, then resumes it
                         restart_on_change=restart_on_change)
    data = build_data(config)
    with run.strategy.scope():
        model = build_model(config)
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    callbacks = [lifecycle_callback(config, run.work_dir / "callbacks.json")]
    model = fit_resumable(model, run, data.train, data.validation, callbacks)
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    x, y = data.test
    metrics = {"test_mse": float(np.mean((model.predict(x, verbose=0) - y) ** 2))}
    run.export(lambda directory: model.export(str(directory), verbose=False))
    demo = run.verify_saved_model(
        lambda loaded, inputs: [f"{v:.3f}" for v in loaded.serve(np.asarray(inputs, "float32")).numpy()[:, 0]],
        [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_mse")


TASK = TaskCommands(name=NAME, description="Tiny regression used to test the runner.", config_class=ToyConfig,
                    train=train, demo_overrides={"epochs": 2})

if __name__ == "__main__":
    raise SystemExit(main(TASK))
