"""Date translation, read top to bottom: data, model, exact-match callback, then :func:`train`.

    python -m tasks.date_translation train --out runs/dates [--model attention|transformer]

Data are deterministic examples from ``data.date_strings`` (``data.py``), batched with teacher-forcing
decoder inputs; the model is ``model.py``'s; a callback measures free-running
exact match on the validation set every few hundred steps and stops at the
target; :func:`train` then evaluates (``evaluate.py``) and exports
(``export.py``) through the shared run-directory steps (``tasks/common``).
"""

import time

import keras
import numpy as np
import tensorflow as tf

from tasks.common.config import ConfigError
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands
from tasks.date_translation import DESCRIPTION
from tasks.date_translation.config import Config
from tasks.date_translation.data import OUTPUT_LENGTH, build_data, encode_pairs
from tasks.date_translation.model import build_model, load_model, rule_limit


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

    def __init__(self, pairs, sequence_length, stop_at=0.0, every_steps=0, jit_compile=False, not_a_date_above=None):
        super().__init__()
        # The answers, not the training targets: decoding under the not-a-date rule is what is served.
        self.inputs, self.targets = encode_pairs(pairs, sequence_length, readings=False)
        self.not_a_date_above = not_a_date_above
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
            self._decode = tf.function(lambda x: self.model.decode(x, 1, not_a_date_above=self.not_a_date_above),
                                       jit_compile=self.jit_compile,
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
    return np.concatenate(ids) if ids else np.zeros((0, OUTPUT_LENGTH), "int32")


NAME = "date_translation"
# `make demo`: a small run over every family that gets every demo string right in under four minutes.
DEMO_OVERRIDES = {
    "model": "attention",
    "train_size": 64000,
    "validation_size": 500,
    "test_size": 1000,
    "epochs": 8,
    "batch_size": 256,
    "learning_rate": 8e-3,
    # The small demo stops as soon as it is right on its validation strings.
    "stop_at_exact_match": 0.999,
}
DEMO_INPUTS = ["Saturday, May 9, 2018", "2019-04-17T10:00:00Z", "Wed, 17 Apr 2019 13:51:39 +0000", "05/03/1979",
               "May 2014", "hello world"]


def query_saved_model(loaded, texts):
    """Readable answers of the exported SavedModel for raw date strings."""
    outputs = loaded.signatures["serving_default"](text=tf.constant(texts, tf.string))
    return [
        f"{iso.decode() or 'not a date'} (confidence {confidence:.2f})"
        for iso, confidence in zip(outputs["iso"].numpy(), outputs["confidence"].numpy())
    ]


def start_from(model, directory):
    """Sets ``model``'s weights to those of the run in ``directory`` (``--init-from``).

    The two models must have the same layers and weight shapes; otherwise a
    ConfigError names the first weight that differs.
    """
    start = load_model(RunDir.open(directory, NAME, needs=("model.keras",)).model_path)
    ours, theirs = model.weights, start.weights
    if type(start) is not type(model) or len(ours) != len(theirs):
        raise ConfigError(f"--init-from {directory}: that run's model ({start.name}, {len(theirs)} weights) "
                          f"is not this one ({model.name}, {len(ours)} weights); use the same model options")
    for mine, other in zip(ours, theirs):
        if tuple(mine.shape) != tuple(other.shape):
            raise ConfigError(f"--init-from {directory}: weight {mine.path} has shape {tuple(other.shape)} "
                              f"there and {tuple(mine.shape)} here; use the same model options")
    model.set_weights(start.get_weights())
    return model


def train(config, restart_on_change=False):
    """Trains, evaluates and exports a date translator into ``config.out``; returns the metrics."""
    from tasks.date_translation.evaluate import evaluate_model
    from tasks.date_translation.export import export_model

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change)
    run.log("building data")
    data = build_data(config)
    with run.strategy.scope():
        model = compile_model(build_model(config), config)
        if config.init_from:
            start_from(model, config.init_from)
            run.log(f"weights from {config.init_from}")
    run.log(f"model {model.name}: {model.count_params():,} parameters")
    exact_match_callback = ExactMatchCallback(
        data.validation_pairs, config.sequence_length, stop_at=config.stop_at_exact_match,
        every_steps=config.exact_match_every_steps, jit_compile=config.serving_jit_compile,
        not_a_date_above=rule_limit(config.not_a_date_above))
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
