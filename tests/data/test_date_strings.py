"""Dates in the wild: the answer format, the generator against independent readers, the evaluation sets."""

import ast
import collections
import datetime
import email.utils
import itertools
import random
import re
import sys
import warnings

import pytest
from dateutil import parser as dateutil_parser
from num2words import num2words

from data.date_strings import generator, grammar, hand_collected, noise, not_dates, numbers_in_words, times, writers
from data.date_strings.targets import (
    NOT_A_DATE,
    ORDERS,
    Answer,
    answer_for,
    answer_from_datetime,
    is_real_date,
    pivot_year,
    read_named,
    read_numeric,
)

# dateutil reads zone names through this table (the documented one); it knows UTC/GMT/Z itself.
TZINFOS = {
    name: (-1 if offset[0] == "-" else 1) * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    for name, offset in times.ZONES.items()
    if " " not in name
}


@pytest.fixture(scope="module")
def clean_test_split():
    """Noise-free examples, every family many times, order MDY (dateutil's default reading)."""
    return generator.generate(len(generator.ALL_FAMILIES) * 60, "test", seed=11, order="MDY", noise_rate=0.0)


def by_family(examples):
    groups = collections.defaultdict(list)
    for example in examples:
        groups[example.family].append(example)
    return groups


def dateutil_full(text, **kwargs):
    """dateutil's datetime, or None when it fails or fills any of year/month/day from its default."""
    defaults = (datetime.datetime(1904, 1, 1), datetime.datetime(1908, 2, 2))
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for default in defaults:
            try:
                results.append(dateutil_parser.parse(text, default=default, tzinfos=TZINFOS, **kwargs))
            except (ValueError, OverflowError, dateutil_parser.ParserError):
                return None
    first, second = results
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        return None
    return first


# ---------------------------------------------------------------------------
# The answer format


# (fields, what the error says); one test, as every test pays the suite's Keras session reset.
INVALID_ANSWERS = [
    (("2003-02-30",), "real calendar"),
    (("1900-02-29",), "real calendar"),
    (("2003-13",), "month"),
    (("03-09-25",), "YYYY-MM-DD"),
    (("", "10:00:00"), "no time"),
    (("2003-09-25", "", "+01:00"), "needs a time"),
    (("2014-05", "10:00:00"), "month-and-year"),
    (("2003-09-25", "24:00:00"), "out of range"),
    (("2003-09-25", "10:00"), "HH:MM:SS"),
    (("2003-09-25", "10:00:00", "+0530"), "HH:MM"),
]


def test_answer_format():
    assert Answer("2003-09-25", "10:49:41", "+05:30").iso == "2003-09-25T10:49:41+05:30"
    assert Answer("2003-09-25", "10:49:41").iso == "2003-09-25T10:49:41"
    assert Answer("2003-09-25").iso == "2003-09-25"
    assert Answer("2014-05").iso == "2014-05"
    assert NOT_A_DATE.iso == "" and not NOT_A_DATE.is_date
    assert Answer("2003-09-25", "10:49:41", "-03:00").as_dict() == {
        "date": "2003-09-25",
        "time": "10:49:41",
        "utc_offset": "-03:00",
        "iso": "2003-09-25T10:49:41-03:00",
    }
    for fields, message in INVALID_ANSWERS:
        with pytest.raises(ValueError, match=message):
            Answer(*fields)
    value = datetime.datetime(2003, 9, 25, 10, 49, 41, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=-3, minutes=-30)))
    assert answer_from_datetime(value) == Answer("2003-09-25", "10:49:41", "-03:30")
    assert answer_from_datetime(value.replace(tzinfo=None)) == Answer("2003-09-25", "10:49:41")
    assert answer_from_datetime(datetime.date(2003, 9, 25)) == Answer("2003-09-25")


# Worked out by hand from the rule in data/date_strings/targets.py.
NUMERIC_CASES = [
    ("05/03/1979", "MDY", (1979, 5, 3)),
    ("05/03/1979", "DMY", (1979, 3, 5)),
    ("05/03/1979", "YMD", (1979, 5, 3)),  # the year is last, so YMD falls back to MDY
    ("25/09/2003", "MDY", (2003, 9, 25)),
    ("9/25/2003", "DMY", (2003, 9, 25)),
    ("13.03.2014", "YMD", (2014, 3, 13)),
    ("2003-09-05", "DMY", (2003, 9, 5)),
    ("12/11/10", "MDY", (2010, 12, 11)),
    ("12/11/10", "DMY", (2010, 11, 12)),
    ("12/11/10", "YMD", (2012, 11, 10)),
    ("79.05.03", "MDY", (1979, 5, 3)),
    ("31/02/2003", "MDY", None),
    ("1.2.345", "MDY", None),
]


