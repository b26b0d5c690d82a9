"""Cached incremental decoding vs recomputing the whole prefix at every step.

A small decoder-only Transformer (token and sinusoidal position embedding,
`--num-blocks` TransformerDecoderBlocks of width `--width` with `--num-heads`
heads, a vocabulary projection) generates `--steps` tokens greedily from a
one-token prompt, in two ways:

- cached: each step feeds only the newest token; every block keeps its
  self-attention keys and values in a `(batch, 2, max_length, heads,
  head_dim)` cache, so a step costs O(t) attention and O(1) projections;
- recompute (the reference): each step runs the whole prefix `x<1..t>`
  through the model and keeps the last position, O(t) projections and
  O(t^2) attention.

Each whole generation is one `tf.function` (a `tf.while_loop` over the
steps, as a compiled `generate` runs; the reference loop carries a growing
`(batch, None)` token tensor), traced once, and the two are timed alternately
in one process. `--jit-compile` additionally compiles the cached generation
with XLA, which its fixed shapes allow; the reference cannot be compiled
that way without padding every step to the full length. The script prints
the median wall and process-CPU time of each and the median speed-ups
(recompute / cached), and checks that both generate the same tokens.

    .venv/bin/python bench/decoding.py [--batch-size 1] [--repeats 5] [--jit-compile]
"""

import argparse
import os
import statistics
import subprocess
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from layers import TokenAndPositionEmbedding, TransformerDecoderBlock  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256, help="tokens to generate")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--num-blocks", type=int, default=2)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--num-heads", type=int, default=8)
    parser.add_argument("--intermediate-dim", type=int, default=1024)
    parser.add_argument("--vocabulary-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each")
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the cached generation with XLA (the recompute reference has a "
        "growing shape and stays a plain graph)",
    )
    return parser.parse_args()


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line)
    except Exception:  # lscpu missing: not worth failing the benchmark over.
        name = "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


def build_decoder(args):
    max_length = args.steps + 1
    keras.utils.set_random_seed(0)
    embedding = TokenAndPositionEmbedding(
        args.vocabulary_size, max_length, args.width, mask_zero=False
    )
    blocks = [
        TransformerDecoderBlock(args.num_heads, args.intermediate_dim, norm_first=True)
        for _ in range(args.num_blocks)
    ]
    head = keras.layers.Dense(args.vocabulary_size)
    # Build every layer once.
    x = embedding(np.ones((args.batch_size, 1), "int32"))
    for block in blocks:
        x = block(x)
    head(x)
    return embedding, blocks, head


def main():
    args = parse_args()
    embedding, blocks, head = build_decoder(args)
    batch, max_length = args.batch_size, args.steps + 1
    head_dim = args.width // args.num_heads
    # One cache per block, (batch, 2, max_length, heads, head_dim), kept as
    # separate tensors: stacking them into one would copy every cache at
    # every step.
    cache_shape = (batch, 2, max_length, args.num_heads, head_dim)

    def next_token_recompute(prefix):
        # (batch, t, width): the whole prefix, every step.
        x = embedding(prefix)
        for block in blocks:
            x = block(x)  # causal self-attention over the whole prefix
        logits = head(x[:, -1])
        return ops.cast(ops.argmax(logits, axis=-1), "int32")

    def next_token_cached(token, caches, index):
        # (batch, 1, width): only the newest token.
        x = embedding(token, start_index=index)
        updated = []
        for block, cache in zip(blocks, caches):
            x, cache = block(x, cache=cache, cache_update_index=index)
            updated.append(cache)
        logits = head(x[:, -1])
        return ops.cast(ops.argmax(logits, axis=-1), "int32"), tuple(updated)

    # Each generation runs as one graph (a tf.while_loop), as a compiled
    # `generate` would, so per-step Python overhead does not blur the ratio.
    @tf.function(input_signature=[tf.TensorSpec((batch, 1), tf.int32)])
    def generate_recompute(prompt):
        def body(tokens):
            token = next_token_recompute(tokens)
            return (tf.concat([tokens, token[:, None]], axis=1),)

        (tokens,) = tf.while_loop(
            lambda tokens: tf.shape(tokens)[1] < max_length,
            body,
            (prompt,),
            shape_invariants=(tf.TensorShape([batch, None]),),
        )
        return tokens

    @tf.function(input_signature=[tf.TensorSpec((batch, 1), tf.int32)], jit_compile=args.jit_compile)
    def generate_cached(prompt):
        def body(index, token, caches, tokens):
            next_token, caches = next_token_cached(token, caches, index)
            # Write the token at position index + 1 of the (batch, max_length) buffer.
            tokens = ops.slice_update(tokens, (0, index + 1), next_token[:, None])
            return index + 1, next_token[:, None], caches, tokens

        tokens = ops.pad(prompt, ((0, 0), (0, max_length - 1)))
        caches = tuple(tf.zeros(cache_shape, tf.float32) for _ in blocks)
        _, _, _, tokens = tf.while_loop(
            lambda index, *_: index < args.steps,
            body,
            (tf.constant(0, tf.int32), prompt, caches, tokens),
        )
        return tokens

    prompt = tf.ones((batch, 1), tf.int32)

    # Warm-up: trace both functions, and compare what they generate.
    cached_tokens = generate_cached(prompt).numpy()
    recompute_tokens = generate_recompute(prompt).numpy()
    agreement = float(np.mean(cached_tokens == recompute_tokens))

    # Wall time, and process CPU time (all threads), which is the steadier
    # figure on a machine shared with other jobs.
    cached_times, recompute_times, ratios = [], [], []
    cached_cpu, recompute_cpu, cpu_ratios = [], [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        generate_cached(prompt).numpy()
        cached_times.append(time.perf_counter() - start)
        cached_cpu.append(time.process_time() - start_cpu)
        start, start_cpu = time.perf_counter(), time.process_time()
        generate_recompute(prompt).numpy()
        recompute_times.append(time.perf_counter() - start)
        recompute_cpu.append(time.process_time() - start_cpu)
        ratios.append(recompute_times[-1] / cached_times[-1])
        cpu_ratios.append(recompute_cpu[-1] / cached_cpu[-1])

    cached = statistics.median(cached_times)
    recompute = statistics.median(recompute_times)
    print(f"machine: {machine()}; backend {keras.backend.backend()}, TensorFlow {tf.__version__}")
    print(
        f"decoder: {args.num_blocks} blocks, width {args.width}, {args.num_heads} heads, "
        f"intermediate {args.intermediate_dim}, vocabulary {args.vocabulary_size}; "
        f"batch {batch}, {args.steps} generated tokens, {args.repeats} alternating repeats, "
        f"cached generation {'XLA-compiled' if args.jit_compile else 'tf.function graph'}"
    )
    print(f"tokens identical (cached vs recompute): {agreement:.1%}")
    print(f"cached:    median {cached:.3f} s ({1000 * cached / args.steps:.2f} ms/token)")
    print(f"recompute: median {recompute:.3f} s ({1000 * recompute / args.steps:.2f} ms/token)")
    print(
        f"cpu time:  cached median {statistics.median(cached_cpu):.3f} s, "
        f"recompute median {statistics.median(recompute_cpu):.3f} s"
    )
    print(
        f"speed-up recompute/cached (wall): median {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); goal >= 5x"
    )
    print(
        f"speed-up recompute/cached (process CPU): median {statistics.median(cpu_ratios):.2f}x "
        f"(min {min(cpu_ratios):.2f}x, max {max(cpu_ratios):.2f}x)"
    )


if __name__ == "__main__":
    main()
