"""An evaluation set written by other software, kept apart from the generator.

The strings come from other programs' own writers, never from ``grammar``,
``times``, ``noise`` or ``not_dates``: Python's ``email.utils``, ``time``,
``datetime`` (``isoformat``, ``str``), ``strftime`` formats used by common
software (Apache and nginx logs, MySQL, PostgreSQL, Oracle, spreadsheets,
Windows, git, Java's ``Date.toString``, JavaScript's ``toISOString`` and
``toUTCString``, Python's ``logging``, C's ``%c``/``%x``), Babel's CLDR formats
for the seven English locales and en_US, and the ``date`` command
(``subprocess``, ``LC_ALL=C``, one call per format for a whole batch of
timestamps) when it is installed. Zone names come from ``zoneinfo`` (the
system's tz database), so their offsets are the database's, not our table's.

Each answer is taken from the ``datetime`` that was written, through the shared
answer format (``targets.answer_from_datetime``), keeping only the fields the
writer prints. Each writer states the order its numeric dates are meant under
(``MDY`` for US formats, ``DMY`` for British/European ones, ``YMD`` for
year-first); writers whose dates are unambiguous get a random order, which must
not change their answer.

The dates are drawn with their own random stream (``f"writers/{seed}"``) from
1000-2999, from 1970-2037 for writers that go through a Unix timestamp or a
named zone, and from 1969-2068 for writers that print a two-digit year.
"""

import datetime
import email.utils
import os
import random
import shutil
import subprocess
import tempfile
import time
import zoneinfo

import babel.dates

from data.date_strings.targets import ORDERS, answer_for, answer_from_datetime, month_answer

ZONEINFO_NAMES = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
)
BABEL_LOCALE_ORDERS = {
    "en_GB": "DMY",
    "en_AU": "DMY",
    "en_IN": "DMY",
    "en_CA": "YMD",
    "en_IE": "DMY",
    "en_NZ": "DMY",
    "en_ZA": "YMD",
    "en_US": "MDY",
}


def _fixed_zone(rng):
    minutes = rng.choice((0, 0, 60, 120, 330, 345, 540, 570, -180, -210, -300, -420, -480, -600))
    return datetime.timezone(datetime.timedelta(minutes=minutes))


def _minutes(value):
    return value.replace(second=0, microsecond=0)


def _seconds(value):
    return value.replace(microsecond=0)


def _postgres(value):
    text = value.isoformat(sep=" ")
    # PostgreSQL prints a whole-hour offset as +05, not +05:00.
    return text[:-3] if text.endswith(":00") and text[-6] in "+-" else text


def _java(value):
    return value.strftime("%a %b %d %H:%M:%S %Z %Y")


def _logging(value):
    return value.strftime("%Y-%m-%d %H:%M:%S") + f",{value.microsecond // 1000:03d}"


def _javascript_iso(value):
    utc = value.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


