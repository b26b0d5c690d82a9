"""The date pair generator: formats, %y pivot, noise, splits, TFDS builder."""

import datetime
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import dates

MAY_3_1979 = datetime.date(1979, 5, 3)

# Worked out by hand from the CLDR patterns (en_US) and the examples.
EXPECTED_1979_05_03 = {
    "short": "5/3/79",
    "medium": "May 3, 1979",
    "long": "May 3, 1979",
    "full": "Thursday, May 3, 1979",
    "d MMM y": "3 May 1979",
    "d MMMM y": "3 May 1979",
    "dd MMM y": "03 May 1979",
    "d MMM, y": "3 May, 1979",
    "d MMMM, y": "3 May, 1979",
    "dd, MMM y": "03, May 1979",
    "d MM yy": "3 05 79",
    "MMMM d y": "May 3 1979",
    "MMMM d, y": "May 3, 1979",
    "dd.MM.yy": "03.05.79",
    "yyyy-MM-dd": "1979-05-03",
    "MM/dd/yyyy": "05/03/1979",
    "M/d/yy": "5/3/79",
    "dd.MM.yyyy": "03.05.1979",
    "EEE, MMM d, y": "Thu, May 3, 1979",
    "EEE d MMM y": "Thu 3 May 1979",
    "MMMM do, y": "May 3rd, 1979",
    "do of MMMM y": "3rd of May 1979",
    "the do of MMMM y": "the 3rd of May 1979",
}


def test_every_family_prints_as_worked_out_by_hand():
    assert set(EXPECTED_1979_05_03) == set(dates.FAMILIES)
    for family, expected in EXPECTED_1979_05_03.items():
        assert dates.format_date(MAY_3_1979, family) == expected, family


def test_full_month_names_and_september():
    date = datetime.date(2018, 9, 30)
    assert dates.format_date(date, "long") == "September 30, 2018"
    assert dates.format_date(date, "full") == "Sunday, September 30, 2018"
    assert dates.format_date(date, "medium").startswith("Sep")


def test_calendar_year_not_week_based_year():
    # CLDR's Y (week-based year) prints 29 Dec 1909 as 1910; the data must not.
    date = datetime.date(1909, 12, 29)
    for family in ("full", "d MMMM y", "MMMM d, y", "dd.MM.yyyy", "EEE d MMM y"):
        assert "1909" in dates.format_date(date, family)
    assert dates.format_date(datetime.date(2000, 12, 31), "dd.MM.yy") == "31.12.00"


@pytest.mark.parametrize(
    "day, suffix",
    [(1, "st"), (2, "nd"), (3, "rd"), (4, "th"), (11, "th"), (12, "th"), (13, "th"),
     (21, "st"), (22, "nd"), (23, "rd"), (30, "th"), (31, "st")],
)
def test_ordinals(day, suffix):
    assert dates.format_date(datetime.date(2001, 1, day), "do of MMMM y") == f"{day}{suffix} of January 2001"


def test_posix_pivot():
    assert dates.pivot_two_digit_year(69) == 1969
    assert dates.pivot_two_digit_year(99) == 1999
    assert dates.pivot_two_digit_year(0) == 2000
    assert dates.pivot_two_digit_year(68) == 2068
    with pytest.raises(ValueError, match="two-digit"):
        dates.pivot_two_digit_year(100)
    with pytest.raises(ValueError, match="window"):
        dates.format_date(datetime.date(1968, 12, 31), "dd.MM.yy")
    with pytest.raises(ValueError, match="window"):
        dates.format_date(datetime.date(2069, 1, 1), "short")


