"""Sampling speed: the in-graph sampling loop (what the SavedModel runs) vs an eager Python loop.

Both sample the same number of names from the same character LSTM (untrained weights:
the speed does not depend on them), one batch at a time. The eager loop calls the
model's layers step by step from Python and samples with NumPy, as a first
implementation would; the graph loop is ``TextGenerator.generate`` (one
``tf.function`` with a ``tf.while_loop``). Measured alternately in one process;
prints the median time of each and the median ratios of wall and process CPU time.

    python bench/text_generation.py [--batch 100] [--repeats 7]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from data import names as corpora  # noqa: E402
from tasks.text_generation.config import Config  # noqa: E402
from tasks.text_generation.export import make_generator  # noqa: E402
from tasks.text_generation.model import build_model, initial_states, step  # noqa: E402


def eager_sample(model, batch, max_new, temperature, rng):
    """Step-by-step sampling driven from Python (the reference)."""
    token = tf.fill([batch], 1)
    states = initial_states(model, batch)
    names = [[] for _ in range(batch)]
    done = np.zeros(batch, bool)
    for _ in range(max_new):
        logits, states = step(model, token, states)
        logits = logits.numpy().astype(np.float64) / temperature
        logits[:, 0] = -np.inf
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        drawn = np.array([rng.choice(len(p), p=p) for p in probabilities], np.int32)
        for row in np.flatnonzero(~done):
            if drawn[row] == 1:
                done[row] = True
            else:
                names[row].append(int(drawn[row]))
        if done.all():
            break
        token = tf.constant(drawn)
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    config = Config()
    vocabulary = corpora.CharVocabulary.from_texts(corpora.load_names())
    model = build_model(config, vocabulary.size)
    generator = make_generator(model, vocabulary, config)
    prompts = tf.constant([""] * args.batch)
    rng = np.random.default_rng(0)

    def graph_run(seed):
        return generator.generate(prompts, tf.constant(0.8), tf.constant(0), tf.constant(1.0),
                                  tf.constant([seed, 0], tf.int64))["text"].numpy()

    def eager_run(seed):
        return eager_sample(model, args.batch, config.sample_length, 0.8, rng)

    graph_run(0), eager_run(0)  # trace and warm up
    graph_times, eager_times, ratios, cpu_ratios = [], [], [], []
    for repeat in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        eager_run(repeat)
        eager, eager_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        graph_run(repeat)
        graph, graph_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        eager_times.append(eager)
        graph_times.append(graph)
        ratios.append(eager / graph)
        # Process CPU time is steadier than wall time on a machine shared with other jobs.
        cpu_ratios.append(eager_cpu / max(graph_cpu, 1e-9))
    print(f"LSTM {config.units} units, {args.batch} names of up to {config.sample_length} characters per call, "
          f"{args.repeats} alternating repeats (shared 2-core machine)")
    print(f"eager Python loop: median {statistics.median(eager_times) * 1000:.1f} ms")
    print(f"in-graph loop:     median {statistics.median(graph_times) * 1000:.1f} ms")
    print(f"median ratio eager / in-graph: {statistics.median(ratios):.1f}x wall, "
          f"{statistics.median(cpu_ratios):.1f}x process CPU time")


if __name__ == "__main__":
    main()