# Writer name -> (kind of date drawn, order or None for "any", write(value) -> (text, answer)).
# Kinds: "any" 1000-2999 naive, "aware" with a fixed offset, "zone" a zoneinfo zone 1970-2037,
# "short_year" naive 1969-2068.
WRITERS = {
    "email.utils.format_datetime": ("aware", None, lambda v: (email.utils.format_datetime(v), answer_from_datetime(_seconds(v)))),
    "email.utils.formatdate(usegmt)": (
        "zone",
        None,
        lambda v: (
            email.utils.formatdate(v.timestamp(), usegmt=True),
            answer_from_datetime(_seconds(v.astimezone(datetime.timezone.utc))),
        ),
    ),
    "time.asctime(gmtime)": (
        "zone",
        None,
        lambda v: (
            time.asctime(time.gmtime(v.timestamp())),
            answer_from_datetime(_seconds(v.astimezone(datetime.timezone.utc).replace(tzinfo=None))),
        ),
    ),
    "datetime.isoformat": ("any", None, lambda v: (v.isoformat(), answer_from_datetime(v))),
    "datetime.isoformat(aware, milliseconds)": (
        "aware",
        None,
        lambda v: (v.isoformat(timespec="milliseconds"), answer_from_datetime(v)),
    ),
    "datetime.isoformat(minutes)": ("aware", None, lambda v: (v.isoformat(timespec="minutes"), answer_from_datetime(_minutes(v)))),
    "str(datetime)": ("any", None, lambda v: (str(v), answer_from_datetime(v))),
    "str(aware datetime)": ("aware", None, lambda v: (str(v), answer_from_datetime(v))),
    "date.isoformat": ("any", None, lambda v: (v.date().isoformat(), answer_for(v.date()))),
    "apache %d/%b/%Y:%H:%M:%S %z": (
        "aware",
        None,
        lambda v: ("[" + v.strftime("%d/%b/%Y:%H:%M:%S %z") + "]", answer_from_datetime(_seconds(v))),
    ),
    "nginx $time_iso8601": ("aware", None, lambda v: (_seconds(v).isoformat(), answer_from_datetime(_seconds(v)))),
    "mysql DATETIME": ("any", None, lambda v: (v.strftime("%Y-%m-%d %H:%M:%S"), answer_from_datetime(_seconds(v)))),
    "postgresql timestamptz": ("aware", None, lambda v: (_postgres(v), answer_from_datetime(v))),
    "oracle DD-MON-YY": ("short_year", "DMY", lambda v: (v.strftime("%d-%b-%y").upper(), answer_for(v.date()))),
    "oracle DD-MON-YYYY": ("any", None, lambda v: (v.strftime("%d-%b-%Y").upper(), answer_for(v.date()))),
    "excel m/d/yyyy h:mm": (
        "any",
        "MDY",
        lambda v: (f"{v.month}/{v.day}/{v.year} {v.hour}:{v.minute:02d}", answer_from_datetime(_minutes(v))),
    ),
    "excel dd/mm/yyyy hh:mm": ("any", "DMY", lambda v: (v.strftime("%d/%m/%Y %H:%M"), answer_from_datetime(_minutes(v)))),
    "excel m/d/yyyy": ("any", "MDY", lambda v: (f"{v.month}/{v.day}/{v.year}", answer_for(v.date()))),
    "windows %m/%d/%Y %I:%M:%S %p": (
        "any",
        "MDY",
        lambda v: (v.strftime("%m/%d/%Y %I:%M:%S %p"), answer_from_datetime(_seconds(v))),
    ),
    "git default": ("aware", None, lambda v: (v.strftime("%a %b %-d %H:%M:%S %Y %z"), answer_from_datetime(_seconds(v)))),
    "java Date.toString": ("zone", None, lambda v: (_java(v), answer_from_datetime(_seconds(v)))),
    "javascript toISOString": (
        "aware",
        None,
        lambda v: (_javascript_iso(v), answer_from_datetime(v.astimezone(datetime.timezone.utc))),
    ),
    "javascript toUTCString": (
        "aware",
        None,
        lambda v: (
            v.astimezone(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            answer_from_datetime(_seconds(v.astimezone(datetime.timezone.utc))),
        ),
    ),
    "python logging asctime": ("any", None, lambda v: (_logging(v), answer_from_datetime(v))),
    "C %c": ("any", None, lambda v: (v.strftime("%a %b %e %H:%M:%S %Y"), answer_from_datetime(_seconds(v)))),
    "C %x": ("short_year", "MDY", lambda v: (v.strftime("%m/%d/%y"), answer_for(v.date()))),
    "report %A, %B %d, %Y": ("any", None, lambda v: (v.strftime("%A, %B %d, %Y"), answer_for(v.date()))),
    "report %d %B %Y": ("any", None, lambda v: (v.strftime("%d %B %Y"), answer_for(v.date()))),
    "report %b %d, %Y": ("any", None, lambda v: (v.strftime("%b %d, %Y"), answer_for(v.date()))),
    "report %d-%b-%Y %H:%M": ("any", None, lambda v: (v.strftime("%d-%b-%Y %H:%M"), answer_from_datetime(_minutes(v)))),
    "german %d.%m.%Y %H:%M": ("any", "DMY", lambda v: (v.strftime("%d.%m.%Y %H:%M"), answer_from_datetime(_minutes(v)))),
    "german %d.%m.%Y": ("any", "DMY", lambda v: (v.strftime("%d.%m.%Y"), answer_for(v.date()))),
    "japanese %Y/%m/%d %H:%M:%S": (
        "any",
        "YMD",
        lambda v: (v.strftime("%Y/%m/%d %H:%M:%S"), answer_from_datetime(_seconds(v))),
    ),
    "%Y.%m.%d": ("any", "YMD", lambda v: (v.strftime("%Y.%m.%d"), answer_for(v.date()))),
    "%B %Y": ("any", None, lambda v: (v.strftime("%B %Y"), month_answer(v.year, v.month))),
    "%Y-%m": ("any", None, lambda v: (v.strftime("%Y-%m"), month_answer(v.year, v.month))),
    "%Y%m%dT%H%M%SZ": (
        "aware",
        None,
        lambda v: (
            v.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
            answer_from_datetime(_seconds(v.astimezone(datetime.timezone.utc))),
        ),
    ),
}


def _babel_writer(locale, with_time):
    """Babel in ``locale``, the width drawn per string from the date's own digits (no shared stream)."""
    order = BABEL_LOCALE_ORDERS[locale]

    def write(value):
        width = ("short", "medium", "long", "full")[value.microsecond % 4]
        if width == "short" and locale in ("en_AU", "en_IN", "en_US") and not 1969 <= value.year <= 2068:
            width = "medium"
        if not with_time:
            return babel.dates.format_date(value.date(), width, locale=locale), answer_for(value.date())
        shown = _minutes(value) if width == "short" else _seconds(value)
        if width in ("long", "full"):
            text = babel.dates.format_datetime(shown, width, tzinfo=datetime.timezone.utc, locale=locale)
            return text, answer_for(shown.date(), shown.time(), "+00:00")
        return babel.dates.format_datetime(shown, width, locale=locale), answer_for(shown.date(), shown.time())

    return "any", order, write


for _locale in BABEL_LOCALE_ORDERS:
    WRITERS[f"babel {_locale} date"] = _babel_writer(_locale, False)
    WRITERS[f"babel {_locale} datetime"] = _babel_writer(_locale, True)

# `date` formats: (name, arguments, order, what the answer keeps).
DATE_COMMAND_FORMATS = (
    ("date", [], None, "seconds_zone"),
    ("date -R", ["-R"], None, "seconds_offset"),
    ("date -I", ["-I"], None, "date"),
    ("date --iso-8601=seconds", ["--iso-8601=seconds"], None, "seconds_offset"),
    ("date --rfc-3339=seconds", ["--rfc-3339=seconds"], None, "seconds_offset"),
    ("date +%F %T", ["+%F %T"], None, "seconds"),
    ("date +%D %r", ["+%D %r"], "MDY", "seconds"),
)


def _draw(rng, kind):
    if kind in ("zone",):
        low, high = datetime.datetime(1970, 1, 2), datetime.datetime(2037, 12, 31)
    elif kind == "short_year":
        low, high = datetime.datetime(1969, 1, 1), datetime.datetime(2068, 12, 31)
    else:
        low, high = datetime.datetime(1000, 1, 1), datetime.datetime(2999, 12, 31)
    value = low + datetime.timedelta(seconds=rng.randrange(int((high - low).total_seconds())), microseconds=rng.randrange(1_000_000))
    if kind == "aware":
        value = value.replace(tzinfo=_fixed_zone(rng))
    elif kind == "zone":
        value = value.replace(tzinfo=datetime.timezone.utc).astimezone(zoneinfo.ZoneInfo(rng.choice(ZONEINFO_NAMES)))
    return value


def _date_command(rng, count):
    """Strings from the ``date`` command (empty when it is missing): one call per format and zone."""
    executable = shutil.which("date")
    if executable is None or count == 0:
        return []
    examples = []
    with tempfile.TemporaryDirectory() as directory:
        for index, (name, arguments, order, keep) in enumerate(DATE_COMMAND_FORMATS):
            zone_name = ZONEINFO_NAMES[index % len(ZONEINFO_NAMES)] if keep != "seconds_zone" else None
            values = []
            for _ in range(count):
                zone = zone_name or rng.choice(ZONEINFO_NAMES)
                values.append(_draw(rng, "zone").astimezone(zoneinfo.ZoneInfo(zone)))
            by_zone = {}
            for position, value in enumerate(values):
                by_zone.setdefault(value.tzinfo.key, []).append(position)
            texts = [None] * count
            for zone, positions in by_zone.items():
                path = os.path.join(directory, "timestamps")
                with open(path, "w") as file:
                    file.write("".join(f"@{int(values[p].timestamp())}\n" for p in positions))
                environment = dict(os.environ, LC_ALL="C", TZ=zone)
                output = subprocess.run(
                    [executable, "-f", path, *arguments], capture_output=True, text=True, env=environment, check=True
                ).stdout.splitlines()
                for position, text in zip(positions, output):
                    texts[position] = text
            for value, text in zip(values, texts):
                value = _seconds(value)
                if keep == "date":
                    answer = answer_for(value.date())
                elif keep == "seconds":
                    answer = answer_for(value.date(), value.time())
                else:
                    answer = answer_from_datetime(value)
                examples.append((text, order or rng.choice(ORDERS), answer, name))
    return examples


def build(n=2000, seed=0, date_command=True):
    """About ``n`` (text, order, answer, writer) tuples, the same number from every writer."""
    rng = random.Random(f"writers/{seed}")
    names = list(WRITERS)
    command_formats = len(DATE_COMMAND_FORMATS) if date_command and shutil.which("date") else 0
    per_writer = max(1, n // (len(names) + command_formats))
    examples = []
    for name in names:
        kind, order, write = WRITERS[name]
        for _ in range(per_writer):
            text, answer = write(_draw(rng, kind))
            examples.append((text, order or rng.choice(ORDERS), answer, name))
    if command_formats:
        examples.extend(_date_command(rng, per_writer))
    return examples
