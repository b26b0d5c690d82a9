"""Date translation, read top to bottom: data, model, exact-match callback, then :func:`train`.

    python -m tasks.date_translation train --out runs/dates [--model attention|transformer]

Data are deterministic pairs from ``data.dates``, batched with teacher-forcing
decoder inputs; the model is ``model.py``'s; a callback measures free-running
exact match on the validation set every few hundred steps and stops at the
target; :func:`train` then evaluates (``evaluate.py``) and exports
(``export.py``) through the shared run-directory steps (``tasks/common``).
"""

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from data import dates
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands
from tasks.date_translation import DESCRIPTION
from tasks.date_translation.config import Config
from tasks.date_translation.model import build_model, decoder_inputs


@dataclasses.dataclass
class DateData:
    train: tf.data.Dataset  # ((encoder_ids, decoder_ids), target_ids), batched
    validation: tf.data.Dataset
    train_pairs: list
    validation_pairs: list
    test_pairs: list


def encode_pairs(pairs, sequence_length):
    """(encoder ids (n, sequence_length), target ids (n, 10)) as int32 arrays."""
    inputs = np.zeros((len(pairs), sequence_length), "int32")
    targets = np.zeros((len(pairs), dates.OUTPUT_LENGTH), "int32")
    for row, pair in enumerate(pairs):
        inputs[row] = dates.encode_input(pair.human, sequence_length)
        targets[row] = dates.encode_output(pair.iso)
    return inputs, targets


def make_dataset(pairs, config, shuffle):
    inputs, targets = encode_pairs(pairs, config.sequence_length)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        # Seeded and reshuffled each epoch; the runner replays the reshuffles on resume.
        dataset = dataset.shuffle(len(pairs), seed=config.seed, reshuffle_each_iteration=True)
    # Training drops the last partial batch: one batch shape, so XLA compiles the training step once.
    dataset = dataset.batch(config.batch_size, drop_remainder=shuffle and len(pairs) >= config.batch_size)
    dataset = dataset.map(lambda x, y: ((x, decoder_inputs(y)), y), num_parallel_calls=1)
    return dataset.prefetch(2)


def build_data(config):
    train_pairs = dates.generate(config.train_size, "train", seed=config.seed)
    validation_pairs = dates.generate(config.validation_size, "validation", seed=config.seed)
    test_pairs = dates.generate(config.test_size, "test", seed=config.seed)
    return DateData(
        train=make_dataset(train_pairs, config, shuffle=True),
        validation=make_dataset(validation_pairs, config, shuffle=False),
        train_pairs=train_pairs,
        validation_pairs=validation_pairs,
        test_pairs=test_pairs,
    )


def learning_rate_schedule(config):
    """Adam's learning rate: constant, or linear warmup then cosine decay to 5% over ``epochs``."""
    if config.learning_rate_schedule == "constant":
        return config.learning_rate
    steps_per_epoch = max(1, config.train_size // config.batch_size)  # the last partial batch is dropped
    warmup_steps = min(config.warmup_steps, config.epochs * steps_per_epoch - 1)
    if warmup_steps <= 0:
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=0.05)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=config.epochs * steps_per_epoch - warmup_steps, alpha=0.05,
        warmup_target=config.learning_rate, warmup_steps=warmup_steps)


def compile_model(model, config):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(config)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
    )
    return model


def exact_match(predicted_ids, target_ids):
    return float(np.mean(np.all(np.asarray(predicted_ids) == np.asarray(target_ids), axis=1)))