def test_order_rule():
    for two_digits, year in [(0, 2000), (68, 2068), (69, 1969), (99, 1999), (5, 2005)]:
        assert pivot_year(two_digits) == year
    for two_digits in range(100):
        # The same pivot as C's strptime %y.
        assert pivot_year(two_digits) == datetime.datetime.strptime(f"{two_digits:02d}", "%y").year
    for text, order, expected in NUMERIC_CASES:
        result = read_numeric(re.findall(r"\d+", text), order)
        assert result == (datetime.date(*expected) if expected else None), (text, order)
    assert read_named(["05", "03"], 9, "MDY") == datetime.date(2003, 9, 5)
    assert read_named(["05", "03"], 9, "DMY") == datetime.date(2003, 9, 5)
    assert read_named(["05", "03"], 9, "YMD") == datetime.date(2005, 9, 3)
    assert read_named(["25", "2003"], 9, "YMD") == datetime.date(2003, 9, 25)
    # 31 September does not exist, so "31-SEP-03" is 3 September 2031.
    assert read_named(["31", "03"], 9, "MDY") == datetime.date(2031, 9, 3)
    # 71 is no day, so it is the year whatever the order.
    assert read_named(["71", "05"], 3, "MDY") == datetime.date(1971, 3, 5)
    assert read_named(["31", "2003"], 2, "MDY") is None
    with pytest.raises(ValueError, match="order"):
        read_numeric(["1", "2", "2003"], "DDM")
    with pytest.raises(ValueError, match="order"):
        generator.generate(3, "test", order="dmy")


# ---------------------------------------------------------------------------
# The generator: determinism, families, splits, valid answers


def test_generator_is_deterministic_and_covers_every_family():
    first = generator.generate(150, "train", seed=5)
    assert first == generator.generate(150, "train", seed=5)
    assert generator.generate(60, "train", seed=5) == first[:60]
    assert [e.text for e in generator.generate(150, "train", seed=6)] != [e.text for e in first]
    assert [e.text for e in generator.generate(150, "validation", seed=5)] != [e.text for e in first]
    sample = generator.generate(len(generator.ALL_FAMILIES), "validation", seed=2)
    assert sorted(e.family for e in sample) == sorted(generator.ALL_FAMILIES)
    rows = list(generator.as_dataset(sample).as_numpy_iterator())
    assert [row["text"].decode() for row in rows] == [e.text for e in sample]
    assert [row["iso"].decode() for row in rows] == [e.answer.iso for e in sample]
    # The families the task must read are all there.
    for family in ("iso_datetime", "rfc2822", "ctime", "date_command", "web_log", "dd_mon_yy", "spreadsheet",
                   "ap_style", "in_words", "babel_short", "babel_datetime", "month_year", "zone_name",
                   "not_date_impossible", "not_date_relative", "not_date_time_alone", "not_date_version",
                   "not_date_identifier"):
        assert family in generator.ALL_FAMILIES


def test_training_weights_repeat_families_per_block():
    weights = {"in_words": 3, "not_date_impossible": 2}
    block = len(generator.ALL_FAMILIES) + 3
    counts = collections.Counter(e.family for e in generator.generate(2 * block, "train", seed=7, weights=weights))
    assert counts["in_words"] == 6 and counts["not_date_impossible"] == 4 and counts["iso_date"] == 2
    assert set(counts) == set(generator.ALL_FAMILIES)
    # Equal shares without weights, and the task's training weights name real families.
    assert set(collections.Counter(e.family for e in generator.generate(block - 3, "train", seed=7)).values()) == {1}
    assert set(generator.TRAINING_WEIGHTS) <= set(generator.ALL_FAMILIES)
    with pytest.raises(ValueError, match="weights"):
        generator.generate(5, "train", weights={"in_words": 0})


def test_speech_style_dates_in_words_and_year_less_dates():
    rng = random.Random(4)
    texts = {grammar.in_words(rng, datetime.date(1979, 3, 3), datetime.time(), "MDY")[0] for _ in range(400)}
    # A speech recogniser's forms: no hyphen, a cardinal day after the month, a leading weekday.
    assert "the third of march nineteen seventy nine" in texts
    assert "march three nineteen seventy nine" in texts
    assert any(text.startswith("saturday ") for text in texts)
    # A day and month without a year is not a date (its year depends on today).
    relative = {not_dates.relative(rng) for _ in range(3000)}
    assert any(re.fullmatch(r"the \w+(-\w+)? of (" + "|".join(grammar.MONTHS) + ")", text) for text in relative)


def test_splits_share_no_answer_date_and_no_not_a_date_string():
    train = generator.generate(3000, "train", seed=0)
    test = generator.generate(1000, "test", seed=0)
    train_dates = {e.answer.date for e in train if e.answer.date}
    test_dates = {e.answer.date for e in test if e.answer.date}
    assert len(test_dates) > 500
    assert not train_dates & test_dates
    train_keys = {noise.normalized_key(e.text) for e in train if not e.answer.date}
    test_keys = {noise.normalized_key(e.text) for e in test if not e.answer.date}
    assert len(test_keys) > 100
    assert not train_keys & test_keys


def test_every_answer_is_a_real_calendar_date_and_time(clean_test_split):
    noisy = generator.generate(2000, "train", seed=1)
    for example in list(clean_test_split) + noisy:
        answer = example.answer
        assert example.order in ORDERS
        if example.family in not_dates.FAMILIES:
            assert answer == NOT_A_DATE
            continue
        assert answer.date, example
        if len(answer.date) == 10:
            date = datetime.date.fromisoformat(answer.date)
        else:
            date = datetime.date.fromisoformat(answer.date + "-01")
            assert grammar.FAMILIES[example.family].month_only, example
        assert 1000 <= date.year <= 2999
        assert bool(answer.time) == grammar.FAMILIES[example.family].has_time, example
        if answer.time:
            datetime.time.fromisoformat(answer.time)
        if answer.utc_offset:
            assert re.fullmatch(r"[+-](0\d|1[0-4]):[0-5]\d", answer.utc_offset)


