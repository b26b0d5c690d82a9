"""Defaults of the character language model, one visible block; the measurements behind them are in bench/RESULTS.md."""

import dataclasses

from tasks.common.config import (ConfigError, TrainConfig, option, require_choice, require_in_interval,
                                 require_non_negative, require_positive)

CORPORA = ("names", "hamlet")
CELLS = ("simple_rnn", "gru", "lstm")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Character-level RNN language model trained on census first names or on Hamlet."""

    # The corpus decides which fields apply: names are whole short sequences, Hamlet is cut into windows.
    variant_field = "corpus"

    corpus: str = option("names", "names (census first names, the default as the course's dinosaur-name "
                                  "exercise is about names) or hamlet (running text).")
    cell: str = option("lstm", "simple_rnn, gru or lstm from layers/; the LSTM keeps gradients alive over a whole "
                               "name and line.")
    num_layers: int = option(1, "One layer already reaches the names' perplexity floor; two help on Hamlet.")
    units: int = option(128, "Enough state for a whole name; more mostly memorises the training names.")
    embedding_dim: int = option(32, "28 characters need few dimensions, since an embedding is a learned one-hot "
                                    "projection.")
    dropout: float = option(0.1, "Light input dropout in each cell, since the few thousand training names "
                                 "overfit a 128-unit LSTM otherwise.")
    clipnorm: float = option(1.0, "Clip the global gradient norm, since RNNs occasionally take huge steps "
                                  "(exploding gradients).")
    clipvalue: float = option(0.0, "Elementwise clip as in the course's clip(gradients, 5), for use with "
                                   "--clipnorm 0 since Keras takes one kind; 0 disables.")
    max_name_length: int = option(12, "Longest name in letters, one more than the longest census first name; "
                                      "inputs are one wider for the boundary.", applies_to="names")
    sequence_length: int = option(100, "Hamlet windows of 100 characters span about two verse lines.",
                                  applies_to="hamlet")
    holdout_fraction: float = option(0.1, "10% validation and 10% test (names at random, the end of Hamlet in "
                                          "order) leave most of a small corpus for training.")
    epochs: int = option(40, "An upper bound well past where early stopping ends an LSTM run on names.")
    learning_rate: float = option(3e-3, "Small character models train faster than with Adam's 1e-3 default "
                                        "without diverging.")
    early_stopping_patience: int = option(5, "Stop once validation loss has not improved for 5 epochs, keeping "
                                             "the best weights, so noisy epochs do not end a run.")
    num_samples: int = option(200, "Names sampled at evaluation, enough to measure how many are new and well "
                                   "formed.", applies_to="names")
    temperature: float = option(0.8, "Sampling temperature of evaluation and serving_default, a little sharper "
                                     "than the model, trading some variety for well-formed samples.")
    top_k: int = option(0, "Keep only the k most likely characters when sampling; 0 disables it, leaving "
                           "--temperature alone in charge.")
    top_p: float = option(1.0, "Nucleus sampling keeps the smallest set of characters with this much probability; "
                               "1 disables it, leaving --temperature alone in charge.")
    max_new_characters: int = option(0, "Characters sampled after the prompt; 0 lets the corpus decide "
                                        "(--max-name-length for names, 300 for Hamlet).")

    def __post_init__(self):
        require_choice(self, "corpus", CORPORA)
        require_choice(self, "cell", CELLS)
        require_positive(self, "num_layers", "units", "embedding_dim", "max_name_length", "sequence_length",
                         "num_samples")
        require_in_interval(self, "dropout", "[0, 1)")
        require_non_negative(self, "clipnorm", "clipvalue")
        if self.clipnorm and self.clipvalue:
            raise ConfigError("Keras optimizers take one kind of clipping: give --clipvalue with --clipnorm 0, "
                              f"or --clipnorm alone. Received: clipnorm={self.clipnorm}, clipvalue={self.clipvalue}")
        require_in_interval(self, "holdout_fraction", "(0, 0.5)")
        require_non_negative(self, "temperature", "top_k", "max_new_characters")
        require_in_interval(self, "top_p", "(0, 1]")

    @property
    def sample_length(self):
        """How many characters to sample after a prompt."""
        if self.max_new_characters:
            return self.max_new_characters
        return self.max_name_length if self.corpus == "names" else 300

    @property
    def stop_at_boundary(self):
        """A name ends at the boundary character; running text goes on across line breaks."""
        return self.corpus == "names"
