"""Defaults of the date translation task, one visible block; the measurements behind them are in bench/RESULTS.md."""

import dataclasses

from tasks.common.config import (ConfigError, TrainConfig, option, require_choice, require_in_interval,
                                 require_non_negative, require_positive)

MODELS = ("attention", "transformer")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train a date translation model (human-written date -> ISO 8601)."""

    model: str = option("attention", "attention (the course's Bi-LSTM and additive attention) or transformer; "
                                     "attention trains and serves faster on CPU at the same accuracy.")
    train_size: int = option(200000, "Distinct training strings: the generator's families with their noise "
                                     "need many examples each; twice as many over eight epochs read worse on "
                                     "validation than sixteen epochs of these.")
    validation_size: int = option(2000, "Distinct validation strings, for val_loss and the exact-match stopping "
                                        "rule.")
    test_size: int = option(10000, "Distinct held-out strings, enough to measure exact match to the 0.1% the "
                                  "goal needs.")
    sequence_length: int = option(96, "The order token and the input characters, room for the longest "
                                      "normalised generated string; longer inputs are cut and get confidence 0.")
    epochs: int = option(16, "Length of the cosine schedule: sixteen passes read times said in sentences and "
                             "the rarer families better on validation than eight, within the 20-minute training "
                             "budget on 2 cores.")
    stop_at_exact_match: float = option(0.0, "0 trains every epoch of the schedule; stopping at 99.9% of the "
                                             "2,000 validation strings (0.999) stopped some seeds half-annealed.")
    batch_size: int = option(256, "Batches this large cost no more per example on 2 cores and, at the high peak "
                                  "rate, reach 99.9% after fewer examples.")
    learning_rate: float = option(8e-3, "Peak rate, high for Adam but stable after warmup because the models "
                                        "are small and the data clean.")
    learning_rate_schedule: str = option("cosine", "constant, or cosine (decay to 5% over --epochs), whose "
                                                   "annealed rate gets the last 0.1% right sooner.")
    warmup_steps: int = option(50, "Cosine schedule only: steps of linear warmup from 0, so the high peak rate "
                                   "starts stably.")
    exact_match_every_steps: int = option(300, "Also check validation exact match every this many steps "
                                               "(0: at epoch ends only), so training stops sooner; rarer "
                                               "checks because the long timestamps make each check dearer.")
    jit_compile: bool = option(False, "XLA for the training step, off because on 2 cores its compile time and "
                                      "single busy core cost more than its cheaper steps save.")
    serving_jit_compile: bool = option(True, "XLA for the exported decoder and the validation checks, where it "
                                             "makes greedy decoding markedly faster.")
    embedding_dim: int = option(16, "A few dozen input and output characters need few dimensions.",
                                applies_to="attention")
    encoder_units: int = option(32, "Per direction of the bidirectional LSTM, as in the course; wider costs "
                                    "more to train and serve for no accuracy.", applies_to="attention")
    decoder_units: int = option(64, "Post-attention LSTM, as in the course; narrower stalls short of 99.9%.",
                                applies_to="attention")
    attention_units: int = option(16, "Hidden width of the additive attention, near the course's 10: scoring "
                                      "a short input needs little.",
                                  applies_to="attention")
    model_dim: int = option(48, "Embedding and residual width, the smallest tried that reaches 99.9%.",
                            applies_to="transformer")
    num_heads: int = option(4, "Attention heads; 4 leaves each head 12 of --model-dim's 48 dimensions.",
                            applies_to="transformer")
    intermediate_dim: int = option(96, "Feed-forward width, twice --model-dim, since the inputs are short and "
                                       "simple.", applies_to="transformer")
    encoder_layers: int = option(1, "One block resolves month names, ordinals and weekday words as well as two, "
                                    "at half the cost.", applies_to="transformer")
    decoder_layers: int = option(1, "The output is a fixed-format copy of resolved fields, which one block "
                                    "writes.", applies_to="transformer")
    dropout: float = option(0.0, "The data are unlimited and clean, so there is no overfitting to fight.",
                            applies_to="transformer")
    beam_width: int = option(3, "Width of the exported `beam` signature and of the beam-search evaluation.")
    serving_beam_width: int = option(1, "Decoding of `serving_default`: 1 is greedy, faster than beam search "
                                        "and as accurate on dates.")
    init_from: str = option("", "A run directory whose model.keras weights this run starts from (same model "
                                "options), to fine-tune on a changed mix without the full training; empty "
                                "starts from random weights.")
    not_a_date_above: float = option(0.8, "Answer not a date where the calendar mask removed more than this "
                                          "share of the model's probability at a step: the model read an "
                                          "impossible date (1 turns the rule off).")
    confidence_threshold: float = option(0.5, "The CLI flags answers below this confidence, those the model "
                                              "itself finds more likely wrong than right.")

    def __post_init__(self):
        require_choice(self, "model", MODELS)
        require_positive(self, "train_size", "validation_size", "test_size", "sequence_length", "beam_width",
                         "serving_beam_width", "embedding_dim", "encoder_units", "decoder_units", "attention_units",
                         "model_dim", "num_heads", "intermediate_dim", "encoder_layers", "decoder_layers")
        require_choice(self, "learning_rate_schedule", ("constant", "cosine"))
        require_non_negative(self, "warmup_steps", "exact_match_every_steps")
        if self.model_dim % self.num_heads:
            raise ConfigError(f"--model-dim ({self.model_dim}) must be a multiple of --num-heads ({self.num_heads}).")
        require_in_interval(self, "stop_at_exact_match", "[0, 1]")
        require_in_interval(self, "dropout", "[0, 1)")
        require_in_interval(self, "not_a_date_above", "(0, 1]")