def test_noise_keeps_the_meaning_and_the_key():
    rng = random.Random(0)
    for text in ("Thu, 25 Sep 2003 10:49:41 +0000", "Sept. 25, 2003", "25 September 2003 at 2:57 pm"):
        reference = dateutil_full(text)
        assert reference is not None
        for _ in range(60):
            noisy = noise.add_noise(rng, text)
            assert noise.normalized_key(noisy) == noise.normalized_key(text)
            # dateutil does not read brackets or a trailing period; without them it reads the same date.
            bare = noisy.strip().strip("()[]{}<>\"'").removesuffix(".")
            assert dateutil_full(bare) == reference, noisy


# ---------------------------------------------------------------------------
# Answers against independent readers


def _strptime_answer(text, formats, with_time=True):
    for pattern in formats:
        try:
            value = datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
        return answer_from_datetime(value) if with_time else answer_for(value.date())
    return None


def _iso_reader(text):
    if sys.version_info < (3, 11):
        pytest.skip("datetime.fromisoformat reads every ISO 8601 form only from Python 3.11")
    return answer_from_datetime(datetime.datetime.fromisoformat(text))


def _numeric_with_time_formats():
    dates = ["%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%d/%m/%y"]
    clocks = ["%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p"]
    return [f"{d} {c}" for d in dates for c in clocks]


# Family -> an independent reader (Python's own parsers with the family's known formats).
READERS = {
    "iso_date": lambda text: answer_for(datetime.date.fromisoformat(text)),
    "iso_basic_date": lambda text: _strptime_answer(text, ["%Y%m%d"], with_time=False),
    "iso_datetime": _iso_reader,
    "iso_basic_datetime": _iso_reader,
    "str_datetime": _iso_reader,
    # ISO-style SQL text, and Oracle's DD-MON-RR HH.MI.SSXFF AM (day then year under MDY).
    "sql_timestamp": lambda text: (_strptime_answer(text, ["%d-%b-%y %I.%M.%S.%f %p", "%d-%b-%y %I.%M.%S %p",
                                                           "%d-%b-%Y %I.%M.%S.%f %p", "%d-%b-%Y %I.%M.%S %p"])
                                   if text[2] == "-" else _iso_reader(text)),
    "rfc2822": lambda text: answer_from_datetime(email.utils.parsedate_to_datetime(text)),
    "http_date": lambda text: answer_from_datetime(email.utils.parsedate_to_datetime(text)),
    # C's ctime, and git's default format with the offset after the year.
    "ctime": lambda text: _strptime_answer(text, ["%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S %Y %z"]),
    "web_log": lambda text: _strptime_answer(text.strip("[]"), ["%d/%b/%Y:%H:%M:%S %z"]),
    # Under MDY, the two short numbers are day then year, the POSIX pivot is strptime's %y.
    "dd_mon_yy": lambda text: _strptime_answer(text, ["%d-%b-%y", "%d-%b-%Y"], with_time=False),
    # Month first when that is a date, else day first (the order rule under MDY).
    "spreadsheet": lambda text: _strptime_answer(text, _numeric_with_time_formats()),
    "year_first": lambda text: _strptime_answer(text, ["%Y/%m/%d", "%Y.%m.%d", "%Y %m %d", "%Y-%m-%d"], with_time=False),
}


def test_program_families_match_pythons_own_readers(clean_test_split):
    groups = by_family(clean_test_split)
    for family, reader in READERS.items():
        assert len(groups[family]) >= 50, family
        for example in groups[family]:
            assert reader(example.text) == example.answer, (family, example.text)


