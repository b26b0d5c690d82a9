"""The generative format families: how programs and people write a date (and its time).

Each family is a function ``(rng, date, time, order) -> (text, Answer)``: it
writes ``date`` (a ``datetime.date``) and, where the family carries one,
``time`` (a ``datetime.time`` with microseconds), and returns the answer the
string means under ``order``. For numeric dates the answer is worked out from
the written numbers with ``targets.read_numeric`` / ``targets.read_named``,
so ``05/03/1979`` written day first is 1979-05-03 under ``MDY``: the string,
not the date that was drawn, decides. Month and weekday names are fixed English
lists (not the process locale), weekdays always agree with their date.

``FAMILIES`` maps each family name to its function and to what its answers
carry. A family that prints a two-digit year does so only for dates inside the
POSIX pivot window (1969-2068) and prints four digits otherwise, so every
string has one answer. The families follow the list of what a date reader must read:
ISO 8601, what programs write, what people write, dates in words, other
English locales (Babel / CLDR), reduced precision and ambiguous numeric dates.
"""

import dataclasses
import datetime

import babel.dates

from data.date_strings import numbers_in_words, times
from data.date_strings.targets import Answer, answer_for, month_answer, read_named, read_numeric

MONTHS = (
    "January February March April May June July August September October November December"
).split()
MONTH_ABBREVIATIONS = tuple(name[:3] for name in MONTHS)
# Associated Press abbreviations: March to July are always spelled out.
AP_MONTHS = ("Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec.")
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
WEEKDAY_VARIANTS = {"Tuesday": ("Tues",), "Wednesday": ("Weds",), "Thursday": ("Thur", "Thurs")}
BABEL_LOCALES = ("en_GB", "en_AU", "en_IN", "en_CA", "en_IE", "en_NZ", "en_ZA")
BABEL_WIDTHS = ("short", "medium", "long", "full")


@dataclasses.dataclass(frozen=True)
class Family:
    """One format family: its writer, whether its answers carry a time, and whether they are a month only."""

    write: object
    has_time: bool = False
    month_only: bool = False


# ---------------------------------------------------------------------------
# Pieces


def month_word(rng, month, style=None):
    """A month as a word: ``September``, ``Sep``, ``Sept``, ``Sep.``, or AP style ``Sept.``."""
    style = style or rng.choice(("full", "full", "abbr", "abbr", "abbr_dot", "ap"))
    if style == "full":
        return MONTHS[month - 1]
    if style == "ap":
        return AP_MONTHS[month - 1]
    abbreviation = "Sept" if month == 9 and rng.random() < 0.3 else MONTH_ABBREVIATIONS[month - 1]
    if style == "abbr_dot" and month != 5:
        return abbreviation + "."
    return abbreviation


def weekday_word(rng, date):
    name = WEEKDAYS[date.weekday()]
    draw = rng.random()
    if draw < 0.45:
        return name
    if draw < 0.85:
        return name[:3]
    if draw < 0.93:
        return name[:3] + "."
    return rng.choice(WEEKDAY_VARIANTS.get(name, (name[:3],)))


def day_number(rng, day, padded=None):
    if padded is None:
        padded = rng.random() < 0.4
    return f"{day:02d}" if padded else str(day)


def two_digits(value):
    return f"{value % 100:02d}"


def _numeric_fields(text):
    fields, current = [], ""
    for character in text:
        if character.isdigit():
            current += character
        elif current:
            fields.append(current)
            current = ""
    if current:
        fields.append(current)
    return fields


def numeric_answer(fields, order):
    """The answer of three written numbers under ``order`` (``NOT_A_DATE`` can't happen: they came from a date)."""
    date = read_numeric(fields, order)
    if date is None:
        raise ValueError(f"Numeric fields {fields} read as no date under {order}")
    return date


# ---------------------------------------------------------------------------
# ISO 8601


def iso_date(rng, date, time, order):
    return date.isoformat(), answer_for(date)


def iso_basic_date(rng, date, time, order):
    return date.strftime("%Y%m%d"), answer_for(date)


def _iso_time(rng, time, basic):
    """``T10``, ``T10:49``, ``T10:49:41``, ``T10:49:41.250`` (or basic ``T104941``) and the answer time."""
    precision = rng.choice(("hour", "minute", "minute", "second", "second", "fraction"))
    if precision == "hour":
        shown = time.replace(minute=0, second=0, microsecond=0)
        text = f"{shown.hour:02d}"
    elif precision == "minute":
        shown = time.replace(second=0, microsecond=0)
        text = shown.strftime("%H%M" if basic else "%H:%M")
    else:
        shown = time.replace(microsecond=0)
        text = shown.strftime("%H%M%S" if basic else "%H:%M:%S")
        if precision == "fraction":
            digits = rng.choice((1, 3, 6))
            separator = "." if basic or rng.random() < 0.85 else ","
            text += separator + f"{time.microsecond:06d}"[:digits]
    return text, shown


