"""Synthetic human-written dates paired with their ISO 8601 form.

The generator behind the date translation task (``tasks/date_translation``):
``"Saturday, May 9, 2018"``, ``"3rd of march 1979"``, ``"12.05.07"`` and
``"05/03/1979"`` become ``"2018-05-09"``, ``"1979-03-03"``, ``"2007-05-12"`` and
``"1979-05-03"``.

* Dates are drawn uniformly from 1900-01-01 to 2099-12-31. Formats that print a
  two-digit year are only drawn inside the POSIX ``%y`` window (69-99 ->
  1969-1999, 00-68 -> 2000-2068), so every two-digit string has one answer.
  Slashes are month first (US), dots day first (European).
* Every format family of ``FORMATS`` is drawn with the same probability. The
  CLDR patterns are printed with Babel (``en_US``) and use ``y`` (calendar year),
  never ``Y`` (week-based year, which prints 29 Dec 1909 as 1910).
* Each string then gets random letter case, commas kept or dropped, and
  surrounding and repeated spaces (``add_noise``). ``normalize`` undoes all of
  that (ASCII lower case, commas to spaces, runs of white space to one space,
  stripped); the exported model applies the same normalisation in its graph.
* The split of a pair is a hash of its *normalised* human string, so train,
  validation and test never share a human string (not even one that differs
  only in case, commas or spaces), whatever the sizes asked for.

Everything is deterministic in ``seed``.
"""

import csv
import dataclasses
import datetime
import random
import re
import zlib

import babel.dates

LOCALE = "en_US"
MIN_DATE = datetime.date(1900, 1, 1)
MAX_DATE = datetime.date(2099, 12, 31)
# The POSIX %y pivot: two-digit years 69-99 are 1969-1999, 00-68 are 2000-2068.
TWO_DIGIT_MIN_DATE = datetime.date(1969, 1, 1)
TWO_DIGIT_MAX_DATE = datetime.date(2068, 12, 31)

# Characters of a normalised human string. Anything else maps to an "unknown"
# id in the models (see ``tasks/date_translation/export.py`` for the policy).
INPUT_CHARACTERS = " -./0123456789abcdefghijklmnopqrstuvwxyz"
# Characters of an ISO date; the models add their own start token.
OUTPUT_CHARACTERS = "0123456789-"
OUTPUT_LENGTH = 10  # len("yyyy-mm-dd")

SPLITS = ("train", "validation", "test")
# Shares of the hash space; the test split is large enough to draw 10,000
# distinct held-out strings quickly.
SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _ordinal(day):
    if day in (11, 12, 13):
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _month_name(date):
    return babel.dates.format_date(date, "MMMM", locale=LOCALE)


def _babel(pattern):
    def format_fn(date):
        return babel.dates.format_date(date, pattern, locale=LOCALE)

    return format_fn


@dataclasses.dataclass(frozen=True)
class DateFormat:
    """One format family: how to print a date, and whether its year has two digits."""

    format_fn: object
    two_digit_year: bool = False