def test_date_command_and_zone_names_match_dateutil_with_the_zone_table(clean_test_split):
    groups = by_family(clean_test_split)
    for example in groups["date_command"]:
        value = dateutil_full(example.text)
        assert value is not None and answer_from_datetime(value) == example.answer, example.text
    # The zone table itself against the tz database.
    import zoneinfo

    checks = [
        ("America/New_York", (1, 15), "EST"), ("America/New_York", (7, 15), "EDT"),
        ("America/Chicago", (1, 15), "CST"), ("America/Chicago", (7, 15), "CDT"),
        ("America/Denver", (1, 15), "MST"), ("America/Denver", (7, 15), "MDT"),
        ("America/Los_Angeles", (1, 15), "PST"), ("America/Los_Angeles", (7, 15), "PDT"),
        ("America/Anchorage", (1, 15), "AKST"), ("America/Anchorage", (7, 15), "AKDT"),
        ("Pacific/Honolulu", (1, 15), "HST"), ("America/St_Johns", (1, 15), "NST"),
        ("America/Halifax", (1, 15), "AST"), ("America/Halifax", (7, 15), "ADT"),
        ("Europe/Berlin", (1, 15), "CET"), ("Europe/Berlin", (7, 15), "CEST"),
        ("Europe/Lisbon", (1, 15), "WET"), ("Europe/Lisbon", (7, 15), "WEST"),
        ("Europe/Athens", (1, 15), "EET"), ("Europe/Athens", (7, 15), "EEST"),
        ("Europe/Moscow", (1, 15), "MSK"), ("Africa/Johannesburg", (1, 15), "SAST"),
        ("Asia/Tokyo", (1, 15), "JST"), ("Asia/Seoul", (1, 15), "KST"), ("Asia/Hong_Kong", (1, 15), "HKT"),
        ("Australia/Perth", (1, 15), "AWST"), ("Australia/Darwin", (1, 15), "ACST"),
        ("Australia/Adelaide", (1, 15), "ACDT"), ("Australia/Sydney", (7, 15), "AEST"),
        ("Australia/Sydney", (1, 15), "AEDT"), ("Pacific/Auckland", (7, 15), "NZST"),
        ("Pacific/Auckland", (1, 15), "NZDT"), ("UTC", (1, 15), "UTC"),
    ]
    for key, (month, day), name in checks:
        value = datetime.datetime(2021, month, day, 12, tzinfo=zoneinfo.ZoneInfo(key))
        assert value.tzname() == name, (key, value.tzname())
        assert times.ZONES[name] == times.offset_string(round(value.utcoffset().total_seconds() / 60)), name
    # Names that mean different offsets in different places are not in the table.
    assert "IST" not in times.ZONES and "BST" not in times.ZONES


# Three short fields: the year is two digits, last or (year first, "04.10.7") first.
_TWO_DIGIT_NUMERIC_YEAR = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{1,2}\b")
DATEUTIL_FAMILIES = (
    "month_name", "ap_style", "weekday", "ordinal", "the_of", "babel_short", "babel_medium", "babel_long",
    "babel_full", "date_with_time", "zone_name", "anno_domini", "numeric_date",
)


def test_people_families_agree_with_dateutil_where_it_reads_them(clean_test_split):
    groups = by_family(clean_test_split)
    for family in DATEUTIL_FAMILIES:
        read = 0
        for example in groups[family]:
            if _TWO_DIGIT_NUMERIC_YEAR.search(example.text):
                continue  # dateutil's two-digit years follow a window around today, not the POSIX pivot
            value = dateutil_full(example.text)
            if value is None:
                continue
            read += 1
            assert value.date().isoformat() == example.answer.date, (family, example.text)
        # dateutil reads a good part of each family (not "the 8th of ..."), so the check is not vacuous.
        assert read >= len(groups[family]) // 6, (family, read)


def _read_time(text):
    """An independent reading of ``times.write_time``'s spellings (strptime after spelling fixes)."""
    words = {"noon": datetime.time(12), "12 noon": datetime.time(12), "midday": datetime.time(12),
             "midnight": datetime.time(0), "12 midnight": datetime.time(0)}
    if text in words:
        return words[text]
    if "h" in text:
        return datetime.datetime.strptime(text if not text.endswith("h") else text + "00", "%Hh%M").time()
    text = text.replace("\u202f", " ").replace("a.m.", "AM").replace("p.m.", "PM").replace("A.M.", "AM").replace("P.M.", "PM")
    text = re.sub(r"(\d)(?=[AaPp][Mm])", r"\1 ", text)
    text = text.replace(".", ":") if re.search(r"[AaPp][Mm]$", text) else text
    formats = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p", "%I %p"]
    for pattern in formats:
        try:
            return datetime.datetime.strptime(text, pattern).time().replace(microsecond=0)
        except ValueError:
            continue
    raise AssertionError(f"unreadable time {text!r}")


def test_times_are_read_back_as_their_answer():
    rng = random.Random(3)
    spellings = set()
    for _ in range(3000):
        value = times.random_time(rng)
        text, shown = times.write_time(rng, value)
        assert _read_time(text) == shown.replace(microsecond=0), text
        assert (shown.hour, shown.minute) == (value.hour, value.minute)
        spellings.add(re.sub(r"\d", "9", text))
    # 12- and 24-hour clocks, dotted am/pm, the French hour, noon and midnight all occur.
    for expected in ("99:99", "9:99 p.m.", "9h99", "noon", "midnight", "99.99 pm", "9:99\u202fPM"):
        assert any(expected.lower() in spelling.lower() for spelling in spellings), expected