class ExactMatchCallback(keras.callbacks.Callback):
    """Free-running greedy exact match on held-out pairs, with a training clock.

    Scores the model every ``every_steps`` training steps (0: only at the end
    of each epoch) and at the end of every epoch; adds ``val_exact_match`` and
    ``train_seconds`` to the epoch logs and stops training once ``stop_at`` is
    reached (0 disables). Teacher-forced accuracy overstates what decoding
    gets; this is the number that matters.

    The clock counts training only: wall and CPU seconds of this process from
    the start of ``fit`` (XLA compilation and tracing included), without the
    time spent scoring here. ``reached`` records the step and seconds at which
    ``stop_at`` was first reached, ``checks`` every score.
    """

    def __init__(self, pairs, sequence_length, stop_at=0.0, every_steps=0, jit_compile=False):
        super().__init__()
        self.inputs, self.targets = encode_pairs(pairs, sequence_length)
        self.stop_at = stop_at
        self.every_steps = every_steps
        self.jit_compile = jit_compile
        self.train_seconds = 0.0
        self.train_cpu_seconds = 0.0
        self.steps = 0
        self.reached = None  # {"step", "epoch", "wall_seconds", "cpu_seconds", "exact_match"}
        self.checks = []
        self._last = None  # (step, score) of the latest check
        self._decode = None  # traced once, reused at every check

    @property
    def reached_at(self):
        """Training seconds when ``stop_at`` was first reached (None before)."""
        return self.reached["wall_seconds"] if self.reached else None

    def _start_clock(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def _stop_clock(self):
        self.train_seconds += time.perf_counter() - self._wall
        self.train_cpu_seconds += time.process_time() - self._cpu

    def on_train_begin(self, logs=None):
        self._epoch = 0
        self._start_clock()

    def on_train_end(self, logs=None):
        self._stop_clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def score(self):
        """Greedy exact match of the model on the held-out pairs."""
        if self._decode is None:
            self._decode = tf.function(lambda x: self.model.decode(x, 1), jit_compile=self.jit_compile,
                                       reduce_retracing=True)
        return exact_match(decoded_ids(self._decode, self.inputs), self.targets)

    def _check(self):
        if self._last is not None and self._last[0] == self.steps:
            return self._last[1]
        self._stop_clock()
        score = self.score()
        self._last = (self.steps, score)
        self.checks.append({"step": self.steps, "wall_seconds": self.train_seconds,
                            "cpu_seconds": self.train_cpu_seconds, "exact_match": score})
        if self.stop_at and score >= self.stop_at:
            if self.reached is None:
                self.reached = dict(self.checks[-1], epoch=self._epoch + 1)
            self.model.stop_training = True
        self._start_clock()
        return score

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.every_steps and self.steps % self.every_steps == 0:
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        score = self._check()
        if logs is not None:
            logs["val_exact_match"] = score
            logs["train_seconds"] = self.train_seconds


def decoded_ids(decode, inputs, batch_size=2000):
    """``decode`` (a compiled ``model.decode``) over ``inputs`` in batches -> ids (n, 10)."""
    ids = [decode(tf.constant(inputs[start:start + batch_size]))[0].numpy()
           for start in range(0, len(inputs), batch_size)]
    return np.concatenate(ids) if ids else np.zeros((0, dates.OUTPUT_LENGTH), "int32")


NAME = "date_translation"
# `make demo`: a small attention model that still gets every demo date right in about a minute.
DEMO_OVERRIDES = {
    "model": "attention",
    "train_size": 12000,
    "validation_size": 500,
    "test_size": 1000,
    "epochs": 8,
    "batch_size": 256,
    "learning_rate": 8e-3,
}
DEMO_INPUTS = ["Saturday, May 9, 2018", "3rd of march 1979", "12.05.07", "05/03/1979", "hello world"]


def query_saved_model(loaded, texts):
    """Readable answers of the exported SavedModel for raw date strings."""
    outputs = loaded.signatures["serving_default"](text=tf.constant(texts, tf.string))
    return [
        f"{date.decode()} (confidence {confidence:.2f})"
        for date, confidence in zip(outputs["date"].numpy(), outputs["confidence"].numpy())
    ]


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a date translator into ``config.out``; returns the metrics."""
    from tasks.date_translation.evaluate import evaluate_model
    from tasks.date_translation.export import export_model

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change)
    run.log("building data")
    data = build_data(config)
    with run.strategy.scope():
        model = compile_model(build_model(config), config)
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    exact_match_callback = ExactMatchCallback(
        data.validation_pairs, config.sequence_length, stop_at=config.stop_at_exact_match,
        every_steps=config.exact_match_every_steps, jit_compile=config.serving_jit_compile)
    model = fit_resumable(model, run, data.train, data.validation, callbacks=[exact_match_callback])
    if not run.is_chief:
        return run.finish_worker()
    model = run.save_model(model)

    run.log("evaluating")
    metrics = evaluate_model(model, data.test_pairs, config, run.dir)
    run.export(lambda directory: export_model(model, config, directory))
    demo = run.verify_saved_model(query_saved_model, DEMO_INPUTS)
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="test_exact_match")


def commands():
    from tasks.date_translation.error_analysis import error_analysis_command
    from tasks.date_translation.evaluate import evaluate_command, generate_command, translate_command

    return {"translate": translate_command, "evaluate": evaluate_command, "generate": generate_command,
            "error-analysis": error_analysis_command}


TASK = TaskCommands(name=NAME, description=DESCRIPTION, config_class=Config, train=train,
                    demo_overrides=DEMO_OVERRIDES, commands=commands)
