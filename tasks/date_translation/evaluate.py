"""Exact-match evaluation, the attention heat map, and the task's commands.

    python -m tasks.date_translation translate --model DIR "3 may 1979" [--file F] [--attention-plot out.png]
    python -m tasks.date_translation evaluate --model DIR --data F.tsv
    python -m tasks.date_translation generate --split test --size 10000 --out F.tsv

``DIR`` is a run directory (``DIR/saved_model``, ``DIR/model.keras``) or a
SavedModel directory itself.
"""

import argparse
import collections
import json
import os
import sys
from pathlib import Path

import numpy as np

from data import dates
from tasks.common.run_dir import RunDir

ATTENTION_PLOT = "attention.png"


def exact_match_by_family(predicted, pairs):
    """{"exact_match": overall, "by_family": {family: {"exact_match", "count"}}}."""
    hits = collections.defaultdict(int)
    counts = collections.defaultdict(int)
    for answer, pair in zip(predicted, pairs):
        counts[pair.family] += 1
        hits[pair.family] += int(answer == pair.iso)
    total = sum(counts.values())
    by_family = {
        family: {"exact_match": hits[family] / counts[family], "count": counts[family]}
        for family in sorted(counts)
        if family
    }
    return {"exact_match": sum(hits.values()) / total if total else 0.0, "count": total, "by_family": by_family}


def decode_pairs(model, pairs, sequence_length, beam_width=1, batch_size=2000):
    """ISO strings the Keras model decodes for ``pairs`` (greedy or beam)."""
    import tensorflow as tf

    decode = tf.function(lambda x: model.decode(x, beam_width), reduce_retracing=True)
    answers = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        inputs = np.array([dates.encode_input(p.human, sequence_length) for p in batch], "int32")
        ids, _ = decode(tf.constant(inputs))
        answers.extend(dates.decode_output(row) for row in ids.numpy())
    return answers


