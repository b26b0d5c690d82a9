"""Text corpora for training word embeddings, offline.

The default corpus is the English Wikipedia sample that gensim's test data ships
(`enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`: 206 articles, 453,267 tokens
after gensim's own Wikipedia markup filter and tokenizer, lower-cased). `--corpus FILE` takes any
other text: a plain text file (one sentence or paragraph per line, tokenized the same way) or a
MediaWiki XML dump (`.xml` / `.xml.bz2`).

A corpus is a list of sentences, each a list of lower-case string tokens. Sentences are cut to at most
`MAX_SENTENCE_TOKENS` tokens, the most gensim's Word2Vec reads from one sentence, so gensim and our
trainers see exactly the same text. `Vocabulary` keeps words seen at least `min_count` times, most
frequent first, and `encode` turns sentences into one flat int32 id array plus sentence offsets,
the form the tf.data pipelines in tasks/word_embeddings consume.
"""

import bz2
import collections
import dataclasses
import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

WIKIPEDIA_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
# gensim's Word2Vec silently truncates longer sentences (MAX_WORDS_IN_BATCH in its Cython code).
MAX_SENTENCE_TOKENS = 10_000


def gensim_test_file(name):
    """Path of a file in gensim's test data (gensim/test/test_data/NAME), found without importing gensim."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gensim is not installed; install it with: .venv/bin/pip install -r requirements.txt")
    for location in spec.submodule_search_locations:
        path = Path(location) / "test" / "test_data" / name
        if path.exists():
            return path
    raise FileNotFoundError(f"gensim's test data has no file {name!r}")


def tokenize(text):
    """gensim's tokenizer: lower-case alphabetic tokens of 2 to 15 characters, accents kept."""
    from gensim.utils import tokenize as gensim_tokenize

    return [t for t in gensim_tokenize(text, lower=True, errors="ignore") if 2 <= len(t) <= 15]


def _cut(tokens, limit=MAX_SENTENCE_TOKENS):
    return [tokens[i : i + limit] for i in range(0, len(tokens), limit)]


def _read_wikipedia_dump(path):
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki
    from gensim.corpora.wikicorpus import tokenize as wiki_tokenize

    opener = bz2.open if str(path).endswith(".bz2") else open
    sentences = []
    with opener(path, "rb") as f:
        for _title, text, _page_id in extract_pages(f, filter_namespaces=("0",)):
            tokens = wiki_tokenize(filter_wiki(text), lower=True)
            sentences.extend(_cut(tokens))
    return [s for s in sentences if s]


def _read_text_file(path):
    opener = bz2.open if str(path).endswith(".bz2") else open
    sentences = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            sentences.extend(_cut(tokenize(line)))
    return [s for s in sentences if s]


def _cache_path(path):
    root = os.environ.get("SEQMODELS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqmodels"
    )
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    directory = Path(root) / "corpora"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{key}.json"


def load_corpus(path=None, cache=True):
    """Sentences (lists of lower-case tokens) from `path`, or the Wikipedia sample when `path` is None.

    MediaWiki dumps (`*.xml`, `*.xml.bz2`) go through gensim's markup filter; anything else is read
    as plain text, one sentence per line. The tokenized corpus is cached as JSON next to the word
    vector cache (`~/.cache/seqmodels/corpora`) because filtering wiki markup takes a few seconds.
    """
    path = Path(path) if path else gensim_test_file(WIKIPEDIA_SAMPLE)
    if not path.exists():
        raise FileNotFoundError(f"No corpus file at {path}")
    cached = _cache_path(path) if cache else None
    if cached is not None and cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    is_dump = ".xml" in path.name or path.name == WIKIPEDIA_SAMPLE
    sentences = _read_wikipedia_dump(path) if is_dump else _read_text_file(path)
    if cached is not None:
        cached.write_text(json.dumps(sentences), encoding="utf-8")
    return sentences


@dataclasses.dataclass
class Vocabulary:
    """Words seen at least `min_count` times, most frequent first (ties in order of first appearance).

    This is gensim's ordering too, so row i of our vectors and of gensim's `wv` usually name the same
    word. `counts[i]` is the corpus frequency of `words[i]`.
    """

    words: list
    counts: np.ndarray

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}
        self.counts = np.asarray(self.counts, dtype=np.int64)

    def __len__(self):
        return len(self.words)

    @classmethod
    def from_sentences(cls, sentences, min_count=5, max_size=None):
        counter = collections.Counter()
        for sentence in sentences:
            counter.update(sentence)
        # Counter keeps first-appearance order, and sorted() is stable, so ties keep that order.
        items = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda item: -item[1])
        if max_size is not None:
            items = items[:max_size]
        return cls([w for w, _ in items], np.array([c for _, c in items], dtype=np.int64))


def encode(sentences, vocabulary):
    """Flat int32 ids of the in-vocabulary tokens, and int64 sentence offsets (len = sentences + 1).

    Out-of-vocabulary tokens are dropped before windows are taken, as in word2vec and gensim.
    """
    index = vocabulary.index
    ids, offsets = [], [0]
    for sentence in sentences:
        ids.extend(index[w] for w in sentence if w in index)
        offsets.append(len(ids))
    return np.array(ids, dtype=np.int32), np.array(offsets, dtype=np.int64)
