"""Transcripts written down once: the normalisation, the 27-character alphabet and the CTC classes.

Every transcript the project stores, trains on, decodes or scores goes through
:func:`normalize_transcript`, so "Ten O'Clock", "ten o clock" and
"ten o-clock" are one string, ``"ten o clock"``. The rules, in order:

1. Lower case.
2. ``o'clock`` (any apostrophe, or none: ``oclock``) becomes ``o clock``.
3. ``a.m.``, ``a. m.``, ``a.m`` and ``a m`` become ``a m``; the same for
   ``p m``. A bare ``pm`` always becomes ``p m``; a bare ``am`` only after a
   number word or ``clock`` (``five am``), since "I am" is English too.
4. Hyphens and dashes become spaces (``twenty-five`` -> ``twenty five``).
5. Digits are not allowed: a transcript is what was said. They raise a
   ``ValueError`` unless ``spell_digits=True`` (then a run of digits becomes
   its cardinal, ``125`` -> ``one hundred and twenty five``, or, with a
   leading zero or above 999,999, digit by digit: ``007`` -> ``zero zero
   seven``).
6. Everything except ``a``-``z`` and spaces is removed (``don't`` -> ``dont``).
7. Runs of spaces become one space; no leading or trailing space.

CTC classes are fixed for the project: class 0 is the CTC blank (and the
padding of label batches); class ``i`` in 1..27 is ``ALPHABET[i - 1]``, so
space is class 1 and ``a`` is class 2. ``NUM_CLASSES = 28``.
"""

from __future__ import annotations

import re

import numpy as np

ALPHABET = " abcdefghijklmnopqrstuvwxyz"
BLANK = 0
NUM_CLASSES = len(ALPHABET) + 1

_CHAR_TO_ID = {character: index + 1 for index, character in enumerate(ALPHABET)}
_ID_TO_CHAR = np.array(["", *ALPHABET], dtype=object)

# The words after which a bare "am" is the time of day (rule 3).
_NUMBER_WORDS = frozenset(
    "oh zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty clock noon".split())

_OCLOCK = re.compile(r"\bo\s*['\u2019\u2018`]?\s*clock\b")
_DOTTED_MERIDIEM = re.compile(r"\b([ap])\s*\.\s*m\b\s*\.?")
_SPACED_MERIDIEM = re.compile(r"\b([ap])\s+m\b")
_PM = re.compile(r"\bpm\b")
_AM = re.compile(r"\b(\w+)(\s+)am\b")
_DASHES = re.compile(r"[-\u2010-\u2015\u2212]")
_DIGITS = re.compile(r"\d+")
_NOT_ALPHABET = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r" +")


def _spell(match: re.Match) -> str:
    from data.spoken_forms.grammar import cardinal_words, digit_words

    digits = match.group(0)
    if (digits.startswith("0") and len(digits) > 1) or int(digits) > 999_999:
        return f" {digit_words(digits, zero='zero')} "
    return f" {cardinal_words(int(digits))} "


def normalize_transcript(text: str, spell_digits: bool = False) -> str:
    """The project's one normalisation of a transcript (rules in the module docstring).

    Args:
        text: any English text.
        spell_digits: spell digit runs out instead of raising.

    Returns:
        Lower-case words of ``a``-``z`` separated by single spaces.

    Raises:
        ValueError: when ``text`` holds a digit and ``spell_digits`` is false.

    Example:

    >>> normalize_transcript("Half-past Six P.M., or 7 O'Clock")  # doctest: +SKIP
    ValueError: ...
    >>> normalize_transcript("Half-past Six P.M., or 7 O'Clock", spell_digits=True)
    'half past six p m or seven o clock'
    """
    if not isinstance(text, str):
        raise ValueError(f"A transcript must be a string; received {type(text).__name__}")
    text = text.lower()
    if _DIGITS.search(text):
        if not spell_digits:
            raise ValueError(f"Transcripts hold words, not digits (spell them out, or pass "
                             f"spell_digits=True); received {text!r}")
        text = _DIGITS.sub(_spell, text)
    text = _OCLOCK.sub(" o clock ", text)
    text = _DOTTED_MERIDIEM.sub(r" \1 m ", text)
    text = _SPACED_MERIDIEM.sub(r" \1 m ", text)
    text = _PM.sub(" p m ", text)
    text = _AM.sub(lambda m: f"{m.group(1)} a m" if m.group(1) in _NUMBER_WORDS
                   else m.group(0), text)
    text = _DASHES.sub(" ", text)
    text = _NOT_ALPHABET.sub("", text.replace("\t", " ").replace("\n", " "))
    return _SPACES.sub(" ", text).strip()


def encode_transcript(text: str) -> np.ndarray:
    """The CTC labels of ``text`` (normalised first): int32, classes 1..27, never the blank 0."""
    normalized = normalize_transcript(text)
    return np.array([_CHAR_TO_ID[character] for character in normalized], np.int32)


def decode_ids(ids) -> str:
    """Characters of class ids: 0 (blank / padding) is dropped, repeats are kept.

    This is the inverse of :func:`encode_transcript`, not a CTC decoder:
    collapsing repeats between blanks is the decoder's job.
    """
    ids = np.asarray(ids).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= NUM_CLASSES):
        raise ValueError(f"Class ids must lie in 0..{NUM_CLASSES - 1}; received "
                         f"{int(ids.min())}..{int(ids.max())}")
    return "".join(_ID_TO_CHAR[ids.astype(np.int64)])
