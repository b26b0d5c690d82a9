"""Date translation: accuracy, time to 99.9%, serving throughput, against the course model.

One run, one process, the same data for everyone:

1. data: ``--train-size`` training pairs, 2,000 validation pairs (for the
   time-to-target curves), 10,000 held-out test pairs (every format family);
2. our models (``--models``, default transformer and attention) train epoch by
   epoch until greedy exact match on the validation set reaches ``--target``
   (99.9%) or ``--max-epochs``; then exact match on the 10,000 test pairs,
   overall and by format family (greedy and beam search), the attention heat
   map, ``model.keras`` and the SavedModel under ``--out/<model>``;
3. the course model (Bi-LSTM 32, additive attention Dense(10, tanh) ->
   Dense(1, relu), post-attention LSTM 64, softmax; one-hot inputs; Adam
   lr 0.005, batch 100; no feedback of previous outputs) trains on the same
   pairs for ``--course-epochs``; its time to reach its best validation exact
   match is the reference;
4. serving throughput, batch 2,000: our SavedModel (strings in, strings and
   confidences out, preprocessing and decoding included) against the course
   model's compiled forward pass (``tf.function``) on one-hot inputs, timed
   alternately, median of ``--rounds`` rounds.

Times are training seconds only (validation decoding excluded), as wall time
and as this process's CPU time; the machine is shared with other jobs, so wall
times are noisy, CPU times steadier. Results go to ``--out/results.json`` and,
with ``--results``, to the ``## Date translation`` section of bench/RESULTS.md.

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
from tasks.date_translation.model import OUTPUT_VOCABULARY_SIZE, build_model  # noqa: E402
from tasks.date_translation.train import (  # noqa: E402
    ExactMatchCallback,
    compile_model,
    encode_pairs,
    make_dataset,
)

SECTION = "## Date translation"


def log(message):
    print(f"[bench dates {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Clock(keras.callbacks.Callback):
    """Training seconds (wall and process CPU) per epoch, evaluation excluded."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = 0.0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu
        if logs is not None:
            logs["train_wall_seconds"] = self.wall
            logs["train_cpu_seconds"] = self.cpu


# ---------------------------------------------------------------------------
# Ours.


def train_ours(kind, config, train_pairs, validation_pairs, test_pairs, out, target, max_epochs,
               stop_at_target=True):
    keras.utils.set_random_seed(config.seed)
    config = config.replace(model=kind)
    model = compile_model(build_model(config), config)
    train_ds = make_dataset(train_pairs, config, shuffle=True)
    clock = Clock()
    exact = ExactMatchCallback(validation_pairs, config.sequence_length)
    history = []
    reached = None
    for epoch in range(max_epochs):
        # Clock first, so that the exact-match decoding is outside the timed part.
        logs = model.fit(train_ds, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                         callbacks=[clock, exact]).history
        row = {k: float(v[-1]) for k, v in logs.items()}
        history.append(row)
        log(f"{kind} epoch {epoch + 1}: loss {row['loss']:.4f} val exact {row['val_exact_match']:.4f} "
            f"train {clock.wall:.0f}s wall / {clock.cpu:.0f}s cpu")
        if reached is None and row["val_exact_match"] >= target:
            reached = {"epoch": epoch + 1, "wall_seconds": clock.wall, "cpu_seconds": clock.cpu}
        if reached is not None and stop_at_target:
            break
    out.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_model(model, test_pairs, config, out)
    model.save(str(out / "model.keras"))
    export_model(model, config, out / "saved_model")
    log(f"{kind}: test exact match {metrics['test_exact_match']:.4%} (greedy), "
        f"{metrics.get('test_exact_match_beam', float('nan')):.4%} (beam {config.beam_width})")
    return {"kind": kind, "parameters": int(model.count_params()), "history": history, "reached": reached,
            "test": metrics, "config": config.to_dict()}


# ---------------------------------------------------------------------------
# The course model (its published architecture and hyperparameters).


def build_course_model(input_length, input_vocabulary):
    """The course's Bi-LSTM + one_step_attention + post-attention LSTM, in Keras layers."""
    n_a, n_s = 32, 64
    repeator = keras.layers.RepeatVector(input_length)
    concatenator = keras.layers.Concatenate(axis=-1)
    densor1 = keras.layers.Dense(10, activation="tanh")
    densor2 = keras.layers.Dense(1, activation="relu")
    activator = keras.layers.Softmax(axis=1)
    dotor = keras.layers.Dot(axes=1)
    post_activation_lstm = keras.layers.LSTM(n_s, return_state=True)
    output_layer = keras.layers.Dense(OUTPUT_VOCABULARY_SIZE, activation="softmax")

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
                  loss=["categorical_crossentropy"] * dates.OUTPUT_LENGTH)
    return model


def course_arrays(pairs, sequence_length):
    ids, targets = encode_pairs(pairs, sequence_length)
    vocabulary = len(dates.INPUT_CHARACTERS) + 2
    one_hot = np.eye(vocabulary, dtype="float32")[ids]  # (n, T_x, vocabulary)
    zeros = np.zeros((len(pairs), 64), "float32")
    outputs = [np.eye(OUTPUT_VOCABULARY_SIZE, dtype="float32")[targets[:, t]] for t in range(dates.OUTPUT_LENGTH)]
    return [one_hot, zeros, zeros], outputs, targets


