"""data/word_vectors.py against gensim's KeyedVectors (the reference) and the packaged GloVe."""

import numpy as np
import pytest

from data.word_vectors import WordVectors, find_package_file, load_glove, load_word_vectors


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQMODELS_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def glove():
    return load_glove()


def random_vectors(count=300, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(count)]
    return WordVectors(words, rng.normal(size=(count, dim)).astype(np.float32))


def keyed_vectors(vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(vectors.words, vectors.vectors)
    return kv


# -- packaged GloVe ---------------------------------------------------------------------------------
def test_load_glove_shape_and_classic_analogy(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    assert glove.vectors.dtype == np.float32 and glove.vectors.shape == (400_000, 50)
    assert glove.words[:4] == ["the", ",", ".", "of"]
    assert glove.analogy("man", "king", "woman") == "queen"
    assert glove.analogy("france", "paris", "italy") == "rome"
    assert "king" in glove and "King" in glove and "notawordxyz" not in glove
    neighbours = glove.most_similar("frog", k=5)
    assert "frog" not in [w for w, _ in neighbours]
    assert [s for _, s in neighbours] == sorted((s for _, s in neighbours), reverse=True)
    assert glove.cosine_similarity("cat", "dog") > glove.cosine_similarity("cat", "economics")


def test_glove_limit_keeps_most_frequent_words():
    small = load_glove(limit=1000)
    assert len(small) == 1000 and small.words[0] == "the"


# -- queries against gensim -------------------------------------------------------------------------
def test_most_similar_and_analogy_match_gensim():
    vectors = random_vectors()
    kv = keyed_vectors(vectors)
    ours = vectors.most_similar("w3", k=7)
    theirs = kv.most_similar("w3", topn=7)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
    ours = vectors.analogy_scores("w1", "w2", "w5", k=5)
    theirs = kv.most_similar(positive=["w2", "w5"], negative=["w1"], topn=5)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    # gensim scores the mean of the three unit vectors; ours their sum: same cosine.
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
    assert vectors.analogy("w1", "w2", "w5") == theirs[0][0]
    np.testing.assert_allclose(vectors.cosine_similarity("w1", "w9"), kv.similarity("w1", "w9"), atol=1e-6)


def test_queries_accept_vectors_and_exclusions():
    vectors = random_vectors()
    by_vector = vectors.most_similar(vectors["w4"], k=3)
    assert by_vector[0][0] == "w4"  # a vector query does not exclude anything
    by_word = vectors.most_similar("w4", k=3, exclude=[by_vector[1][0]])
    assert "w4" not in [w for w, _ in by_word] and by_vector[1][0] not in [w for w, _ in by_word]
    assert all(vectors.index_of(w) < 50 for w, _ in vectors.most_similar("w4", k=5, restrict_vocab=50))


def test_vectorised_analogy_rows_agree_with_single_queries():
    vectors = random_vectors(count=200, seed=1)
    rng = np.random.default_rng(2)
    questions = rng.integers(0, 200, size=(40, 3))
    predicted = vectors.analogy_rows(questions[:, 0], questions[:, 1], questions[:, 2], batch_size=7)
    for (a, b, c), row in zip(questions, predicted):
        if len({a, b, c}) == 3:
            assert vectors.words[row] == vectors.analogy(*(vectors.words[i] for i in (a, b, c)))


def test_evaluations_match_gensim(tmp_path):
    vectors = random_vectors(count=60, dim=8, seed=3)
    kv = keyed_vectors(vectors)
    rng = np.random.default_rng(4)
    lines = []
    for section in ("capital", "family"):
        lines.append(f": {section}")
        for _ in range(30):
            lines.append(" ".join(f"W{i}" for i in rng.integers(0, 70, size=4)))  # some out of vocabulary
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(lines) + "\n")
    ours = vectors.evaluate_analogies(questions, restrict_vocab=50)
    theirs, _ = kv.evaluate_word_analogies(str(questions), restrict_vocab=50)
    assert ours["total"] > 0 and ours["oov_questions"] > 0
    assert ours["accuracy"] == pytest.approx(theirs)

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "# comment\n" + "".join(f"w{a}\tw{b}\t{rng.uniform(0, 10):.2f}\n" for a, b in rng.integers(0, 70, (40, 2)))
    )
    ours = vectors.evaluate_similarity(pairs)
    pearson, spearman, oov = kv.evaluate_word_pairs(str(pairs))
    assert ours["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
    assert ours["pearson"] == pytest.approx(pearson.statistic, abs=1e-5)
    assert ours["oov_ratio"] * 100 == pytest.approx(oov)


# -- files --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_round_trip_through_gensim(tmp_path, binary):
    from gensim.models import KeyedVectors

    vectors = random_vectors(count=50, dim=5)
    vectors.words[7] = "naïve"  # non-ASCII survives both formats
    vectors = WordVectors(vectors.words, vectors.vectors)
    path = vectors.save_word2vec(tmp_path / "v.w2v", binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == vectors.words
    np.testing.assert_allclose(kv.vectors, vectors.vectors, rtol=1e-5, atol=1e-6)
    # And gensim's own writer is read back by ours.
    kv.save_word2vec_format(str(tmp_path / "g.w2v"), binary=binary)
    loaded = load_word_vectors(tmp_path / "g.w2v")
    assert loaded.words == vectors.words
    np.testing.assert_allclose(loaded.vectors, vectors.vectors, rtol=1e-5, atol=1e-6)


def test_glove_text_file_and_cache(tmp_path):
    vectors = random_vectors(count=12_000, dim=4)
    path = tmp_path / "glove.txt"
    with open(path, "w") as f:
        for word, row in zip(vectors.words, vectors.vectors):
            f.write(word + " " + " ".join(f"{x:.7g}" for x in row) + "\n")
    first = load_word_vectors(path)
    assert first.words == vectors.words
    np.testing.assert_allclose(first.vectors, vectors.vectors, rtol=1e-6)
    assert list((tmp_path / "cache" / "word_vectors").glob("*.npy"))
    second = load_word_vectors(path)  # from the cache
    assert second.words == first.words and np.array_equal(second.vectors, first.vectors)
    assert len(load_word_vectors(path, limit=10)) == 10
    assert load_glove(path=path, limit=5).words == vectors.words[:5]


def test_export_projector(tmp_path):
    vectors = random_vectors(count=30, dim=6)
    vectors_path, metadata_path = vectors.export_projector(tmp_path / "projector", limit=20)
    matrix = np.loadtxt(vectors_path, delimiter="\t")
    assert matrix.shape == (20, 6)
    np.testing.assert_allclose(matrix, vectors.vectors[:20], rtol=1e-5, atol=1e-6)
    assert metadata_path.read_text().splitlines() == vectors.words[:20]


# -- Keras layers ---------------------------------------------------------------------------------------
def test_embedding_layers_map_raw_tokens_to_pretrained_rows(tmp_path):
    import keras

    vectors = random_vectors(count=20, dim=6)
    lookup, embedding, missing = vectors.embedding_layers(vocabulary=["w3", "w1", "W2", "unknownword", "w3"])
    assert missing == ["unknownword"]
    tokens = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(tokens, embedding(lookup(tokens)))
    batch = np.array([["w3", "w1", "W2", "zzz", ""]])
    out = keras.ops.convert_to_numpy(model(batch))
    np.testing.assert_allclose(out[0, 0], vectors["w3"])
    np.testing.assert_allclose(out[0, 1], vectors["w1"])
    np.testing.assert_allclose(out[0, 2], vectors["w2"])  # lower-cased fallback
    assert not out[0, 3].any() and not out[0, 4].any()  # OOV and padding rows are zero
    mask = keras.ops.convert_to_numpy(embedding.compute_mask(lookup(batch)))
    assert mask.tolist() == [[True, True, True, True, False]]
    assert embedding.trainable is False and not model.trainable_weights

    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(batch)), out)


