"""Evaluation (date and time exact match by family, confident-wrong rate, reliability), heat map, commands.

    python -m tasks.date_translation translate --model DIR "3 may 1979" [--order DMY] [--json] [--file F]
                                               [--attention-plot out.png]
    python -m tasks.date_translation evaluate --model DIR --data F.jsonl [--reliability-plot out.png]
    python -m tasks.date_translation generate --split test --size 10000 --out F.jsonl

``DIR`` is a run directory (``DIR/saved_model``, ``DIR/model.keras``) or a
SavedModel directory itself. The data files hold one JSON object a line:
``text``, ``order``, ``date``, ``time``, ``utc_offset`` and ``family``.
"""

import argparse
import collections
import json
import os
import sys
from pathlib import Path

import numpy as np

from data.date_strings import generator
from data.date_strings.targets import Answer
from tasks.date_translation import data as date_data
from tasks.common.run_dir import RunDir

ATTENTION_PLOT = "attention.png"
RELIABILITY_PLOT = "reliability.png"
RELIABILITY_BINS = 10


def score_answers(answers, confidences, examples, threshold):
    """Exact match of ``answers`` (``Answer``) against generator-style ``examples``, by family.

    ``exact_match``: date, time and offset all right; ``date_exact``: the date
    field (over every input); ``time_exact``: date and time right, over the
    inputs whose answer has a time; ``confident_wrong``: share of all inputs
    answered not all right with confidence >= ``threshold``; not-a-date recall
    and precision; ``reliability``: per confidence bin, the count and the
    share all right.
    """
    totals = collections.Counter()
    families = collections.defaultdict(collections.Counter)
    bins = [collections.Counter() for _ in range(RELIABILITY_BINS)]
    for answer, confidence, example in zip(answers, confidences, examples):
        gold = example.answer
        right, date_right = answer == gold, answer.date == gold.date
        time_right = date_right and answer.time == gold.time
        for counter in (totals, families[example.family]):
            counter["count"] += 1
            counter["exact"] += right
            counter["date"] += date_right
            if gold.time:
                counter["with_time"] += 1
                counter["time"] += time_right
        totals["confident_wrong"] += (confidence >= threshold) and not right
        totals["not_date"] += not gold.date
        totals["not_date_found"] += (not gold.date) and not answer.date
        totals["said_not_date"] += not answer.date
        totals["said_not_date_right"] += (not answer.date) and not gold.date
        bin_ = bins[min(int(confidence * RELIABILITY_BINS), RELIABILITY_BINS - 1)]
        bin_["count"] += 1
        bin_["exact"] += right

    def share(part, whole):
        return part / whole if whole else None

    return {
        "count": totals["count"],
        "exact_match": share(totals["exact"], totals["count"]),
        "date_exact": share(totals["date"], totals["count"]),
        "time_exact": share(totals["time"], totals["with_time"]),
        "confident_wrong": share(totals["confident_wrong"], totals["count"]),
        "confidence_threshold": threshold,
        "not_a_date_recall": share(totals["not_date_found"], totals["not_date"]),
        "not_a_date_precision": share(totals["said_not_date_right"], totals["said_not_date"]),
        "by_family": {
            family: {"count": c["count"], "exact_match": share(c["exact"], c["count"]),
                     "date_exact": share(c["date"], c["count"]), "time_exact": share(c["time"], c["with_time"])}
            for family, c in sorted(families.items())
        },
        "reliability": [
            {"confidence_from": index / RELIABILITY_BINS, "confidence_to": (index + 1) / RELIABILITY_BINS,
             "count": b["count"], "exact_match": share(b["exact"], b["count"])}
            for index, b in enumerate(bins)
        ],
    }


