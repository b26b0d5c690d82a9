"""Defaults of the date translation task, one visible block."""

import dataclasses

from tasks.common.config import ConfigError, TrainConfig


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train a date translation model (human-written date -> ISO 8601)."""

    model: str = "attention"  # attention (Bi-LSTM + additive attention, as in the course) or transformer; attention serves 2.6x faster on CPU and needs less CPU time to 99.9% (bench).
    train_size: int = 40000  # Distinct training strings (~1,700 per format family); one epoch stays short on 2 cores.
    validation_size: int = 2000  # Distinct validation strings, for val_loss and the exact-match stopping rule.
    test_size: int = 10000  # Distinct held-out strings; the 10,000-date figure.
    sequence_length: int = 32  # Input characters; the longest normalised date is 27, longer inputs are cut (confidence 0).
    epochs: int = 4  # Length of the cosine schedule. Measured (bench): attention passes 99.9% on 10,000 validation strings after 2.2 epochs, 99.99% on test after 4.
    stop_at_exact_match: float = 0.999  # Stop once greedy validation exact match reaches this (0 trains all epochs).
    batch_size: int = 256  # Measured on 2 cores: cost per example flat from 128 to 256; with the higher rate, fewer examples to 99.9%.
    learning_rate: float = 8e-3  # Peak rate; high for Adam, fine with warmup: small models, clean data (1e-2 over 2 epochs stalled at 97%).
    learning_rate_schedule: str = "cosine"  # constant, or cosine (decay to 5% over `epochs`): the annealed rate gets the last 0.1% right sooner.
    warmup_steps: int = 50  # Cosine schedule only: steps of linear warmup from 0 to learning_rate (lets a high peak rate start stably).
    exact_match_every_steps: int = 25  # Also check validation exact match every this many steps (0: at epoch ends only); stops training sooner.
    jit_compile: bool = False  # XLA for the training step. Measured: 15% cheaper steps but 7 s more compiling and one busy core instead of two; plain trains sooner (bench).
    serving_jit_compile: bool = True  # XLA for the exported decoder and the validation checks: greedy decoding of 2,000 dates 1.5x faster on 2 cores.
    # attention model
    embedding_dim: int = 16  # Input and output characters number ~40 and 12; 16 dimensions are plenty.
    encoder_units: int = 32  # Per direction of the bidirectional LSTM, as in the course; 64 costs 2x to train and serve for no accuracy gain.
    decoder_units: int = 64  # Post-attention LSTM, as in the course.
    attention_units: int = 16  # Width of the additive attention's hidden layer (the course used 10).
    # transformer
    model_dim: int = 48  # Embedding / residual width; small inputs need little (32 stalled at 99.7%, 48 and 64 reach 99.9%).
    num_heads: int = 4  # 12 dimensions per head.
    intermediate_dim: int = 96  # Feed-forward width (2x model_dim).
    encoder_layers: int = 1  # One block resolves month names, ordinals and weekday words (measured: 99.9% as with two, at half the cost).
    decoder_layers: int = 1  # The output is a fixed-format copy of resolved fields; one block suffices.
    dropout: float = 0.0  # The data are unlimited and clean; no overfitting to fight.
    # decoding and serving
    beam_width: int = 3  # Width of the exported `beam` signature and of the beam-search evaluation.
    serving_beam_width: int = 1  # Decoding of `serving_default`: 1 is greedy (3x faster than beam 3, and as accurate on dates).
    confidence_threshold: float = 0.5  # The CLI flags answers whose confidence is below this.

    def __post_init__(self):
        if self.model not in ("attention", "transformer"):
            raise ConfigError(f"Invalid value for --model. Expected attention or transformer. Received: {self.model!r}")
        for name in ("train_size", "validation_size", "test_size", "sequence_length", "beam_width", "serving_beam_width",
                     "embedding_dim", "encoder_units", "decoder_units", "attention_units", "model_dim",
                     "num_heads", "intermediate_dim", "encoder_layers", "decoder_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Invalid value for --{name.replace('_', '-')}. Expected a positive integer. "
                                  f"Received: {getattr(self, name)}")
        if self.learning_rate_schedule not in ("constant", "cosine"):
            raise ConfigError(f"Invalid value for --learning-rate-schedule. Expected constant or cosine. "
                              f"Received: {self.learning_rate_schedule!r}")
        if self.warmup_steps < 0 or self.exact_match_every_steps < 0:
            raise ConfigError(f"Invalid value for --warmup-steps / --exact-match-every-steps. Expected a non-negative "
                              f"integer. Received: {self.warmup_steps} / {self.exact_match_every_steps}")
        if self.model_dim % self.num_heads:
            raise ConfigError(f"--model-dim ({self.model_dim}) must be a multiple of --num-heads ({self.num_heads}).")
        if not 0 <= self.stop_at_exact_match <= 1:
            raise ConfigError(f"Invalid value for --stop-at-exact-match. Expected a number in [0, 1]. "
                              f"Received: {self.stop_at_exact_match}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"Invalid value for --dropout. Expected a number in [0, 1). Received: {self.dropout}")
