"""Date translation: accuracy, time to 99.9%, serving throughput, against the course model.

One run, one process, the same data for everyone:

1. data: ``--train-size`` training pairs, ``--validation-size`` (10,000)
   validation pairs (for the time-to-target curves), 10,000 held-out test pairs (every format family);
2. our models (``--models``: ``kind[:field=value...]``, default the config's
   model, then the other kind) train until greedy exact match on the
   validation set, checked every ``--check-every`` steps, reaches ``--target``
   (99.9%) or ``--max-epochs`` run out; then exact match on the 10,000 test
   pairs, overall and by format family (greedy and beam search), the attention
   heat map, ``model.keras`` and the SavedModel under ``--out/<model>``;
3. the course model (Bi-LSTM 32, additive attention Dense(10, tanh) ->
   Dense(1, relu), post-attention LSTM 64, softmax; one-hot inputs; Adam
   lr 0.005, batch 100; no feedback of previous outputs; Keras's default
   ``jit_compile="auto"``, which is no XLA on a CPU-only machine) trains on
   the same pairs for ``--course-epochs``, checked the same way; its time to
   its best validation exact match is the reference (its time to the target
   is reported too) (``--course-xla`` also trains it with XLA, for
   information);
4. serving throughput, batch 2,000: our SavedModel (strings in, strings and
   confidences out, preprocessing and decoding included) against the course
   model's compiled forward pass (``tf.function``) on one-hot inputs, timed
   alternately, median of ``--rounds`` rounds.

Times are training seconds only, from the start of ``fit`` (tracing and XLA
compilation included, validation decoding excluded), as wall time and as this
process's CPU time; the machine is shared with other jobs, so wall times are
noisy, CPU times steadier. Results go to ``--out/results.json`` and, with
``--results``, to the ``## Date translation`` section of bench/RESULTS.md.

    .venv/bin/python bench/date_translation.py --results bench/RESULTS.md
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from data import dates  # noqa: E402
from tasks.date_translation.config import Config  # noqa: E402
from tasks.date_translation.evaluate import ATTENTION_PLOT, evaluate_model  # noqa: E402
from tasks.date_translation.export import export_model  # noqa: E402
from tasks.date_translation.model import build_model  # noqa: E402
from data.date_strings.generator import Example  # noqa: E402
from data.date_strings.targets import Answer  # noqa: E402
from tasks.date_translation.data import make_dataset  # noqa: E402
from tasks.date_translation.train import ExactMatchCallback, compile_model  # noqa: E402

COURSE_OUTPUT_VOCABULARY_SIZE = len(dates.OUTPUT_CHARACTERS)  # the course model writes yyyy-mm-dd itself
# The course model reads fixed-length one-hot inputs; the course's formats need 32 characters (the
# date model's sequence_length is sized for dates in the wild, and it serves in length buckets).
COURSE_SEQUENCE_LENGTH = 32

SECTION = "## Date translation"


def as_examples(pairs):
    """The course's pairs as the date model reads them: order MDY (the course's own), the ISO date as answer."""
    return [Example(p.human, "MDY", Answer(p.iso), p.family) for p in pairs]


def log(message):
    print(f"[bench dates {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sampled(checks, count=12):
    """About ``count`` of the checks, evenly spaced, the last one included (for the log)."""
    picked = checks[::max(1, len(checks) // count)]
    return picked + [c for c in checks[-1:] if c not in picked]


# ---------------------------------------------------------------------------
# Ours.


def train_ours(kind, config, train_pairs, validation_pairs, test_pairs, out, target, max_epochs,
               stop_at_target=True, check_every=50):
    keras.utils.set_random_seed(config.seed)
    config = config.replace(model=kind, epochs=max_epochs or config.epochs)
    model = compile_model(build_model(config), config)
    train_pairs, validation_pairs, test_pairs = map(as_examples, (train_pairs, validation_pairs, test_pairs))
    train_ds = make_dataset(train_pairs, config, shuffle=True)
    # Greedy validation exact match every `check_every` steps, outside the training clock.
    exact = ExactMatchCallback(validation_pairs, config.sequence_length, stop_at=target if stop_at_target else 0.0,
                               every_steps=check_every, jit_compile=config.serving_jit_compile)
    logs = model.fit(train_ds, epochs=config.epochs, verbose=0, callbacks=[exact]).history
    history = [{k: float(v[epoch]) for k, v in logs.items()} for epoch in range(len(logs["loss"]))]
    reached = exact.reached
    if reached is None:  # trained to the end without stopping: first check at or above the target
        reached = next((dict(c, epoch=None) for c in exact.checks if c["exact_match"] >= target), None)
    for check in sampled(exact.checks):
        log(f"{kind} step {check['step']}: val exact {check['exact_match']:.4f} "
            f"train {check['wall_seconds']:.1f}s wall / {check['cpu_seconds']:.1f}s cpu")
    out.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_model(model, test_pairs, config, out)
    model.save(str(out / "model.keras"))
    export_model(model, config, out / "saved_model")
    log(f"{kind}: reached {reached}; test exact match {metrics['test_exact_match']:.4%} (greedy), "
        f"{metrics.get('test_exact_match_beam', float('nan')):.4%} (beam {config.beam_width})")
    return {"kind": kind, "parameters": int(model.count_params()), "history": history, "checks": exact.checks,
            "reached": reached, "steps": exact.steps, "test": metrics, "config": config.to_dict()}


# ---------------------------------------------------------------------------
# The course model (its published architecture and hyperparameters).


def build_course_model(input_length, input_vocabulary, jit_compile="auto"):
    """The course's Bi-LSTM + one_step_attention + post-attention LSTM, in Keras layers."""
    n_a, n_s = 32, 64
    repeator = keras.layers.RepeatVector(input_length)
    concatenator = keras.layers.Concatenate(axis=-1)
    densor1 = keras.layers.Dense(10, activation="tanh")
    densor2 = keras.layers.Dense(1, activation="relu")
    activator = keras.layers.Softmax(axis=1)
    dotor = keras.layers.Dot(axes=1)
    post_activation_lstm = keras.layers.LSTM(n_s, return_state=True)
    output_layer = keras.layers.Dense(COURSE_OUTPUT_VOCABULARY_SIZE, activation="softmax")

    inputs = keras.Input((input_length, input_vocabulary), name="one_hot")
    s0 = keras.Input((n_s,), name="s0")
    c0 = keras.Input((n_s,), name="c0")
    s, c = s0, c0
    a = keras.layers.Bidirectional(keras.layers.LSTM(n_a, return_sequences=True))(inputs)
    outputs = []
    for _ in range(dates.OUTPUT_LENGTH):
        s_prev = repeator(s)
        energies = densor2(densor1(concatenator([a, s_prev])))
        context = dotor([activator(energies), a])
        s, _, c = post_activation_lstm(context, initial_state=[s, c])
        outputs.append(output_layer(s))
    model = keras.Model([inputs, s0, c0], outputs, name="course_model")
    model.compile(optimizer=keras.optimizers.Adam(0.005, beta_1=0.9, beta_2=0.999),
                  loss=["categorical_crossentropy"] * dates.OUTPUT_LENGTH, jit_compile=jit_compile)
    return model


