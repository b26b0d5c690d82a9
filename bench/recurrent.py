"""Speed of keras.layers.RNN(our LSTMCell / GRUCell) against keras.layers.LSTM / GRU.

Shapes: batch 64, length 100, 128 input features, 128 units.
Forward is one call in inference mode; backward is forward plus the gradients
of a sum with respect to every weight and the inputs. Each step is compiled
once per backend (tf.function without XLA under TensorFlow, jax.jit under
JAX), then ours and the reference are timed alternately in the same process,
and the median of the per-round ratios ours / reference is printed, for wall
time and for the CPU time of this process (the second is steadier when other
jobs share the cores).

On a CPU, keras.layers.LSTM/GRU fall back from cuDNN to the same generic
backend loop (tf.while_loop / lax.scan) over Keras's own cell, so this compares
the cells' step computations. On a GPU the reference would take the fused cuDNN
kernel, which no per-step cell can match; the figure would then be a different
comparison and must be reported as such.

    KERAS_BACKEND=tensorflow .venv/bin/python bench/recurrent.py [--rounds 15]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from layers import GRUCell, LSTMCell  # noqa: E402

BATCH, LENGTH, FEATURES, UNITS = 64, 100, 128, 128


def compile_steps(layer, x):
    """Returns (forward, backward) callables that block until their result is ready."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def forward(inputs):
            return layer(inputs, training=False)

        @tf.function(jit_compile=False)
        def backward(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs, training=True))
            return tape.gradient(loss, [inputs] + layer.trainable_variables)

        x = tf.constant(x)
        return (lambda: forward(x)[0, 0].numpy()), (lambda: backward(x)[0][0, 0, 0].numpy())
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, inputs):
            outputs, _ = layer.stateless_call(trainable, non_trainable, inputs, training=True)
            return outputs.sum()

        forward = jax.jit(lambda t, inputs: layer.stateless_call(t, non_trainable, inputs)[0])
        backward = jax.jit(jax.grad(loss, argnums=(0, 1)))
        x = jax.numpy.asarray(x)
        return (
            lambda: forward(trainable, x).block_until_ready(),
            lambda: jax.block_until_ready(backward(trainable, x)),
        )
    raise SystemExit(f"bench/recurrent.py supports tensorflow and jax, not {backend}")


def time_once(fn):
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(name, ours, reference, x, rounds, repeats):
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-4
    )
    results = {}
    for mode, index in (("forward", 0), ("backward", 1)):
        ours_fn = compile_steps(ours, x)[index]
        reference_fn = compile_steps(reference, x)[index]
        for _ in range(2):  # compile and warm up both
            ours_fn()
            reference_fn()
        ours_times, reference_times = [], []
        for round_index in range(rounds):
            # Alternate which one goes first so drift on the shared machine hits both.
            pair = [(ours_fn, ours_times), (reference_fn, reference_times)]
            if round_index % 2:
                pair.reverse()
            for fn, times in pair:
                times.append(min(time_once(fn) for _ in range(repeats)))
        wall_ratio = statistics.median(o[0] / r[0] for o, r in zip(ours_times, reference_times))
        cpu_ratio = statistics.median(o[1] / r[1] for o, r in zip(ours_times, reference_times))
        ours_ms = statistics.median(t[0] for t in ours_times) * 1e3
        reference_ms = statistics.median(t[0] for t in reference_times) * 1e3
        results[mode] = (wall_ratio, cpu_ratio, ours_ms, reference_ms)
        print(
            f"{name:5s} {mode:8s} ours {ours_ms:8.1f} ms  keras {reference_ms:8.1f} ms  "
            f"median ratio ours/keras: wall {wall_ratio:.3f}, process CPU time {cpu_ratio:.3f}",
            flush=True,
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternated timing rounds")
    parser.add_argument("--repeats", type=int, default=2, help="calls per round; the fastest counts")
    args = parser.parse_args()

    print(f"backend {keras.backend.backend()}, keras {keras.__version__}; batch {BATCH}, "
          f"length {LENGTH}, features {FEATURES}, units {UNITS}; {args.rounds} rounds")
    x = np.random.RandomState(0).normal(size=(BATCH, LENGTH, FEATURES)).astype("float32")
    compare(
        "LSTM",
        keras.layers.RNN(LSTMCell(UNITS), return_sequences=True),
        keras.layers.LSTM(UNITS, return_sequences=True),
        x,
        args.rounds,
        args.repeats,
    )
    compare(
        "GRU",
        keras.layers.RNN(GRUCell(UNITS), return_sequences=True),
        keras.layers.GRU(UNITS, return_sequences=True),
        x,
        args.rounds,
        args.repeats,
    )


if __name__ == "__main__":
    main()
