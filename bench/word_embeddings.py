"""Our skip-gram/CBOW (tf.data + Keras) against gensim's Word2Vec on the same corpus, same run.

    .venv/bin/python bench/word_embeddings.py                 # skip-gram, 2 alternating rounds
    .venv/bin/python bench/word_embeddings.py --methods skipgram,cbow --rounds 1

Corpus: the Wikipedia sample in gensim's test data (453,267 tokens). Hyperparameters for both: 100
dimensions, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs, alpha 0.025 -> 0.0001; gensim
with 2 worker threads. Each round trains ours, then gensim, in this process (training only: the
vocabulary and the encoded corpus are built beforehand for both), and measures
  - training words/s = in-vocabulary corpus tokens x epochs / training wall time (and per CPU second),
  - WordSim353 Spearman and questions-words accuracy (restricted to the trained vocabulary).
Peak resident memory is per process, so it is measured afterwards in one fresh child process for each
trainer (corpus loading included for both). Prints median ratios ours/gensim and a Markdown table;
`--write` replaces the `## Word embeddings` section of bench/RESULTS.md.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HYPERPARAMETERS = dict(vector_size=100, window=5, negative=5, min_count=5, epochs=5, sample=1e-3)


def train_ours(method, sentences, seed=0):
    from tasks.word_embeddings.config import Config
    from tasks.word_embeddings.train import build_embedding_data, build_embedding_model, trained_vectors

    config = Config(method=method, seed=seed, **HYPERPARAMETERS)
    data = build_embedding_data(config, sentences)
    model = build_embedding_model(config, data)
    wall, cpu = time.time(), time.process_time()
    model.fit(data.train, epochs=config.epochs, verbose=0)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    return trained_vectors(model, data.vocabulary), data.corpus_words * config.epochs, wall, cpu


def train_gensim(method, sentences, seed=0):
    from gensim.models import Word2Vec

    from data.word_vectors import WordVectors

    h = HYPERPARAMETERS
    model = Word2Vec(
        vector_size=h["vector_size"], window=h["window"], negative=h["negative"], min_count=h["min_count"],
        sample=h["sample"], workers=2, sg=int(method == "skipgram"), seed=seed,
    )
    model.build_vocab(sentences)
    wall, cpu = time.time(), time.process_time()
    model.train(sentences, total_examples=model.corpus_count, epochs=h["epochs"])
    wall, cpu = time.time() - wall, time.process_time() - cpu
    words = sum(int(model.wv.get_vecattr(w, "count")) for w in model.wv.index_to_key) * h["epochs"]
    return WordVectors(model.wv.index_to_key, model.wv.vectors), words, wall, cpu


def measure(trainer, method, sentences, seed):
    vectors, words, wall, cpu = trainer(method, sentences, seed)
    return {
        "words_per_second": words / wall,
        "words_per_cpu_second": words / cpu,
        "seconds": wall,
        "wordsim353": vectors.evaluate_similarity(restrict_vocab=None)["spearman"],
        "analogy": vectors.evaluate_analogies(restrict_vocab=None)["accuracy"],
        "vocabulary": len(vectors),
    }


def peak_resident_mb():
    """VmHWM of this process. (ru_maxrss is no use here: Linux carries the parent's peak into a child.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(which, method):
    """Runs one trainer in this (fresh) process and prints its peak RSS."""
    from data.text_corpus import load_corpus

    sentences = load_corpus()
    trainer = train_ours if which == "ours" else train_gensim
    result = measure(trainer, method, sentences, seed=0)
    result["peak_rss_mb"] = peak_resident_mb()
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
    parser.add_argument("--methods", default="skipgram", help="comma list of skipgram,cbow")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child processes")
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if args.child:
        return child(args.child, methods[0])

    from data.text_corpus import load_corpus

    sentences = load_corpus()
    load = os.getloadavg()
    rows = []
    for method in methods:
        results = {"ours": [], "gensim": []}
        for round_index in range(args.rounds):
            for name, trainer in (("ours", train_ours), ("gensim", train_gensim)):
                result = measure(trainer, method, sentences, seed=round_index)
                results[name].append(result)
                print(f"[{method} round {round_index + 1}] {name:6s} {result['words_per_second']:9.0f} words/s "
                      f"({result['words_per_cpu_second']:9.0f} per CPU s, {result['seconds']:.1f} s)  "
                      f"WordSim353 {result['wordsim353']:.4f}  analogy {result['analogy']:.4f}", flush=True)
        speed = statistics.median(o["words_per_second"] / g["words_per_second"] for o, g in zip(results["ours"], results["gensim"]))
        cpu = statistics.median(o["words_per_cpu_second"] / g["words_per_cpu_second"] for o, g in zip(results["ours"], results["gensim"]))
        memory = {} if args.no_memory else {name: peak_rss(name, method) for name in ("ours", "gensim")}
        row = {"method": method, "speed_ratio": speed, "cpu_ratio": cpu}
        for name in ("ours", "gensim"):
            row[name] = {
                key: statistics.median(r[key] for r in results[name])
                for key in ("words_per_second", "words_per_cpu_second", "wordsim353", "analogy")
            }
            row[name]["peak_rss_mb"] = memory.get(name, {}).get("peak_rss_mb")
        rows.append(row)
        print(f"{method}: median speed ratio ours/gensim {speed:.3f} (wall), {cpu:.3f} (CPU time); "
              f"WordSim353 {row['ours']['wordsim353']:.4f} vs {row['gensim']['wordsim353']:.4f}; "
              f"analogy {row['ours']['analogy']:.4f} vs {row['gensim']['analogy']:.4f}; "
              f"peak RSS {row['ours']['peak_rss_mb']} MB vs {row['gensim']['peak_rss_mb']} MB", flush=True)

    section = markdown(rows, args.rounds, load)
    print("\n" + section)
    if args.write:
        write_section(section)


def markdown(rows, rounds, load):
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    lines = [
        "## Word embeddings (bench/word_embeddings.py)",
        "",
        "Our word2vec (tf.data chunks + XLA-compiled Keras train_step with sparse SGD, "
        "tasks/word_embeddings) against gensim 4 `Word2Vec` with 2 workers, same corpus (gensim's "
        "Wikipedia sample, 453,267 tokens, 9,005-word vocabulary) and hyperparameters (100 dims, window 5, "
        "5 negatives, min_count 5, sample 1e-3, 5 epochs), trained alternately in one process "
        f"({rounds} round(s), medians). WordSim353 Spearman and questions-words accuracy over the "
        "trained vocabulary; words/s = corpus tokens x epochs / training time. Peak RSS from one fresh "
        "process per trainer (corpus loading included).",
        "",
        f"Machine: `{cpu_name()}`, 2 cores, shared with other helpers' jobs while measuring "
        f"(load average {load[0]:.0f} at the start), so wall-clock speeds are noisy and low for both; "
        "the CPU-time ratio is the steadier figure.",
        "",
        "| method | trainer | words/s | words per CPU s | WordSim353 | analogy acc. | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        for name in ("ours", "gensim"):
            r = row[name]
            lines.append(
                f"| {row['method']} | {name} | {r['words_per_second']:,.0f} | {r['words_per_cpu_second']:,.0f} | "
                f"{r['wordsim353']:.4f} | {r['analogy']:.4f} | {fmt(r['peak_rss_mb'], '.0f')} |"
            )
    lines.append("")
    for row in rows:
        lines.append(
            f"- {row['method']}: speed ratio ours/gensim {row['speed_ratio']:.2f} (wall), {row['cpu_ratio']:.2f} "
            f"(CPU time); WordSim353 difference {row['ours']['wordsim353'] - row['gensim']['wordsim353']:+.4f}, "
            f"analogy difference {row['ours']['analogy'] - row['gensim']['analogy']:+.4f}."
        )
    lines += ["", "Command: `.venv/bin/python bench/word_embeddings.py --write`.", ""]
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