def plot_attention(model, text, sequence_length, path):
    """Heat map of the attention of each output character over the input characters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    normalized = dates.normalize(text)[:sequence_length]
    inputs = np.array([dates.encode_input(text, sequence_length)[: max(len(normalized), 1)]], "int32")
    output_ids, _ = model.decode(inputs, 1)
    weights = np.asarray(model.attention_weights(inputs, output_ids))[0]  # (10, T_x)
    answer = dates.decode_output(np.asarray(output_ids)[0])
    figure, axis = plt.subplots(figsize=(max(4, 0.35 * len(normalized) + 2), 4))
    axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0)
    axis.set_xticks(range(weights.shape[1]))
    axis.set_xticklabels(list(normalized) or [""], fontsize=8)
    axis.set_yticks(range(len(answer)))
    axis.set_yticklabels(list(answer))
    axis.set_xlabel("input characters (normalised)")
    axis.set_ylabel("output characters")
    axis.set_title(f"{text!r} -> {answer}\n({model.attention_description})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def evaluate_model(model, pairs, config, out_dir):
    """Greedy and beam exact match on ``pairs``, overall and by format family; heat map PNG."""
    greedy = exact_match_by_family(decode_pairs(model, pairs, config.sequence_length, 1), pairs)
    metrics = {
        "test_exact_match": greedy["exact_match"],
        "test_count": greedy["count"],
        "test_exact_match_by_family": {f: v["exact_match"] for f, v in greedy["by_family"].items()},
    }
    if config.beam_width > 1:
        beam = exact_match_by_family(
            decode_pairs(model, pairs, config.sequence_length, config.beam_width), pairs)
        metrics["test_exact_match_beam"] = beam["exact_match"]
    if out_dir is not None:
        plot_attention(model, "Saturday, May 9, 2018", config.sequence_length,
                       Path(out_dir) / ATTENTION_PLOT)
    return metrics


# ---------------------------------------------------------------------------
# Commands.


def _saved_model_dir(model_dir):
    return RunDir.open(model_dir, "date_translation").saved_model_dir


def _run_config(model_dir):
    """Config of the run that wrote ``model_dir`` (defaults when absent)."""
    from tasks.date_translation.config import Config

    return RunDir.open(model_dir, "date_translation", needs=()).read_config(Config)


def _query(model_dir, texts, signature="serving_default", batch_size=2000):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(_saved_model_dir(model_dir)))
    serve = loaded.signatures[signature]
    answers, confidences = [], []
    for start in range(0, len(texts), batch_size):
        outputs = serve(text=tf.constant(texts[start:start + batch_size], tf.string))
        answers.extend(d.decode() for d in outputs["date"].numpy())
        confidences.extend(float(c) for c in outputs["confidence"].numpy())
    return answers, confidences


def translate_command(argv):
    """translate dates: --model DIR TEXT... [--file F] [--attention-plot out.png]"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation translate")
    parser.add_argument("texts", nargs="*", help="dates to translate")
    parser.add_argument("--model", required=True, help="run directory (or its saved_model/)")
    parser.add_argument("--file", help="read one date a line from this file ('-' for stdin)")
    parser.add_argument("--decoding", choices=("default", "greedy", "beam"), default="default",
                        help="SavedModel signature: serving_default (greedy unless the run set serving_beam_width), "
                             "greedy, or beam (width beam_width)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="flag answers with lower confidence (default: the run's confidence_threshold)")
    parser.add_argument("--attention-plot", help="draw the attention map of the first input into this PNG")
    args = parser.parse_args(argv)
    texts = list(args.texts)
    if args.file:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
        with handle:
            texts.extend(line.rstrip("\n") for line in handle)
    if not texts:
        parser.error("give dates as arguments or with --file")
    config = _run_config(args.model)
    threshold = config.confidence_threshold if args.threshold is None else args.threshold
    answers, confidences = _query(args.model, texts, {"default": "serving_default"}.get(args.decoding, args.decoding))
    for answer, confidence in zip(answers, confidences):
        flag = f"\t# low confidence {confidence:.2f}: probably not a date" if confidence < threshold else ""
        print(f"{answer}{flag}")
    if args.attention_plot:
        keras_path = RunDir.open(args.model, "date_translation", needs=("model.keras",)).model_path
        from tasks.date_translation.model import load_model

        model = load_model(keras_path)
        plot_attention(model, texts[0], config.sequence_length, args.attention_plot)
        print(f"attention map of {texts[0]!r} written to {args.attention_plot}", file=sys.stderr)
    return 0


def evaluate_command(argv):
    """exact match of a SavedModel on a human<TAB>iso[<TAB>family] file, as JSON"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation evaluate")
    parser.add_argument("--model", required=True, help="run directory (or its saved_model/)")
    parser.add_argument("--data", required=True, help="TSV file: human<TAB>iso[<TAB>family] a line")
    parser.add_argument("--decoding", choices=("default", "greedy", "beam"), default="default",
                        help="SavedModel signature: serving_default (greedy unless the run set serving_beam_width), "
                             "greedy, or beam (width beam_width)")
    args = parser.parse_args(argv)
    if not os.path.exists(args.data):
        parser.error(f"no such file: {args.data}")
    pairs = dates.read_tsv(args.data)
    answers, _ = _query(args.model, [p.human for p in pairs], {"default": "serving_default"}.get(args.decoding, args.decoding))
    result = exact_match_by_family(answers, pairs)
    print(json.dumps(result, indent=2))
    return 0


def generate_command(argv):
    """write held-out pairs as a TSV for `evaluate`: --split test --size N --out F.tsv"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation generate")
    parser.add_argument("--split", default="test", choices=dates.SPLITS)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    dates.write_tsv(dates.generate(args.size, args.split, seed=args.seed), args.out)
    print(f"{args.size} {args.split} pairs written to {args.out}", file=sys.stderr)
    return 0
