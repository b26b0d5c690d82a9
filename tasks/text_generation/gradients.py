"""Vanishing gradients, measured: how much the loss at the last step depends on earlier inputs.

For a sequence x<1>..x<T> and a loss L computed from the output at the last step
only, back-propagation through time gives

    dL/dx<t> = dL/da<T> * (prod_{s=t+1..T} da<s>/da<s-1>) * da<t>/dx<t>

In a plain RNN each factor da<s>/da<s-1> = diag(g'(.)) W_aa tends to shrink vectors,
so ||dL/dx<t>|| decays roughly geometrically with the distance T - t: the network
cannot learn that an early character matters. The GRU's update gate and the LSTM's
additive memory c<t> = Γu * c̃<t> + Γf * c<t-1> give the gradient a path with factors
near 1. This module measures ||dL/dx<t>|| for the three cells of ``layers/`` at
initialisation (random inputs, random targets, averaged over a batch and several
seeds) and plots it against the distance from the last step, normalised so the
last step is 1.

What it shows at initialisation (60 steps, 64 units, 3 seeds; see the JSON for the numbers):
the LSTM's gradient decays slowest (its forget-gate bias starts at 1, so Γf ≈ 0.73), the
SimpleRNN's about 1000x more over 59 steps, and the GRU's fastest: with its gate biases at 0
the update gate starts near 0.5 and carries only about half of the state on each step. The gates are what
training adjusts to keep information; the plain RNN has no such knob, which is why it cannot
learn long dependencies, while at initialisation the GRU merely has not learned to use its.

    python -m tasks.text_generation gradients --out runs/gradients --sequence-length 60
"""

import argparse
import json
from pathlib import Path

CELL_LABELS = {"simple_rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def gradient_norms(cell, sequence_length=60, units=64, input_dim=16, num_classes=10, batch_size=32, seed=0):
    """Mean over the batch of ||dL/dx<t>|| for t = 1..T (numpy array of length T).

    L is the cross-entropy of a dense softmax read-out of the last output a<T>
    against random class targets; the cell has its default initialisers.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from tasks.text_generation.model import make_cell

    keras.utils.set_random_seed(seed)
    rnn = keras.layers.RNN(make_cell(cell, units, seed=seed))
    readout = keras.layers.Dense(num_classes)
    rng = np.random.default_rng(seed)
    inputs = tf.constant(rng.normal(size=(batch_size, sequence_length, input_dim)).astype("float32"))
    targets = tf.constant(rng.integers(0, num_classes, size=(batch_size,)))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        logits = readout(rnn(inputs))
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits))
    gradients = tape.gradient(loss, inputs)  # (batch, time, input_dim)
    return tf.reduce_mean(tf.norm(gradients, axis=-1), axis=0).numpy()


def compare_cells(cells=("simple_rnn", "gru", "lstm"), sequence_length=60, units=64, num_seeds=3, **kwargs):
    """{cell: normalised norms} where entry k is ||dL/dx<T-k>|| / ||dL/dx<T>||, averaged over seeds."""
    import numpy as np

    results = {}
    for cell in cells:
        runs = [gradient_norms(cell, sequence_length, units, seed=seed, **kwargs) for seed in range(num_seeds)]
        # Reverse time so index k is the distance from the last step, then normalise by the last step.
        normalised = [run[::-1] / run[-1] for run in runs]
        results[cell] = np.exp(np.mean(np.log(normalised), axis=0))
    return results


def plot(results, path, units):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4.2))
    for cell, norms in results.items():
        axis.semilogy(range(len(norms)), norms, marker=".", label=CELL_LABELS.get(cell, cell))
    axis.set_xlabel("distance from the last step, T - t")
    axis.set_ylabel("||dL<T>/dx<t>|| / ||dL<T>/dx<T>||")
    axis.set_title(f"Gradient of the last-step loss w.r.t. earlier inputs ({units} units, at initialisation)")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradients_command(argv):
    """write the vanishing-gradient plot (SimpleRNN vs GRU vs LSTM): --out DIR"""
    parser = argparse.ArgumentParser(prog="python -m tasks.text_generation gradients")
    parser.add_argument("--out", default="runs/text_generation_gradients", help="directory for the PNG and JSON")
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--num-seeds", type=int, default=3, help="initialisations averaged (geometric mean)")
    args = parser.parse_args(argv)
    if args.sequence_length < 2 or args.units < 1 or args.num_seeds < 1:
        parser.error("need --sequence-length >= 2, --units >= 1 and --num-seeds >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = compare_cells(sequence_length=args.sequence_length, units=args.units, num_seeds=args.num_seeds)
    plot(results, out / "vanishing_gradients.png", args.units)
    summary = {cell: {"distance_10": float(n[min(10, len(n) - 1)]), "distance_max": float(n[-1])}
               for cell, n in results.items()}
    (out / "vanishing_gradients.json").write_text(json.dumps(
        {"sequence_length": args.sequence_length, "units": args.units,
         "normalised_norms": {c: n.tolist() for c, n in results.items()}, "summary": summary}, indent=2))
    for cell, values in summary.items():
        print(f"{CELL_LABELS[cell]:<10} gradient 10 steps back: {values['distance_10']:.2e}   "
              f"{args.sequence_length - 1} steps back: {values['distance_max']:.2e}   (last step = 1)")
    print(f"wrote {out / 'vanishing_gradients.png'}")
    return 0
