"""A seeded grammar of what people say into a voice form: digit strings, numbers, dates, times.

Every utterance is drawn by :func:`generate_utterance` from one random
generator, in one of five categories (weights in ``CATEGORY_WEIGHTS``):

* ``digits``: 3 to 10 digits said one by one, ``seven four two oh nine``; a
  zero is said ``oh`` or ``zero`` (one choice per utterance, or mixed).
* ``cardinal``: a number from 0 to 999,999, British style with "and"
  (``one hundred and twenty five``, ``two thousand and one``) as ``num2words``
  writes it, or now and then American style without it (``one hundred twenty
  five``); the number of digits is uniform, so large and small numbers are
  equally common.
* ``date``: a day and month in every spoken order (``the third of march``,
  ``march third``, ``march the third``, ``third of march``, ``march three``),
  with or without a weekday (``tuesday the fifth of may``) and a year, a
  weekday and a day (``friday the third``), or a month and a year (``march
  nineteen seventy nine``). Years run 1900-2049 and
  are said as people say them: ``nineteen seventy nine``, ``nineteen oh
  five``, ``nineteen hundred``, ``two thousand``, ``two thousand and one`` or
  ``two thousand one``, ``twenty twenty four`` or ``two thousand and twenty
  four``. A weekday said with a year is that date's weekday; without a year
  it is any weekday (no calendar to disagree with).
* ``time``: ``seven fifteen a m``, ``twelve thirty p m``, ``seven oh five``,
  ``ten o clock``, ``quarter past nine``, ``half past six in the evening``,
  ``twenty to four``, ``noon``, ``midnight``, ``fifteen forty five`` (24-hour).
* ``mixed``: a sentence holding a date and/or a time or a number, ``meet me on
  june second at ten a m``, ``call me at five p m on friday the third``.

Each :class:`Utterance` carries what it means, for scoring speech -> text ->
meaning end to end, in the answer format of the date-translation task:

* ``date_iso``: ``YYYY-MM-DD`` when a day, month and year are said;
  ``YYYY-MM`` for a month and a year; ``""`` otherwise (no date, a day and
  month without a year, a weekday and a day, a weekday alone), as the
  date-translation task's answers have no year-less form.
* ``time``: ``HH:MM`` on the 24-hour clock, or ``""``. ``a m``/``p m`` and
  ``in the morning`` / ``in the afternoon`` / ``in the evening`` / ``at
  night`` decide the half of the day (``twelve a m`` is ``00:00``, ``twelve p
  m`` ``12:00``); a 12-hour time said without them keeps the hour as said
  (``quarter past nine`` is ``09:15``, ``twelve thirty`` ``12:30``);
  ``noon`` is ``12:00`` and ``midnight`` ``00:00``.
* ``number``: the digits of a digit string or cardinal (``"74209"``,
  ``"125"``), else ``""``.

Texts are already normalised (:func:`data.spoken_forms.normalize_transcript`).
"""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np

from data.date_strings import numbers_in_words
from data.date_strings.numbers_in_words import ONES, ORDINAL_ONES, ORDINAL_TENS, TENS

