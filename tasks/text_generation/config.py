"""Defaults of the character language model, one visible block."""

import dataclasses

from tasks.common.config import ConfigError, TrainConfig

CORPORA = ("names", "hamlet")
CELLS = ("simple_rnn", "gru", "lstm")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Character-level RNN language model trained on census first names or on Hamlet."""

    corpus: str = "names"  # names: 5,163 census first names (the course's dinosaur-name exercise); hamlet: running text.
    cell: str = "lstm"  # simple_rnn, gru or lstm from layers/; LSTM keeps gradients alive over a whole name and line.
    num_layers: int = 1  # One layer already reaches the names' perplexity floor; two help on Hamlet.
    units: int = 128  # Enough state for ~11-letter names; more mostly memorises the training names.
    embedding_dim: int = 32  # 28 characters need few dimensions; an embedding is a learned one-hot projection.
    dropout: float = 0.1  # Light input dropout in each cell: 4,100 names overfit a 128-unit LSTM otherwise.
    clipnorm: float = 1.0  # Clip the global gradient norm; RNNs occasionally take huge steps (exploding gradients).
    clipvalue: float = 0.0  # Elementwise clip as in the course's clip(gradients, 5) (use with --clipnorm 0: Keras takes one); 0 disables.
    max_name_length: int = 12  # The longest census first name has 11 letters; inputs are this + 1 wide.
    sequence_length: int = 100  # Hamlet windows: 100 characters span about two verse lines.
    holdout_fraction: float = 0.1  # 10% validation and 10% test (names at random, the end of Hamlet in order).
    epochs: int = 40  # An upper bound: on names early stopping ends the LSTM run near epoch 20 (best ~15).
    learning_rate: float = 3e-3  # Small char models train faster than Adam's 1e-3 default without diverging.
    early_stopping_patience: int = 5  # Stop once validation loss has not improved for 5 epochs; keep the best weights.
    num_samples: int = 200  # Names sampled at evaluation to measure how many are new and well formed.
    temperature: float = 0.8  # Sampling temperature of evaluation and serving_default: a little sharper than the model.
    top_k: int = 0  # Keep only the k most likely characters when sampling; 0 disables.
    top_p: float = 1.0  # Nucleus sampling: keep the smallest set of characters with this much probability; 1 disables.
    max_new_characters: int = 0  # Characters sampled after the prompt; 0 = max_name_length for names, 300 for Hamlet.

    def __post_init__(self):
        if self.corpus not in CORPORA:
            raise ConfigError(f"Invalid value for --corpus. Expected one of {', '.join(CORPORA)}. Received: {self.corpus!r}")
        if self.cell not in CELLS:
            raise ConfigError(f"Invalid value for --cell. Expected one of {', '.join(CELLS)}. Received: {self.cell!r}")
        for name in ("num_layers", "units", "embedding_dim", "max_name_length", "sequence_length", "num_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Invalid value for --{name.replace('_', '-')}. Expected a positive integer. "
                                  f"Received: {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"Invalid value for --dropout. Expected a number in [0, 1). Received: {self.dropout}")
        if self.clipnorm < 0 or self.clipvalue < 0:
            raise ConfigError("--clipnorm and --clipvalue must not be negative (0 disables them).")
        if self.clipnorm and self.clipvalue:
            raise ConfigError("Keras optimizers take one kind of clipping: give --clipvalue with --clipnorm 0, "
                              f"or --clipnorm alone. Received: clipnorm={self.clipnorm}, clipvalue={self.clipvalue}")
        if not 0 < self.holdout_fraction < 0.5:
            raise ConfigError(f"Invalid value for --holdout-fraction. Expected a number in (0, 0.5). "
                              f"Received: {self.holdout_fraction}")
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1 or self.max_new_characters < 0:
            raise ConfigError("Sampling needs --temperature >= 0, --top-k >= 0, 0 < --top-p <= 1 and "
                              "--max-new-characters >= 0.")

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
