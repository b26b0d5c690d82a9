"""The answer format for dates in the wild, written down once.

Every input string gets an ``Answer`` of three fields and one derived string:

* ``date``: ``YYYY-MM-DD``, ``YYYY-MM`` when only a month and a year are given,
  or ``""`` for "not a date" (words, prices, times alone, relative dates,
  impossible dates, ...).
* ``time``: ``HH:MM:SS`` (24-hour clock; fractions of a second are dropped,
  not rounded) or ``""`` when the input carries no time of day.
* ``utc_offset``: ``+HH:MM`` / ``-HH:MM`` when the input names its offset or
  zone (``Z``, ``UTC`` and ``GMT`` are ``+00:00``), else ``""``. An offset is
  only ever given together with a time.
* ``iso``: the three as one ISO 8601 string, ``2003-09-25T10:49:41+05:30``,
  ``2003-09-25``, ``2014-05`` or ``""``.

Ambiguous numeric dates are decided by an ``order`` the caller gives: ``MDY``
(the default, as ``dateutil``), ``DMY`` or ``YMD``. The rule, applied to the
numbers of a date in the order they are written:

1. A field of four digits is a year, and so is one of two digits above 31; a
   field of three digits makes no date (years run 1000-9999).
2. Three numbers (``05/03/1979``, ``79.05.03``): the layout named by ``order``
   is taken if it gives a real calendar date, else the first of ``MDY``,
   ``DMY``, ``YMD`` that does. None gives one: not a date.
3. A month name and two numbers (``05-SEP-03``, ``Sep 5 03``): the numbers are
   read day then year, except under ``YMD`` (year then day); if that is no real
   date the other reading is taken.
4. Two-digit years follow the POSIX ``%y`` pivot: 69-99 are 1969-1999, 00-68
   are 2000-2068.

Unambiguous dates (``25/09/2003``, ``13.03.2014``, ``2003-09-25``) therefore
read the same under every order.

A year alone (``1984``) and a relative date (``next friday``) are not a date:
the format has no year-only answer, and a relative date needs a today the
reader is not given. A day and month without a year (``Sept. 25``) has no
answer in this format either; the generator writes none, as a date or as not
one, and leaves the choice open.
"""

import dataclasses
import datetime
import re
import zlib