# Family name -> format. The first block is the course's list (its `YYY`/`YY`
# written as calendar-year `y`/`yy`), the second the families added beyond it.
FORMATS = {
    "short": DateFormat(_babel("short"), two_digit_year=True),  # 5/9/18
    "medium": DateFormat(_babel("medium")),  # May 9, 2018
    "long": DateFormat(_babel("long")),  # May 9, 2018 (full month name)
    "full": DateFormat(_babel("full")),  # Wednesday, May 9, 2018
    "d MMM y": DateFormat(_babel("d MMM y")),
    "d MMMM y": DateFormat(_babel("d MMMM y")),
    "dd MMM y": DateFormat(_babel("dd MMM y")),
    "d MMM, y": DateFormat(_babel("d MMM, y")),
    "d MMMM, y": DateFormat(_babel("d MMMM, y")),
    "dd, MMM y": DateFormat(_babel("dd, MMM y")),
    "d MM yy": DateFormat(_babel("d MM yy"), two_digit_year=True),
    "MMMM d y": DateFormat(_babel("MMMM d y")),
    "MMMM d, y": DateFormat(_babel("MMMM d, y")),
    "dd.MM.yy": DateFormat(_babel("dd.MM.yy"), two_digit_year=True),
    # Additions.
    "yyyy-MM-dd": DateFormat(_babel("yyyy-MM-dd")),  # ISO: the identity
    "MM/dd/yyyy": DateFormat(_babel("MM/dd/yyyy")),  # US numeric
    "M/d/yy": DateFormat(_babel("M/d/yy"), two_digit_year=True),  # same as short in en_US
    "dd.MM.yyyy": DateFormat(_babel("dd.MM.yyyy")),  # European numeric
    "EEE, MMM d, y": DateFormat(_babel("EEE, MMM d, y")),
    "EEE d MMM y": DateFormat(_babel("EEE d MMM y")),
    "MMMM do, y": DateFormat(lambda d: f"{_month_name(d)} {_ordinal(d.day)}, {d.year}"),
    "do of MMMM y": DateFormat(lambda d: f"{_ordinal(d.day)} of {_month_name(d)} {d.year}"),
    "the do of MMMM y": DateFormat(
        lambda d: f"the {_ordinal(d.day)} of {_month_name(d)} {d.year}"
    ),
}
FAMILIES = tuple(FORMATS)


@dataclasses.dataclass(frozen=True)
class DatePair:
    human: str
    iso: str
    family: str


def pivot_two_digit_year(two_digit_year):
    """The POSIX ``%y`` rule: 69-99 -> 1969-1999, 00-68 -> 2000-2068."""
    if not 0 <= two_digit_year <= 99:
        raise ValueError(f"Expected a two-digit year 0-99. Received: {two_digit_year}")
    return 1900 + two_digit_year if two_digit_year >= 69 else 2000 + two_digit_year


def format_date(date, family):
    """``date`` printed in format ``family`` (no case/comma/space noise)."""
    if family not in FORMATS:
        raise ValueError(f"Unknown date format family {family!r}. Expected one of {FAMILIES}")
    spec = FORMATS[family]
    if spec.two_digit_year and not TWO_DIGIT_MIN_DATE <= date <= TWO_DIGIT_MAX_DATE:
        raise ValueError(
            f"Format {family!r} prints a two-digit year; {date} is outside the %y window "
            f"{TWO_DIGIT_MIN_DATE}..{TWO_DIGIT_MAX_DATE}"
        )
    return spec.format_fn(date)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Explicit ASCII white space: TensorFlow's RE2 `\s` and Python's `\s` disagree on
# Unicode spaces, and the exported graph must normalise exactly like this.
WHITESPACE_PATTERN = "[ \t\n\r\f\v]+"
_WHITESPACE = re.compile(WHITESPACE_PATTERN)


def normalize(text):
    """ASCII lower case, commas to spaces, white-space runs to one space, stripped.

    The exported SavedModel does the same with ``tf.strings`` ops
    (``tasks/date_translation/export.py``); a test checks that they agree.
    """
    text = text.translate(_ASCII_LOWER).replace(",", " ")
    return _WHITESPACE.sub(" ", text).strip(" ")


def _random_case(text, rng):
    style = rng.randrange(5)
    if style == 0:
        return text
    if style == 1:
        return text.lower()
    if style == 2:
        return text.upper()
    if style == 3:
        return text.title()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def add_noise(text, rng):
    """Random letter case, commas kept or dropped, extra and surrounding spaces."""
    text = _random_case(text, rng)
    if rng.random() < 0.5:
        text = text.replace(",", "")
    if rng.random() < 0.3:
        text = text.replace(" ", "  " if rng.random() < 0.5 else " " * rng.randint(2, 4))
    if rng.random() < 0.3:
        text = " " * rng.randint(1, 3) + text
    if rng.random() < 0.3:
        text = text + " " * rng.randint(1, 3)
    return text


