"""Our skip-gram/CBOW/GloVe (tf.data + Keras) against gensim's Word2Vec on the same corpus, same run.

    flock /tmp/seqmodels-bench.lock .venv/bin/python bench/word_embeddings.py --write
    .venv/bin/python bench/word_embeddings.py --methods cbow --rounds 1 --no-memory

Corpus: the Wikipedia sample in gensim's test data (453,267 tokens). Hyperparameters for both: 100
dimensions, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs, alpha 0.025 -> 0.0001; gensim
with 2 worker threads. Each round trains ours, then gensim, in this process and measures
  - training words/s = in-vocabulary corpus tokens x epochs / training wall time (and per CPU second),
    where training time is the training call only on both sides: gensim's `train()` (not
    `build_vocab`), our `model.fit()` (tf.data pipeline, tracing, XLA compile and all epochs; not the
    vocabulary and encoding);
  - WordSim353 Spearman and questions-words accuracy (restricted to the trained vocabulary).
GloVe (5 epochs, AdaGrad 0.05 as glove.c) has no gensim counterpart and is reported on its own, with
co-occurrence cells/s and the counting time. Peak resident memory is per process, so it is measured
afterwards in one fresh child process for each trainer, with the resident size after each stage
(imports, corpus, vocabulary/data, training). Prints median ratios ours/gensim and a Markdown table;
`--write` replaces the `## Word embeddings` section of bench/RESULTS.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HYPERPARAMETERS = dict(vector_size=100, window=5, negative=5, min_count=5, epochs=5, sample=1e-3)


GLOVE_EPOCHS = 5  # The same 5 epochs for every method, so the comparison is at equal training.
GLOVE_LEARNING_RATE = 0.05  # glove.c's eta.
WORKERS = {}  # --workers N: our word2vec blocks trained side by side (the config's default otherwise).


def rss_mb(field="VmRSS"):
    """VmRSS (resident now) or VmHWM (peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class EpochTimer:
    """Keras callback recording each epoch's wall and CPU time (the first one includes tracing and compiling)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds, self.cpu_seconds = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.time(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.time() - self._start[0])
                self.cpu_seconds.append(time.process_time() - self._start[1])

        return _Timer()


def train_ours(method, sentences, seed=0, stages=None):
    """Our trainer. Timed: `model.fit` only (tf.data pipeline, tracing, XLA compile and every epoch);
    not timed: vocabulary and encoding (gensim's `build_vocab`), and for GloVe the co-occurrence
    counting, which is timed separately."""
    from tasks.word_embeddings.config import Config
    from tasks.word_embeddings.train import build_embedding_data, build_embedding_model, trained_vectors

    epochs = GLOVE_EPOCHS if method == "glove" else HYPERPARAMETERS["epochs"]
    overrides = {"epochs": epochs, "learning_rate": GLOVE_LEARNING_RATE} if method == "glove" else dict(WORKERS)
    config = Config(method=method, seed=seed, **{**HYPERPARAMETERS, **overrides})
    counting = time.time()
    data = build_embedding_data(config, sentences)
    counting = time.time() - counting
    if stages is not None:
        stages["data"] = rss_mb()
    model = build_embedding_model(config, data)
    timer = EpochTimer()
    wall, cpu = time.time(), time.process_time()
    # As the task's runner trains: one repeated stream, so the pipeline prefetches across epoch ends
    # instead of restarting every epoch.
    steps = int(data.train.cardinality())
    model.fit(data.train.repeat(), epochs=config.epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    wall, cpu = time.time() - wall, time.process_time() - cpu
    if stages is not None:
        stages["trained"] = rss_mb()
    extra = {
        "first_epoch_seconds": timer.seconds[0],
        "first_epoch_cpu_seconds": timer.cpu_seconds[0],
        # Epochs 2..n: the training loop without tracing and compiling.
        "steady_words_per_second": data.corpus_words * (epochs - 1) / max(sum(timer.seconds[1:]), 1e-9),
        "epochs": epochs,
    }
    if method == "glove":
        cells = int(data.train.cardinality()) * config.glove_batch_size
        extra.update(cooccurrence_seconds=counting, cells=cells, cells_per_second=cells * epochs / wall)
    return trained_vectors(model, data.vocabulary), data.corpus_words * epochs, wall, cpu, extra


def train_gensim(method, sentences, seed=0, stages=None):
    """gensim's Word2Vec with 2 workers. Timed: `train()` only (not `build_vocab`)."""
    from gensim.models import Word2Vec

    from data.word_vectors import WordVectors

    h = HYPERPARAMETERS
    model = Word2Vec(
        vector_size=h["vector_size"], window=h["window"], negative=h["negative"], min_count=h["min_count"],
        sample=h["sample"], workers=2, sg=int(method == "skipgram"), seed=seed,
    )
    model.build_vocab(sentences)
    if stages is not None:
        stages["data"] = rss_mb()
    wall, cpu = time.time(), time.process_time()
    model.train(sentences, total_examples=model.corpus_count, epochs=h["epochs"])
    wall, cpu = time.time() - wall, time.process_time() - cpu
    if stages is not None:
        stages["trained"] = rss_mb()
    words = sum(int(model.wv.get_vecattr(w, "count")) for w in model.wv.index_to_key) * h["epochs"]
    return WordVectors(model.wv.index_to_key, model.wv.vectors), words, wall, cpu, {}


def measure(trainer, method, sentences, seed, stages=None):
    vectors, words, wall, cpu, extra = trainer(method, sentences, seed, stages)
    return {
        "words_per_second": words / wall,
        "words_per_cpu_second": words / cpu,
        "seconds": wall,
        "cpu_seconds": cpu,
        "wordsim353": vectors.evaluate_similarity(restrict_vocab=None)["spearman"],
        "analogy": vectors.evaluate_analogies(restrict_vocab=None)["accuracy"],
        "vocabulary": len(vectors),
        **extra,
    }


def child(which, method):
    """Runs one trainer in this (fresh) process; prints its resident memory after each stage and its peak."""
    stages = {"python": rss_mb()}
    if which == "ours":
        import tensorflow  # noqa: F401

        import keras  # noqa: F401
    else:
        import gensim.models  # noqa: F401
    stages["imports"] = rss_mb()
    from data.text_corpus import load_corpus

    sentences = load_corpus()
    stages["corpus"] = rss_mb()
    trainer = train_ours if which == "ours" else train_gensim
    result = measure(trainer, method, sentences, seed=0, stages=stages)
    result["peak_rss_mb"] = rss_mb("VmHWM")
    result["stages_mb"] = stages
    print("RESULT " + json.dumps(result))


def peak_rss(which, method):
    output = subprocess.run(
        [sys.executable, __file__, "--child", which, "--methods", method],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    line = next(l for l in output.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def cpu_name():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="skipgram,cbow,glove", help="comma list of skipgram,cbow,glove")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--glove-rounds", type=int, default=1, help="GloVe rounds (25 epochs each, no gensim counterpart)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child processes")
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    parser.add_argument("--workers", type=int, default=0, help="our word2vec blocks side by side (default: the config's)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workers:
        WORKERS["workers"] = args.workers

    methods = [m for m in args.methods.split(",") if m]
    if args.child:
        return child(args.child, methods[0])

    from data.text_corpus import load_corpus

    sentences = load_corpus()
    load = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    for method in methods:
        # gensim has no GloVe: our GloVe is reported on its own.
        trainers = (("ours", train_ours),) if method == "glove" else (("ours", train_ours), ("gensim", train_gensim))
        rounds = args.glove_rounds if method == "glove" else args.rounds
        results = {name: [] for name, _ in trainers}
        for round_index in range(rounds):
            for name, trainer in trainers:
                result = measure(trainer, method, sentences, seed=round_index)
                results[name].append(result)
                print(f"[{method} round {round_index + 1}] {name:6s} {result['words_per_second']:9.0f} words/s "
                      f"({result['words_per_cpu_second']:9.0f} per CPU s, {result['seconds']:.1f} s)  "
                      f"WordSim353 {result['wordsim353']:.4f}  analogy {result['analogy']:.4f}"
                      + (f"  first epoch {result['first_epoch_seconds']:.2f} s ({result['first_epoch_cpu_seconds']:.2f} CPU s),"
                         f" later epochs {result['steady_words_per_second']:.0f} words/s" if name == "ours" else ""), flush=True)
        row = {"method": method, "load": os.getloadavg()}
        for name in results:
            keys = [k for k, v in results[name][0].items() if isinstance(v, (int, float))]
            row[name] = {key: statistics.median(r[key] for r in results[name]) for key in keys}
        if "gensim" in results:
            pairs = list(zip(results["ours"], results["gensim"]))
            row["speed_ratio"] = statistics.median(o["words_per_second"] / g["words_per_second"] for o, g in pairs)
            row["cpu_ratio"] = statistics.median(o["words_per_cpu_second"] / g["words_per_cpu_second"] for o, g in pairs)
            row["speed_ratios"] = [o["words_per_second"] / g["words_per_second"] for o, g in pairs]
        if not args.no_memory:
            for name in results:
                child_result = peak_rss(name, method)
                row[name]["peak_rss_mb"] = child_result["peak_rss_mb"]
                row[name]["stages_mb"] = child_result["stages_mb"]
        rows.append(row)
        if "gensim" in results:
            print(f"{method}: median speed ratio ours/gensim {row['speed_ratio']:.3f} (wall), {row['cpu_ratio']:.3f} (CPU time); "
                  f"WordSim353 {row['ours']['wordsim353']:.4f} vs {row['gensim']['wordsim353']:.4f}; "
                  f"analogy {row['ours']['analogy']:.4f} vs {row['gensim']['analogy']:.4f}", flush=True)
        for name in results:
            if "stages_mb" in row[name]:
                print(f"{method} {name} memory by stage (MB): {row[name]['stages_mb']}, peak {row[name]['peak_rss_mb']:.0f}", flush=True)

    section = markdown(rows, args.rounds, load, started)
    print("\n" + section)
    if args.write:
        write_section(section)


def markdown(rows, rounds, load, started):
    from tasks.word_embeddings.config import Config

    defaults = Config()
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    lines = [
        "## Word embeddings (bench/word_embeddings.py)",
        "",
        "Our word2vec (tasks/word_embeddings: tf.data blocks of subsampled tokens, windows and noise words; "
        f"one XLA program loops over the {defaults.chunks_per_call} chunks of {defaults.batch_size:,} tokens of a block "
        f"with hand-written gradients and sparse SGD; {WORKERS.get('workers', defaults.workers)} block(s) at a time) against gensim 4 `Word2Vec` with "
        "2 workers, same corpus (gensim's Wikipedia sample, 453,267 tokens, 9,005-word vocabulary) and "
        "hyperparameters (100 dims, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs), trained "
        f"alternately in one process ({rounds} rounds, medians). WordSim353 Spearman and questions-words "
        "accuracy over the trained vocabulary.",
        "",
        "Training time, the same definition for both: the training call only. gensim: `Word2Vec.train()` "
        "(its `build_vocab` is not timed); ours: `model.fit()` over the repeated dataset as the task's runner does it, which includes the tf.data pipeline "
        "(subsampling, windows and noise words drawn per epoch), tracing and the XLA compile (in the "
        "first epoch) and every epoch; the vocabulary and the encoded corpus (our `build_embedding_data`) "
        "are not timed. words/s = in-vocabulary corpus tokens x epochs / training time.",
        "",
        f"Machine: `{cpu_name()}`, 2 cores, shared with other helpers' jobs while measuring "
        f"(started {started}, load average {load[0]:.1f} at the start), so wall-clock speeds are noisy for both."
        + " Our figures include compiling (no XLA compilation cache).",
        "",
        "| method | trainer | words/s | words per CPU s | WordSim353 | analogy acc. | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        for name in ("ours", "gensim"):
            if name not in row:
                continue
            r = row[name]
            label = f"{row['method']} ({r['epochs']:.0f} epochs)" if row["method"] == "glove" else row["method"]
            lines.append(
                f"| {label} | {name} | {r['words_per_second']:,.0f} | {r['words_per_cpu_second']:,.0f} | "
                f"{r['wordsim353']:.4f} | {r['analogy']:.4f} | {fmt(r.get('peak_rss_mb'), '.0f')} |"
            )
        if row["method"] == "glove":
            lines.append("| glove | gensim | - (gensim has no GloVe) | - | - | - | - |")
    lines.append("")
    for row in rows:
        ours = row["ours"]
        fixed = (f" Our first epoch (tracing + XLA compile + epoch) took {ours['first_epoch_seconds']:.2f} s "
                 f"({ours['first_epoch_cpu_seconds']:.2f} CPU s); epochs 2-{ours['epochs']:.0f} ran at "
                 f"{ours['steady_words_per_second']:,.0f} words/s.")
        if "gensim" in row:
            lines.append(
                f"- {row['method']}: speed ratio ours/gensim {row['speed_ratio']:.2f} (wall; rounds: "
                f"{', '.join(f'{r:.2f}' for r in row['speed_ratios'])}), {row['cpu_ratio']:.2f} (CPU time); "
                f"WordSim353 difference {ours['wordsim353'] - row['gensim']['wordsim353']:+.4f}, "
                f"analogy difference {ours['analogy'] - row['gensim']['analogy']:+.4f}." + fixed
            )
        else:
            lines.append(
                f"- glove: {ours['epochs']:.0f} epochs (per-row AdaGrad 0.05 as glove.c, x_max 100, alpha 0.75) over "
                f"{ours['cells']:,.0f} co-occurrence cells (window 5, 1/distance weights, padded to whole batches): "
                f"{ours['cells_per_second']:,.0f} cells/s; counting the co-occurrences (NumPy, not in the words/s) "
                f"took {ours['cooccurrence_seconds']:.1f} s. gensim has no GloVe, so there is no reference in this run." + fixed
            )
    for row in rows:
        for name in ("ours", "gensim"):
            stages = row.get(name, {}).get("stages_mb")
            if stages:
                lines.append(
                    f"- memory, {row['method']} {name} (resident MB after each stage, fresh process): "
                    + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
                    + f"; peak {row[name]['peak_rss_mb']:.0f}."
                )
    lines += ["", "Command: `flock /tmp/seqmodels-bench.lock .venv/bin/python bench/word_embeddings.py --write`.", ""]
    return "\n".join(lines)


def write_section(section):
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    start = text.find("## Word embeddings")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
