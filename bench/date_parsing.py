"""Date parsing in the wild: any parser against python-dateutil and dateparser, by family.

A parser is a callable ``(text, order) -> Answer`` or ``(text, order) ->
(Answer, confidence)`` (``data.date_strings.targets.Answer``; an exception
counts as "not a date"). Every parser is scored in the same run on three sets:

* ``generator``: the test split of ``data.date_strings.generator`` (``--generator-size``,
  seed ``--seed``), one family per example (``--generator-split validation`` for
  a validation check);
* ``writers``: strings written by other software (``data.date_strings.writers``);
* ``hand``: the hand-collected real-world strings (``hand_collected.tsv``);
* ``spoken``: dates as the speech recogniser's grammar says them
  (``data.spoken_forms.grammar.random_date``, another program's writer:
  ``the third of march nineteen seventy nine``, ``march three``, ``tuesday the
  fifth of may``; a day and month without a year is not a date), ``--spoken-size``
  strings, seed ``--seed``, order ``MDY``; the family is what was said
  (``date``, ``month_year``, ``no_year``);
* ``spoken_sentences``: the speech grammar's sentences
  (``grammar.generate_utterance(rng, "mixed")``: ``call me at twenty to five in
  the afternoon on the tenth of august nineteen ninety``, ``wake me up at
  seven a m``), ``--spoken-size`` of them, seed ``--seed``, order ``MDY``; the
  answer is the said date and time (a date without a year, or none: not a
  date), the family ``date``, ``date_time``, ``month_year`` or ``no_date``.

* ``leap_days`` (only when named in ``--sets``): 29 February of every year
  1000-2999 in six forms (``2004-02-29``, ``20040229``, ``29 Feb 2004``,
  ``February 29, 2004``, ``02/29/2004``, ``29.02.2004``): a leap year's is
  that day, a common year's "not a date"; families ``leap_<form>`` and
  ``common_<form>``. A check of the calendar, not a sample of the world.
* ``hand_validation`` (only when named in ``--sets``): the second hand-written
  list (``hand_validation.tsv``), for choosing; ``hand`` is scored once.

``--sets`` scores some of the sets only (the validation check of a model change
uses ``--sets spoken,spoken_sentences`` with a seed of its own, never the
bench's).

Figures per set and parser: date exact (the ``date`` field, over every input,
not-a-date inputs included), all exact (date, time and offset), time exact over
the inputs whose answer has a time, offset exact over those with an offset,
not-a-date recall and precision, the confident-wrong rate (answers not all
exact with a confidence at or above ``--threshold``; only for parsers that give
one) and strings/s (wall time of the calls, the reference's adapter included).
Then date exact (all exact in brackets) by family.

References, with the order passed as each one takes it:

* ``dateutil``: ``dateutil.parser.parse(text, dayfirst=order == "DMY",
  yearfirst=order == "YMD", fuzzy=False, tzinfos=<the documented zone table,
  data.date_strings.times.ZONES>)``. Which fields the string gave is found by
  parsing again with a second default that differs in every field, only when
  the first result shows a default value. No year or no month: not a date; no
  day: ``YYYY-MM``. A second row, ``dateutil (order ignored)``, always parses
  with dateutil's defaults (``dayfirst=False, yearfirst=False``).
* ``dateparser``: ``DateDataParser(languages=["en"], settings={"DATE_ORDER":
  order, "RETURN_TIME_AS_PERIOD": True, "PREFER_DAY_OF_MONTH": "first"})``;
  its ``period`` says what was given (``year``: not a date, ``month``:
  ``YYYY-MM``, ``time``: with a time).

    .venv/bin/python bench/date_parsing.py                      # references only
    .venv/bin/python bench/date_parsing.py --parser mymodule:parse   # a parser beside them
    .venv/bin/python bench/date_parsing.py --saved-model runs/date_translation   # our SavedModel beside them

``--serving-speed`` measures serving speed only: the SavedModels of
``--saved-model`` (or, with ``--untrained``, a freshly exported model of the
default size with its initial weights, and with ``--untrained-size``, one of
other ``Config`` sizes, e.g. ``decoder_units=32``; the speed of a batch depends on the
weights only through the early stop of decoding, so such a model gives a lower
bound) against bare ``dateutil.parser.parse(text)``, one call per string, on
the same ``--batch-size`` strings of each set, in alternated rounds
(``--rounds``, median), after warm-up rounds that compile every program the
strings need; ``uptime``'s load average before and after.

``--saved-model DIR`` scores a date translation SavedModel (``with_order``,
strings in and strings out) in batches of ``--batch-size`` (1,000) strings;
its strings/s are the wall time of those batched calls, after one warm-up batch
(XLA compiles a program per batch-size bucket once per process).
"""

