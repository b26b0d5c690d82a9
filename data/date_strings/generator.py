"""The seeded, split-aware generator of (input string, order, answer, family) examples.

* Families: every date family of ``grammar.FAMILIES`` and every not-a-date
  family of ``not_dates.FAMILIES``. Examples come in blocks that hold each
  family once, in a shuffled order, so any ``n >= len(ALL_FAMILIES)`` examples
  cover every family and the shares are equal.
* Dates: half uniform over 1000-01-01..2999-12-31, half over 1900-2099 (where
  most real dates are); 2% are 29 February of a leap year (``LEAP_DAY_RATE``). Families that print a two-digit year may print it only
  inside the POSIX window 1969-2068; outside it they print four digits.
  Times are uniform over the day with microseconds, noon and midnight drawn 3%
  of the time each.
* Orders: ``MDY`` 50%, ``DMY`` 30%, ``YMD`` 20% per example. The answer is
  what the *string* means under the order (``targets``), so an ambiguous string
  written day first gets its month-first reading under ``MDY``.
* Splits: the calendar is split, not the strings. A date answer belongs to
  ``split_of_key(answer.date)`` (80/10/10 of a CRC-32 of ``YYYY-MM-DD`` or
  ``YYYY-MM``), and an example is kept only in its answer's split, so train,
  validation and test never share an answer date (nor, for month-and-year
  answers, a month). Not-a-date strings are split on their ``noise.normalized_key``.
  Each split also draws from its own random stream (``f"{seed}/{split}"``).
* Surface noise (``noise.add_noise``) is added to 60% of the strings.
* Training weights: ``generate(..., weights=TRAINING_WEIGHTS)`` repeats the
  families that are hardest to learn (dates in words, impossible dates, dates
  with a person's time, numeric dates read by the order) in each block, so the
  model sees more of them; validation and test keep every family equal.

Everything is deterministic in ``(seed, split, n)``; a longer run starts with
the shorter one's examples.
"""

import dataclasses
import datetime
import random

from data.date_strings import grammar, noise, not_dates, times
from data.date_strings.targets import NOT_A_DATE, Answer, check_order, split_of_key

SPLITS = ("train", "validation", "test")
SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}
ORDER_WEIGHTS = {"MDY": 0.5, "DMY": 0.3, "YMD": 0.2}
NOISE_RATE = 0.6
# 29 February of a leap year, drawn this often besides its 1-in-1,461 share, so that the model learns the
# leap-year rule against the impossible dates' 29 February of common years.
LEAP_DAY_RATE = 0.02
MIN_DATE = datetime.date(1000, 1, 1)
MAX_DATE = datetime.date(2999, 12, 31)
COMMON_MIN_DATE = datetime.date(1900, 1, 1)
COMMON_MAX_DATE = datetime.date(2099, 12, 31)
TWO_DIGIT_MIN_DATE = datetime.date(1969, 1, 1)
TWO_DIGIT_MAX_DATE = datetime.date(2068, 12, 31)

# Copies of a family per block of the training mix (1 when absent). These are the families with the longest
# strings or the most ways to be written, and the worst ones after equal shares (bench/RESULTS.md).
TRAINING_WEIGHTS = {
    "in_words": 4,
    "not_date_impossible": 3,
    "date_with_time": 2,
    "zone_name": 2,
    "numeric_date": 2,
    "spreadsheet": 2,
    "month_year": 2,
    "spoken_sentence": 5,
    "not_date_spoken_sentence": 2,
}

DATE_FAMILIES = tuple(grammar.FAMILIES)
NOT_DATE_FAMILIES = tuple(not_dates.FAMILIES)
ALL_FAMILIES = DATE_FAMILIES + NOT_DATE_FAMILIES


@dataclasses.dataclass(frozen=True)
class Example:
    """One input string, the order it is read under, its answer and the family that wrote it."""

    text: str
    order: str
    answer: Answer
    family: str
    # For an impossible date whose numbers fit the layout (29 February 2019), the date as written
    # (``YYYY-MM-DD``); the answer stays not a date (``not_dates.impossible_with_reading``).
    reading: str = ""


def split_of_answer(answer, text):
    if answer.date:
        return split_of_key(answer.date, SPLIT_SHARES)
    return split_of_key("not a date:" + noise.normalized_key(text), SPLIT_SHARES)