def course_arrays(pairs, sequence_length):
    """The course's encoding (data.dates): one-hot characters in, the 10 characters of yyyy-mm-dd out."""
    ids = np.array([dates.encode_input(p.human, sequence_length) for p in pairs], "int32")
    targets = np.array([dates.encode_output(p.iso) for p in pairs], "int32")
    vocabulary = len(dates.INPUT_CHARACTERS) + 2
    one_hot = np.eye(vocabulary, dtype="float32")[ids]  # (n, T_x, vocabulary)
    zeros = np.zeros((len(pairs), 64), "float32")
    outputs = [np.eye(COURSE_OUTPUT_VOCABULARY_SIZE, dtype="float32")[targets[:, t]]
               for t in range(dates.OUTPUT_LENGTH)]
    return [one_hot, zeros, zeros], outputs, targets


class CourseExactMatch(ExactMatchCallback):
    """The same clock and checks for the course model (one-hot inputs, no decoder feedback)."""

    def __init__(self, pairs, sequence_length, stop_at, every_steps):
        super().__init__(as_examples(pairs), sequence_length, stop_at=stop_at, every_steps=every_steps)
        self.course_inputs, _, self.course_targets = course_arrays(pairs, sequence_length)
        self._forward = None

    def score(self):
        if self._forward is None:
            self._forward = tf.function(lambda x: self.model(x, training=False))
        predictions = np.stack([p.numpy() for p in self._forward(self.course_inputs)], axis=1).argmax(-1)
        return float(np.mean(np.all(predictions == self.course_targets, axis=1)))


