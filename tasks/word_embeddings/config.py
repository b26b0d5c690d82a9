"""Defaults of the word embedding task, one visible block.

The word2vec defaults are gensim's (and word2vec.c's), so `bench/word_embeddings.py` compares the two
trainers with identical hyperparameters: 100 dimensions, window 5, 5 negatives, min_count 5, 5 epochs.
The measurements behind the other defaults are in the Word embeddings section of bench/RESULTS.md.
"""

import dataclasses

from tasks.common.config import (TrainConfig, option, require_choice, require_in_interval, require_non_negative,
                                 require_positive)

METHODS = ("skipgram", "cbow", "glove")
WORD2VEC = ("skipgram", "cbow")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train word vectors (skip-gram, CBOW or GloVe) on a text corpus."""

    # The method decides which fields apply: word2vec samples windows, GloVe fits co-occurrence counts.
    variant_field = "method"

    method: str = option("skipgram", "skipgram, cbow (word2vec with negative sampling) or glove (weighted least "
                                     "squares on co-occurrences); skip-gram gave the best vectors on the "
                                     "default corpus.")
    corpus: str = option("", "Text file or MediaWiki dump; empty means the Wikipedia sample in gensim's test data, "
                             "so the default needs no download.")
    vector_size: int = option(100, "gensim's default, enough for a 10k-word vocabulary.")
    window: int = option(5, "Largest context distance (word2vec draws the actual window per word from "
                            "1..window), gensim's default.")
    negative: int = option(5, "Noise words per prediction, within the word2vec paper's range for small corpora.",
                           applies_to=WORD2VEC)
    min_count: int = option(5, "Rarer words are dropped before windows are taken, as by gensim's default.")
    sample: float = option(1e-3, "Subsampling threshold, gensim's default: words above this corpus frequency are "
                                 "randomly dropped.", applies_to=WORD2VEC)
    epochs: int = option(5, "gensim's default; the corpus is small, so more epochs mostly overfit rare words.")
    batch_size: int = option(2048, "Surviving tokens per skip-gram/CBOW SGD update (one chunk); larger chunks gave "
                                   "worse vectors for more CPU time.", applies_to=WORD2VEC)
    workers: int = option(1, "word2vec blocks trained side by side from the same tables (like gensim's threads); "
                             "more gave worse vectors and no speed on 2 cores.", applies_to=WORD2VEC)
    chunks_per_call: int = option(32, "Chunks per compiled training call (a tf.while_loop in one XLA program), so "
                                      "an epoch is few Keras steps.", applies_to=WORD2VEC)
    glove_batch_size: int = option(32768, "Co-occurrence cells per compiled GloVe call (a block the XLA loop walks "
                                          "chunk by chunk), so an epoch is few Keras steps.", applies_to="glove")
    glove_chunk_size: int = option(1024, "Co-occurrence cells per GloVe AdaGrad update, small since glove.c "
                                         "updates after every cell.", applies_to="glove")
    learning_rate: float = option(0.025, "word2vec's starting rate (gensim's alpha), decayed linearly; for GloVe "
                                         "the AdaGrad rate (glove.c uses 0.05).")
    min_learning_rate: float = option(1e-4, "word2vec's final rate, gensim's min_alpha.", applies_to=WORD2VEC)
    x_max: float = option(100.0, "Co-occurrence count at which GloVe's weighting f(x) reaches 1, the paper's "
                                 "value.", applies_to="glove")
    glove_alpha: float = option(0.75, "Exponent of GloVe's weighting f(x) = (x / x_max)^alpha below x_max, the "
                                      "paper's value.", applies_to="glove")
    projector_words: int = option(10000, "Words written to vectors.tsv / metadata.tsv, as many as keep the "
                                         "Embedding Projector responsive.")

    def __post_init__(self):
        require_choice(self, "method", METHODS)
        require_positive(self, "vector_size", "window", "negative", "min_count", "projector_words",
                         "glove_batch_size", "glove_chunk_size", "batch_size", "chunks_per_call", "workers")
        require_in_interval(self, "sample", "[0, 1)")
        require_positive(self, "x_max", "glove_alpha")
        require_non_negative(self, "min_learning_rate")