import argparse
import collections
import datetime
import importlib
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.date_strings import generator, hand_collected, times, writers  # noqa: E402
from data.date_strings.targets import NOT_A_DATE, Answer, format_offset  # noqa: E402

# Two defaults that differ in every field (both leap years, so 29 February parses).
_DEFAULT_A = datetime.datetime(1904, 1, 1, 0, 0, 0)
_DEFAULT_B = datetime.datetime(1908, 2, 2, 1, 1, 1)


def _offset_seconds(offset):
    return (-1 if offset[0] == "-" else 1) * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)


_TZINFOS = {name: _offset_seconds(offset) for name, offset in times.ZONES.items() if " " not in name}


def _answer(year, month, day, clock, offset):
    """An ``Answer`` from the fields a reference found (``None`` for absent); impossible ones are not a date."""
    if year is None or month is None:
        return NOT_A_DATE
    try:
        if day is None:
            return Answer(f"{year:04d}-{month:02d}")
        date = f"{year:04d}-{month:02d}-{day:02d}"
        if clock is None:
            return Answer(date)
        return Answer(date, f"{clock.hour:02d}:{clock.minute:02d}:{clock.second:02d}", offset or "")
    except ValueError:
        return NOT_A_DATE


def dateutil_parser(use_order=True):
    from dateutil import parser as dateutil_parse

    def parse(text, order):
        if not use_order:
            order = "MDY"
        kwargs = dict(dayfirst=order == "DMY", yearfirst=order == "YMD", fuzzy=False, tzinfos=_TZINFOS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                first = dateutil_parse.parse(text, default=_DEFAULT_A, **kwargs)
            except (ValueError, OverflowError, TypeError, dateutil_parse.ParserError):
                return NOT_A_DATE
            fields = ("year", "month", "day", "hour", "minute", "second")
            given = {field: getattr(first, field) != getattr(_DEFAULT_A, field) for field in fields}
            if not all(given.values()):
                try:
                    second = dateutil_parse.parse(text, default=_DEFAULT_B, **kwargs)
                except (ValueError, OverflowError, TypeError, dateutil_parse.ParserError):
                    return NOT_A_DATE
                given = {field: getattr(first, field) == getattr(second, field) for field in fields}
        offset = first.utcoffset()
        return _answer(
            first.year if given["year"] else None,
            first.month if given["month"] else None,
            first.day if given["day"] else None,
            first.time() if given["hour"] or given["minute"] else None,
            format_offset(offset) if offset is not None else None,
        )

    return parse


def dateparser_parser():
    from dateparser.date import DateDataParser

    parsers = {}

    def parse(text, order):
        if order not in parsers:
            parsers[order] = DateDataParser(
                languages=["en"],
                settings={"DATE_ORDER": order, "RETURN_TIME_AS_PERIOD": True, "PREFER_DAY_OF_MONTH": "first"},
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = parsers[order].get_date_data(text)
        value = data.date_obj
        if value is None or data.period == "year":
            return NOT_A_DATE
        if data.period == "month":
            return _answer(value.year, value.month, None, None, None)
        offset = value.utcoffset()
        return _answer(
            value.year,
            value.month,
            value.day,
            value.time() if data.period == "time" else None,
            format_offset(offset) if offset is not None else None,
        )

    return parse


REFERENCES = {
    "dateutil": dateutil_parser,
    # dateutil's defaults whatever the order: dayfirst=True also turns ISO 2003-09-05 into 5 May, so this
    # row shows how much of dateutil's loss is its order handling.
    "dateutil (order ignored)": lambda: dateutil_parser(use_order=False),
    "dateparser": dateparser_parser,
}


def spoken_dates(n, seed):
    """``n`` dates as the speech grammar says them: ``(text, "MDY", answer, family)``."""
    import numpy as np

    from data.spoken_forms import grammar as spoken_grammar

    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        words, date_iso = spoken_grammar.random_date(rng)
        family = {10: "date", 7: "month_year"}.get(len(date_iso), "no_year")
        examples.append((words, "MDY", Answer(date_iso, "", "") if date_iso else NOT_A_DATE, family))
    return examples


def spoken_sentences(n, seed):
    """``n`` sentences of the speech grammar's ``mixed`` category: ``(text, "MDY", answer, family)``."""
    import numpy as np

    from data.spoken_forms import grammar as spoken_grammar

    rng = np.random.default_rng([seed, 31])
    examples = []
    for _ in range(n):
        utterance = spoken_grammar.generate_utterance(rng, "mixed")
        # A month and year has no time in the answer format ("can we do march nineteen forty one at eight").
        clock = f"{utterance.time}:00" if utterance.time and len(utterance.date_iso) == 10 else ""
        if not utterance.date_iso:
            answer, family = NOT_A_DATE, "no_date"
        else:
            answer = Answer(utterance.date_iso, clock, "")
            family = "month_year" if len(utterance.date_iso) == 7 else "date_time" if clock else "date"
        examples.append((utterance.text, "MDY", answer, family))
    return examples


# The 29 February of every year 1000-2999 in six forms: a leap year's is that day, a common year's "not a date".
LEAP_DAY_FORMS = {
    "iso": "{y}-02-29",
    "iso_basic": "{y}0229",
    "day_month": "29 Feb {y}",
    "month_day": "February 29, {y}",
    "us_numeric": "02/29/{y}",
    "dotted": "29.02.{y}",
}


def leap_days():
    """``(text, "MDY", answer, family)`` for 29 February of 1000-2999; family ``leap_<form>`` or ``common_<form>``."""
    import calendar

    examples = []
    for year in range(1000, 3000):
        leap = calendar.isleap(year)
        for form, pattern in LEAP_DAY_FORMS.items():
            answer = Answer(f"{year}-02-29", "", "") if leap else NOT_A_DATE
            examples.append((pattern.format(y=year), "MDY", answer, f"{'leap' if leap else 'common'}_{form}"))
    return examples


SETS = ("generator", "writers", "hand", "spoken", "spoken_sentences")
# Scored only when named in --sets.
EXTRA_SETS = ("leap_days", "hand_validation")
ALL_SETS = SETS + EXTRA_SETS


def build_sets(generator_size, writers_size, seed, spoken_size=0, names=SETS, generator_split="test"):
    unknown = set(names) - set(ALL_SETS)
    if unknown:
        raise ValueError(f"Unknown sets {sorted(unknown)}; expected some of {ALL_SETS}")
    makers = {
        "generator": lambda: [(e.text, e.order, e.answer, e.family)
                              for e in generator.generate(generator_size, generator_split, seed=seed)],
        "writers": lambda: writers.build(writers_size, seed=seed),
        "hand": hand_collected.load,
        "spoken": lambda: spoken_dates(spoken_size, seed),
        "spoken_sentences": lambda: spoken_sentences(spoken_size, seed),
        "leap_days": leap_days,
        "hand_validation": lambda: hand_collected.load(hand_collected.VALIDATION_PATH),
    }
    return {name: makers[name]() for name in ALL_SETS if name in names
            and not (name.startswith("spoken") and not spoken_size)}


class SavedModelParser:
    """A date translation SavedModel as a batched parser: ``parse_batch(texts, orders)``."""

    def __init__(self, model_dir, batch_size=1000):
        import tensorflow as tf

        from tasks.date_translation.evaluate import _saved_model_dir

        self.tf = tf
        path = model_dir if os.path.exists(os.path.join(model_dir, "saved_model.pb")) else _saved_model_dir(model_dir)
        self.serve = tf.saved_model.load(str(path)).signatures["with_order"]
        self.batch_size = batch_size
        self.parse_batch(["2003-09-25"] * batch_size, ["MDY"] * batch_size)  # warm-up: XLA compiles here

    def parse_batch(self, texts, orders):
        results = []
        for start in range(0, len(texts), self.batch_size):
            outputs = self.serve(text=self.tf.constant(texts[start:start + self.batch_size], self.tf.string),
                                 order=self.tf.constant(orders[start:start + self.batch_size], self.tf.string))
            columns = [[v.decode() for v in outputs[k].numpy()] for k in ("date", "time", "utc_offset")]
            for fields, confidence in zip(zip(*columns), outputs["confidence"].numpy().tolist()):
                results.append((Answer(*fields), confidence))
        return results


def run_parser(parse, examples):
    """Predictions ``(answer, confidence or None)`` and the wall seconds the calls took."""
    if hasattr(parse, "parse_batch"):
        start = time.perf_counter()
        predictions = parse.parse_batch([e[0] for e in examples], [e[1] for e in examples])
        return predictions, time.perf_counter() - start
    predictions = []
    start = time.perf_counter()
    for text, order, _, _ in examples:
        try:
            result = parse(text, order)
        except Exception:  # noqa: BLE001 - a parser that raises says "not a date"
            result = NOT_A_DATE
        predictions.append(result if isinstance(result, tuple) else (result, None))
    return predictions, time.perf_counter() - start


def score(examples, predictions, seconds, threshold):
    """The figures of one parser on one set (see the module docstring), and per-family counts."""
    totals = collections.Counter()
    by_family = collections.defaultdict(collections.Counter)
    for (_, _, gold, family), (predicted, confidence) in zip(examples, predictions):
        date_right = predicted.date == gold.date
        all_right = predicted == gold
        totals["n"] += 1
        totals["date"] += date_right
        totals["all"] += all_right
        by_family[family]["n"] += 1
        by_family[family]["date"] += date_right
        by_family[family]["all"] += all_right
        if gold.time:
            totals["with_time"] += 1
            totals["time"] += date_right and predicted.time == gold.time
        if gold.utc_offset:
            totals["with_offset"] += 1
            totals["offset"] += date_right and predicted.utc_offset == gold.utc_offset
        if not gold.date:
            totals["not_date"] += 1
            totals["not_date_found"] += not predicted.date
        if not predicted.date:
            totals["said_not_date"] += 1
            totals["said_not_date_right"] += not gold.date
        if confidence is not None:
            totals["with_confidence"] += 1
            totals["confident_wrong"] += confidence >= threshold and not all_right
    totals["seconds"] = seconds
    return totals, by_family


def _percent(part, whole):
    return "-" if not whole else f"{100 * part / whole:.1f}%"


def markdown(sets, results, threshold):
    """The tables: one summary row per (set, parser), then date exact by family per set."""
    parsers = list(next(iter(results.values())))
    lines = [
        "| set | parser | n | date exact | all exact | time exact | offset exact | not-a-date recall | not-a-date precision "
        f"| confident wrong (>= {threshold}) | strings/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for set_name in sets:
        for parser in parsers:
            totals, _ = results[set_name][parser]
            lines.append(
                f"| {set_name} | {parser} | {totals['n']:,} | {_percent(totals['date'], totals['n'])} "
                f"| {_percent(totals['all'], totals['n'])} | {_percent(totals['time'], totals['with_time'])} "
                f"| {_percent(totals['offset'], totals['with_offset'])} "
                f"| {_percent(totals['not_date_found'], totals['not_date'])} "
                f"| {_percent(totals['said_not_date_right'], totals['said_not_date'])} "
                f"| {_percent(totals['confident_wrong'], totals['with_confidence'])} "
                f"| {totals['n'] / totals['seconds']:,.0f} |"
            )
    for set_name in sets:
        families = sorted({family for _, _, _, family in sets[set_name]})
        lines += ["", f"Date exact (all exact) by family, {set_name} set:", ""]
        lines.append("| family | n | " + " | ".join(parsers) + " |")
        lines.append("| --- | --- |" + " --- |" * len(parsers))
        for family in families:
            cells = []
            for parser in parsers:
                counts = results[set_name][parser][1][family]
                cells.append(f"{_percent(counts['date'], counts['n'])} ({_percent(counts['all'], counts['n'])})")
            count = results[set_name][parsers[0]][1][family]["n"]
            lines.append(f"| {family} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plain_dateutil_rate(examples):
    """Strings/s of one bare ``dateutil.parser.parse(text)`` per string (the serving speed yardstick)."""
    from dateutil import parser as dateutil_parse

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text, _, _, _ in examples:
            try:
                dateutil_parse.parse(text)
            except (ValueError, OverflowError, dateutil_parse.ParserError):
                pass
    return len(examples) / (time.perf_counter() - start)


UNTRAINED = "untrained_date_model"


def load_average():
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def untrained_options(spec):
    """``"decoder_units=32,encoder_units=16"`` -> ``{"decoder_units": 32, "encoder_units": 16}`` (Config fields)."""
    import dataclasses

    from tasks.date_translation.config import Config

    fields = {field.name: field.type for field in dataclasses.fields(Config)}
    options = {}
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise ValueError(f"Invalid value for argument --untrained-size. Expected NAME=VALUE pairs of date "
                             f"translation Config fields. Received: {item!r}")
        options[name] = fields[name](value) if fields[name] in (int, float) else value
    return options


def untrained_name(options):
    size = ", ".join(f"{name}={value}" for name, value in options.items()) or "default size"
    return f"SavedModel untrained ({size})"


def export_untrained(directory, options=None):
    """A date translation SavedModel with its initial weights, of the default size or with ``options``
    (Config fields), in ``directory``."""
    from tasks.date_translation.config import Config
    from tasks.date_translation.export import export_model
    from tasks.date_translation.model import build_model

    config = Config(**(options or {}))
    export_model(build_model(config), config, directory)
    return directory


def serving_speed(model_dirs, sets, batch_size, rounds, names=None):
    """Strings/s of each SavedModel's ``with_order`` on ``batch_size`` strings of each set (one call) and of
    bare ``dateutil.parser.parse`` on the same strings, alternated round by round; medians."""
    import statistics

    lines = [f"Load average before: {load_average()}", "",
             f"| set | strings | reader | strings/s (median of {rounds}) | x dateutil |",
             "| --- | --- | --- | --- | --- |"]
    names = names or {}
    parsers = {names.get(d, f"SavedModel {d}"): SavedModelParser(d, batch_size) for d in model_dirs}
    for set_name, examples in sets.items():
        examples = examples[:batch_size]
        texts, orders = [e[0] for e in examples], [e[1] for e in examples]
        for parser in parsers.values():  # warm-up: the programs of this set's length buckets
            parser.parse_batch(texts, orders)
        times = {name: [] for name in ["dateutil.parser.parse", *parsers]}
        for _ in range(rounds):
            times["dateutil.parser.parse"].append(len(examples) / plain_dateutil_rate(examples))
            for name, parser in parsers.items():
                start = time.perf_counter()
                parser.parse_batch(texts, orders)
                times[name].append(time.perf_counter() - start)
        reference = len(examples) / statistics.median(times["dateutil.parser.parse"])
        for name, seconds in times.items():
            rate = len(examples) / statistics.median(seconds)
            lines.append(f"| {set_name} | {len(examples):,} | {name} | {rate:,.0f} | {rate / reference:.2f} |")
    lines += ["", f"Load average after: {load_average()}"]
    return "\n".join(lines)


def load_parser(spec):
    """``module:function`` -> the function (called with no arguments first when ``module:function()``)."""
    module_name, _, attribute = spec.partition(":")
    factory = attribute.endswith("()")
    function = getattr(importlib.import_module(module_name), attribute.removesuffix("()"))
    return function() if factory else function


def main(argv=None):
    arguments = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    arguments.add_argument("--generator-size", type=int, default=4000)
    arguments.add_argument("--writers-size", type=int, default=3000)
    arguments.add_argument("--seed", type=int, default=0)
    arguments.add_argument("--spoken-size", type=int, default=1000, help="strings of each spoken set (0: leave them out)")
    arguments.add_argument("--sets", default=",".join(SETS),
                           help=f"comma-separated names of the sets to score, of {','.join(ALL_SETS)}")
    arguments.add_argument("--generator-split", default="test", choices=("validation", "test"),
                           help="the generator split of the generator set (validation to choose, test to report)")
    arguments.add_argument("--threshold", type=float, default=0.5, help="confidence at or above which an answer counts as confident")
    arguments.add_argument("--parser", action="append", default=[], help="module:function (or module:factory()) to score beside the references")
    arguments.add_argument("--saved-model", action="append", default=[], help="a date translation run or SavedModel directory to score beside the references")
    arguments.add_argument("--batch-size", type=int, default=1000, help="strings per call of a --saved-model")
    arguments.add_argument("--references", default=",".join(REFERENCES), help="comma-separated names of REFERENCES")
    arguments.add_argument("--show-errors", type=int, default=0, help="print this many wrong answers per set and parser")
    arguments.add_argument("--serving-speed", action="store_true", help="measure serving speed only (see the module docstring)")
    arguments.add_argument("--untrained", action="store_true", help="with --serving-speed: also time an untrained default-size model")
    arguments.add_argument("--untrained-size", action="append", default=[], help="with --serving-speed: also time an untrained model with these Config fields (NAME=VALUE,...: e.g. decoder_units=32,encoder_units=16)")
    arguments.add_argument("--rounds", type=int, default=7, help="alternated rounds of --serving-speed")
    options = arguments.parse_args(argv)

    sets = build_sets(options.generator_size, options.writers_size, options.seed, options.spoken_size,
                      options.sets.split(","), options.generator_split)
    if options.serving_speed:
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            model_dirs, names = list(options.saved_model), {}
            sizes = ([{}] if options.untrained else []) + [untrained_options(s) for s in options.untrained_size]
            for index, size in enumerate(sizes):
                model_dirs.append(export_untrained(os.path.join(directory, f"{UNTRAINED}_{index}"), size))
                names[model_dirs[-1]] = untrained_name(size)
            print(serving_speed(model_dirs, sets, options.batch_size, options.rounds, names))
        return
    parsers = {spec: load_parser(spec) for spec in options.parser}
    for model_dir in options.saved_model:
        parsers[f"SavedModel {model_dir}"] = SavedModelParser(model_dir, options.batch_size)
    for name in filter(None, options.references.split(",")):
        parsers[name] = REFERENCES[name]()
    results = {set_name: {} for set_name in sets}
    for set_name, examples in sets.items():
        for name, parse in parsers.items():
            predictions, seconds = run_parser(parse, examples)
            results[set_name][name] = score(examples, predictions, seconds, options.threshold)
            wrong = [(e, p) for e, p in zip(examples, predictions) if p[0] != e[2]]
            for (text, order, gold, family), (predicted, _) in wrong[: options.show_errors]:
                print(f"{set_name} {name} {family}: {text!r} {order} -> {predicted.iso!r}, expected {gold.iso!r}")
    print(markdown(sets, results, options.threshold))
    rates = ", ".join(f"{name} {plain_dateutil_rate(examples):,.0f}" for name, examples in sets.items())
    print(f"\nBare dateutil.parser.parse(text), one call per string, strings/s: {rates}")


if __name__ == "__main__":
    main()