def train_course(train_pairs, validation_pairs, sequence_length, epochs, target, seed, check_every=50,
                 jit_compile="auto", stop_at_target=False):
    """Keras defaults (``jit_compile="auto"``: no XLA on a CPU-only machine) unless told otherwise.

    Trains all ``epochs`` (unless ``stop_at_target``) to find its best validation exact match; also
    records when it first reached ``target``.
    """
    keras.utils.set_random_seed(seed)
    x_train, y_train, _ = course_arrays(train_pairs, sequence_length)
    model = build_course_model(sequence_length, x_train[0].shape[-1], jit_compile=jit_compile)
    exact = CourseExactMatch(validation_pairs, sequence_length, stop_at=target if stop_at_target else 0.0,
                             every_steps=check_every)
    model.fit(x_train, y_train, batch_size=100, epochs=epochs, verbose=0, callbacks=[exact], shuffle=True)
    # Its best: the highest validation exact match, when first reached.
    best = max(exact.checks, key=lambda c: (c["exact_match"], -c["step"]))
    best = dict(best, val_exact_match=best["exact_match"])
    reached = next((c for c in exact.checks if c["exact_match"] >= target), None)
    steps_per_epoch = -(-len(train_pairs) // 100)
    for check in sampled(exact.checks):
        log(f"course step {check['step']}: val exact {check['exact_match']:.4f} "
            f"train {check['wall_seconds']:.1f}s wall / {check['cpu_seconds']:.1f}s cpu")
    log(f"course best {best}")
    return model, {"checks": exact.checks, "best": best, "reached": reached, "steps": exact.steps,
                   "epochs": exact.steps / steps_per_epoch, "jit_compile": str(jit_compile),
                   "parameters": int(model.count_params())}


# ---------------------------------------------------------------------------
# Serving throughput.


def throughput(saved_model_dirs, course_model, test_pairs, sequence_length, rounds, batch_size=2000,
               signatures=("greedy", "beam")):
    texts = tf.constant([p.human for p in test_pairs[:batch_size]], tf.string)
    x_course, _, _ = course_arrays(test_pairs[:batch_size], sequence_length)
    x_course = [tf.constant(x) for x in x_course]
    course_forward = tf.function(lambda x: course_model(x, training=False))
    candidates = {"course forward pass (one-hot in, probabilities out)": lambda: course_forward(x_course)}
    for name, directory in saved_model_dirs.items():
        loaded = tf.saved_model.load(str(directory))
        for signature in signatures:
            serve = loaded.signatures[signature]
            candidates[f"{name} SavedModel {signature} (strings in/out)"] = (
                lambda serve=serve: serve(text=texts))
    for run in candidates.values():  # warm up: tracing, thread pools
        run()
        run()
    times = {name: [] for name in candidates}
    cpu_times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():  # alternate, so load hits everyone alike
            started, started_cpu = time.perf_counter(), time.process_time()
            result = run()
            tf.nest.map_structure(lambda t: t.numpy(), result)
            times[name].append(time.perf_counter() - started)
            cpu_times[name].append(time.process_time() - started_cpu)
    reference = "course forward pass (one-hot in, probabilities out)"
    results = {}
    for name, values in times.items():
        per_round_ratio = [times[reference][i] / values[i] for i in range(rounds)]
        cpu_ratio = [cpu_times[reference][i] / cpu_times[name][i] for i in range(rounds)]
        results[name] = {
            "median_seconds": statistics.median(values),
            "dates_per_second": batch_size / statistics.median(values),
            "dates_per_cpu_second": batch_size / statistics.median(cpu_times[name]),
            "speed_vs_course": statistics.median(per_round_ratio),
            "cpu_speed_vs_course": statistics.median(cpu_ratio),
        }
        log(f"{name}: {results[name]['dates_per_second']:,.0f} dates/s, "
            f"x{results[name]['speed_vs_course']:.2f} the course model (CPU time: "
            f"x{results[name]['cpu_speed_vs_course']:.2f})")
    return results


# ---------------------------------------------------------------------------
# Report.


def markdown(results):
    lines = [SECTION, "", "`bench/date_translation.py` "
             f"({results['command']}); measured {results['date']} on 2 CPU cores shared with other jobs "
             f"(load average {results.get('load_average', '?')}), so absolute times are noisy (CPU seconds of "
             "this process are given too). Times are training only (XLA compilation and tracing included, "
             f"validation scoring excluded); validation exact match is checked every {results.get('check_every', '?')} "
             "steps for every model, the course model included.", ""]
    ours = results["ours"]
    lines += ["| model | parameters | steps (epochs) | time to 99.9% val (wall / CPU s) | test exact match greedy | beam |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, run in ours.items():
        reached = run["reached"]
        when = (f"{reached['wall_seconds']:.1f} / {reached['cpu_seconds']:.1f}" if reached
                else "not reached")
        steps = (reached or {}).get("step", run.get("steps", 0))
        steps_per_epoch = -(-results["train_size"] // run["config"]["batch_size"])
        lines.append(f"| {name} | {run['parameters']:,} | {steps} ({steps / steps_per_epoch:.2f}) | {when} | "
                     f"{run['test']['test_exact_match']:.2%} | {run['test'].get('test_exact_match_beam', float('nan')):.2%} |")
    courses = {k: v for k, v in (("course model", results.get("course")), ("course model, XLA", results.get("course_xla")))
               if v}
    for name, course in courses.items():
        best = course["best"]
        lines.append(f"| {name} | {course['parameters']:,} | {best['step']} ({best['step'] / -(-results['train_size'] // 100):.2f}) | best "
                     f"{best['val_exact_match']:.2%} after {best['wall_seconds']:.1f} / {best['cpu_seconds']:.1f} | - | - |")
    course = results.get("course")
    if course:
        best, course_reached = course["best"], course.get("reached")
        lines.append("")
        if course_reached:
            lines.append(f"Course model: first at or above 99.9% after {course_reached['step']} steps, "
                         f"{course_reached['wall_seconds']:.1f} s wall / {course_reached['cpu_seconds']:.1f} s CPU.")
            lines.append("")
        for name, run in ours.items():
            if run["reached"]:
                line = (f"- {name}: time to 99.9% / course model's time to its best = "
                        f"{run['reached']['wall_seconds'] / best['wall_seconds']:.2f} (wall), "
                        f"{run['reached']['cpu_seconds'] / best['cpu_seconds']:.2f} (CPU); goal <= 0.5")
                if course_reached:
                    line += (f"; / course model's time to 99.9% = "
                             f"{run['reached']['wall_seconds'] / course_reached['wall_seconds']:.2f} (wall), "
                             f"{run['reached']['cpu_seconds'] / course_reached['cpu_seconds']:.2f} (CPU)")
                lines.append(line + ".")
    lines += ["", f"Test exact match by format family ({results['test_size']:,} held-out strings, greedy):", "",
              "| family | " + " | ".join(ours) + " |", "| --- |" + " --- |" * len(ours)]
    families = sorted({f for run in ours.values() for f in run["test"]["test_exact_match_by_family"]})
    for family in families:
        cells = [f"{run['test']['test_exact_match_by_family'].get(family, float('nan')):.2%}" for run in ours.values()]
        lines.append(f"| `{family}` | " + " | ".join(cells) + " |")
    if results.get("throughput"):
        lines += ["", "Serving throughput, batch 2,000 (median of alternating rounds):", "",
                  "| what | dates/s (wall) | x course (wall) | dates per CPU-second | x course (CPU) |",
                  "| --- | --- | --- | --- | --- |"]
        for name, row in results["throughput"].items():
            lines.append(f"| {name} | {row['dates_per_second']:,.0f} | {row['speed_vs_course']:.2f} | "
                         f"{row.get('dates_per_cpu_second', float('nan')):,.0f} | "
                         f"{row.get('cpu_speed_vs_course', float('nan')):.2f} |")
    lines += ["", "Attention heat maps: " + ", ".join(f"`{run['out']}/{ATTENTION_PLOT}`" for run in ours.values()), ""]
    return "\n".join(lines)


def write_section(path, section):
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section.rstrip() + "\n" + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text)


def parse_model_spec(spec, config):
    """``kind[:field=value...]`` (e.g. ``transformer:model_dim=64``) -> (kind, config for it)."""
    kind, *overrides = spec.split(":")
    changes = {"model": kind}
    for override in overrides:
        field, value = override.split("=")
        default = getattr(Config, field)
        changes[field] = (value.lower() in ("1", "true")) if isinstance(default, bool) else type(default)(value)
    return kind, config.replace(**changes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=f"{Config.model},{'transformer' if Config.model == 'attention' else 'attention'}",
                        help="comma-separated kind[:field=value...], e.g. attention,transformer:model_dim=64")
    parser.add_argument("--train-size", type=int, default=Config.train_size)
    parser.add_argument("--test-size", type=int, default=10000)
    parser.add_argument("--validation-size", type=int, default=10000,
                        help="held-out strings scored at every check (2,000 proved too few: models at 99.9%% there "
                             "scored 99.74-99.77%% on the 10,000 test strings)")
    parser.add_argument("--target", type=float, default=0.999)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs of every model (default: each model's config, the length of its schedule)")
    parser.add_argument("--check-every", type=int, default=50,
                        help="training steps between validation exact-match checks, for every model")
    parser.add_argument("--course-epochs", type=int, default=8)
    parser.add_argument("--course-stop-at-target", action="store_true",
                        help="stop the course model once it reaches --target (default: train --course-epochs to "
                             "find its best)")
    parser.add_argument("--course-xla", action="store_true",
                        help="also train the course model with jit_compile=True (for information; the reference "
                             "keeps Keras's defaults)")
    parser.add_argument("--skip-course", action="store_true")
    parser.add_argument("--train-to-max", action="store_true",
                        help="keep training to --max-epochs after reaching --target (the time to target is "
                             "still taken when it is first reached; the test figure is then the final model's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--throughput-signatures", default="greedy,beam")
    parser.add_argument("--out", default="runs/bench_date_translation")
    parser.add_argument("--results", help="write the section into this markdown file")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = Config(train_size=args.train_size, test_size=args.test_size, validation_size=args.validation_size)

    log("generating data")
    train_pairs = dates.generate(config.train_size, "train", seed=config.seed)
    validation_pairs = dates.generate(config.validation_size, "validation", seed=config.seed)
    test_pairs = dates.generate(config.test_size, "test", seed=config.seed)
    results = {"command": "python bench/date_translation.py " + " ".join(argv or sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "out": str(out),
               "train_size": len(train_pairs), "test_size": len(test_pairs), "check_every": args.check_every,
               "ours": {}}
    loads = []

    def save():
        loads.append(os.getloadavg()[0])
        results["load_average"] = f"{min(loads):.1f}-{max(loads):.1f}"
        (out / "results.json").write_text(json.dumps(results, indent=2))
        if args.results:
            write_section(args.results, markdown(results))

    save()
    for spec in [m for m in args.models.split(",") if m]:
        kind, model_config = parse_model_spec(spec, config)
        name = spec.replace(":", " ")
        directory = out / spec.replace(":", "_").replace("=", "")
        results["ours"][name] = train_ours(kind, model_config, train_pairs, validation_pairs, test_pairs,
                                           directory, args.target, args.max_epochs, not args.train_to_max,
                                           args.check_every)
        results["ours"][name]["out"] = str(directory)
        save()
    if args.skip_course:
        # The forward pass costs the same whatever the weights are.
        course_model = build_course_model(COURSE_SEQUENCE_LENGTH, len(dates.INPUT_CHARACTERS) + 2)
    else:
        course_model, results["course"] = train_course(
            train_pairs, validation_pairs, COURSE_SEQUENCE_LENGTH, args.course_epochs, args.target, config.seed,
            args.check_every, stop_at_target=args.course_stop_at_target)
        save()
    if args.course_xla:
        _, results["course_xla"] = train_course(
            train_pairs, validation_pairs, COURSE_SEQUENCE_LENGTH, args.course_epochs, args.target, config.seed,
            args.check_every, jit_compile=True, stop_at_target=args.course_stop_at_target)
        save()
    results["throughput"] = throughput({k: Path(r["out"]) / "saved_model" for k, r in results["ours"].items()},
                                       course_model,
                                       test_pairs, COURSE_SEQUENCE_LENGTH, args.rounds,
                                       signatures=tuple(args.throughput_signatures.split(",")))
    save()
    print(markdown(results))


if __name__ == "__main__":
    main()
