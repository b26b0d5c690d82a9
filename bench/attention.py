"""MultiHeadAttention speed: ours against keras.layers.MultiHeadAttention.

Both layers get the same weights and the same inputs, both are compiled
with XLA (``tf.function(jit_compile=True)`` under TensorFlow, ``jax.jit``
under JAX), and they are timed alternately in one process, so that load
from other processes on the machine hits both alike. The figure reported is
the median over repeats of (our time / Keras's time), forward and backward
(the gradient of a scalar loss with respect to the weights and the inputs),
for the wall clock and for the CPU time of this process (steadier when other
jobs share the machine). "ms" columns are median wall-clock times.

    .venv/bin/python bench/attention.py                   # both shapes
    .venv/bin/python bench/attention.py --repeats 5 --causal
    .venv/bin/python bench/attention.py --results bench/RESULTS.md

Goal: ratio <= 1.0.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from layers.multi_head_attention import MultiHeadAttention  # noqa: E402

SECTION = "## Attention (bench/attention.py)"
# (batch, length, width, heads): a short sequence with a large batch, and a long one.
SHAPES = [(32, 128, 256, 8), (4, 1024, 256, 8)]


def _self_attention(layer, x, causal, **kwargs):
    """Self-attention as each layer's API asks for it: ours takes the sequence once (``value`` omitted,
    which lets it project query, key and value in one product); Keras's takes it as query and value."""
    if isinstance(layer, MultiHeadAttention):
        return layer(x, use_causal_mask=causal, **kwargs)
    return layer(x, x, use_causal_mask=causal, **kwargs)


def _compiled_steps(layer, causal):
    """Returns (forward(x), backward(x)) compiled for the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def forward(x):
            return _self_attention(layer, x, causal)

        @tf.function(jit_compile=True)
        def backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(_self_attention(layer, x, causal)))
            return tape.gradient(loss, [x] + layer.trainable_variables)

        return forward, backward
    if backend == "jax":
        import jax

        def inputs(x):  # as in _self_attention
            return (x,) if isinstance(layer, MultiHeadAttention) else (x, x)

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable, x):
            output, _ = layer.stateless_call(trainable, non_trainable, *inputs(x), use_causal_mask=causal)
            return (output**2).sum()

        forward_jit = jax.jit(
            lambda t, x: layer.stateless_call(t, non_trainable, *inputs(x), use_causal_mask=causal)[0]
        )
        backward_jit = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))
        return (lambda x: forward_jit(trainable, x)), (lambda x: backward_jit(trainable, x))
    raise SystemExit(f"bench/attention.py supports tensorflow and jax, not {backend}")


def _block(result):
    for value in keras.tree.flatten(result):
        np.asarray(keras.ops.convert_to_numpy(value))


def _time(step, x, iterations):
    """Wall-clock and process CPU seconds per call.

    On a machine shared with other jobs the wall clock mostly measures the
    others; the CPU time this process spends (all its threads) is the
    steadier measure of the work each layer does.
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(iterations):
        result = step(x)
    _block(result)
    wall = (time.perf_counter() - start) / iterations
    return wall, (time.process_time() - start_cpu) / iterations


def bench_shape(batch, length, width, heads, repeats, causal, seed=0):
    rng = np.random.default_rng(seed)
    x = keras.ops.convert_to_tensor(rng.normal(size=(batch, length, width)).astype("float32"))
    theirs = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=width // heads)
    ours = MultiHeadAttention(num_heads=heads, key_dim=width // heads)
    theirs(x, x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    difference = np.abs(
        keras.ops.convert_to_numpy(_self_attention(ours, x, causal))
        - keras.ops.convert_to_numpy(_self_attention(theirs, x, causal))
    ).max()

    steps = {"ours": _compiled_steps(ours, causal), "keras": _compiled_steps(theirs, causal)}
    rows = {}
    for direction, index in (("forward", 0), ("backward", 1)):
        for name in steps:  # compile and warm up
            _block(steps[name][index](x))
            _block(steps[name][index](x))
        # Enough iterations per measurement for about 0.3 s.
        single = _time(steps["keras"][index], x, 1)[0]
        iterations = max(1, int(0.3 / max(single, 1e-6)))
        times = {"ours": [], "keras": []}
        for repeat in range(repeats):
            # Alternate which goes first, so neither always runs warm.
            order = ("ours", "keras") if repeat % 2 == 0 else ("keras", "ours")
            for name in order:
                times[name].append(_time(steps[name][index], x, iterations))
        wall_ratios = [o[0] / k[0] for o, k in zip(times["ours"], times["keras"])]
        cpu_ratios = [o[1] / k[1] for o, k in zip(times["ours"], times["keras"])]
        rows[direction] = (
            statistics.median(t[0] for t in times["ours"]) * 1e3,
            statistics.median(t[0] for t in times["keras"]) * 1e3,
            statistics.median(wall_ratios),
            statistics.median(cpu_ratios),
        )
    return rows, difference


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        for line in lines:
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def write_results(path, table, header):
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    section = f"{SECTION}\n\n{header}\n\n{table}\n"
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following == -1 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--causal", action="store_true", help="use_causal_mask=True")
    parser.add_argument(
        "--shapes", default="0,1", help="indices into SHAPES to run, e.g. 1 for the long one"
    )
    parser.add_argument("--results", help="write the table into this markdown file")
    args = parser.parse_args()

    lines = [
        "| batch | length | width | heads | pass | ours ms | keras ms | wall ratio | CPU-time ratio |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, {machine_description()}")
    for shape in [SHAPES[int(i)] for i in args.shapes.split(",")]:
        rows, difference = bench_shape(*shape, repeats=args.repeats, causal=args.causal)
        print(f"shape {shape}: max |ours - keras| = {difference:.2e}")
        for direction, (ours_ms, keras_ms, wall_ratio, cpu_ratio) in rows.items():
            lines.append(
                f"| {shape[0]} | {shape[1]} | {shape[2]} | {shape[3]} | {direction} | "
                f"{ours_ms:.1f} | {keras_ms:.1f} | {wall_ratio:.3f} | {cpu_ratio:.3f} |"
            )
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    print(table)
    if args.results:
        header = (
            f"Backend {keras.backend.backend()} (XLA-compiled), keras {keras.__version__}, "
            f"{'causal' if args.causal else 'unmasked'} self-attention, median of "
            f"{args.repeats} alternated repeats; machine: {machine_description()}, "
            "shared with other jobs while measuring."
        )
        write_results(args.results, table, header)


if __name__ == "__main__":
    main()
