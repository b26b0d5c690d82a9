"""Error analysis of a date translation run: for each wrong date, is the search or the model at fault?

Decodes the run's test split with the model's own search (``model.decode``) and
scores the reference and the answer with its teacher-forced probabilities
(``tasks.common.error_analysis``, generic over any teacher-forced model):

    python -m tasks.date_translation.error_analysis --run runs/date_translation --beam-width 3
"""

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from tasks.common.error_analysis import analyze_errors, teacher_forced_scorer


def analyze_date_translation(run_dir, beam_width=None, size=None, batch_size=500):
    """Error analysis of a trained date translation run on its test split."""
    import tensorflow as tf

    from data.date_strings import generator
    from tasks.date_translation.data import OUTPUT_CHARACTERS, encode_pairs
    from tasks.date_translation.model import decoder_inputs, load_model, rule_limit

    run_dir = Path(run_dir)
    saved = json.loads((run_dir / "config.json").read_text())
    model = load_model(run_dir / "model.keras")
    beam_width = int(beam_width or saved.get("beam_width", 1))
    size = int(size or saved.get("test_size", 10000))
    sequence_length = int(saved.get("sequence_length", 96))
    pairs = generator.generate(size, "test", seed=int(saved.get("seed", 0)))
    # The answers, decoded as the SavedModel serves them: an impossible date the rule turns into "not a
    # date" is right, not an error.
    inputs, references = encode_pairs(pairs, sequence_length, readings=False)
    limit = rule_limit(float(saved.get("not_a_date_above", 1.0)))

    decode = tf.function(lambda ids: model.decode(ids, beam_width=beam_width, not_a_date_above=limit))
    outputs = np.concatenate([decode(tf.constant(inputs[i : i + batch_size]))[0].numpy()
                              for i in range(0, len(inputs), batch_size)])
    analysis = analyze_errors(
        teacher_forced_scorer(model, decoder_inputs),
        inputs, references, outputs,
        describe_input=lambda row: f"{pairs[row].order} {pairs[row].text}",
        describe_target=lambda ids: "".join(OUTPUT_CHARACTERS[i] for i in ids),
    )
    return analysis, beam_width, pairs


def errors_by_family(analysis, pairs):
    """{format family: {"errors": n, "search_at_fault": n, "model_at_fault": n}} of the date test set."""
    families = {}
    for record in analysis.records:
        counts = families.setdefault(pairs[record.index].family, {"errors": 0, "search_at_fault": 0, "model_at_fault": 0})
        counts["errors"] += 1
        counts[f"{record.at_fault}_at_fault"] += 1
    return dict(sorted(families.items(), key=lambda item: -item[1]["errors"]))


def error_analysis_command(argv=None):
    """attribute each wrong test date to the search or the model: --run DIR [--beam-width N]"""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.date_translation.error_analysis",
        description="Attribute each wrong date translation to the search (P(y*|x) > P(y^|x)) or to the model.")
    parser.add_argument("--run", default="runs/date_translation", help="run directory of the date translation task")
    parser.add_argument("--beam-width", type=int, default=0, help="beam to decode with (default: the run's config)")
    parser.add_argument("--size", type=int, default=0, help="test examples (default: the run's test_size)")
    parser.add_argument("--show", type=int, default=20, help="errors to list")
    parser.add_argument("--out", default="", help="write the records and totals to this JSON file")
    args = parser.parse_args(argv)
    if not (Path(args.run) / "model.keras").exists():
        print(f"error: {Path(args.run) / 'model.keras'} not found: train first with "
              f"`python -m tasks.date_translation train --out {args.run}`", file=sys.stderr)
        return 2
    analysis, beam_width, pairs = analyze_date_translation(args.run, args.beam_width or None, args.size or None)
    by_family = errors_by_family(analysis, pairs)
    print(f"date translation test set, beam width {beam_width}")
    print(analysis.table(args.show))
    if by_family:
        print("errors by format family: " + ", ".join(
            f"{family} {c['errors']} ({c['search_at_fault']} search)" for family, c in by_family.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"beam_width": beam_width, "summary": analysis.summary(), "by_family": by_family,
             "records": [dataclasses.asdict(r) for r in analysis.records]}, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(error_analysis_command())