def split_of(text):
    """The split a human string belongs to: a stable hash of its normalised form."""
    bucket = zlib.crc32(normalize(text).encode("utf-8")) % 1000 / 1000.0
    if bucket < SPLIT_SHARES["train"]:
        return "train"
    if bucket < SPLIT_SHARES["train"] + SPLIT_SHARES["validation"]:
        return "validation"
    return "test"


def random_date(rng, family=None):
    """A date drawn uniformly from the window that ``family`` can print."""
    low, high = MIN_DATE, MAX_DATE
    if family is not None and FORMATS[family].two_digit_year:
        low, high = TWO_DIGIT_MIN_DATE, TWO_DIGIT_MAX_DATE
    return low + datetime.timedelta(days=rng.randrange((high - low).days + 1))


def generate(num_examples, split="train", seed=0, families=None, noise=True):
    """``num_examples`` distinct pairs of ``split``, deterministic in ``seed``.

    Format families are drawn uniformly (from ``families``, default all of them);
    pairs whose normalised human string hashes to another split, or repeats one
    already drawn, are skipped.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}. Expected one of {SPLITS}")
    families = tuple(families or FAMILIES)
    for family in families:
        if family not in FORMATS:
            raise ValueError(f"Unknown date format family {family!r}")
    rng = random.Random(f"dates-{seed}-{split}")
    pairs, seen = [], set()
    attempts = 0
    while len(pairs) < num_examples:
        attempts += 1
        if attempts > 100 * num_examples + 10_000:
            raise ValueError(
                f"Could not draw {num_examples} distinct {split} pairs from {families}"
            )
        family = families[rng.randrange(len(families))]
        date = random_date(rng, family)
        human = format_date(date, family)
        if noise:
            human = add_noise(human, rng)
        key = normalize(human)
        if key in seen or split_of(key) != split:
            continue
        seen.add(key)
        pairs.append(DatePair(human, date.isoformat(), family))
    return pairs


def write_tsv(pairs, path):
    """One ``human<TAB>iso<TAB>family`` line per pair (the ``evaluate`` command's input)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        for pair in pairs:
            writer.writerow([pair.human, pair.iso, pair.family])


def read_tsv(path):
    """Pairs from ``human<TAB>iso[<TAB>family]`` lines; a missing family reads as ""."""
    pairs = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL):
            if not row:
                continue
            if len(row) < 2:
                raise ValueError(f"{path}: expected human<TAB>iso[<TAB>family], got {row!r}")
            pairs.append(DatePair(row[0], row[1], row[2] if len(row) > 2 else ""))
    return pairs


def encode_input(text, sequence_length):
    """Ids of ``normalize(text)``: 0 padding, 1 unknown, 2.. the characters.

    Longer strings are cut to ``sequence_length`` characters (the exported
    model does the same and reports confidence 0 for them).
    """
    text = normalize(text)[:sequence_length]
    ids = [INPUT_CHARACTERS.find(c) + 2 if c in INPUT_CHARACTERS else 1 for c in text]
    return ids + [0] * (sequence_length - len(ids))


def encode_output(iso):
    """Ids of an ISO date over ``OUTPUT_CHARACTERS``."""
    if len(iso) != OUTPUT_LENGTH:
        raise ValueError(f"Expected an ISO date yyyy-mm-dd. Received: {iso!r}")
    return [OUTPUT_CHARACTERS.index(c) for c in iso]


def decode_output(ids):
    return "".join(OUTPUT_CHARACTERS[i] for i in ids)


def as_dataset(pairs, sequence_length):
    """``tf.data.Dataset`` of (input ids [sequence_length], output ids [10]) int32 pairs."""
    import numpy as np
    import tensorflow as tf

    inputs = np.array([encode_input(p.human, sequence_length) for p in pairs], dtype="int32")
    outputs = np.array([encode_output(p.iso) for p in pairs], dtype="int32")
    inputs = inputs.reshape(len(pairs), sequence_length)
    outputs = outputs.reshape(len(pairs), OUTPUT_LENGTH)
    return tf.data.Dataset.from_tensor_slices((inputs, outputs))
