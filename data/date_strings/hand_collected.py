"""Real-world date strings written by hand, with their answers (``hand_collected.tsv``).

A person's list, not a program's: dates as they appear in letters, news, forms,
logs, e-mail headers, documentation examples (RFC 7231's, Apache's, Go's) and
copied from apps (with CLDR's U+202F before am/pm), plus strings that are not
dates. Kept apart from the generator (nothing here is written by
``grammar``/``not_dates``), so scoring on it is not a self-test.

``hand_validation.tsv`` is a second such list, written separately and
used only to choose (grammar coverage, training length); ``hand_collected.tsv``
stays the test set that is scored once.

Columns: ``text`` (verbatim, spaces included), ``order``, ``date``, ``time``,
``utc_offset``, ``kind`` (``date``, ``datetime`` or ``not_a_date``) and a ``note``.
"""

import csv
import pathlib

from data.date_strings.targets import Answer, check_order

PATH = pathlib.Path(__file__).with_name("hand_collected.tsv")
VALIDATION_PATH = pathlib.Path(__file__).with_name("hand_validation.tsv")
KINDS = ("date", "datetime", "not_a_date")


def load(path=PATH):
    """``(text, order, answer, kind)`` tuples; a malformed row raises ``ValueError`` naming its line."""
    examples = []
    with open(path, encoding="utf-8", newline="") as file:
        for line_number, row in enumerate(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE), start=2):
            try:
                answer = Answer(row["date"], row["time"], row["utc_offset"])
                check_order(row["order"])
                if row["kind"] not in KINDS:
                    raise ValueError(f"kind {row['kind']!r} is not one of {KINDS}")
                expected_kind = "not_a_date" if not answer.date else "datetime" if answer.time else "date"
                if row["kind"] != expected_kind:
                    raise ValueError(f"kind {row['kind']!r} does not match the answer ({expected_kind})")
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}:{line_number}: {error}") from error
            examples.append((row["text"], row["order"], answer, row["kind"]))
    return examples