ORDERS = ("MDY", "DMY", "YMD")
DEFAULT_ORDER = "MDY"
# The preference after the caller's order when its layout gives no real date.
FALLBACK_LAYOUTS = ("MDY", "DMY", "YMD")

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_TIME_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})$")
_OFFSET_RE = re.compile(r"^[+-](\d{2}):(\d{2})$")


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a date string means: ``date``, ``time``, ``utc_offset`` (see the module docstring)."""

    date: str = ""
    time: str = ""
    utc_offset: str = ""

    def __post_init__(self):
        problem = answer_problem(self)
        if problem:
            raise ValueError(f"Invalid answer {self!r}: {problem}")

    @property
    def iso(self):
        if not self.date:
            return ""
        if not self.time:
            return self.date
        return f"{self.date}T{self.time}{self.utc_offset}"

    @property
    def is_date(self):
        return bool(self.date)

    def as_dict(self):
        return {"date": self.date, "time": self.time, "utc_offset": self.utc_offset, "iso": self.iso}



def answer_problem(answer):
    """Why ``answer`` breaks the format (a sentence), or ``""`` if it is valid."""
    if not answer.date:
        if answer.time or answer.utc_offset:
            return "a not-a-date answer has no time or offset"
        return ""
    match = _DATE_RE.match(answer.date)
    if not match:
        return "date is not YYYY-MM-DD or YYYY-MM"
    year, month, day = match.groups()
    if not 1 <= int(month) <= 12:
        return "month out of range"
    if day is not None and not is_real_date(int(year), int(month), int(day)):
        return "not a real calendar date"
    if answer.time:
        if day is None:
            return "a month-and-year answer has no time"
        time_match = _TIME_RE.match(answer.time)
        if not time_match:
            return "time is not HH:MM:SS"
        hour, minute, second = map(int, time_match.groups())
        if hour > 23 or minute > 59 or second > 59:
            return "time out of range"
    if answer.utc_offset:
        if not answer.time:
            return "an offset needs a time"
        offset_match = _OFFSET_RE.match(answer.utc_offset)
        if not offset_match or int(offset_match.group(1)) > 23 or int(offset_match.group(2)) > 59:
            return "offset is not +HH:MM"
    return ""


NOT_A_DATE = Answer()


def is_real_date(year, month, day):
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def check_order(order):
    if order not in ORDERS:
        raise ValueError(f"Invalid value for argument order. Expected one of {ORDERS}. Received: order={order!r}")
    return order


def pivot_year(two_digits):
    """The POSIX ``%y`` pivot: 69-99 -> 1969-1999, 00-68 -> 2000-2068."""
    if not 0 <= two_digits <= 99:
        raise ValueError(f"Invalid two-digit year {two_digits}")
    return 1900 + two_digits if two_digits >= 69 else 2000 + two_digits


def format_offset(offset):
    """``datetime.timedelta`` -> ``+HH:MM`` (whole minutes)."""
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def answer_for(date, time=None, utc_offset=None):
    """An ``Answer`` from a ``datetime.date``, an optional ``datetime.time`` and an optional offset.

    ``utc_offset`` may be a ``timedelta`` or an ``+HH:MM`` string. Seconds'
    fractions are dropped.
    """
    if isinstance(utc_offset, datetime.timedelta):
        utc_offset = format_offset(utc_offset)
    return Answer(
        date=date.isoformat(),
        time="" if time is None else f"{time.hour:02d}:{time.minute:02d}:{time.second:02d}",
        utc_offset=utc_offset or "",
    )


def answer_from_datetime(value, with_time=True):
    """An ``Answer`` from a ``datetime.datetime`` (its offset if aware) or a ``datetime.date``."""
    if not isinstance(value, datetime.datetime):
        return answer_for(value)
    if not with_time:
        return answer_for(value.date())
    offset = value.utcoffset()
    return answer_for(value.date(), value.time(), offset)


def month_answer(year, month):
    return Answer(date=f"{year:04d}-{month:02d}")


def _year_value(field):
    if len(field) == 2:
        return pivot_year(int(field))
    return int(field)


def _must_be_year(field):
    return len(field) >= 3 or int(field) > 31


def read_numeric(fields, order=DEFAULT_ORDER):
    """The ``datetime.date`` three digit strings written in this order mean, or ``None``.

    >>> read_numeric(["05", "03", "1979"], "DMY")
    datetime.date(1979, 3, 5)
    >>> read_numeric(["25", "09", "2003"], "MDY")
    datetime.date(2003, 9, 25)
    """
    check_order(order)
    if len(fields) != 3 or not all(f.isdigit() and 1 <= len(f) <= 4 for f in fields):
        return None
    for layout in (order,) + tuple(layout for layout in FALLBACK_LAYOUTS if layout != order):
        year_field = fields[layout.index("Y")]
        month_field = fields[layout.index("M")]
        day_field = fields[layout.index("D")]
        if len(year_field) == 1 or len(month_field) > 2 or len(day_field) > 2:
            continue
        if any(_must_be_year(f) for f in (month_field, day_field)):
            continue
        year = _year_value(year_field)
        if len(year_field) == 3 or not 1000 <= year <= 9999:
            continue
        if is_real_date(year, int(month_field), int(day_field)):
            return datetime.date(year, int(month_field), int(day_field))
    return None


def read_named(numbers, month, order=DEFAULT_ORDER):
    """The date that a month (1-12) and two digit strings in written order mean, or ``None``.

    >>> read_named(["05", "03"], 9, "MDY")
    datetime.date(2003, 9, 5)
    >>> read_named(["05", "03"], 9, "YMD")
    datetime.date(2005, 9, 3)
    """
    check_order(order)
    if len(numbers) != 2 or not all(n.isdigit() and 1 <= len(n) <= 4 for n in numbers):
        return None
    readings = [(0, 1), (1, 0)] if order != "YMD" else [(1, 0), (0, 1)]
    for day_index, year_index in readings:
        day_field, year_field = numbers[day_index], numbers[year_index]
        if len(day_field) > 2 or _must_be_year(day_field) or len(year_field) not in (2, 4):
            continue
        year = _year_value(year_field)
        if is_real_date(year, month, int(day_field)):
            return datetime.date(year, month, int(day_field))
    return None


def split_of_key(key, shares):
    """Which split a string key falls in: a stable hash of ``key`` against cumulative ``shares``."""
    point = (zlib.crc32(key.encode("utf-8")) & 0xFFFFFFFF) / 2**32
    total = 0.0
    for name, share in shares.items():
        total += share
        if point < total:
            return name
    return name