CATEGORIES = ("digits", "cardinal", "date", "time", "mixed")
CATEGORY_WEIGHTS = {"digits": 0.15, "cardinal": 0.2, "date": 0.3, "time": 0.2, "mixed": 0.15}

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
YEARS = (1900, 2049)  # inclusive


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One thing said: its normalised ``text``, ``category`` and meaning (module docstring)."""

    text: str
    category: str
    date_iso: str = ""
    time: str = ""
    number: str = ""


# ----------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------

def cardinal_words(n: int, use_and: bool = True) -> str:
    """``n`` (0..999,999) in words: ``one hundred and twenty five``, ``two thousand and one``.

    With ``use_and`` (British, as ``num2words``), "and" comes before the last
    two digits when they follow a hundred or a thousand; without it,
    ``one hundred twenty five``.
    """
    if not 0 <= int(n) <= 999_999:
        raise ValueError(f"cardinal_words covers 0..999,999; received {n}")
    return numbers_in_words.cardinal(int(n), " ", use_and)


def ordinal_words(n: int) -> str:
    """``n`` (1..99) as an ordinal: ``third``, ``twenty first``, ``thirtieth``."""
    if not 1 <= int(n) <= 99:
        raise ValueError(f"ordinal_words covers 1..99; received {n}")
    return numbers_in_words.ordinal(int(n), " ")


def digit_words(digits: str, zero: str = "oh") -> str:
    """A digit string said digit by digit; ``zero`` is ``"oh"`` or ``"zero"``."""
    if not digits or not digits.isdigit():
        raise ValueError(f"digit_words needs a string of digits; received {digits!r}")
    if zero not in ("oh", "zero"):
        raise ValueError(f"zero must be 'oh' or 'zero'; received {zero!r}")
    return " ".join(zero if d == "0" else ONES[int(d)] for d in digits)


YEAR_STYLES = ("pairs", "thousand", "thousand_no_and")


def year_words(year: int, style: str = "pairs") -> str:
    """A year as said: ``pairs`` (``nineteen seventy nine``, ``nineteen oh five``,
    ``nineteen hundred``, ``twenty twenty four``), ``thousand`` (``two thousand and
    one``) or ``thousand_no_and`` (``two thousand one``).

    Years 2000-2009 have no pairs form in ordinary speech (``twenty oh five``
    is rare), so ``pairs`` says them ``two thousand (and) five``, as
    ``num2words(year, to="year")`` does; the ``thousand`` styles apply to
    2000-2099 only (nobody says ``one thousand nine hundred and seventy nine``).
    """
    if not 1000 <= year <= 9999:
        raise ValueError(f"year_words covers 1000..9999; received {year}")
    if style not in YEAR_STYLES:
        raise ValueError(f"Unknown year style {style!r}; expected one of {YEAR_STYLES}")
    if style != "pairs" or 2000 <= year <= 2009:
        if not 2000 <= year <= 2099:
            raise ValueError(f"The thousand styles are for 2000-2099; received {year}")
        return cardinal_words(year, use_and=style != "thousand_no_and")
    return numbers_in_words.year_in_pairs(year, " ")


# ----------------------------------------------------------------------------
# Dates
# ----------------------------------------------------------------------------

def _days_in_month(month: int, year: int | None) -> int:
    if month == 2:
        # Without a year, 29 February is a real date (in leap years).
        leap = year is None or (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0))
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _random_year_words(rng: np.random.Generator, year: int) -> str:
    if 2010 <= year <= 2099 and rng.random() < 0.35:
        return year_words(year, "thousand" if rng.random() < 0.7 else "thousand_no_and")
    if 2000 <= year <= 2009 and rng.random() < 0.3:
        return year_words(year, "thousand_no_and")
    return year_words(year, "pairs")


DATE_FORMS = ("the_day_of_month", "day_of_month", "month_day", "month_the_day", "month_cardinal",
              "weekday_the_day", "month_year")


DATE_FORM_WEIGHTS = (0.3, 0.1, 0.28, 0.1, 0.07, 0.05, 0.1)


def random_date(rng: np.random.Generator, with_year: float = 0.6, with_weekday: float = 0.2,
                month_year: bool = True):
    """A spoken date and its ISO meaning: ``(words, date_iso)`` (rules in the module docstring).

    ``month_year=False`` leaves out the month-and-year form (``on march
    nineteen seventy nine at ten`` is not how a day is named).
    """
    weights = np.array(DATE_FORM_WEIGHTS[:len(DATE_FORMS) - (0 if month_year else 1)])
    form = DATE_FORMS[int(rng.choice(len(weights), p=weights / weights.sum()))]
    year = int(rng.integers(YEARS[0], YEARS[1] + 1))
    month = int(rng.integers(1, 13))
    if form == "month_year":
        return f"{MONTHS[month - 1]} {_random_year_words(rng, year)}", f"{year:04d}-{month:02d}"
    if form == "weekday_the_day":  # "friday the third": no month, so no year either
        return f"{WEEKDAYS[int(rng.integers(7))]} the {ordinal_words(int(rng.integers(1, 32)))}", ""
    said_year = rng.random() < with_year
    day = int(rng.integers(1, _days_in_month(month, year if said_year else None) + 1))
    month_name, ordinal = MONTHS[month - 1], ordinal_words(day)
    if form == "the_day_of_month":
        words = f"the {ordinal} of {month_name}"
    elif form == "day_of_month":
        words = f"{ordinal} of {month_name}"
    elif form == "month_day":
        words = f"{month_name} {ordinal}"
    elif form == "month_the_day":
        words = f"{month_name} the {ordinal}"
    else:
        words = f"{month_name} {cardinal_words(day)}"
    if rng.random() < with_weekday:
        if said_year:
            weekday = WEEKDAYS[datetime.date(year, month, day).weekday()]
        else:
            weekday = WEEKDAYS[int(rng.integers(7))]
        # "tuesday the fifth of may", "tuesday march third": the weekday leads.
        if form == "day_of_month":
            words = "the " + words
        words = f"{weekday} {words}"
    if not said_year:
        return words, ""
    return f"{words} {_random_year_words(rng, year)}", f"{year:04d}-{month:02d}-{day:02d}"


# ----------------------------------------------------------------------------
# Times
# ----------------------------------------------------------------------------

def _minutes_words(minute: int) -> str:
    """Minutes after the hour in ``seven oh five`` / ``seven fifteen`` style."""
    return f"oh {ONES[minute]}" if minute < 10 else cardinal_words(minute)


def _half_of_day(rng: np.random.Generator, hour12: int):
    """A marker of the half of the day and the 24-hour hour: ``("p m", 17)``, or ``("", hour12)``."""
    choice = rng.random()
    if choice < 0.35:
        return "", hour12
    afternoon = rng.random() < 0.5
    hour24 = (hour12 % 12) + (12 if afternoon else 0)
    if choice < 0.8:
        return ("p m" if afternoon else "a m"), hour24
    # Periods of the day, where they fit the hour.
    if not afternoon and 5 <= hour12 <= 11:
        return "in the morning", hour24
    if afternoon and (hour12 == 12 or hour12 <= 5):
        return "in the afternoon", hour24
    if afternoon and 5 <= hour12 <= 9:
        return "in the evening", hour24
    if afternoon and 8 <= hour12 <= 11:
        return "at night", hour24
    return ("p m" if afternoon else "a m"), hour24


TIME_FORMS = ("hour_minute", "oclock", "hour_only", "past_to", "special", "twenty_four_hour")


def random_time(rng: np.random.Generator):
    """A spoken time of day and its ``HH:MM`` meaning (rules in the module docstring)."""
    form = TIME_FORMS[int(rng.choice(len(TIME_FORMS), p=[0.35, 0.15, 0.1, 0.25, 0.07, 0.08]))]
    hour12 = int(rng.integers(1, 13))
    if form == "special":
        words = ["noon", "midnight", "twelve noon", "midday"][int(rng.integers(4))]
        return words, "00:00" if words == "midnight" else "12:00"
    if form == "twenty_four_hour":
        hour, minute = int(rng.integers(13, 24)), int(rng.integers(1, 60))
        return f"{cardinal_words(hour)} {_minutes_words(minute)}", \
            f"{hour:02d}:{minute:02d}"
    if form == "past_to":
        minute = int(rng.choice([15, 30, 45, 5, 10, 20, 25, 35, 40, 50, 55]))
        if minute == 30:
            phrase, said_hour = "half past", hour12
        elif minute < 30:
            phrase = {15: "quarter past", 5: "five past", 10: "ten past", 20: "twenty past",
                      25: "twenty five past"}[minute]
            if minute == 15 and rng.random() < 0.4:
                phrase = "a quarter past"
            elif minute != 15 and rng.random() < 0.2:
                phrase = phrase.replace(" past", " minutes past")
            said_hour = hour12
        else:
            phrase = {45: "quarter to", 35: "twenty five to", 40: "twenty to", 50: "ten to",
                      55: "five to"}[minute]
            if minute == 45 and rng.random() < 0.4:
                phrase = "a quarter to"
            said_hour = hour12
            hour12 = 12 if hour12 == 1 else hour12 - 1
        # The marker names the half of the day of the clock time: "quarter to one
        # in the afternoon" is 12:45.
        marker, hour24 = _half_of_day(rng, hour12)
        words = f"{phrase} {ONES[said_hour]}" + (f" {marker}" if marker else "")
        return words, f"{hour24:02d}:{minute:02d}"
    marker, hour24 = _half_of_day(rng, hour12)
    if form == "hour_minute":
        minute = int(rng.integers(1, 60))
        words = f"{ONES[hour12]} {_minutes_words(minute)}"
    elif form == "oclock":
        minute, words = 0, f"{ONES[hour12]} o clock"
    else:
        if not marker:  # "seven" alone is a number, not a time
            marker, hour24 = ("a m", hour12 % 12) if rng.random() < 0.5 else ("p m", hour12 % 12 + 12)
        minute, words = 0, ONES[hour12]
    if marker:
        words += f" {marker}"
    return words, f"{hour24:02d}:{minute:02d}"


# ----------------------------------------------------------------------------
# Utterances
# ----------------------------------------------------------------------------

MIXED_TEMPLATES = (
    # (template, what it needs); {date} / {time} / {weekday} / {number} / {digits}
    ("meet me on {date} at {time}", "date time"),
    ("call me at {time} on {date}", "date time"),
    ("the appointment is on {date} at {time}", "date time"),
    ("can we do {date} at {time}", "date time"),
    ("my birthday is on {date}", "date"),
    ("the deadline is {date}", "date"),
    ("i was born on {date}", "date"),
    ("the meeting starts at {time}", "time"),
    ("wake me up at {time}", "time"),
    ("see you on {weekday} at {time}", "weekday time"),
    ("my phone number is {digits}", "digits"),
    ("the code is {digits}", "digits"),
    ("it costs {number} dollars", "number"),
    ("there are {number} people", "number"),
)


def _digits_utterance(rng: np.random.Generator) -> tuple[str, str]:
    length = int(rng.integers(3, 11))
    digits = "".join(str(d) for d in rng.integers(0, 10, length))
    style = rng.random()
    if style < 0.45:
        return digit_words(digits, "oh"), digits
    if style < 0.8:
        return digit_words(digits, "zero"), digits
    return " ".join(("oh" if rng.random() < 0.5 else "zero") if d == "0" else ONES[int(d)]
                    for d in digits), digits


def _cardinal(rng: np.random.Generator) -> tuple[str, str]:
    num_digits = int(rng.integers(1, 7))
    n = int(rng.integers(0 if num_digits == 1 else 10 ** (num_digits - 1), 10 ** num_digits))
    return cardinal_words(n, use_and=rng.random() < 0.8), str(n)


def generate_utterance(rng: np.random.Generator, category: str | None = None) -> Utterance:
    """One utterance of ``category`` (drawn by ``CATEGORY_WEIGHTS`` when ``None``)."""
    if category is None:
        category = CATEGORIES[int(rng.choice(len(CATEGORIES),
                                             p=[CATEGORY_WEIGHTS[c] for c in CATEGORIES]))]
    if category == "digits":
        text, digits = _digits_utterance(rng)
        return Utterance(text, category, number=digits)
    if category == "cardinal":
        text, number = _cardinal(rng)
        return Utterance(text, category, number=number)
    if category == "date":
        text, date_iso = random_date(rng)
        return Utterance(text, category, date_iso=date_iso)
    if category == "time":
        text, time = random_time(rng)
        return Utterance(text, category, time=time)
    if category != "mixed":
        raise ValueError(f"Unknown category {category!r}; expected one of {CATEGORIES}")
    template, needs = MIXED_TEMPLATES[int(rng.integers(len(MIXED_TEMPLATES)))]
    fields, date_iso, time, number = {}, "", "", ""
    if "date" in needs.split():
        # "on" names a day ("born on march nineteen seventy nine" is not English);
        # "the deadline is march twenty twenty" is fine.
        fields["date"], date_iso = random_date(rng, with_weekday=0.3,
                                               month_year="on {date}" not in template)
    if "time" in needs.split():
        fields["time"], time = random_time(rng)
    if "weekday" in needs.split():
        fields["weekday"] = WEEKDAYS[int(rng.integers(7))]
    if "digits" in needs.split():
        fields["digits"], number = _digits_utterance(rng)
    if "number" in needs.split():
        fields["number"], number = _cardinal(rng)
    return Utterance(template.format(**fields), category, date_iso, time, number)


def generate_utterances(num_utterances: int, seed: int = 0, stream: int = 0,
                        categories=None) -> list[Utterance]:
    """``num_utterances`` utterances; utterance ``i`` depends only on ``(seed, stream, i)``.

    So a longer list starts with the shorter one. ``stream`` separates the
    texts of different splits; ``categories`` restricts the draw to some of
    ``CATEGORIES`` (in proportion to their weights).
    """
    if num_utterances < 0:
        raise ValueError(f"num_utterances must be >= 0; received {num_utterances}")
    if categories is not None:
        unknown = set(categories) - set(CATEGORIES)
        if unknown or not categories:
            raise ValueError(f"categories must be a non-empty subset of {CATEGORIES}; "
                             f"received {categories}")
    utterances = []
    for index in range(num_utterances):
        rng = np.random.default_rng([seed, stream, 707, index])
        category = None
        if categories is not None:
            weights = np.array([CATEGORY_WEIGHTS[c] for c in categories])
            category = list(categories)[int(rng.choice(len(categories), p=weights / weights.sum()))]
        utterances.append(generate_utterance(rng, category))
    return utterances


def vocabulary() -> frozenset:
    """Every word the grammar can say (for language models and for babble that must not be in it)."""
    # Ordinals name days, so none beyond the thirtieth is said.
    words = set(ONES) | set(TENS[2:]) | set(ORDINAL_ONES[1:]) | set(ORDINAL_TENS[2:4])
    words |= set(MONTHS) | set(WEEKDAYS)
    words |= set("oh hundred thousand and the of a m p o clock quarter half past to minutes in "
                 "morning afternoon evening at night noon midnight midday".split())
    for template, _ in MIXED_TEMPLATES:
        words |= {w for w in template.split() if not w.startswith("{")}
    return frozenset(words - {""})
