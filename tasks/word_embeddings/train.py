"""Train word vectors: corpus -> vocabulary -> tf.data -> Keras fit -> evaluate -> export (:func:`train`).

    python -m tasks.word_embeddings train --method skipgram --out runs/word_embeddings
    python -m tasks.word_embeddings train --method glove --epochs 25 --corpus my_text.txt

Reads top to bottom: the corpus and its vocabulary, the tf.data pipelines (word2vec chunks with
subsampling, dynamic windows and noise words; GloVe co-occurrence cells), the model, then `train`, which
runs the whole thing through the shared run-directory steps in tasks/common.

Design for 2 CPU cores. A Python loop over pairs would run at a few thousand words per second, so
nothing here touches single pairs: the pipeline cuts the corpus into blocks of
`batch_size * chunks_per_call` tokens and for each block draws, in vectorised TensorFlow ops inside a
parallel `map`, the subsampling mask, every token's window and its noise words (from a unigram
table); the model then trains on the block chunk by chunk inside one compiled XLA loop, with batched
products and sparse row updates (see model.py). The pipeline runs on one core while the step runs on
the other. GloVe: the co-occurrence cells are counted once in NumPy, shuffled per epoch by one
permutation, and trained by per-row AdaGrad in the same kind of compiled loop.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from data.text_corpus import Vocabulary, encode, load_corpus
from tasks.common.fit import fit_resumable
from tasks.common.run_dir import RunDir
from tasks.common.runner import TaskCommands
from tasks.word_embeddings.config import Config


# ---------------------------------------------------------------------------------------------
# Corpus statistics
# ---------------------------------------------------------------------------------------------
def keep_probabilities(counts, sample):
    """gensim's subsampling: P(keep w) = (sqrt(c_w / t) + 1) * t / c_w with t = sample * total, capped at 1."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(len(counts), dtype=np.float32)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts).astype(np.float32)


