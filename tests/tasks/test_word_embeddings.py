"""tasks/word_embeddings: pipelines against gensim and brute force, losses against explicit loops,
training that learns, the runner end to end, the SavedModel, the commands and debiasing."""

import json

import numpy as np
import pytest
import tensorflow as tf

from data.text_corpus import Vocabulary, encode, load_corpus
from data.word_vectors import WordVectors, load_glove
from tasks.word_embeddings import debias
from tasks.word_embeddings.config import Config
from tasks.word_embeddings.model import Word2Vec, glove_weighting
from tasks.word_embeddings.train import (
    TASK,
    build_embedding_data,
    build_embedding_model,
    cooccurrences,
    keep_probabilities,
    noise_distribution,
    noise_table,
    trained_vectors,
)

TOPICS = {
    "animals": "cat dog horse cow sheep goat mouse lion tiger bear".split(),
    "vehicles": "car bus train truck plane boat bike ship taxi tram".split(),
    "food": "bread cheese apple rice soup salad pasta cake fish meat".split(),
}


def topic_sentences(count=1500, length=12, seed=0):
    """Sentences drawn from one topic each (plus shared filler words): co-occurrence = topic."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    sentences = []
    for _ in range(count):
        words = TOPICS[names[rng.integers(len(names))]]
        sentence = list(rng.choice(words, size=length))
        for position in rng.integers(0, length, size=3):
            sentence[position] = rng.choice(["the", "and", "of", "with"])
        sentences.append([str(w) for w in sentence])
    return sentences


def topic_margin(vectors):
    """Mean cosine within topics minus mean cosine across topics."""
    within, across = [], []
    for name, words in TOPICS.items():
        for other, other_words in TOPICS.items():
            for a in words[:5]:
                for b in other_words[:5]:
                    if a != b:
                        (within if name == other else across).append(vectors.cosine_similarity(a, b))
    return np.mean(within) - np.mean(across)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQMODELS_CACHE", str(tmp_path / "cache"))


# -- corpus statistics against gensim and brute force ---------------------------------------------------
def test_subsampling_and_noise_match_gensim():
    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = topic_sentences(300)
    vocabulary = Vocabulary.from_sentences(sentences, min_count=1)
    model = GensimWord2Vec(vector_size=4, min_count=1, sample=1e-2, negative=5)
    model.build_vocab(sentences)
    assert set(vocabulary.words) == set(model.wv.index_to_key)
    # Same counts (ties may be ordered differently), same keep probabilities word by word.
    assert [int(c) for c in vocabulary.counts] == [model.wv.get_vecattr(w, "count") for w in vocabulary.words]
    gensim_keep = np.array([model.wv.get_vecattr(w, "sample_int") for w in vocabulary.words]) / 2**32
    np.testing.assert_allclose(keep_probabilities(vocabulary.counts, 1e-2), gensim_keep, atol=1e-6)
    assert gensim_keep.min() < 0.9  # the test exercises subsampling
    # Noise distribution over gensim's own word order: its cumulative table, normalised.
    ours = noise_distribution(np.array([model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key]))
    np.testing.assert_allclose(ours, model.cum_table / model.cum_table[-1], atol=1e-6)
    # The unigram table gives each word its noise probability to within one slot.
    table = noise_table(vocabulary.counts, size=4096)
    shares = np.bincount(table, minlength=len(vocabulary)) / 4096
    np.testing.assert_allclose(shares, np.diff(noise_distribution(vocabulary.counts), prepend=0.0), atol=1.5 / 4096)


def test_cooccurrences_match_brute_force():
    rng = np.random.default_rng(1)
    sentences = [[f"w{i}" for i in rng.integers(0, 6, size=rng.integers(1, 9))] for _ in range(30)]
    vocabulary = Vocabulary.from_sentences(sentences, min_count=1)
    ids, offsets = encode(sentences, vocabulary)
    rows, cols, values = cooccurrences(ids, offsets, len(vocabulary), window=3)
    expected = {}
    for sentence in sentences:
        for i, a in enumerate(sentence):
            for j, b in enumerate(sentence):
                if i != j and abs(i - j) <= 3:
                    key = (vocabulary.index[a], vocabulary.index[b])
                    expected[key] = expected.get(key, 0.0) + 1.0 / abs(i - j)
    got = {(int(r), int(c)): v for r, c, v in zip(rows, cols, values)}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)
    assert glove_weighting([1, 100, 1000]).tolist() == pytest.approx([0.01**0.75, 1.0, 1.0])


def test_word2vec_pipeline_windows_sentences_and_reproducibility():
    sentences = topic_sentences(200, length=7)
    # Chunks of 100 surviving tokens, blocks of 3 chunks (300 raw tokens), 2 blocks per element.
    config = Config(batch_size=100, chunks_per_call=3, workers=2, window=3, sample=0.0, min_count=1)
    data = build_embedding_data(config, sentences)
    elements = list(data.train.as_numpy_iterator())
    # 1400 tokens: 5 blocks of 300 raw tokens, rounded up to whole elements by an empty sixth block.
    assert len(elements) == 3
    assert sum(int(e["raw_words"].sum()) for e in elements) == data.corpus_words == 1400
    blocks = [{key: e[key][w] for key in e} for e in elements for w in range(2)]
    assert [int(b["count"]) for b in blocks] == [300, 300, 300, 300, 200, 0]
    sentence_of = np.repeat(np.arange(len(sentences)), 7)
    offsets = [-3, -2, -1, 1, 2, 3]
    for index, block in enumerate(blocks):
        count, mask, tokens = int(block["count"]), block["context_mask"], block["ids"]
        assert mask.shape == (300, 6) and set(np.unique(mask)) <= {0, 1}
        assert block["negatives"].shape == (300, config.negative)
        assert block["negatives"].min() >= 0 and block["negatives"].max() < len(data.vocabulary)
        # With sample=0 no word is dropped: blocks are consecutive slices of the corpus, zero-padded.
        start = index * 300
        np.testing.assert_array_equal(tokens[:count], data.ids[start : start + count])
        assert not tokens[count:].any() and not mask[count:].any()
        for t in range(count):
            for s, offset in enumerate(offsets):
                if mask[t, s]:
                    neighbour = t + offset
                    # Inside the block, the sentence and the chunk of 100 tokens the model trains at once.
                    assert 0 <= neighbour < count and neighbour // 100 == t // 100
                    assert sentence_of[start + t] == sentence_of[start + neighbour]
    # Dynamic windows: some tokens use less than the full window of 3.
    first = blocks[0]
    reach = (np.abs(np.array(offsets))[None, :] * first["context_mask"]).max(axis=1)
    interior = [t for t in range(5, 95) if sentence_of[t - 3] == sentence_of[t + 3]]
    assert reach.max() <= 3 and (reach[interior] < 3).any() and (reach[interior] == 3).any()
    again = list(build_embedding_data(config, sentences).train.as_numpy_iterator())
    assert all(np.array_equal(a["negatives"], b["negatives"]) for a, b in zip(elements, again))


def test_compiled_block_matches_plain_tensorflow():
    """One element (2 blocks of several chunks) trained by the XLA program and by plain TensorFlow ops."""
    sentences = topic_sentences(200, length=7)
    config = Config(method="cbow", batch_size=64, chunks_per_call=4, workers=2, vector_size=8, min_count=1)
    data = build_embedding_data(config, sentences)
    element = next(iter(data.train))
    tables = []
    for jit in (True, False):
        model = build_embedding_model(config, data)
        model.jit_compile_step = jit
        logs = model.train_step(element)
        tables.append((model.input_vectors.numpy(), model.output_vectors.numpy(), float(logs["loss"])))
    (compiled_in, compiled_out, compiled_loss), (plain_in, plain_out, plain_loss) = tables
    assert np.abs(plain_out).max() > 0  # the output vectors start at zero: they moved
    np.testing.assert_allclose(compiled_in, plain_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(compiled_out, plain_out, rtol=1e-4, atol=1e-6)
    assert compiled_loss == pytest.approx(plain_loss, rel=1e-5)


# -- losses against explicit loops -------------------------------------------------------------------------
def explicit_loss(method, tokens_in, outputs_in, mask, noise_weight, window):
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    offsets = list(range(-window, 0)) + list(range(1, window + 1))
    total = 0.0
    for t in range(len(tokens_in)):
        contexts = [t + o for s, o in enumerate(offsets) if mask[t, s]]
        if method == "skipgram":
            for c in contexts:
                total += softplus(-tokens_in[t] @ outputs_in[c, 0])
                total += sum(noise_weight[t, j] * softplus(tokens_in[t] @ outputs_in[t, 1 + j]) for j in range(noise_weight.shape[1]))
        elif contexts:
            hidden = np.mean([tokens_in[c] for c in contexts], axis=0)
            total += softplus(-hidden @ outputs_in[t, 0])
            total += sum(noise_weight[t, j] * softplus(hidden @ outputs_in[t, 1 + j]) for j in range(noise_weight.shape[1]))
    return total


@pytest.mark.parametrize("method", ["skipgram", "cbow"])
def test_chunk_loss_matches_explicit_pairs(method):
    rng = np.random.default_rng(2)
    window, tokens, negative, dim = 3, 17, 4, 6
    model = Word2Vec(20, vector_size=dim, window=window, method=method)
    tokens_in = rng.normal(size=(tokens, dim)).astype(np.float32)
    outputs_in = rng.normal(size=(tokens, 1 + negative, dim)).astype(np.float32)
    offsets = np.array(list(range(-window, 0)) + list(range(1, window + 1)))
    positions = np.arange(tokens)[:, None] + offsets[None, :]
    mask = ((positions >= 0) & (positions < tokens) & (rng.random((tokens, 2 * window)) < 0.7)).astype(np.float32)
    noise_weight = (rng.random((tokens, negative)) < 0.9).astype(np.float32)
    loss, pairs = model._chunk_loss(tf.constant(tokens_in), tf.constant(outputs_in), tf.constant(mask), tf.constant(noise_weight))
    expected = explicit_loss(method, tokens_in, outputs_in, mask, noise_weight, window)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert float(pairs) == (mask.sum() if method == "skipgram" else (mask.sum(axis=1) > 0).sum())


@pytest.mark.parametrize("method", ["skipgram", "cbow"])
def test_hand_written_gradients_match_gradient_tape(method):
    rng = np.random.default_rng(3)
    window, tokens, negative, dim = 3, 17, 4, 6
    model = Word2Vec(20, vector_size=dim, window=window, method=method)
    tokens_in = tf.constant(rng.normal(size=(tokens, dim)).astype(np.float32))
    outputs_in = tf.constant(rng.normal(size=(tokens, 1 + negative, dim)).astype(np.float32))
    offsets = np.array(list(range(-window, 0)) + list(range(1, window + 1)))
    positions = np.arange(tokens)[:, None] + offsets[None, :]
    mask = tf.constant(((positions >= 0) & (positions < tokens) & (rng.random((tokens, 2 * window)) < 0.6)).astype(np.float32))
    noise_weight = tf.constant((rng.random((tokens, negative)) < 0.9).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch([tokens_in, outputs_in])
        loss, pairs = model._chunk_loss(tokens_in, outputs_in, mask, noise_weight)
    expected_input, expected_output = tape.gradient(loss, [tokens_in, outputs_in])
    got_loss, got_pairs, got_input, got_output = model._chunk_gradients(tokens_in, outputs_in, mask, noise_weight)
    assert float(got_loss) == pytest.approx(float(loss), rel=1e-5) and float(got_pairs) == float(pairs)
    np.testing.assert_allclose(got_input.numpy(), expected_input.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_output.numpy(), expected_output.numpy(), rtol=1e-4, atol=1e-5)


def test_word2vec_rejects_bad_arguments_and_round_trips_config():
    with pytest.raises(ValueError, match="method"):
        Word2Vec(10, method="glove")
    with pytest.raises(ValueError, match="vector_size"):
        Word2Vec(10, vector_size=0)
    model = Word2Vec(10, vector_size=4, window=2, method="cbow", repeat_cap=7.0)
    clone = Word2Vec.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert tuple(model(np.array([[1, 2]])).shape) == (1, 2, 4)


# -- training learns -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["skipgram", "cbow", "glove"])
def test_training_separates_topics(method):
    sentences = topic_sentences(1500)
    epochs = {"skipgram": 3, "cbow": 5, "glove": 20}[method]
    batch = 1024 if method != "glove" else 256
    config = Config(method=method, vector_size=16, min_count=1, epochs=epochs, batch_size=batch, glove_batch_size=batch, glove_chunk_size=32,
                    sample=0.0, learning_rate=0.025 if method != "glove" else 0.2)
    data = build_embedding_data(config, sentences)
    model = build_embedding_model(config, data)
    before = topic_margin(trained_vectors(model, data.vocabulary))
    history = model.fit(data.train, epochs=epochs, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    after = topic_margin(trained_vectors(model, data.vocabulary))
    # GloVe's w + w̃ share a large common component (they also fit log counts and biases), so their
    # topic margin is smaller: 0.21-0.32 after 20 epochs at learning rate 0.2 over seeds 0-3 (from -0.03 to
    # -0.07 before). At 0.1 it was 0.10-0.13, too close to a floor for a test that must not flake.
    required = 0.15 if method == "glove" else 0.3
    assert after > required and after > before + required, (before, after)


# -- the runner end to end, the SavedModel ----------------------------------------------------------------
@pytest.mark.e2e
def test_train_command_writes_vectors_projector_metrics_and_saved_model(tmp_path):
    from tasks.common.runner import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in topic_sentences(600)) + "\n")
    out = tmp_path / "run"
    status = main(TASK, ["train", "--out", str(out), "--corpus", str(corpus), "--epochs", "2", "--vector-size", "16",
                         "--min-count", "1", "--batch-size", "1024", "--verbose", "0"])
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vocabulary"] == 34 and metrics["epochs_trained"] == 2
    from data.word_vectors import load_word_vectors

    vectors = load_word_vectors(out / "vectors.txt")
    assert len(vectors) == 34 and vectors.dim == 16
    assert (out / "projector" / "vectors.tsv").exists() and len((out / "projector" / "metadata.tsv").read_text().splitlines()) == 34
    loaded = tf.saved_model.load(str(out / "saved_model"))
    answer = loaded.signatures["serving_default"](words=tf.constant(["cat", "CAR", "unknownword"]))
    expected = [w for w, _ in vectors.most_similar("cat", k=10)]
    assert [w.decode() for w in answer["neighbours"].numpy()[0]] == expected
    np.testing.assert_allclose(answer["vectors"].numpy()[1], vectors["car"], rtol=1e-5, atol=1e-6)
    assert not answer["neighbours"].numpy()[2].any() and not answer["vectors"].numpy()[2].any()
    demo = json.loads((out / "demo.json").read_text())
    assert demo and all("output" in row for row in demo)


def test_default_corpus_is_the_wikipedia_sample():
    sentences = load_corpus()
    assert sum(map(len, sentences)) == 453_267
    assert sentences[1][:3] == ["anarchism", "is", "political"]


# -- commands ---------------------------------------------------------------------------------------------------
def test_analogy_and_similar_commands(capsys):
    from tasks.word_embeddings.evaluate import analogy_command, similar_command

    assert analogy_command(["man", "king", "woman"]) == 0
    assert capsys.readouterr().out.strip() == "queen"
    assert similar_command(["frog", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "toad" in [line.split("\t")[0] for line in lines]
    assert analogy_command(["man", "king", "notawordxyz"]) == 2


# -- debiasing ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def glove_small():
    return load_glove(limit=30_000)


def test_course_neutralize_and_equalize(glove_small):
    g = debias.bias_direction(glove_small, [("woman", "man")])
    unit = glove_small.unit_vectors
    np.testing.assert_allclose(g, unit[glove_small.index["woman"]] - unit[glove_small.index["man"]], rtol=1e-5, atol=1e-7)
    e = unit[glove_small.index["receptionist"]]
    assert abs(e @ g) > 0.1
    assert abs(debias.neutralize(e, g) @ g) < 1e-6
    e1, e2 = debias.equalize(unit[glove_small.index["actor"]], unit[glove_small.index["actress"]], g)
    neutral = debias.neutralize(unit[:2000], g)
    gap = np.abs(np.linalg.norm(neutral - e1, axis=1) - np.linalg.norm(neutral - e2, axis=1))
    assert gap.max() < 1e-6
    assert (e1 @ g) == pytest.approx(-(e2 @ g))
    assert abs(e1 @ g) > 0.1  # the pair keeps a gender component, symmetric


def test_hard_debias_removes_direct_bias(glove_small):
    lists = debias.bolukbasi_word_lists()
    assert len(lists["definitional_pairs"]) == 10 and len(lists["equalize_pairs"]) == 52
    debiased, g, neutral_rows = debias.hard_debias(glove_small, lists)
    assert abs(np.linalg.norm(g) - 1) < 1e-9
    assert np.abs(debiased.vectors[neutral_rows].astype(np.float64) @ g).max() < 1e-6
    assert debiased.index["he"] not in set(neutral_rows)  # gender-specific words keep their direction
    professions = [w for w in lists["professions"] if w in glove_small and w not in set(lists["gender_specific"])]
    before, after = debias.direct_bias(glove_small, professions, g), debias.direct_bias(debiased, professions, g)
    assert before > 0.05 and after < 1e-6
    assert debiased.analogy("man", "king", "woman") == "queen"


def test_debias_report_command(capsys, tmp_path):
    from tasks.word_embeddings.evaluate import debias_command

    assert debias_command(["--report", "--restrict", "20000", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "direct bias" in out and "questions-words accuracy" in out
    report = json.loads((tmp_path / "r.json").read_text())["bolukbasi"]
    assert report["max_projection_after_neutralize"] < 1e-6 and report["max_equidistance_gap"] < 1e-6
    assert report["direct_bias_after"] < report["direct_bias_before"]
    assert abs(report["analogy_change_points"]) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["skipgram", "cbow"])
def test_word2vec_on_wikipedia_sample_reaches_gensim_quality(method):
    """Full default training (5 epochs on 453k tokens), WordSim353 within 0.02 of gensim's figure."""
    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = load_corpus()
    config = Config(method=method)
    data = build_embedding_data(config, sentences)
    model = build_embedding_model(config, data)
    model.fit(data.train, epochs=config.epochs, verbose=0)
    ours = trained_vectors(model, data.vocabulary)
    reference = GensimWord2Vec(sentences, vector_size=100, window=5, negative=5, min_count=5, epochs=5, workers=2, sg=int(method == "skipgram"), seed=0)
    theirs = WordVectors(reference.wv.index_to_key, reference.wv.vectors)
    assert ours.evaluate_similarity(restrict_vocab=None)["spearman"] >= theirs.evaluate_similarity(restrict_vocab=None)["spearman"] - 0.02
    assert ours.evaluate_analogies(restrict_vocab=None)["accuracy"] >= theirs.evaluate_analogies(restrict_vocab=None)["accuracy"] - 0.02
