"""Surface variations that never change what a string means.

Letter case, commas dropped, runs of spaces, a trailing period and surrounding
brackets, each drawn independently. A string and all its variations share one
answer, and ``normalized_key`` maps them to one key (the split key of not-a-date
strings, so a variation of a test string is never in training).
"""

import re

BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("<", ">"), ('"', '"'), ("'", "'"))


def add_noise(rng, text):
    """``text`` with random letter case, commas dropped, extra spaces, a trailing period or brackets."""
    draw = rng.random()
    if draw < 0.2:
        text = text.lower()
    elif draw < 0.3:
        text = text.upper()
    elif draw < 0.35:
        text = text.title()
    if "," in text and rng.random() < 0.3:
        text = re.sub(r",(?!\d)", "", text)
        text = re.sub(r" {2,}", " ", text)
    if rng.random() < 0.15:
        text = re.sub(r" ", lambda match: " " * rng.choice((1, 1, 2, 3)), text)
    if rng.random() < 0.1 and not text.endswith("."):
        text += "."
    if rng.random() < 0.08:
        opening, closing = rng.choice(BRACKETS)
        text = f"{opening}{text}{closing}"
    if rng.random() < 0.1:
        text = " " * rng.choice((1, 2)) + text
    if rng.random() < 0.1:
        text = text + " " * rng.choice((1, 2))
    return text


def normalized_key(text):
    """Lower case, no brackets, commas, trailing periods or runs of white space."""
    text = text.strip().lower()
    text = text.strip("()[]{}<>\"'").rstrip(".")
    text = text.replace(",", " ")
    return re.sub(r"\s+", " ", text).strip()