def train_course(train_pairs, validation_pairs, sequence_length, epochs, target, seed):
    keras.utils.set_random_seed(seed)
    x_train, y_train, _ = course_arrays(train_pairs, sequence_length)
    x_val, _, val_targets = course_arrays(validation_pairs, sequence_length)
    model = build_course_model(sequence_length, x_train[0].shape[-1])
    forward = tf.function(lambda x: model(x, training=False))
    clock = Clock()
    history, best = [], None
    for epoch in range(epochs):
        model.fit(x_train, y_train, batch_size=100, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                  callbacks=[clock], shuffle=True)
        predictions = np.stack([p.numpy() for p in forward(x_val)], axis=1).argmax(-1)
        score = float(np.mean(np.all(predictions == val_targets, axis=1)))
        row = {"epoch": epoch + 1, "val_exact_match": score, "wall_seconds": clock.wall, "cpu_seconds": clock.cpu}
        history.append(row)
        log(f"course epoch {epoch + 1}: val exact {score:.4f} train {clock.wall:.0f}s wall / {clock.cpu:.0f}s cpu")
        if best is None or score > best["val_exact_match"]:
            best = row
        if score >= target:
            break
    return model, {"history": history, "best": best, "parameters": int(model.count_params())}


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
             f"({results['command']}); measured {results['date']} on 2 CPU cores shared with other jobs, "
             "so absolute times are noisy (CPU seconds of this process are given too).", ""]
    ours = results["ours"]
    lines += ["| model | parameters | epochs | time to 99.9% val (wall / CPU s) | test exact match greedy | beam |",
              "| --- | --- | --- | --- | --- | --- |"]
    for kind, run in ours.items():
        reached = run["reached"]
        when = (f"{reached['wall_seconds']:.0f} / {reached['cpu_seconds']:.0f}" if reached
                else f"not reached in {len(run['history'])} epochs")
        lines.append(f"| {kind} | {run['parameters']:,} | {len(run['history'])} | {when} | "
                     f"{run['test']['test_exact_match']:.2%} | {run['test'].get('test_exact_match_beam', float('nan')):.2%} |")
    course = results.get("course")
    if course:
        best = course["best"]
        lines.append(f"| course model | {course['parameters']:,} | {len(course['history'])} | best "
                     f"{best['val_exact_match']:.2%} after {best['wall_seconds']:.0f} / {best['cpu_seconds']:.0f} | - | - |")
        lines.append("")
        for kind, run in ours.items():
            if run["reached"]:
                lines.append(f"- {kind}: time to 99.9% / course time to its best = "
                             f"{run['reached']['wall_seconds'] / best['wall_seconds']:.2f} (wall), "
                             f"{run['reached']['cpu_seconds'] / best['cpu_seconds']:.2f} (CPU); goal <= 0.5.")
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="transformer,attention")
    parser.add_argument("--train-size", type=int, default=Config.train_size)
    parser.add_argument("--test-size", type=int, default=10000)
    parser.add_argument("--target", type=float, default=0.999)
    parser.add_argument("--max-epochs", type=int, default=Config.epochs)
    parser.add_argument("--course-epochs", type=int, default=15)
    parser.add_argument("--learning-rate-schedule", default=Config.learning_rate_schedule, choices=("constant", "cosine"))
    parser.add_argument("--skip-course", action="store_true")
    parser.add_argument("--train-to-max", action="store_true",
                        help="keep training to --max-epochs after reaching --target (the time to target is "
                             "still taken when it is first reached; the test figure is then the final model's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--throughput-signatures", default="greedy,beam")
    parser.add_argument("--out", default="runs/bench_date_translation")
    parser.add_argument("--results", help="write the section into this markdown file")
    parser.add_argument("--merge", default="",
                        help="comma-separated --out directories of earlier runs (e.g. models trained in parallel "
                             "processes): merge their results.json, train nothing, measure throughput")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = Config(train_size=args.train_size, test_size=args.test_size, validation_size=2000,
                    epochs=args.max_epochs, learning_rate_schedule=args.learning_rate_schedule)

    log("generating data")
    train_pairs = dates.generate(config.train_size, "train", seed=config.seed)
    validation_pairs = dates.generate(config.validation_size, "validation", seed=config.seed)
    test_pairs = dates.generate(config.test_size, "test", seed=config.seed)
    results = {"command": "python bench/date_translation.py " + " ".join(argv or sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "out": str(out),
               "train_size": len(train_pairs), "test_size": len(test_pairs), "ours": {}}

    def save():
        (out / "results.json").write_text(json.dumps(results, indent=2))
        if args.results:
            write_section(args.results, markdown(results))

    if args.merge:
        for directory in args.merge.split(","):
            earlier = json.loads((Path(directory) / "results.json").read_text())
            for kind, run in earlier["ours"].items():
                run["out"] = str(Path(directory) / kind)
                schedule = run["config"].get("learning_rate_schedule", "constant")
                results["ours"][f"{kind} ({schedule} lr)"] = run
            if "course" in earlier:
                results["course"] = earlier["course"]
        args.models, args.skip_course = "", True
    for kind in [m for m in args.models.split(",") if m]:
        results["ours"][kind] = train_ours(kind, config, train_pairs, validation_pairs, test_pairs,
                                           out / kind, args.target, args.max_epochs, not args.train_to_max)
        results["ours"][kind]["out"] = str(out / kind)
        save()
    course_model = None
    if not args.skip_course and "course" not in results:
        course_model, results["course"] = train_course(
            train_pairs, validation_pairs, config.sequence_length, args.course_epochs, args.target, config.seed)
        save()
    else:
        # The forward pass costs the same whatever the weights are.
        course_model = build_course_model(config.sequence_length, len(dates.INPUT_CHARACTERS) + 2)
    results["throughput"] = throughput({k: Path(r["out"]) / "saved_model" for k, r in results["ours"].items()},
                                       course_model,
                                       test_pairs, config.sequence_length, args.rounds,
                                       signatures=tuple(args.throughput_signatures.split(",")))
    save()
    print(markdown(results))


if __name__ == "__main__":
    main()
