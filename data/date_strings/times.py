"""Times of day and time zones as programs and people write them.

``write_time(rng, time)`` returns one spelling of a ``datetime.time`` and the
part of the answer it determines: ``10:49``, ``10:49:41.250``, ``2:57 p.m.``,
``2:57PM``, ``10h11``, ``12.16 pm``, ``noon``, ``midnight``, ``2 pm``. Twelve-hour
spellings always carry their ``am``/``pm`` (or ``noon``/``midnight``), so every
spelling has one answer.

``say_time(rng, time)`` says it in words, as a speech recogniser writes it:
``ten thirty a m``, ``half past six in the evening``, ``twenty to four``,
``seven o'clock``, ``fifteen forty-five``, ``noon``. A twelve-hour time said
without ``a m``/``p m`` or a part of the day keeps the hour as said (``quarter
past nine`` is 09:15, ``twelve thirty`` 12:30), so it is said that way only
for the hours 1-12. ``random_said_time(rng)`` draws the times people say, which
are mostly on the hour, the quarter hours and five-minute marks.

``ZONES`` is the documented table of zone names and their offsets. Names that
mean different offsets in different places are left out on purpose: ``IST``
(India +05:30, Ireland +01:00, Israel +02:00), ``BST`` (British Summer Time
+01:00, Bangladesh +06:00), ``CST`` is kept as US Central (-06:00), the
reading of dateutil's users and of US software, not China (+08:00).
"""

import datetime

from data.date_strings import numbers_in_words

# Zone name -> offset from UTC, ``+HH:MM``.
ZONES = {
    "UTC": "+00:00",
    "GMT": "+00:00",
    "Z": "+00:00",
    "UT": "+00:00",
    "Coordinated Universal Time": "+00:00",
    "Greenwich Mean Time": "+00:00",
    "WET": "+00:00",
    "WEST": "+01:00",
    "CET": "+01:00",
    "CEST": "+02:00",
    "EET": "+02:00",
    "EEST": "+03:00",
    "MSK": "+03:00",
    "SAST": "+02:00",
    "JST": "+09:00",
    "KST": "+09:00",
    "HKT": "+08:00",
    "SGT": "+08:00",
    "AWST": "+08:00",
    "ACST": "+09:30",
    "ACDT": "+10:30",
    "AEST": "+10:00",
    "AEDT": "+11:00",
    "NZST": "+12:00",
    "NZDT": "+13:00",
    "EST": "-05:00",
    "EDT": "-04:00",
    "CST": "-06:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
    "AKST": "-09:00",
    "AKDT": "-08:00",
    "HST": "-10:00",
    "NST": "-03:30",
    "NDT": "-02:30",
    "AST": "-04:00",
    "ADT": "-03:00",
}
# Names used by the generator (the long names only come from Babel's formats).
SHORT_ZONE_NAMES = tuple(name for name in ZONES if " " not in name and name != "Z")

# Offsets that real zones have (minutes), for the numeric offsets drawn.
OFFSETS_MINUTES = tuple(
    sorted(
        {h * 60 for h in range(-12, 15)}
        | {-570, -210, 210, 270, 330, 345, 390, 525, 570, 630, 765, 825}
    )
)


def offset_string(minutes):
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def write_offset(rng, minutes):
    """A numeric offset as written: ``+05:30``, ``+0530``, ``-03``, and its answer ``+05:30``."""
    answer = offset_string(minutes)
    sign, hours, mins = answer[0], answer[1:3], answer[4:6]
    style = rng.choice(("colon", "basic", "basic", "hours"))
    if style == "hours" and mins == "00":
        return f"{sign}{hours}", answer
    if style == "colon":
        return answer, answer
    return f"{sign}{hours}{mins}", answer


def _am_pm(rng, hour):
    word = "am" if hour < 12 else "pm"
    style = rng.choice(("lower", "upper", "dots", "dots_upper"))
    if style == "upper":
        return word.upper()
    if style == "dots":
        return f"{word[0]}.m."
    if style == "dots_upper":
        return f"{word[0].upper()}.M."
    return word


def write_time(rng, time, seconds=None):
    """One spelling of ``time`` and its ``HH:MM:SS`` answer (a ``datetime.time``, fractions dropped).

    ``seconds``: force (True) or forbid (False) a seconds field; ``None`` draws.
    """
    if time.hour == 12 and time.minute == 0 and time.second == 0 and rng.random() < 0.3:
        return rng.choice(("noon", "12 noon", "12 noon", "midday")), time
    if time.hour == 0 and time.minute == 0 and time.second == 0 and rng.random() < 0.3:
        return rng.choice(("midnight", "12 midnight")), time
    if seconds is None:
        seconds = rng.random() < 0.4
    shown = time if seconds else time.replace(second=0, microsecond=0)
    clock = rng.choice(("24", "24", "12", "12", "h", "dot12"))
    if clock == "h" and not seconds:
        # French/Canadian style: 10h11, 10h.
        text = f"{shown.hour}h{shown.minute:02d}" if shown.minute or rng.random() < 0.5 else f"{shown.hour}h"
        return text, shown
    if clock in ("12", "dot12"):
        hour12 = shown.hour % 12 or 12
        separator = "." if clock == "dot12" else ":"
        if not seconds and shown.minute == 0 and rng.random() < 0.3:
            body = f"{hour12}"
        else:
            body = f"{hour12}{separator}{shown.minute:02d}"
            if seconds:
                body += f"{separator}{shown.second:02d}"
        space = rng.choice(("", " ", " ", "\u202f"))
        return f"{body}{space}{_am_pm(rng, shown.hour)}", shown
    hour = f"{shown.hour:02d}" if rng.random() < 0.8 else f"{shown.hour}"
    body = f"{hour}:{shown.minute:02d}"
    if seconds:
        body += f":{shown.second:02d}"
        if shown.microsecond and rng.random() < 0.5:
            digits = rng.choice((3, 6))
            body += f".{shown.microsecond:06d}"[: digits + 1]
    return body, shown.replace(microsecond=0)


