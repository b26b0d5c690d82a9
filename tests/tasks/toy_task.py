"""A tiny regression task that exercises every runner feature in seconds.

Run as ``python -m tests.tasks.toy_task train --out DIR``. The data are
shuffled every epoch, so resume is only exact if the runner replays the
shuffle order, and the model uses dropout, so reproducibility is only exact if
the seed reaches the weights and the noise.
"""

import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tasks.common.config import TrainConfig, option  # noqa: E402
from tasks.common.runner import Task, main  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ToyConfig(TrainConfig):
    epochs: int = option(6, "Enough epochs to interrupt in the middle.")
    batch_size: int = option(32, "Divides the training set, so every replica gets whole batches.")
    num_examples: int = option(256, "Small enough to train in a second per epoch.")
    epoch_delay: float = option(0.0, "Seconds to sleep after each epoch, to give tests time to kill the run.")
    learning_rate: float = option(0.01, "Large enough that the loss moves visibly in six epochs.")
    dropout: float = option(0.1, "Random noise in training that the seed must control.")
    shuffle: bool = option(True, "Reshuffle every epoch: resume must replay the order.")


class _Data:
    pass


class ToyTask(Task):
    name = "toy"
    description = "Tiny regression used to test the runner."
    config_class = ToyConfig
    demo_overrides = {"epochs": 2}
    headline_metric = "test_mse"
    resumable_options = ("epoch_delay",)  # a kill test slows the run down, then resumes it at full speed

    def build_data(self, config):
        import tensorflow as tf

        rng = np.random.default_rng(config.seed)
        x = rng.normal(size=(config.num_examples, 4)).astype("float32")
        y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None] + 0.1
        data = _Data()
        data.train = tf.data.Dataset.from_tensor_slices((x, y))
        if config.shuffle:
            data.train = data.train.shuffle(
                config.num_examples, seed=config.seed, reshuffle_each_iteration=True
            )
        data.train = data.train.batch(config.batch_size)
        data.validation = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(config.batch_size)
        data.test = (x[-64:], y[-64:])
        return data

    def build_model(self, config, data):
        import keras

        inputs = keras.Input((4,), name="features")
        hidden = keras.layers.Dense(16, activation="relu")(inputs)
        hidden = keras.layers.Dropout(config.dropout)(hidden)
        outputs = keras.layers.Dense(1)(hidden)
        model = keras.Model(inputs, outputs, name="toy")
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
        return model

    def callbacks(self, config, data, out_dir):
        import keras

        def on_epoch_end(epoch, logs):
            # A task metric added to the epoch logs must reach the history.
            logs["double_loss"] = 2.0 * logs["loss"]
            time.sleep(config.epoch_delay)

        return [keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)]

    def evaluate(self, model, data, config, out_dir):
        x, y = data.test
        prediction = model.predict(x, verbose=0)
        return {"test_mse": float(np.mean((prediction - y) ** 2))}

    def demo_inputs(self, config):
        return [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]

    def query_saved_model(self, loaded, inputs):
        outputs = loaded.serve(np.asarray(inputs, "float32")).numpy()
        return [f"{v:.3f}" for v in outputs[:, 0]]


TASK = ToyTask()

if __name__ == "__main__":
    raise SystemExit(main(TASK))