def _iso_zone(rng, basic):
    draw = rng.random()
    if draw < 0.35:
        return "", ""
    if draw < 0.6:
        return "Z", "+00:00"
    minutes = rng.choice(times.OFFSETS_MINUTES)
    answer = times.offset_string(minutes)
    if basic or rng.random() < 0.3:
        return answer.replace(":", ""), answer
    return answer, answer


def iso_datetime(rng, date, time, order):
    separator = rng.choice(("T", "T", "T", " "))
    time_text, shown = _iso_time(rng, time, basic=False)
    if separator == " " and ":" not in time_text:
        separator = "T"  # an hour alone after a space reads as a number, not a time
    zone, offset = _iso_zone(rng, basic=False)
    return f"{date.isoformat()}{separator}{time_text}{zone}", answer_for(date, shown, offset)


def iso_basic_datetime(rng, date, time, order):
    time_text, shown = _iso_time(rng, time, basic=True)
    zone, offset = _iso_zone(rng, basic=True)
    return f"{date.strftime('%Y%m%d')}T{time_text}{zone}", answer_for(date, shown, offset)


# ---------------------------------------------------------------------------
# What programs write


def _hms(time):
    return time.replace(microsecond=0)


def rfc2822(rng, date, time, order):
    """RFC 2822 / ``email.utils``: ``Thu, 25 Sep 2003 10:49:41 +0000`` (weekday and seconds optional)."""
    weekday = WEEKDAYS[date.weekday()][:3] + ", " if rng.random() < 0.85 else ""
    seconds = rng.random() < 0.9
    shown = _hms(time) if seconds else time.replace(second=0, microsecond=0)
    clock = shown.strftime("%H:%M:%S" if seconds else "%H:%M")
    draw = rng.random()
    if draw < 0.6:
        minutes = rng.choice(times.OFFSETS_MINUTES)
        offset = times.offset_string(minutes)
        zone = offset.replace(":", "")
    else:
        zone = rng.choice(("GMT", "UT", "UTC", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"))
        offset = times.ZONES[zone]
    names = [name for name in times.SHORT_ZONE_NAMES if times.ZONES[name] == offset]
    if draw < 0.6 and names and rng.random() < 0.3:
        # Mail programs often add the zone's name as a comment after the number: "-0500 (EST)".
        zone = f"{zone} ({rng.choice(names)})"
    day = day_number(rng, date.day, padded=rng.random() < 0.7)
    text = f"{weekday}{day} {MONTH_ABBREVIATIONS[date.month - 1]} {date.year} {clock} {zone}"
    return text, answer_for(date, shown, offset)


def http_date(rng, date, time, order):
    """RFC 7231's three forms: IMF-fixdate, RFC 850 (two-digit year) and asctime."""
    shown = _hms(time)
    clock = shown.strftime("%H:%M:%S")
    form = rng.choice(("imf", "imf", "rfc850", "asctime"))
    if form == "imf" or not 1969 <= date.year <= 2068:
        text = f"{WEEKDAYS[date.weekday()][:3]}, {date.day:02d} {MONTH_ABBREVIATIONS[date.month - 1]} {date.year} {clock} GMT"
        return text, answer_for(date, shown, "+00:00")
    if form == "rfc850":
        text = f"{WEEKDAYS[date.weekday()]}, {date.day:02d}-{MONTH_ABBREVIATIONS[date.month - 1]}-{two_digits(date.year)} {clock} GMT"
        return text, answer_for(date, shown, "+00:00")
    text = f"{WEEKDAYS[date.weekday()][:3]} {MONTH_ABBREVIATIONS[date.month - 1]} {date.day:2d} {clock} {date.year}"
    return text, answer_for(date, shown)


def ctime(rng, date, time, order):
    """C's ``ctime`` / ``asctime``: ``Thu Sep  5 10:49:41 2003`` (day padded with a space), and git's default
    ``Thu Sep 5 10:49:41 2003 +0200`` (day not padded, the offset after the year)."""
    shown = _hms(time)
    if rng.random() < 0.3:
        offset = times.offset_string(rng.choice(times.OFFSETS_MINUTES))
        text = (f"{WEEKDAYS[date.weekday()][:3]} {MONTH_ABBREVIATIONS[date.month - 1]} {date.day} {shown:%H:%M:%S} "
                f"{date.year} {offset.replace(':', '')}")
        return text, answer_for(date, shown, offset)
    text = f"{WEEKDAYS[date.weekday()][:3]} {MONTH_ABBREVIATIONS[date.month - 1]} {date.day:2d} {shown:%H:%M:%S} {date.year}"
    return text, answer_for(date, shown)


def date_command(rng, date, time, order):
    """``date(1)``: POSIX ``Thu Sep  5 10:49:41 UTC 2003``, coreutils en_US ``Thu Sep  5 10:49:41 AM UTC 2003``,
    en_GB ``Thu 05 Sep 2003 10:49:41 BST``, and ``date -R`` (RFC 5322)."""
    shown = _hms(time)
    zone = rng.choice(times.SHORT_ZONE_NAMES)
    offset = times.ZONES[zone]
    weekday = WEEKDAYS[date.weekday()][:3]
    month = MONTH_ABBREVIATIONS[date.month - 1]
    form = rng.choice(("posix", "posix", "en_us", "en_gb", "rfc"))
    if form == "posix":
        text = f"{weekday} {month} {date.day:2d} {shown:%H:%M:%S} {zone} {date.year}"
    elif form == "en_us":
        text = f"{weekday} {month} {date.day:2d} {shown:%I:%M:%S %p} {zone} {date.year}"
    elif form == "en_gb":
        text = f"{weekday} {date.day:02d} {month} {date.year} {shown:%H:%M:%S} {zone}"
    else:
        minutes = rng.choice(times.OFFSETS_MINUTES)
        offset = times.offset_string(minutes)
        text = f"{weekday}, {date.day:02d} {month} {date.year} {shown:%H:%M:%S} {offset.replace(':', '')}"
    return text, answer_for(date, shown, offset)


def str_datetime(rng, date, time, order):
    """``str(datetime)`` / ``isoformat()``: microseconds only when non-zero, an offset when aware."""
    value = datetime.datetime.combine(date, time)
    if rng.random() < 0.4:
        value = value.replace(microsecond=0)
    offset = ""
    if rng.random() < 0.35:
        minutes = rng.choice(times.OFFSETS_MINUTES)
        value = value.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
        offset = times.offset_string(minutes)
    text = str(value) if rng.random() < 0.6 else value.isoformat()
    return text, answer_for(date, value.time(), offset)


def sql_timestamp(rng, date, time, order):
    """SQL ``TIMESTAMP`` text: MySQL ``2003-09-25 10:49:41``, PostgreSQL ``2003-09-25 10:49:41.25+05:30``, and
    Oracle's default ``DD-MON-RR HH.MI.SSXFF AM``: ``25-SEP-03 10.49.41.000000 AM``."""
    shown = _hms(time)
    if rng.random() < 0.2:
        return _oracle_timestamp(rng, date, time, shown, order)
    text = f"{date.isoformat()} {shown:%H:%M:%S}"
    if rng.random() < 0.4:
        digits = rng.choice((1, 2, 3, 6))
        # Python's logging writes milliseconds after a comma: "2003-09-25 10:49:41,250".
        text += ("," if digits == 3 and rng.random() < 0.4 else ".") + f"{time.microsecond:06d}"[:digits]
    offset = ""
    if rng.random() < 0.4:
        minutes = rng.choice(times.OFFSETS_MINUTES)
        offset = times.offset_string(minutes)
        # PostgreSQL drops ":00" minutes: +00, -07, +05:30.
        text += offset[:3] if offset.endswith(":00") else offset
    return text, answer_for(date, shown, offset)


def _oracle_timestamp(rng, date, time, shown, order):
    month = MONTH_ABBREVIATIONS[date.month - 1]
    month = month.upper() if rng.random() < 0.8 else month
    fraction = f".{time.microsecond:06d}" if rng.random() < 0.8 else ""
    text, answer_date = _day_month_year(date, month, 1969 <= date.year <= 2068 and rng.random() < 0.7, order)
    return f"{text} {shown:%I.%M.%S}{fraction} {shown:%p}", answer_for(answer_date, shown)


def web_log(rng, date, time, order):
    """Common/combined log format: ``[25/Sep/2003:10:49:41 +0000]``."""
    shown = _hms(time)
    minutes = rng.choice(times.OFFSETS_MINUTES)
    offset = times.offset_string(minutes)
    text = f"{date.day:02d}/{MONTH_ABBREVIATIONS[date.month - 1]}/{date.year}:{shown:%H:%M:%S} {offset.replace(':', '')}"
    if rng.random() < 0.5:
        text = f"[{text}]"
    return text, answer_for(date, shown, offset)


def dd_mon_yy(rng, date, time, order):
    """Oracle's ``DD-MON-YY`` and ``DD-MON-YYYY``: ``25-SEP-03``; the two short numbers follow ``order``."""
    month = MONTH_ABBREVIATIONS[date.month - 1]
    if rng.random() < 0.6:
        month = month.upper()
    text, answer_date = _day_month_year(date, month, 1969 <= date.year <= 2068 and rng.random() < 0.6, order)
    return text, answer_for(answer_date)


def _day_month_year(date, month, short_year, order):
    """``25-SEP-03`` (the two short numbers read by ``order``) or ``25-SEP-2003``, and the date it answers."""
    if short_year:
        numbers = [f"{date.day:02d}", two_digits(date.year)]
        return f"{numbers[0]}-{month}-{numbers[1]}", read_named(numbers, date.month, order)
    return f"{date.day:02d}-{month}-{date.year}", date


def _numeric(rng, date, layout, separator, short_year, padded):
    day = f"{date.day:02d}" if padded else str(date.day)
    month = f"{date.month:02d}" if padded else str(date.month)
    year = two_digits(date.year) if short_year else str(date.year)
    parts = {"D": day, "M": month, "Y": year}
    return separator.join(parts[key] for key in layout)


def _numeric_layout(rng, date, allow_short_year=True):
    layout = rng.choice(("MDY", "MDY", "DMY", "DMY", "YMD"))
    short_year = allow_short_year and 1969 <= date.year <= 2068 and rng.random() < 0.35
    return layout, short_year


def numeric_date(rng, date, time, order):
    """``05/03/1979``, ``5.3.79``, ``1979-5-3``: written in any layout, read by ``order`` (see ``targets``)."""
    layout, short_year = _numeric_layout(rng, date)
    separator = rng.choice(("/", "/", ".", "-"))
    text = _numeric(rng, date, layout, separator, short_year, padded=rng.random() < 0.5)
    return text, answer_for(numeric_answer(_numeric_fields(text), order))


def spreadsheet(rng, date, time, order):
    """Spreadsheet cells: ``9/25/2003 10:49``, ``25/09/2003 10:49:41``, ``9/25/03 2:57 PM``."""
    layout = rng.choice(("MDY", "MDY", "DMY"))
    short_year = 1969 <= date.year <= 2068 and rng.random() < 0.3
    date_text = _numeric(rng, date, layout, "/", short_year, padded=rng.random() < 0.4)
    seconds = rng.random() < 0.3
    shown = _hms(time) if seconds else time.replace(second=0, microsecond=0)
    if rng.random() < 0.5:
        clock = f"{shown.hour}:{shown.minute:02d}" + (f":{shown.second:02d}" if seconds else "")
    else:
        # Windows and date(1)'s %r pad the 12-hour hour: "09/25/2003 02:57:41 PM".
        hour12 = f"{shown.hour % 12 or 12:02d}" if rng.random() < 0.4 else f"{shown.hour % 12 or 12}"
        clock = f"{hour12}:{shown.minute:02d}" + (f":{shown.second:02d}" if seconds else "")
        clock += " AM" if shown.hour < 12 else " PM"
    answer_date = numeric_answer(_numeric_fields(date_text), order)
    return f"{date_text} {clock}", answer_for(answer_date, shown)


def year_first(rng, date, time, order):
    """Year-first numeric: ``2003/09/25``, ``2003.9.25``, ``2003 09 25``."""
    separator = rng.choice(("/", ".", " ", "-", "/"))
    padded = rng.random() < 0.7 or separator == " "
    text = _numeric(rng, date, "YMD", separator, False, padded)
    return text, answer_for(numeric_answer(_numeric_fields(text), order))


# ---------------------------------------------------------------------------
# What people write


def month_name(rng, date, time, order):
    """Day, month name and four-digit year in every order and with every separator."""
    month = month_word(rng, date.month, rng.choice(("full", "abbr", "abbr", "abbr_dot")))
    day = day_number(rng, date.day)
    year = str(date.year)
    layout = rng.choice(("DMY", "MDY", "YMD", "YDM", "DMY", "MDY"))
    separator = rng.choice((" ", " ", "-", "/", ".", " ", "-"))
    parts = {"D": day, "M": month, "Y": year}
    if separator == " " and layout == "MDY" and rng.random() < 0.6:
        return f"{month} {day}, {year}", answer_for(date)
    if separator != " " and month.endswith("."):
        parts["M"] = month[:-1]
    return separator.join(parts[key] for key in layout), answer_for(date)


def ap_style(rng, date, time, order):
    """Associated Press style: ``Sept. 25, 2003``, ``Aug. 9, 2012``, ``March 5, 2003``."""
    text = f"{AP_MONTHS[date.month - 1]} {date.day}, {date.year}"
    if rng.random() < 0.2:
        text = f"{WEEKDAYS[date.weekday()]}, {text}"
    return text, answer_for(date)


def weekday(rng, date, time, order):
    """A weekday before, after or inside the date: ``Thursday, 25 September 2003``, ``2003-09-25 (Thu)``."""
    name = weekday_word(rng, date)
    month = month_word(rng, date.month)
    day = day_number(rng, date.day)
    form = rng.choice(("us", "uk", "iso", "after", "paren", "uk_ordinal"))
    if form == "us":
        return f"{name}, {month} {day}, {date.year}", answer_for(date)
    if form == "uk":
        return f"{name} {day} {month} {date.year}", answer_for(date)
    if form == "iso":
        return f"{name} {date.isoformat()}", answer_for(date)
    if form == "after":
        return f"{day} {month} {date.year}, {name}", answer_for(date)
    if form == "paren":
        return f"{date.isoformat()} ({name})", answer_for(date)
    return f"{name} the {numbers_in_words.ordinal_suffix(date.day)} of {month} {date.year}", answer_for(date)


def ordinal(rng, date, time, order):
    """Ordinal days: ``25th September 2003``, ``September 25th, 2003``, ``Sep 1st 2003``."""
    day = numbers_in_words.ordinal_suffix(date.day)
    month = month_word(rng, date.month)
    form = rng.choice(("dmy", "mdy", "mdy_comma", "ymd"))
    if form == "dmy":
        return f"{day} {month} {date.year}", answer_for(date)
    if form == "mdy":
        return f"{month} {day} {date.year}", answer_for(date)
    if form == "mdy_comma":
        return f"{month} {day}, {date.year}", answer_for(date)
    return f"{date.year} {month} {day}", answer_for(date)


def the_of(rng, date, time, order):
    """``the 25th of September 2003``, ``25th of Sept, 2003``, ``September the 25th, 2003``."""
    day = numbers_in_words.ordinal_suffix(date.day)
    month = month_word(rng, date.month)
    form = rng.choice(("the_of", "of", "month_the"))
    comma = "," if rng.random() < 0.4 else ""
    if form == "the_of":
        return f"the {day} of {month}{comma} {date.year}", answer_for(date)
    if form == "of":
        return f"{day} of {month}{comma} {date.year}", answer_for(date)
    return f"{month} the {day}{comma} {date.year}", answer_for(date)


def date_with_time(rng, date, time, order):
    """A person's date with a time before or after: ``25 Sep 2003 at 2:57 p.m.``, ``10h11 on 25/09/2003``."""
    date_text, answer = rng.choice(_PEOPLE_DATES)(rng, date, time, order)
    time_text, shown = times.write_time(rng, time)
    if rng.random() < 0.7:
        connector = rng.choice((" at ", " @ ", ", ", " | ", " ", " - "))
        text = f"{date_text}{connector}{time_text}"
    else:
        connector = rng.choice((" on ", " on ", ", ", " | ", " "))
        text = f"{time_text}{connector}{date_text}"
    return text, Answer(answer.date, answer_for(date, shown).time)


def zone_name(rng, date, time, order):
    """A date and time with a zone name or offset: ``Sep 25, 2003 2:57 pm PDT``, ``25/09/2003 14:09 UTC+5:30``."""
    date_text, answer = rng.choice(_PEOPLE_DATES)(rng, date, time, order)
    time_text, shown = times.write_time(rng, time)
    if rng.random() < 0.75:
        zone = rng.choice(times.SHORT_ZONE_NAMES)
        offset = times.ZONES[zone]
    else:
        minutes = rng.choice(times.OFFSETS_MINUTES)
        offset = times.offset_string(minutes)
        prefix = rng.choice(("UTC", "GMT"))
        hours, mins = abs(minutes) // 60, abs(minutes) % 60
        zone = f"{prefix}{'-' if minutes < 0 else '+'}{hours}" + (f":{mins:02d}" if mins else "")
    connector = rng.choice((" at ", " ", ", ", " @ "))
    return f"{date_text}{connector}{time_text} {zone}", Answer(answer.date, answer_for(date, shown).time, offset)


def anno_domini(rng, date, time, order):
    """``AD`` / ``A.D.`` before or after the year: ``14 October 1066 AD``, ``October 14, A.D. 1066``."""
    era = rng.choice(("AD", "A.D.", "AD", "CE"))
    month = month_word(rng, date.month)
    if rng.random() < 0.5:
        return f"{date.day} {month} {date.year} {era}", answer_for(date)
    if era == "CE":
        return f"{month} {date.day}, {date.year} {era}", answer_for(date)
    return f"{month} {date.day}, {era} {date.year}", answer_for(date)


def in_words(rng, date, time, order):
    """Dates in words, as a cheque or a speech recogniser writes them: ``the third of march nineteen
    seventy-nine``, ``march third two thousand and one``, ``tuesday march three twenty twenty``,
    ``on the 3rd of march nineteen seventy nine``."""
    hyphen = "-" if rng.random() < 0.5 else " "
    day = numbers_in_words.ordinal(date.day, hyphen)
    draw = rng.random()
    if draw < 0.12:
        day = numbers_in_words.ordinal_suffix(date.day)  # "the 3rd of march nineteen seventy nine"
    year = numbers_in_words.year_in_words(rng, date.year, hyphen) if rng.random() < 0.85 else str(date.year)
    month = MONTHS[date.month - 1].lower()
    form = rng.choice(("the_of", "the_of", "of", "month_day", "month_day", "month_the_day", "day_month",
                       "month_cardinal", "year_last_of"))
    if form == "the_of":
        text = f"the {day} of {month} {year}"
    elif form == "of":
        text = f"{day} of {month} {year}"
    elif form == "month_day":
        text = f"{month} {day} {year}"
    elif form == "month_the_day":
        text = f"{month} the {day}{rng.choice((',', ''))} {year}"
    elif form == "day_month":
        text = f"{day} {month} {year}"
    elif form == "month_cardinal":
        # Speech: "march three nineteen seventy nine". "march twenty one thousand ..." would read two ways,
        # so a day of 20 or 30 before a year said from its thousands takes the ordinal.
        cardinal_day = numbers_in_words.cardinal(date.day, hyphen)
        if date.day % 10 == 0 and year.split()[0] in numbers_in_words.ONES:
            cardinal_day = day
        text = f"{month} {cardinal_day} {year}"
    else:
        text = f"the {day} of {month} in the year {year}" if rng.random() < 0.3 else f"the {day} day of {month} {year}"
    if rng.random() < 0.2:
        name = WEEKDAYS[date.weekday()].lower()
        text = f"{name} {text}"
    if rng.random() < 0.1:
        text = "on " + text
    return text, answer_for(date)


# Sentences a person says (or a speech recogniser writes) around a date and a time. ``{date}`` always has a
# year; ``{count}`` and ``{code}`` are numbers that are not part of the date.
SENTENCES_WITH_TIME = (
    "let's meet on {date} at {time}",
    "the meeting is at {time} on {date}",
    "please book it for {date} at {time}",
    "set a reminder for {time} on {date}",
    "we land on {date} at {time}",
    "the train leaves at {time} on {date}",
    "she was born at {time} on {date}",
    "my appointment is {date} at {time}",
    "the shop opens at {time} on {date}",
    "book a table for {count} at {time} on {date}",
    "room {code} is free on {date} from {time}",
    "could you ring me back at {time} on {date}",
    "is {date} at {time} okay for you",
    "how about {date} around {time}",
    "the interview is scheduled for {time} {date}",
    "{date} at {time}",
    "{time} on {date}",
    "on {date} at about {time}",
    "flight {code} departs {date} at {time}",
    "i'll pick you up at {time} on {date}",
)
SENTENCES_WITHOUT_TIME = (
    "i started the job on {date}",
    "the house was finished on {date}",
    "it expires on {date}",
    "the payment is due {date}",
    "we got married on {date}",
    "the concert is on {date}",
    "the letter is dated {date}",
    "he retired on {date} after {count} years",
    "order {code} was shipped on {date}",
    "my daughter was born on {date}",
    "we moved house on {date}",
    "the warranty ends {date}",
)
SENTENCE_LENGTH = 92
SENTENCE_OPENERS = ("", "", "", "", "um ", "uh ", "so ", "okay ", "yes ", "well ", "and ", "actually ")
SENTENCE_CLOSERS = ("", "", "", "", " please", " thanks", " if that works", " right", " i think")


def _sentence_numbers(rng):
    """The numbers a sentence may also hold: a small count and a code said digit by digit."""
    code = " ".join(numbers_in_words.ONES[int(d)] if d != "0" or rng.random() < 0.5 else "oh"
                    for d in str(rng.randint(10, 9999)))
    return {"count": numbers_in_words.cardinal(rng.randint(2, 12)), "code": code}


# Sentences about a month and year; the day sentences use them too (and the month ones the day sentences), so
# no carrier tells a month answer from a day answer.
SENTENCES_WITH_MONTH = (
    "the deadline is {date}",
    "we moved here in {date}",
    "the project ends in {date}",
    "she started school in {date}",
    "it was built in {date}",
    "the offer runs until {date}",
    "{date} works for me",
    "sometime in {date}",
    "the {count} of us met in {date}",
    "we last spoke in {date}",
)


def _date_carrier(rng, month):
    """A sentence without a time for a day (``month=False``) or a month and year, from both lists."""
    template = rng.choice(SENTENCES_WITHOUT_TIME + SENTENCES_WITH_MONTH)
    if month:
        return template.replace(" on {date}", " in {date}").replace("dated {date}", "dated in {date}")
    return template.replace(" in {date}", " on {date}")


def spoken_sentence_month(rng, date, time, order):
    """A month and year inside a spoken sentence: ``we moved here in june nineteen ninety``, now and then
    with a time after it, which a month-and-year answer does not carry."""
    while True:
        if rng.random() < 0.8:
            hyphen = "-" if rng.random() < 0.3 else " "
            of = " of " if rng.random() < 0.15 else " "
            month = f"{MONTHS[date.month - 1].lower()}{of}{numbers_in_words.year_in_words(rng, date.year, hyphen)}"
        else:
            month, _ = month_year(rng, date, time, order)
        draw = rng.random()
        # A time said with a month and year does not make it a day ("september nineteen eighty five at ten"),
        # in the sentences that carry a day's time as well, so no sentence tells a day from a month.
        if draw < 0.2:
            template = rng.choice(SENTENCES_WITH_TIME).replace(" on {date}", " in {date}")
            said, _ = times.say_time(rng, times.random_said_time(rng))
            text = template.format(date=month, time=said, **_sentence_numbers(rng))
        else:
            text = _date_carrier(rng, month=True).format(date=month, **_sentence_numbers(rng))
            if draw < 0.4:
                text += f" {rng.choice(('at', 'around', 'from'))} {times.say_time(rng, times.random_said_time(rng))[0]}"
        text = rng.choice(SENTENCE_OPENERS) + text + rng.choice(SENTENCE_CLOSERS)
        if len(text) <= SENTENCE_LENGTH:
            return text, month_answer(date.year, date.month)


def _spoken_sentence(rng, date, time, order, with_time):
    for attempt in range(40):
        if attempt < 20 and rng.random() < 0.8:
            date_text, answer = in_words(rng, date, time, order)
            date_text = date_text.removeprefix("on ")
        elif attempt < 20:
            date_text, answer = rng.choice(_PEOPLE_DATES)(rng, date, time, order)
        else:
            # A long date in words (a weekday and a year such as 2742) may fit no sentence; write it shorter.
            date_text, answer = rng.choice((numeric_date, iso_date, year_first))(rng, date, time, order)
        fields = {"date": date_text, **_sentence_numbers(rng)}
        if with_time:
            if rng.random() < 0.8:
                fields["time"], shown = times.say_time(rng, times.random_said_time(rng))
            else:
                fields["time"], shown = times.write_time(rng, time, False)
            template, answer = rng.choice(SENTENCES_WITH_TIME), Answer(answer.date, answer_for(date, shown).time)
        else:
            template = _date_carrier(rng, month=False)
        text = rng.choice(SENTENCE_OPENERS) + template.format(**fields) + rng.choice(SENTENCE_CLOSERS)
        # The model reads 95 characters and noise may add a period and brackets; a longer sentence is drawn again.
        if len(text) <= SENTENCE_LENGTH:
            return text, answer
    raise RuntimeError(f"No sentence of {SENTENCE_LENGTH} characters or fewer holds {date_text!r}")


def spoken_sentence(rng, date, time, order):
    """A date with a year and a time inside a sentence as said aloud: ``the meeting is at half past six in
    the evening on the third of march nineteen seventy nine``, ``book a table for four at eight p m on june
    second twenty twenty``. The date is said in words (``in_words``) or, now and then, written as a person
    types it; the time is said in words (``times.say_time``) or written."""
    return _spoken_sentence(rng, date, time, order, with_time=True)


def spoken_sentence_date(rng, date, time, order):
    """A date with a year inside a spoken sentence, no time: ``we got married on june second twenty twenty``."""
    return _spoken_sentence(rng, date, time, order, with_time=False)


# ---------------------------------------------------------------------------
# Other English locales (CLDR through Babel)


def _babel_locale(rng, date, width):
    """A locale; outside the two-digit window, one whose short format prints four-digit years."""
    if width != "short" or 1969 <= date.year <= 2068:
        return rng.choice(BABEL_LOCALES)
    return rng.choice(tuple(locale for locale in BABEL_LOCALES if locale not in ("en_AU", "en_IN")))


def _babel_date(width):
    def write(rng, date, time, order):
        locale = _babel_locale(rng, date, width)
        text = babel.dates.format_date(date, width, locale=locale)
        if width == "short":
            return text, answer_for(numeric_answer(_numeric_fields(text), order))
        return text, answer_for(date)

    write.__doc__ = f"Babel's {width} date format in one of {', '.join(BABEL_LOCALES)}."
    return write


def babel_datetime(rng, date, time, order):
    """Babel's datetime formats (CLDR puts U+202F, a narrow no-break space, before am/pm)."""
    width = rng.choice(BABEL_WIDTHS)
    locale = _babel_locale(rng, date, width)
    value = datetime.datetime.combine(date, time.replace(microsecond=0))
    text = babel.dates.format_datetime(value, width, tzinfo=datetime.timezone.utc, locale=locale)
    shown = value.time() if width != "short" else value.time().replace(second=0)
    offset = "+00:00" if width in ("long", "full") else ""
    if width == "short":
        date_text = text.split(", ")[0]
        answer_date = numeric_answer(_numeric_fields(date_text), order)
    else:
        answer_date = date
    return text, answer_for(answer_date, shown, offset)


# ---------------------------------------------------------------------------
# Reduced precision


def month_year(rng, date, time, order):
    """Month and year only: ``May 2014``, ``2014-05``, ``Sept. 2014``, ``05/2014``, ``September of 2014``,
    ``may twenty fourteen``."""
    form = rng.choice(("name", "name", "iso", "slash", "year_slash", "of", "comma", "words"))
    if form == "words":
        # As said: "march nineteen seventy nine", "may of two thousand and five".
        hyphen = "-" if rng.random() < 0.5 else " "
        of = " of " if rng.random() < 0.2 else " "
        text = f"{MONTHS[date.month - 1].lower()}{of}{numbers_in_words.year_in_words(rng, date.year, hyphen)}"
    elif form == "name":
        text = f"{month_word(rng, date.month)} {date.year}"
    elif form == "iso":
        text = f"{date.year}-{date.month:02d}"
    elif form == "slash":
        text = f"{date.month:02d}/{date.year}" if rng.random() < 0.6 else f"{date.month}/{date.year}"
    elif form == "year_slash":
        text = f"{date.year}/{date.month:02d}"
    elif form == "of":
        text = f"{MONTHS[date.month - 1]} of {date.year}"
    else:
        text = f"{month_word(rng, date.month)}, {date.year}"
    return text, month_answer(date.year, date.month)


# The date-only families that date_with_time and zone_name attach a time to.
_PEOPLE_DATES = (month_name, ap_style, weekday, ordinal, the_of, numeric_date, year_first, iso_date, in_words)

FAMILIES = {
    "iso_date": Family(iso_date),
    "iso_basic_date": Family(iso_basic_date),
    "iso_datetime": Family(iso_datetime, has_time=True),
    "iso_basic_datetime": Family(iso_basic_datetime, has_time=True),
    "rfc2822": Family(rfc2822, has_time=True),
    "http_date": Family(http_date, has_time=True),
    "ctime": Family(ctime, has_time=True),
    "date_command": Family(date_command, has_time=True),
    "str_datetime": Family(str_datetime, has_time=True),
    "sql_timestamp": Family(sql_timestamp, has_time=True),
    "web_log": Family(web_log, has_time=True),
    "dd_mon_yy": Family(dd_mon_yy),
    "spreadsheet": Family(spreadsheet, has_time=True),
    "numeric_date": Family(numeric_date),
    "year_first": Family(year_first),
    "month_name": Family(month_name),
    "ap_style": Family(ap_style),
    "weekday": Family(weekday),
    "ordinal": Family(ordinal),
    "the_of": Family(the_of),
    "date_with_time": Family(date_with_time, has_time=True),
    "zone_name": Family(zone_name, has_time=True),
    "anno_domini": Family(anno_domini),
    "in_words": Family(in_words),
    "spoken_sentence": Family(spoken_sentence, has_time=True),
    "spoken_sentence_date": Family(spoken_sentence_date),
    "spoken_sentence_month": Family(spoken_sentence_month, month_only=True),
    "babel_short": Family(_babel_date("short")),
    "babel_medium": Family(_babel_date("medium")),
    "babel_long": Family(_babel_date("long")),
    "babel_full": Family(_babel_date("full")),
    "babel_datetime": Family(babel_datetime, has_time=True),
    "month_year": Family(month_year, month_only=True),
}