def plot_reliability(reliability, path, title="reliability"):
    """Accuracy against confidence: one bar per bin (its count written on it), and the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4))
    for row in reliability:
        if row["count"]:
            middle = (row["confidence_from"] + row["confidence_to"]) / 2
            axis.bar(middle, row["exact_match"], width=0.09, color="tab:blue")
            axis.text(middle, row["exact_match"] + 0.01, str(row["count"]), ha="center", fontsize=7)
    axis.plot([0, 1], [0, 1], "k--", linewidth=1)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.08)
    axis.set_xlabel("confidence")
    axis.set_ylabel("exact match")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def decode_examples(model, examples, sequence_length, beam_width=1, batch_size=2000, not_a_date_above=None):
    """``Answer``s and confidences the Keras model decodes (constrained, with the not-a-date rule of
    ``not_a_date_above`` as the SavedModel serves it) for generator ``examples``."""
    import tensorflow as tf

    decode = tf.function(lambda x: model.decode(x, beam_width, not_a_date_above=not_a_date_above),
                         reduce_retracing=True)
    answers, confidences = [], []
    for start in range(0, len(examples), batch_size):
        inputs, _ = date_data.encode_pairs(examples[start:start + batch_size], sequence_length)
        ids, log_probs = decode(tf.constant(inputs))
        answers.extend(date_data.answers_of(ids))
        confidences.extend(np.exp(log_probs.numpy()).tolist())
    return answers, confidences


def plot_attention(model, text, sequence_length, path, order=date_data.DEFAULT_ORDER):
    """Heat map of the attention of each output character over the order token and input characters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    normalized = date_data.normalized(text)[:sequence_length - 1]
    inputs, _ = date_data.encode_inputs([text], [order], sequence_length)
    inputs = inputs[:, :len(normalized) + 1]
    output_ids, _ = model.decode(inputs, 1)
    weights = np.asarray(model.attention_weights(inputs, output_ids))[0]  # (19, T_x)
    answer = "".join(date_data.OUTPUT_CHARACTERS[i] for i in np.asarray(output_ids)[0])
    iso = date_data.answers_of(output_ids)[0].iso or "not a date"
    figure, axis = plt.subplots(figsize=(max(5, 0.3 * len(normalized) + 2), 5))
    axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0)
    axis.set_xticks(range(weights.shape[1]))
    axis.set_xticklabels([order] + list(normalized), fontsize=7)
    axis.set_yticks(range(len(answer)))
    axis.set_yticklabels(list(answer))
    axis.set_xlabel("order token, input characters (normalised)")
    axis.set_ylabel("output characters")
    axis.set_title(f"{text!r} -> {iso}\n({model.attention_description})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def evaluate_model(model, examples, config, out_dir):
    """Constrained greedy (and beam) exact match on generator ``examples`` by family; heat map and reliability PNGs."""
    from tasks.date_translation.model import rule_limit

    limit = rule_limit(config.not_a_date_above)
    answers, confidences = decode_examples(model, examples, config.sequence_length, 1, not_a_date_above=limit)
    greedy = score_answers(answers, confidences, examples, config.confidence_threshold)
    metrics = {
        "test_exact_match": greedy["exact_match"],
        "test_date_exact": greedy["date_exact"],
        "test_time_exact": greedy["time_exact"],
        "test_confident_wrong": greedy["confident_wrong"],
        "test_not_a_date_recall": greedy["not_a_date_recall"],
        "test_not_a_date_precision": greedy["not_a_date_precision"],
        "test_count": greedy["count"],
        "test_exact_match_by_family": {f: v["exact_match"] for f, v in greedy["by_family"].items()},
        "test_date_exact_by_family": {f: v["date_exact"] for f, v in greedy["by_family"].items()},
        "test_time_exact_by_family": {f: v["time_exact"] for f, v in greedy["by_family"].items()},
        "test_reliability": greedy["reliability"],
    }
    if config.beam_width > 1:
        beam_answers, beam_confidences = decode_examples(model, examples, config.sequence_length, config.beam_width,
                                                         not_a_date_above=limit)
        metrics["test_exact_match_beam"] = score_answers(
            beam_answers, beam_confidences, examples, config.confidence_threshold)["exact_match"]
    if out_dir is not None:
        plot_attention(model, "Wed, 17 Apr 2019 13:51:39 +0000", config.sequence_length,
                       Path(out_dir) / ATTENTION_PLOT)
        plot_reliability(greedy["reliability"], Path(out_dir) / RELIABILITY_PLOT, "generator test split")
    return metrics


# ---------------------------------------------------------------------------
# Commands.


def _saved_model_dir(model_dir):
    return RunDir.open(model_dir, "date_translation").saved_model_dir


def _run_config(model_dir):
    """Config of the run that wrote ``model_dir`` (defaults when absent)."""
    from tasks.date_translation.config import Config

    return RunDir.open(model_dir, "date_translation", needs=()).read_config(Config)


FIELDS = ("date", "time", "utc_offset", "iso")
DECODINGS = ("default", "greedy", "beam")


def query(loaded, texts, orders=None, decoding="default", batch_size=2000):
    """Answers of a loaded SavedModel: a list of dicts (``FIELDS`` and ``confidence``).

    ``orders`` (one a text) goes through ``with_order``; else the signature
    named by ``decoding`` reads every text under ``MDY``.
    """
    import tensorflow as tf

    results = []
    for start in range(0, len(texts), batch_size):
        text = tf.constant(texts[start:start + batch_size], tf.string)
        if orders is not None:
            outputs = loaded.signatures["with_order"](
                text=text, order=tf.constant(orders[start:start + batch_size], tf.string))
        else:
            outputs = loaded.signatures[{"default": "serving_default"}.get(decoding, decoding)](text=text)
        columns = {name: [v.decode() for v in outputs[name].numpy()] for name in FIELDS}
        confidences = outputs["confidence"].numpy().tolist()
        for row, confidence in enumerate(confidences):
            results.append(dict({name: columns[name][row] for name in FIELDS}, confidence=float(confidence)))
    return results


def _load(model_dir):
    import tensorflow as tf

    return tf.saved_model.load(str(_saved_model_dir(model_dir)))


def translate_command(argv):
    """translate dates: --model DIR TEXT... [--order DMY] [--json] [--file F] [--attention-plot out.png]"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation translate")
    parser.add_argument("texts", nargs="*", help="dates to translate")
    parser.add_argument("--model", required=True, help="run directory (or its saved_model/)")
    parser.add_argument("--file", help="read one date a line from this file ('-' for stdin)")
    parser.add_argument("--order", choices=date_data.ORDERS, default=None,
                        help="how to read ambiguous numeric dates (default MDY, as dateutil)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line with every field")
    parser.add_argument("--decoding", choices=DECODINGS, default="default",
                        help="SavedModel signature when no --order: serving_default (greedy unless the run set "
                             "serving_beam_width), greedy, or beam (width beam_width)")
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
    if args.order is not None and args.decoding != "default":
        parser.error("--order uses the with_order signature (the default decoding); drop --decoding")
    config = _run_config(args.model)
    threshold = config.confidence_threshold if args.threshold is None else args.threshold
    orders = None if args.order is None else [args.order] * len(texts)
    for text, result in zip(texts, query(_load(args.model), texts, orders, args.decoding)):
        if args.json:
            print(json.dumps(dict(text=text, **result)))
            continue
        answer = result["iso"] or "not a date"
        flag = f"\t# low confidence {result['confidence']:.2f}" if result["confidence"] < threshold else ""
        print(f"{answer}{flag}")
    if args.attention_plot:
        keras_path = RunDir.open(args.model, "date_translation", needs=("model.keras",)).model_path
        from tasks.date_translation.model import load_model

        plot_attention(load_model(keras_path), texts[0], config.sequence_length, args.attention_plot,
                       args.order or date_data.DEFAULT_ORDER)
        print(f"attention map of {texts[0]!r} written to {args.attention_plot}", file=sys.stderr)
    return 0


def write_examples(examples, path):
    with open(path, "w", encoding="utf-8") as handle:
        for e in examples:
            handle.write(json.dumps({"text": e.text, "order": e.order, "date": e.answer.date, "time": e.answer.time,
                                     "utc_offset": e.answer.utc_offset, "family": e.family}) + "\n")


def read_examples(path):
    examples = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                answer = Answer(row.get("date", ""), row.get("time", ""), row.get("utc_offset", ""))
                examples.append(generator.Example(row["text"], row.get("order", date_data.DEFAULT_ORDER), answer,
                                                  row.get("family", "")))
    return examples


def evaluate_command(argv):
    """date and time exact match of a SavedModel on a JSON-lines file, by family, as JSON"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation evaluate")
    parser.add_argument("--model", required=True, help="run directory (or its saved_model/)")
    parser.add_argument("--data", required=True, help="JSON lines: text, order, date, time, utc_offset, family")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence counted as confident (default: the run's confidence_threshold)")
    parser.add_argument("--reliability-plot", help="draw accuracy against confidence into this PNG")
    args = parser.parse_args(argv)
    if not os.path.exists(args.data):
        parser.error(f"no such file: {args.data}")
    examples = read_examples(args.data)
    config = _run_config(args.model)
    threshold = config.confidence_threshold if args.threshold is None else args.threshold
    results = query(_load(args.model), [e.text for e in examples], [e.order for e in examples])
    answers = [Answer(r["date"], r["time"], r["utc_offset"]) for r in results]
    result = score_answers(answers, [r["confidence"] for r in results], examples, threshold)
    if args.reliability_plot:
        plot_reliability(result["reliability"], args.reliability_plot, Path(args.data).name)
    print(json.dumps(result, indent=2))
    return 0


def generate_command(argv):
    """write held-out examples as JSON lines for `evaluate`: --split test --size N --out F.jsonl"""
    parser = argparse.ArgumentParser(prog="python -m tasks.date_translation generate")
    parser.add_argument("--split", default="test", choices=generator.SPLITS)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_examples(generator.generate(args.size, args.split, seed=args.seed), args.out)
    print(f"{args.size} {args.split} examples written to {args.out}", file=sys.stderr)
    return 0