def noise_distribution(counts, power=0.75):
    """Cumulative unigram^0.75 distribution (word2vec's noise), for inverse-CDF sampling."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return cumulative.astype(np.float32)


def noise_table(counts, size=1 << 20, power=0.75):
    """word2vec.c's unigram table: `size` word ids, word w filling a share P_noise(w) of the slots.

    Drawing a noise word is then one uniform integer and one lookup, several times cheaper than a
    binary search in the cumulative distribution; slot i holds the word whose cumulative interval
    contains (i + 0.5) / size, so each word's share is exact to within 1 / size.
    """
    cumulative = noise_distribution(counts, power).astype(np.float64)
    slots = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.minimum(np.searchsorted(cumulative, slots, side="right"), len(counts) - 1).astype(np.int32)


def cooccurrences(ids, offsets, vocabulary_size, window):
    """Symmetric co-occurrence counts weighted by 1/distance (GloVe), as (rows, cols, values).

    Counts pairs within `window` inside each sentence: X_ij += 1/d for every occurrence of j at
    distance d of i, both directions. Vectorised: one shifted comparison per distance, then one sort
    to add up repeated cells.
    """
    sentence = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    keys, values = [], []
    for distance in range(1, window + 1):
        same = sentence[distance:] == sentence[:-distance]
        left, right = ids[:-distance][same].astype(np.int64), ids[distance:][same].astype(np.int64)
        weight = np.full(len(left), 1.0 / distance)
        keys += [left * vocabulary_size + right, right * vocabulary_size + left]
        values += [weight, weight]
    keys, values = np.concatenate(keys), np.concatenate(values)
    unique, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse, weights=values)
    return (unique // vocabulary_size).astype(np.int32), (unique % vocabulary_size).astype(np.int32), totals


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------
def word2vec_dataset(ids, offsets, counts, config, seed=0):
    """Elements of `config.workers` blocks of `config.batch_size * config.chunks_per_call` corpus tokens.

    A block is what one compiled training call works through; the W blocks of an element are
    trained side by side (see `Word2Vec.train_step`). Every element is a dict of W stacked blocks:
    `ids` (W, B) the tokens that survived subsampling, zero-padded to the
    block's raw length B so that every block has the same shapes; `count` (W,) how many are real;
    `context_mask` (W, B, 2w) uint8, 1 where the neighbour at that offset is inside the token's window,
    its sentence and its chunk of `batch_size` surviving tokens (the unit of one SGD update);
    `negatives` (W, B, k) noise ids; `raw_words` (W,) tokens before subsampling (drives the learning rate).
    Randomness is stateless, seeded per element from a `Dataset.random` stream that is re-drawn each
    epoch, so runs are reproducible and each epoch sees fresh subsampling, windows and noise.
    """
    window, negative, chunk = config.window, config.negative, config.batch_size
    block = chunk * config.chunks_per_call
    sentence = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))
    token_table = tf.constant(ids, dtype=tf.int32)
    sentence_table = tf.constant(sentence, dtype=tf.int32)
    keep_table = tf.constant(keep_probabilities(counts, config.sample))
    noise_words = tf.constant(noise_table(counts))
    context_offsets = tf.constant(list(range(-window, 0)) + list(range(1, window + 1)), dtype=tf.int32)
    workers = config.workers
    # Whole elements of `workers` blocks; blocks past the corpus end are empty (count 0).
    num_blocks = -(-len(ids) // (block * workers)) * workers

    def make_block(index, seeds):
        seed_a, seed_b, seed_c = seeds[0], seeds[1], seeds[2]
        start = tf.cast(index, tf.int32) * block
        raw = token_table[start : start + block]
        raw_sentence = sentence_table[start : start + block]
        # Subsampling: frequent words are dropped before windows are taken, as in word2vec.
        keep = tf.random.stateless_uniform(tf.shape(raw), seed=seed_a) < tf.gather(keep_table, raw)
        tokens, token_sentence = tf.boolean_mask(raw, keep), tf.boolean_mask(raw_sentence, keep)
        count = tf.shape(tokens)[0]
        # Dynamic window: each centre word uses a window drawn uniformly from 1..window.
        reach = tf.random.stateless_uniform([count], seed=seed_b, minval=1, maxval=window + 1, dtype=tf.int32)
        position = tf.range(count)
        positions = position[:, None] + context_offsets[None, :]  # (T, 2w)
        # A neighbour must lie in the same chunk: the model trains on one chunk at a time.
        inside = (positions >= 0) & (positions < count) & (positions // chunk == position[:, None] // chunk)
        neighbour_sentence = tf.gather(token_sentence, tf.clip_by_value(positions, 0, tf.maximum(count - 1, 0)))
        valid = inside & (tf.abs(context_offsets)[None, :] <= reach[:, None]) & (neighbour_sentence == token_sentence[:, None])
        # Noise words from unigram^0.75, through the unigram table.
        slots = tf.random.stateless_uniform([count, negative], seed=seed_c, maxval=noise_words.shape[0], dtype=tf.int32)
        negatives = tf.gather(noise_words, slots)  # (T, k)
        padding = block - count
        return {
            "ids": tf.ensure_shape(tf.pad(tokens, [[0, padding]]), [block]),
            "count": count,
            "context_mask": tf.ensure_shape(tf.pad(tf.cast(valid, tf.uint8), [[0, padding], [0, 0]]), [block, 2 * window]),
            "negatives": tf.ensure_shape(tf.pad(negatives, [[0, padding], [0, 0]]), [block, negative]),
            "raw_words": tf.cast(tf.shape(raw)[0], tf.int64),
        }

    # Blocks in corpus order, as gensim reads its sentences.
    blocks = tf.data.Dataset.range(num_blocks)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(6).map(lambda s: tf.reshape(s, [3, 2]))
    dataset = tf.data.Dataset.zip(blocks, seeds).map(make_block, num_parallel_calls=2)
    return dataset.batch(workers, drop_remainder=True).prefetch(2)


def glove_dataset(rows, cols, values, config, seed=0):
    """Shuffled batches of co-occurrence cells: ({word, context}, log X, f(X)).

    The cells are shuffled as a whole, once per epoch, by one stateless permutation, and batches are
    gathered from it: a per-cell `shuffle` + `batch` pipeline spends seconds per epoch handling a
    million single cells. The last batch is padded with weight-0 cells, so every batch has the same
    shape (one compiled step) and padding changes neither the loss nor the updates.
    """
    from tasks.word_embeddings.model import glove_weighting

    batch = config.glove_batch_size
    num_batches = -(-len(rows) // batch)
    padding = num_batches * batch - len(rows)
    word_table = tf.constant(np.pad(rows, (0, padding)).astype(np.int32))
    context_table = tf.constant(np.pad(cols, (0, padding)).astype(np.int32))
    target_table = tf.constant(np.pad(np.log(values), (0, padding)).astype(np.float32))
    weight_table = tf.constant(np.pad(glove_weighting(values, config.x_max, config.glove_alpha), (0, padding)))

    def epoch(seed_pair):
        order = tf.reshape(tf.random.experimental.stateless_shuffle(tf.range(num_batches * batch), seed=seed_pair), [num_batches, batch])
        return tf.data.Dataset.from_tensor_slices(order)

    def cells(index):
        return (
            {"word": tf.gather(word_table, index), "context": tf.gather(context_table, index)},
            tf.gather(target_table, index),
            tf.gather(weight_table, index),
        )

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).take(1)
    dataset = seeds.flat_map(epoch).map(cells, num_parallel_calls=2)
    return dataset.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(2)


@dataclasses.dataclass
class EmbeddingData:
    """What build_embedding_data returns: `.train` is fitted on; there is no validation set."""

    vocabulary: Vocabulary
    ids: np.ndarray
    offsets: np.ndarray
    train: object
    validation: object = None
    corpus_words: int = 0  # tokens kept after the vocabulary cut, per epoch (the words/s numerator)


def build_embedding_data(config, sentences=None):
    """Corpus (or the given sentences) -> vocabulary -> the method's tf.data pipeline."""
    if sentences is None:
        sentences = load_corpus(config.corpus or None)
    vocabulary = Vocabulary.from_sentences(sentences, min_count=config.min_count)
    if len(vocabulary) < 2:
        raise ValueError(f"The corpus has {len(vocabulary)} words with count >= {config.min_count}; lower --min-count.")
    ids, offsets = encode(sentences, vocabulary)
    if config.method == "glove":
        rows, cols, values = cooccurrences(ids, offsets, len(vocabulary), config.window)
        train = glove_dataset(rows, cols, values, config, seed=config.seed)
    else:
        train = word2vec_dataset(ids, offsets, vocabulary.counts, config, seed=config.seed)
    return EmbeddingData(vocabulary, ids, offsets, train, corpus_words=len(ids))