def _said_time(text):
    """A time said in words -> ``datetime.time``, read from the rules of ``times.say_time``'s docstring."""
    number = {num2words(n).replace("-", " "): n for n in range(60)}
    text = text.replace("-", " ").replace("a.m.", "a m").replace("p.m.", "p m")
    text = re.sub(r"\b([ap])m\b", r"\1 m", text)
    special = {"noon": (12, 0), "twelve noon": (12, 0), "midday": (12, 0), "twelve o'clock noon": (12, 0),
               "midnight": (0, 0), "twelve midnight": (0, 0)}
    if text in special:
        return datetime.time(*special[text])
    marker = next((m for m in ("a m", "p m", "in the morning", "in the afternoon", "in the evening", "at night")
                   if text.endswith(" " + m)), None)
    body = text[: -len(marker) - 1] if marker else text
    body = re.sub(r" (hours|o'clock|o clock)$", "", body)
    if match := re.fullmatch(r"(a )?(quarter|half|[a-z ]+?)( minutes?)? (past|to) ([a-z]+)", body):
        minutes = {"quarter": 15, "half": 30}.get(match[2]) or number[match[2]]
        hour = number[match[5]]
        if match[4] == "to":
            hour, minutes = (hour - 2) % 12 + 1, 60 - minutes
    else:
        words = body.split()
        hour_words = next(n for n in range(len(words), 0, -1) if " ".join(words[:n]) in number)
        hour, rest = number[" ".join(words[:hour_words])], words[hour_words:]
        if rest == ["hundred"] or not rest:
            minutes = 0
        elif rest[0] == "oh":
            minutes = number[rest[1]]
        else:
            minutes = number[" ".join(rest)]
    if marker in ("a m", "in the morning") or (marker == "at night" and hour == 12):
        hour %= 12
    elif marker is not None and hour < 12:
        hour += 12
    return datetime.time(hour, minutes)