def _numeric_fields(family, text):
    """(year, month, day) read back from a numeric format, with the %y pivot."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if "/" in text:  # month first
        month, day, year = numbers
    elif family == "yyyy-MM-dd":
        year, month, day = numbers
    else:  # dots and "d MM yy": day first
        day, month, year = numbers
    if year < 100:
        year = dates.pivot_two_digit_year(year)
    return year, month, day


def test_generated_pairs_are_consistent_and_two_digit_years_pivot():
    numeric = ["short", "d MM yy", "dd.MM.yy", "yyyy-MM-dd", "MM/dd/yyyy", "M/d/yy", "dd.MM.yyyy"]
    pairs = dates.generate(2000, "train", seed=3, families=numeric)
    two_digit_seen = set()
    for pair in pairs:
        iso = datetime.date.fromisoformat(pair.iso)
        assert dates.MIN_DATE <= iso <= dates.MAX_DATE
        year, month, day = _numeric_fields(pair.family, dates.normalize(pair.human))
        assert (year, month, day) == (iso.year, iso.month, iso.day), pair
        if dates.FORMATS[pair.family].two_digit_year:
            assert dates.TWO_DIGIT_MIN_DATE <= iso <= dates.TWO_DIGIT_MAX_DATE
            two_digit_seen.add(iso.year // 100)
    assert two_digit_seen == {19, 20}  # both sides of the pivot are drawn


def test_generation_covers_every_family_and_the_whole_range():
    pairs = dates.generate(3000, "train", seed=1)
    assert {p.family for p in pairs} == set(dates.FAMILIES)
    years = [int(p.iso[:4]) for p in pairs]
    assert min(years) < 1910 and max(years) > 2090


def test_noise_is_undone_by_normalize():
    rng = random.Random(0)
    saw_upper = saw_double_space = saw_dropped_comma = False
    for _ in range(500):
        date = dates.random_date(rng)
        clean = dates.format_date(date, "full")
        noisy = dates.add_noise(clean, rng)
        saw_upper |= noisy.isupper()
        saw_double_space |= "  " in noisy
        saw_dropped_comma |= "," not in noisy
        assert dates.normalize(noisy) == dates.normalize(clean)
    assert saw_upper and saw_double_space and saw_dropped_comma
    assert dates.normalize("  Saturday,May  9,\t2018 ") == "saturday may 9 2018"


def test_normalised_strings_use_the_input_alphabet_and_are_unambiguous():
    answers = {}
    for split in dates.SPLITS:
        for pair in dates.generate(600, split, seed=0):
            key = dates.normalize(pair.human)
            assert set(key) <= set(dates.INPUT_CHARACTERS)
            assert len(key) <= 32
            assert answers.setdefault(key, pair.iso) == pair.iso, key


def test_splits_never_share_a_normalised_string_and_are_deterministic():
    keys = {}
    for split in dates.SPLITS:
        pairs = dates.generate(400, split, seed=5)
        keys[split] = {dates.normalize(p.human) for p in pairs}
        assert len(keys[split]) == 400  # distinct within a split too
        assert all(dates.split_of(k) == split for k in keys[split])
        assert pairs == dates.generate(400, split, seed=5)
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    assert dates.generate(50, "train", seed=6) != dates.generate(50, "train", seed=5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        dates.generate(10, "dev")
    with pytest.raises(ValueError, match="family"):
        dates.format_date(MAY_3_1979, "YYYY")
    with pytest.raises(ValueError, match="ISO"):
        dates.encode_output("1979-5-3")


def test_tsv_round_trip(tmp_path):
    pairs = dates.generate(200, "test", seed=2)
    path = tmp_path / "pairs.tsv"
    dates.write_tsv(pairs, path)
    assert dates.read_tsv(path) == pairs
    (tmp_path / "two.tsv").write_text("3 may 1979\t1979-05-03\n")
    assert dates.read_tsv(tmp_path / "two.tsv") == [dates.DatePair("3 may 1979", "1979-05-03", "")]


def test_encode_input_pads_cuts_and_marks_unknown_characters():
    ids = dates.encode_input(" 3 MAY, 1979 ", 16)
    assert len(ids) == 16 and ids[len("3 may 1979"):] == [0] * 6
    assert dates.encode_input("3 may ☃", 8)[6] == 1
    assert len(dates.encode_input("x" * 100, 32)) == 32


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text):
    once = dates.normalize(text)
    assert dates.normalize(once) == once
    assert "," not in once and "  " not in once and once == once.strip(" ")


def test_tfds_builder_builds_offline_and_loads(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from data.tfds_dates import DatePairs

    builder = DatePairs(config="small", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert str(builder.info.version) == "1.0.0"
    loaded = {}
    for split, size in (("train", 2000), ("validation", 200), ("test", 500)):
        dataset = tfds.load("date_pairs/small", split=split, data_dir=str(tmp_path))
        examples = list(dataset.as_numpy_iterator())
        assert len(examples) == size
        loaded[split] = {dates.normalize(e["human"].decode()) for e in examples}
        first = examples[0]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first["iso"].decode())
        assert 0 <= first["family"] < len(dates.FAMILIES)
    assert not loaded["train"] & loaded["test"]
    assert not loaded["validation"] & loaded["test"]