def build_embedding_model(config, data):
    from tasks.word_embeddings.model import Word2Vec, build_glove_model

    if config.method == "glove":
        return build_glove_model(
            len(data.vocabulary), config.vector_size, config.learning_rate, chunk_size=config.glove_chunk_size, seed=config.seed
        )
    model = Word2Vec(
        len(data.vocabulary),
        vector_size=config.vector_size,
        window=config.window,
        method=config.method,
        learning_rate=config.learning_rate,
        min_learning_rate=config.min_learning_rate,
        total_words=data.corpus_words * config.epochs,
        chunk_size=config.batch_size,
        seed=config.seed,
        name=config.method,
    )
    # The updates are the model's own sparse SGD (train_step); compile only sets up fit's machinery.
    # jit_compile=False: the block loop is compiled by the model itself (one XLA program, fixed shapes).
    model.compile(optimizer=keras_sgd(config.learning_rate), jit_compile=False)
    return model


def keras_sgd(learning_rate):
    import keras

    return keras.optimizers.SGD(learning_rate)


def trained_vectors(model, vocabulary):
    """The model's word vectors as a `WordVectors` (input vectors for word2vec, w + w̃ for GloVe)."""
    from data.word_vectors import WordVectors
    from tasks.word_embeddings.model import Word2Vec, glove_word_vectors

    matrix = model.word_vectors() if isinstance(model, Word2Vec) else glove_word_vectors(model)
    return WordVectors(vocabulary.words, matrix)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
NAME = "word_embeddings"
# `make demo`: the whole Wikipedia sample for 3 epochs (1 leaves the neighbours random), 50 dimensions.
DEMO_OVERRIDES = {"epochs": 3, "vector_size": 50}
DEMO_WORDS = ["king", "france", "computer", "music"]
# Both models apply their own sparse updates to whole embedding tables inside `train_step`
# (model.py); replicas would each write a different table, with nothing to combine them.
STRATEGIES = ("default",)
STRATEGY_REASON = ("its models update whole embedding tables with their own sparse SGD inside train_step, "
                   "which replicas cannot combine")


def query_saved_model(loaded, words):
    from tasks.word_embeddings.export import query_neighbours

    return [", ".join(neighbours) for neighbours in query_neighbours(loaded, words, k=5)]


def train(config, restart_on_change=False):
    """Trains, evaluates and exports word vectors into ``config.out``; returns the metrics."""
    from tasks.word_embeddings.evaluate import evaluate_run
    from tasks.word_embeddings.export import export_neighbours

    run = RunDir.prepare(config, NAME, restart_on_change=restart_on_change,
                         strategies_supported=STRATEGIES, strategy_reason=STRATEGY_REASON)
    run.log("building data")
    data = build_embedding_data(config)
    with run.strategy.scope():
        model = build_embedding_model(config, data)
    run.log(f"model {model.name}: {len(data.vocabulary):,} words of {config.vector_size} dimensions")
    model = fit_resumable(model, run, data.train, data.validation)
    model = run.save_model(model)

    run.log("evaluating")
    vectors = trained_vectors(model, data.vocabulary)
    metrics = evaluate_run(vectors, config, run.dir)
    run.export(lambda directory: export_neighbours(vectors, directory))
    demo = run.verify_saved_model(query_saved_model, DEMO_WORDS)
    return run.write(metrics, demo, parameters=model.count_params(), headline_metric="wordsim353_spearman")


def commands():
    from tasks.word_embeddings.evaluate import COMMANDS

    return dict(COMMANDS)


TASK = TaskCommands(
    name=NAME, config_class=Config, train=train, demo_overrides=DEMO_OVERRIDES, commands=commands,
    description="Train skip-gram, CBOW or GloVe vectors with tf.data + Keras; analogies and debiasing with GloVe.")