@pytest.mark.parametrize("trainable", [False, True])
def test_embedding_layers_trainable_flag_controls_fine_tuning(trainable):
    import keras

    vectors = random_vectors(count=10, dim=4)
    lookup, embedding, _ = vectors.embedding_layers(trainable=trainable, mask_token=None)
    tokens = keras.Input(shape=(2,), dtype="string")
    pooled = keras.layers.GlobalAveragePooling1D()(embedding(lookup(tokens)))
    model = keras.Model(tokens, keras.layers.Dense(1)(pooled))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    before = keras.ops.convert_to_numpy(embedding.embeddings).copy()
    import tensorflow as tf

    # String inputs go through tf.data (Keras's NumPy adapter rejects string arrays).
    data = tf.data.Dataset.from_tensor_slices(([["w1", "w2"], ["w3", "w0"]], [[1.0], [-1.0]])).batch(2)
    model.fit(data, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(embedding.embeddings)
    assert np.array_equal(before, after) != trainable
    np.testing.assert_allclose(before[1:], vectors.vectors)  # mask_token=None: only the OOV row first


def test_missing_vectors_zeros_and_errors():
    vectors = random_vectors(count=10, dim=4)
    _, embedding, missing = vectors.embedding_layers(vocabulary=["w1", "new"], missing_vectors="zeros")
    assert missing == ["new"]
    assert not np.asarray(embedding.embeddings)[3].any()
    with pytest.raises(ValueError, match="missing_vectors"):
        vectors.embedding_layers(missing_vectors="mean")
    with pytest.raises(ValueError, match="distinct"):
        WordVectors(["a", "a"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="matrix"):
        WordVectors(["a", "b"], np.zeros((3, 3)))
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vectors["nope"]
    with pytest.raises(FileNotFoundError, match="pip install"):
        find_package_file("no-such-distribution-seqmodels", "x.npy")