def _random_date(rng, low, high):
    return low + datetime.timedelta(days=rng.randrange((high - low).days + 1))


def _leap_day(rng, low, high):
    years = [year for year in range(low.year, high.year + 1) if year % 4 == 0 and (year % 100 or year % 400 == 0)]
    return datetime.date(rng.choice(years), 2, 29)


def _draw_date(rng):
    draw = rng.random()
    if draw < LEAP_DAY_RATE:
        return _leap_day(rng, *((MIN_DATE, MAX_DATE) if draw < LEAP_DAY_RATE / 2 else (COMMON_MIN_DATE, COMMON_MAX_DATE)))
    if rng.random() < 0.5:
        return _random_date(rng, MIN_DATE, MAX_DATE)
    return _random_date(rng, COMMON_MIN_DATE, COMMON_MAX_DATE)


def _date_in_split(rng, split):
    while True:
        date = _draw_date(rng)
        if split_of_key(date.isoformat(), SPLIT_SHARES) == split:
            return date


def _order(rng):
    return rng.choices(tuple(ORDER_WEIGHTS), weights=tuple(ORDER_WEIGHTS.values()))[0]


def make_example(rng, family, split, order=None, noise_rate=NOISE_RATE):
    """One example of ``family`` in ``split`` (redrawn until its answer falls in the split)."""
    for _ in range(10_000):
        example_order = check_order(order) if order is not None else _order(rng)
        reading = ""
        if family in not_dates.FAMILIES:
            (text, reading), answer = not_dates.draw(rng, family), NOT_A_DATE
        else:
            writer = grammar.FAMILIES[family]
            # A month-only answer is split on its month, so its day need not be in the split.
            date = _draw_date(rng) if writer.month_only else _date_in_split(rng, split)
            text, answer = writer.write(rng, date, times.random_time(rng), example_order)
        if rng.random() < noise_rate:
            text = noise.add_noise(rng, text)
        if split_of_answer(answer, text) == split:
            return Example(text, example_order, answer, family, reading)
    raise RuntimeError(f"Family {family} drew no string of split {split} in 10,000 tries")


def generate(n, split="train", seed=0, families=ALL_FAMILIES, order=None, noise_rate=NOISE_RATE, weights=None):
    """``n`` examples of ``split``, deterministic in ``seed``.

    ``order`` fixes every example's order (else drawn); ``noise_rate`` is the
    share of strings given surface noise (0 for the clean strings the tests
    check against strptime and email.utils); ``weights`` maps a family to its
    copies per block (``TRAINING_WEIGHTS`` for the training mix; others 1).
    """
    if split not in SPLITS:
        raise ValueError(f"Invalid value for argument split. Expected one of {SPLITS}. Received: split={split!r}")
    if n < 0:
        raise ValueError(f"Invalid value for argument n. Expected a non-negative integer. Received: n={n}")
    unknown = [family for family in families if family not in ALL_FAMILIES]
    if unknown:
        raise ValueError(f"Unknown families {unknown}. Expected some of {ALL_FAMILIES}.")
    weights = weights or {}
    bad = {family: count for family, count in weights.items() if not isinstance(count, int) or count < 1}
    if bad:
        raise ValueError(f"Invalid value for argument weights. Expected positive integers. Received: {bad}")
    rng = random.Random(f"{seed}/{split}")
    examples = []
    while len(examples) < n:
        block = [family for family in families for _ in range(weights.get(family, 1))]
        rng.shuffle(block)
        for family in block[: n - len(examples)]:
            examples.append(make_example(rng, family, split, order, noise_rate))
    return examples


def as_dataset(examples):
    """A ``tf.data.Dataset`` of string dicts: ``text``, ``order``, ``date``, ``time``, ``utc_offset``, ``iso``,
    ``family``, ``reading``."""
    import tensorflow as tf

    columns = {
        "text": [e.text for e in examples],
        "order": [e.order for e in examples],
        "date": [e.answer.date for e in examples],
        "time": [e.answer.time for e in examples],
        "utc_offset": [e.answer.utc_offset for e in examples],
        "iso": [e.answer.iso for e in examples],
        "family": [e.family for e in examples],
        "reading": [e.reading for e in examples],
    }
    return tf.data.Dataset.from_tensor_slices({name: tf.constant(values, tf.string) for name, values in columns.items()})
