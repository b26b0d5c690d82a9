"""Defaults of the word embedding task, one visible block.

The word2vec defaults are gensim's (and word2vec.c's), so `bench/word_embeddings.py` compares the two
trainers with identical hyperparameters: 100 dimensions, window 5, 5 negatives, min_count 5, 5 epochs.
"""

import dataclasses

from tasks.common.config import ConfigError, TrainConfig

METHODS = ("skipgram", "cbow", "glove")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train word vectors (skip-gram, CBOW or GloVe) on a text corpus."""

    method: str = "skipgram"  # skipgram, cbow (word2vec with negative sampling) or glove (weighted least squares on co-occurrences).
    corpus: str = ""  # Text file or MediaWiki dump; empty means the Wikipedia sample in gensim's test data (453k tokens).
    vector_size: int = 100  # gensim's default; enough for a 10k-word vocabulary.
    window: int = 5  # Largest context distance; word2vec draws the actual window per word from 1..window.
    negative: int = 5  # Noise words per prediction; 5-20 is the word2vec paper's range for small corpora.
    min_count: int = 5  # Rarer words are dropped before windows are taken (gensim's default).
    sample: float = 1e-3  # Subsampling threshold: words above this corpus frequency are randomly dropped (gensim's default).
    epochs: int = 5  # gensim's default; the corpus is small, so more epochs mostly overfit rare words.
    batch_size: int = 2048  # Surviving tokens per skip-gram/CBOW SGD update (one chunk): measured better than 4096 in quality (WordSim353 0.23 vs 0.21) and CPU.
    workers: int = 1  # word2vec blocks trained side by side from the same tables (like gensim's threads); 2 cost 0.02-0.05 WordSim353 here.
    chunks_per_call: int = 32  # Chunks per compiled training call (a tf.while_loop in one XLA program): few Keras steps per epoch.
    glove_batch_size: int = 32768  # Co-occurrence cells per compiled GloVe call (a block the XLA loop walks chunk by chunk).
    glove_chunk_size: int = 1024  # Co-occurrence cells per GloVe AdaGrad update: small, since glove.c updates after every cell.
    learning_rate: float = 0.025  # word2vec's starting rate (gensim's alpha), decayed linearly; GloVe's Adagrad rate (glove.c uses 0.05).
    min_learning_rate: float = 1e-4  # word2vec's final rate (gensim's min_alpha).
    x_max: float = 100.0  # GloVe: co-occurrence count at which the weighting f(x) reaches 1 (the paper's value).
    glove_alpha: float = 0.75  # GloVe: exponent of the weighting f(x) = (x / x_max)^alpha below x_max (the paper's value).
    projector_words: int = 10000  # Words written to vectors.tsv / metadata.tsv; the Embedding Projector stays responsive up to ~10-50k.
    verbose: int = 2  # One line per epoch.

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"Invalid value for --method. Expected one of {', '.join(METHODS)}. Received: {self.method!r}")
        for name in ("vector_size", "window", "negative", "min_count", "projector_words", "glove_batch_size", "glove_chunk_size", "batch_size", "chunks_per_call", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"Invalid value for --{name.replace('_', '-')}. Expected a positive integer. Received: {getattr(self, name)}"
                )
        if not 0 <= self.sample < 1:
            raise ConfigError(f"Invalid value for --sample. Expected a number in [0, 1). Received: {self.sample}")
        if self.x_max <= 0 or self.glove_alpha <= 0 or self.min_learning_rate < 0:
            raise ConfigError("--x-max and --glove-alpha must be positive and --min-learning-rate not negative.")