def write_zone(rng, offset_minutes=None):
    """A zone name or numeric offset and its answer, e.g. ``("PDT", "-07:00")``, ``("+0530", "+05:30")``."""
    if offset_minutes is None and rng.random() < 0.5:
        name = rng.choice(SHORT_ZONE_NAMES)
        return name, ZONES[name]
    if offset_minutes is None:
        offset_minutes = rng.choice(OFFSETS_MINUTES)
    return write_offset(rng, offset_minutes)


def random_time(rng):
    """A uniformly drawn time of day with microseconds; noon and midnight are drawn more often."""
    draw = rng.random()
    if draw < 0.03:
        return datetime.time(12, 0, 0)
    if draw < 0.06:
        return datetime.time(0, 0, 0)
    seconds = rng.randrange(86400)
    return datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60, rng.randrange(1_000_000))


def random_said_time(rng):
    """A time of day as people say one: on the hour, at a quarter or a half, at five minutes, or any minute."""
    draw = rng.random()
    if draw < 0.04:
        return datetime.time(12, 0)
    if draw < 0.07:
        return datetime.time(0, 0)
    hour, draw = rng.randrange(24), rng.random()
    if draw < 0.25:
        minute = 0
    elif draw < 0.45:
        minute = rng.choice((15, 30, 45))
    elif draw < 0.65:
        minute = rng.choice((5, 10, 20, 25, 35, 40, 50, 55))
    else:
        minute = rng.randrange(60)
    return datetime.time(hour, minute)


# The parts of the day a twelve-hour time may be said with, and the 24-hour hours each fits.
_MORNING = {"a m": range(0, 12), "a.m.": range(0, 12), "am": range(0, 12), "in the morning": range(5, 12)}
_AFTERNOON = {"p m": range(12, 24), "p.m.": range(12, 24), "pm": range(12, 24),
              "in the afternoon": range(12, 18), "in the evening": range(17, 22), "at night": range(20, 24)}


def _part_of_day(rng, hour):
    """A marker of the half of the day that fits ``hour`` (0-23): ``p m``, ``in the evening``, ..."""
    markers = _MORNING if hour < 12 else _AFTERNOON
    fitting = [marker for marker, hours in markers.items() if hour in hours]
    plain = [marker for marker in fitting if " m" in marker or marker.endswith("m")]
    described = [marker for marker in fitting if marker not in plain]
    return rng.choice(described) if described and rng.random() < 0.35 else rng.choice(plain)


def _minutes_after(minute, hyphen):
    """``oh five``, ``fifteen``, ``forty-five``: minutes said after the hour."""
    return f"oh {numbers_in_words.ONES[minute]}" if minute < 10 else numbers_in_words.cardinal(minute, hyphen)


def say_time(rng, time):
    """``time`` said in words and its answer (to the minute), as the module docstring lists."""
    shown = time.replace(second=0, microsecond=0)
    hour, minute = shown.hour, shown.minute
    hyphen = "-" if rng.random() < 0.3 else " "
    say = lambda number: numbers_in_words.cardinal(number, hyphen)  # noqa: E731
    if (hour, minute) == (12, 0) and rng.random() < 0.5:
        return rng.choice(("noon", "twelve noon", "midday", "twelve o'clock noon")), shown
    if (hour, minute) == (0, 0) and rng.random() < 0.5:
        return rng.choice(("midnight", "twelve midnight")), shown
    if hour >= 13 and rng.random() < 0.2:
        # The 24-hour clock said aloud: "fifteen forty-five", "eighteen hundred hours".
        if minute == 0:
            return f"{say(hour)} hundred" + rng.choice(("", " hours")), shown
        return f"{say(hour)} {_minutes_after(minute, hyphen)}" + rng.choice(("", "", " hours")), shown
    # Twelve-hour forms; the marker is left out only where the hour as said is the answer's hour.
    marker = "" if 1 <= hour <= 12 and rng.random() < 0.35 else _part_of_day(rng, hour)
    hour12 = hour % 12 or 12
    draw = rng.random()
    if minute and (minute % 5 == 0 and draw < 0.6 or draw < 0.1):
        next_hour = hour12 % 12 + 1
        minutes = "minute" if minute in (1, 59) else "minutes"
        if minute == 30:
            text = f"half past {say(hour12)}"
        elif minute in (15, 45):
            quarter = rng.choice(("quarter", "a quarter"))
            text = f"{quarter} past {say(hour12)}" if minute == 15 else f"{quarter} to {say(next_hour)}"
        elif minute < 30:
            unit = f" {minutes}" if minute % 5 or rng.random() < 0.2 else ""
            text = f"{say(minute)}{unit} past {say(hour12)}"
        else:
            unit = f" {minutes}" if minute % 5 or rng.random() < 0.2 else ""
            text = f"{say(60 - minute)}{unit} to {say(next_hour)}"
    elif minute == 0:
        if not marker or rng.random() < 0.5:
            text = f"{say(hour12)} " + rng.choice(("o'clock", "o clock", "o'clock"))
        else:
            text = say(hour12)
    else:
        text = f"{say(hour12)} {_minutes_after(minute, hyphen)}"
    return (f"{text} {marker}" if marker else text), shown