def test_spoken_times_are_read_back_as_their_answer():
    rng = random.Random(8)
    spellings = set()
    for index in range(4000):
        value = times.random_time(rng) if index % 2 else times.random_said_time(rng)
        text, shown = times.say_time(rng, value)
        assert _said_time(text) == shown, text
        assert (shown.hour, shown.minute, shown.second) == (value.hour, value.minute, 0)
        spellings.add(re.sub(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b", "N", text))
    # Every way of saying a time occurs, and a time said without a marker is one whose hour is as said.
    for expected in ("half past N", "a quarter to N", "minutes past", "o'clock", "in the evening", "noon",
                     "midnight", "hundred hours", "N oh N a m", "p.m."):
        assert any(expected in spelling for spelling in spellings), expected
    assert times.say_time(random.Random(0), datetime.time(18, 45))[0] != "quarter to seven"


def test_said_times_are_mostly_round_and_cover_the_clock():
    rng = random.Random(3)
    drawn = [times.random_said_time(rng) for _ in range(5000)]
    minutes = collections.Counter(value.minute for value in drawn)
    assert 0.25 <= minutes[0] / len(drawn) <= 0.4  # on the hour, noon and midnight included
    assert 0.65 <= sum(count for minute, count in minutes.items() if minute % 5 == 0) / len(drawn) <= 0.85
    assert {value.hour for value in drawn} == set(range(24))
    assert len(minutes) == 60 and all(value.second == 0 for value in drawn)


def test_spoken_sentences_say_a_year_or_are_not_dates():
    rng = random.Random(5)
    for _ in range(300):
        date = generator._random_date(rng, datetime.date(1900, 1, 1), datetime.date(2099, 12, 31))
        for writer in (grammar.spoken_sentence, grammar.spoken_sentence_date):
            text, answer = writer(rng, date, times.random_time(rng), "MDY")
            # A numeric date is read by the order, so its answer may swap the day and month.
            assert len(text) <= grammar.SENTENCE_LENGTH and (answer.date == date.isoformat() or re.search(r"\d[/.-]\d", text)), text
            assert bool(answer.time) == (writer is grammar.spoken_sentence)
    # The not-a-date sentences hold no date: no four digits, and where a month is named, no year said after it
    # (a number as large as a year, or a 24-hour time, said without a month is not a date either).
    months = "|".join(m.lower() for m in grammar.MONTHS)
    years = "|".join(sorted({s.replace("-", " ") for year in range(1000, 3000)
                             for s in numbers_in_words.year_spellings(year, " ")}, key=len, reverse=True))
    days = "|".join(sorted({numbers_in_words.ordinal(n, " ") for n in range(1, 32)}
                           | {numbers_in_words.cardinal(n, " ") for n in range(1, 32)}, key=len, reverse=True))
    kinds = collections.Counter()
    for _ in range(1000):
        text = not_dates.spoken_sentence(rng).replace("-", " ")
        assert not re.search(r"\d{4}", text) and not re.search(r"\b(on|for) (today|tomorrow|next|this)\b", text), text
        # A year right after the day and month ("march the third nineteen", "third of march two thousand").
        assert not re.search(rf"\b(({months})( the)? ({days})|({days}) of ({months}))( in the year)? ({years})\b", text), text
        kinds["month" if re.search(rf"\b({months})\b", text) else "number" if "thousand" in text else "other"] += 1
    assert min(kinds.values()) > 50, kinds


def test_a_date_too_long_for_any_sentence_in_words_is_written_shorter(monkeypatch):
    # The longest dates in words ("saturday the twenty-sixth of september in the year two thousand seven
    # hundred and forty-two") now and then fit none of 20 sentences drawn; a shorter limit makes that common.
    monkeypatch.setattr(grammar, "SENTENCE_LENGTH", 65)
    rng = random.Random(5)
    for _ in range(300):
        text, answer = grammar.spoken_sentence(rng, datetime.date(2742, 9, 26), datetime.time(10, 58, 40), "MDY")
        # The time is the one said or written in the sentence, which need not be the one passed.
        assert len(text) <= 65 and answer.date == "2742-09-26" and answer.time, text


_TENS = {num2words(n): n for n in range(20, 100, 10)}
_SMALL = {num2words(n): n for n in range(0, 20)} | {"oh": 0}


def _words_value(words):
    """A year in words -> its number: cardinal ("one thousand nine hundred and five") or paired ("nineteen oh five")."""
    tokens = words.replace("-", " ").split()
    if "thousand" in tokens or "hundred" in tokens:
        total = current = 0
        for token in tokens:
            if token == "and":
                continue
            if token == "thousand":
                total, current = total + current * 1000, 0
            elif token == "hundred":
                current *= 100
            else:
                current += _TENS.get(token, _SMALL.get(token))
        return total + current
    groups = []
    for token in tokens:
        if token in _SMALL and groups and groups[-1][1] == "tens" and token != "oh" and _SMALL[token] < 10:
            groups[-1] = (groups[-1][0] + _SMALL[token], "done")
        elif token in _TENS:
            groups.append((_TENS[token], "tens"))
        elif token == "oh":
            groups.append((0, "oh"))
        elif groups and groups[-1][1] == "oh":
            groups[-1] = (_SMALL[token], "done")
        else:
            groups.append((_SMALL[token], "done"))
    century, rest = groups[0][0], groups[1][0]
    return century * 100 + rest


def test_numbers_and_dates_in_words_against_num2words(clean_test_split):
    for number in range(1, 32):
        assert numbers_in_words.ordinal(number) == num2words(number, to="ordinal")
    for number in range(0, 3000):
        assert numbers_in_words.cardinal(number) == num2words(number).replace(",", "")
    for year in range(1000, 3000):
        spellings = numbers_in_words.year_spellings(year)
        assert spellings[0].replace(" oh ", " oh-") == num2words(year, to="year"), year
        for spelling in spellings:
            assert _words_value(spelling) == year, spelling
    # Days as ordinal words, ordinal digits ("3rd") and, as said after a month, cardinal words ("march three").
    ordinals = {num2words(day, to="ordinal"): day for day in range(1, 32)}
    ordinals |= {num2words(day, to="ordinal_num"): day for day in range(1, 32)}
    ordinals |= {num2words(day): day for day in range(1, 32)}
    ordinals |= {name.replace("-", " "): day for name, day in ordinals.items()}
    weekdays = "|".join(name.lower() for name in grammar.WEEKDAYS)
    examples = by_family(clean_test_split)["in_words"]
    assert len(examples) >= 50
    for example in examples:
        text = example.text.replace(",", "")
        # A leading "on" and weekday, and the cheque's "day" and "in the year", carry no number.
        text = re.sub(rf"^(on )?(({weekdays}) )?", "", text).replace(" day of ", " of ").replace(" in the year ", " ")
        month = next(m for m in grammar.MONTHS if re.search(rf"\b{m.lower()}\b", text))
        before, after = text.split(month.lower())
        # The day is before the month, or else the first number after it; the longest match is the whole day.
        day_words = [w for w in ordinals if re.search(rf"(^|\s){w}(\s|$)", before)]
        day_words = day_words or [w for w in ordinals if re.match(rf"\s*(the )?{w}(\s|$)", after)]
        day_word = max(day_words, key=len)
        year_words = (before + " " + after).replace(day_word, " ", 1).replace(" the ", " ").replace(" of ", " ")
        year_words = year_words.replace("the ", " ").strip()
        year = int(year_words) if year_words.isdigit() else _words_value(year_words)
        assert datetime.date(year, grammar.MONTHS.index(month) + 1, ordinals[day_word]).isoformat() == example.answer.date, example.text


# ---------------------------------------------------------------------------
# Orders, not-a-date


def test_order_changes_ambiguous_numeric_answers_only():
    layouts = {"MDY": ("%m", "%d", "%Y"), "DMY": ("%d", "%m", "%Y"), "YMD": ("%Y", "%m", "%d")}
    counts = collections.Counter()
    for index in range(600):
        date = generator._random_date(random.Random(index), datetime.date(1969, 1, 1), datetime.date(2068, 12, 31))
        results = {}
        for order in ORDERS:
            results[order] = grammar.numeric_date(random.Random(index), date, datetime.time(), order)
        texts = {text for text, _ in results.values()}
        assert len(texts) == 1, texts  # the string does not depend on the order, only its reading
        text = texts.pop()
        separator = re.search(r"\D", text).group()
        two_digit_year = all(len(f) <= 2 for f in text.split(separator))
        readings = {}
        for layout, parts in layouts.items():
            pattern = separator.join(parts)
            if two_digit_year:
                pattern = pattern.replace("%Y", "%y")
            try:
                readings[layout] = datetime.datetime.strptime(text, pattern).date().isoformat()
            except ValueError:
                pass
        assert readings, text
        for order, (_, answer) in results.items():
            expected = readings.get(order) or next(readings[layout] for layout in ("MDY", "DMY", "YMD") if layout in readings)
            assert answer.date == expected, (text, order)
        answers = {answer.date for _, answer in results.values()}
        counts["ambiguous" if len(set(readings.values())) > 1 else "unambiguous"] += 1
        if len(set(readings.values())) == 1:
            assert len(answers) == 1, text
    assert counts["ambiguous"] > 50 and counts["unambiguous"] > 50, counts
    # Named months are never ambiguous with a four-digit year.
    for index in range(200):
        date = generator._random_date(random.Random(index), generator.MIN_DATE, generator.MAX_DATE)
        answers = {grammar.month_name(random.Random(index), date, None, order) for order in ORDERS}
        assert len(answers) == 1 and answers.pop()[1] == answer_for(date)


def test_not_a_date_strings_hold_no_date_for_any_reader():
    examples = generator.generate(1500, "test", seed=4, families=generator.NOT_DATE_FAMILIES, noise_rate=0.0)
    assert {e.family for e in examples} == set(generator.NOT_DATE_FAMILIES)
    readings = ({}, {"dayfirst": True}, {"yearfirst": True}, {"dayfirst": True, "yearfirst": True})
    for example in examples:
        assert example.answer == NOT_A_DATE
        for kwargs in readings:
            assert dateutil_full(example.text, **kwargs) is None, (example.family, example.text, kwargs)
    # Impossible dates are impossible under every arrangement of their numbers.
    for example in examples:
        if example.family == "not_date_impossible":
            fields = re.findall(r"\d+", example.text)
            if len(fields) == 3:
                for order in ORDERS:
                    assert read_numeric(fields, order) is None, example.text


def test_versions_that_could_be_dates_carry_a_prefix_and_identifiers_hide_no_basic_date():
    rng = random.Random(3)
    shaped = []
    for _ in range(2000):
        text = not_dates.version(rng)
        numbers = re.sub(r"-(rc|beta|alpha|dev)\.\d$", "", text.split(" ")[-1].lstrip("v")).split(".")
        if any(not_dates._is_date_shaped(list(t)) for t in itertools.combinations(numbers, 3)):
            shaped.append(text)
            assert text.startswith("v") or text.split(" ")[0] in not_dates.VERSION_NAMES, text
    assert len(shaped) > 50  # "v2.10.3" is taught as a version, not left out
    for _ in range(2000):
        text = not_dates.identifier(rng)
        for digits in re.findall(r"(?<!\d)\d{8}(?!\d)", text):
            assert not_dates._not_basic_date(digits), text
    assert not not_dates._not_basic_date("20190417") and not_dates._not_basic_date("20191317")


def test_an_impossible_date_that_fits_the_layout_carries_its_reading_and_stays_not_a_date():
    examples = generator.generate(3000, "train", seed=5, families=generator.NOT_DATE_FAMILIES)
    read = [e for e in examples if e.reading]
    impossible = [e for e in examples if e.family == "not_date_impossible"]
    assert {e.family for e in read} == {"not_date_impossible"}
    # Some impossible dates fit the layout (29 February 2019), others cannot be written in it (month 13).
    assert 0 < len(read) < len(impossible)
    for example in read:
        assert example.answer == NOT_A_DATE
        year, month, day = map(int, example.reading.split("-"))
        assert 1 <= month <= 12 and 29 <= day <= 31 and not is_real_date(year, month, day), example
        numbers = sorted(int(n) for n in re.findall(r"\d+", example.text))
        if len(numbers) == 3:  # the numeric forms: the reading is an arrangement of the written numbers
            assert numbers == sorted((year, month, day)), example
        elif len(numbers) == 1:  # basic ISO, 20190229
            assert str(numbers[0]) == example.reading.replace("-", ""), example
        else:  # a month named, with the day and year in figures or all in words
            assert grammar.MONTHS[month - 1][:3].lower() in example.text.lower(), example
            assert numbers in ([], sorted((day, year))), example


# ---------------------------------------------------------------------------
# The independent evaluation sets


def test_hand_collected_file_parses_with_valid_answers(tmp_path):
    examples = hand_collected.load()
    assert len(examples) >= 150
    kinds = collections.Counter(kind for _, _, _, kind in examples)
    assert min(kinds[kind] for kind in hand_collected.KINDS) >= 30, kinds
    assert len({(text, order) for text, order, _, _ in examples}) == len(examples)
    for text, order, answer, kind in examples:
        assert order in ORDERS and text.strip()
        if answer.date and len(answer.date) == 10:
            datetime.date.fromisoformat(answer.date)
    # The second list, used to choose, parses the same way and shares no string with the test list.
    validation = hand_collected.load(hand_collected.VALIDATION_PATH)
    kinds = collections.Counter(kind for _, _, _, kind in validation)
    assert len(validation) >= 100 and min(kinds[kind] for kind in hand_collected.KINDS) >= 30, kinds
    assert not {text.strip().lower() for text, _, _, _ in validation} & {text.strip().lower() for text, _, _, _ in examples}
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\torder\tdate\ttime\tutc_offset\tkind\tnote\n31 feb 2020\tMDY\t2020-02-31\t\t\tdate\tx\n")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        hand_collected.load(bad)


def test_writers_set_is_written_by_other_software():
    examples = writers.build(400, seed=1)
    names = {name for _, _, _, name in examples}
    assert set(writers.WRITERS) <= names
    for text, order, answer, name in examples:
        assert text and order in ORDERS and answer.date, name
        if name == "date.isoformat":
            assert answer_for(datetime.date.fromisoformat(text)) == answer, text
        elif name.startswith(("datetime.isoformat", "nginx", "str(")):
            assert _iso_reader(text) == answer, text
        if name.startswith("email.utils"):
            assert answer_from_datetime(email.utils.parsedate_to_datetime(text)) == answer, text
    # Of this package, only the answer format is used: none of the generator's writing code.
    tree = ast.parse(open(writers.__file__).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("data") for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("data")}
    assert imported <= {"data.date_strings.targets", "ORDERS", "answer_for", "answer_from_datetime", "month_answer"}, imported


def test_bench_scores_and_reference_adapters():
    from bench import date_parsing

    examples = [
        ("2003-09-25T10:49:41+05:30", "MDY", Answer("2003-09-25", "10:49:41", "+05:30"), "a"),
        ("May 2014", "MDY", Answer("2014-05"), "a"),
        ("05/03/1979", "DMY", Answer("1979-03-05"), "b"),
        ("10:49", "MDY", NOT_A_DATE, "c"),
        ("31 feb 2020", "MDY", NOT_A_DATE, "c"),
    ]
    # The dateutil adapter tells given fields from its defaults and impossible dates from real ones.
    dateutil_reference = date_parsing.dateutil_parser()
    assert [dateutil_reference(text, order) for text, order, _, _ in examples] == [e[2] for e in examples]
    # A parser that says 1979-03-05 for everything, with a confidence of 0.9 on the first input only.
    constant = Answer("1979-03-05")
    predictions = [(constant, 0.9)] + [(constant, 0.1)] * 4
    totals, families = date_parsing.score(examples, predictions, seconds=1.0, threshold=0.5)
    assert (totals["n"], totals["date"], totals["all"]) == (5, 1, 1)
    assert (totals["not_date"], totals["not_date_found"], totals["said_not_date"]) == (2, 0, 0)
    assert (totals["with_confidence"], totals["confident_wrong"]) == (5, 1)
    assert (totals["with_time"], totals["time"], totals["with_offset"]) == (1, 0, 1)
    assert families["b"]["date"] == 1 and families["a"]["date"] == 0
    table = date_parsing.markdown({"toy": examples}, {"toy": {"constant": (totals, families)}}, 0.5)
    assert "| toy | constant | 5 | 20.0% | 20.0% | 0.0% | 0.0% | 0.0% | - | 20.0% | 5 |" in table


def test_bench_spoken_sentences_answer_the_said_date_and_time():
    from bench import date_parsing

    sets = date_parsing.build_sets(0, 0, seed=3, spoken_size=400, names=("spoken_sentences", "hand"))
    assert list(sets) == ["hand", "spoken_sentences"]
    examples = sets["spoken_sentences"]
    families = collections.Counter(family for _, _, _, family in examples)
    assert set(families) == {"date", "date_time", "month_year", "no_date"} and families["date_time"] > 20
    for text, order, answer, family in examples:
        if family == "date_time":
            # The time said in the sentence is the answer's; a twelve-hour time without a marker keeps its hour.
            said = text.split(" at ", 1)[1].split(" on ")[0] if text.startswith("call me") else text.rsplit(" at ", 1)[1]
            assert answer.time == _said_time(said).isoformat(), text
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", answer.date), text
        if family == "no_date":
            assert answer == NOT_A_DATE
    with pytest.raises(ValueError, match="Unknown sets"):
        date_parsing.build_sets(0, 0, seed=3, names=("spoken_sentence",))


def test_bench_leap_days_follow_the_gregorian_rule():
    from bench import date_parsing

    sets = date_parsing.build_sets(0, 0, seed=0, names=("leap_days",))
    examples = {text: (answer, family) for text, _, answer, family in sets["leap_days"]}
    assert len(examples) == 2000 * len(date_parsing.LEAP_DAY_FORMS)
    assert examples["2000-02-29"] == (Answer("2000-02-29", "", ""), "leap_iso")
    assert examples["29 Feb 1900"] == (NOT_A_DATE, "common_day_month")  # a century not divisible by 400
    assert examples["02/29/2024"][0].date == "2024-02-29" and examples["29.02.2023"][0] == NOT_A_DATE
    # Every leap-year string is one dateutil reads as that day, and every common-year one it refuses.
    for text, (answer, _) in list(examples.items())[::97]:
        try:
            read = dateutil_parser.parse(text).date().isoformat()
        except (ValueError, OverflowError):
            read = None
        assert read == (answer.date or None), text
    assert "leap_days" not in date_parsing.build_sets(0, 0, seed=0, names=date_parsing.SETS)


def test_bench_untrained_sizes_are_config_fields():
    from bench import date_parsing
    from tasks.date_translation.config import Config

    options = date_parsing.untrained_options("decoder_units=32,encoder_units=16,learning_rate=0.01")
    assert options == {"decoder_units": 32, "encoder_units": 16, "learning_rate": 0.01}
    assert Config(**options).decoder_units == 32
    assert date_parsing.untrained_name(options) == (
        "SavedModel untrained (decoder_units=32, encoder_units=16, learning_rate=0.01)")
    assert date_parsing.untrained_name({}) == "SavedModel untrained (default size)"
    for bad in ("decoder_size=32", "decoder_units="):
        with pytest.raises(ValueError, match="--untrained-size"):
            date_parsing.untrained_options(bad)
