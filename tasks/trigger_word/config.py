"""Trigger-word defaults in one place; every field is a ``--flag`` of ``train``.

The measurements behind the defaults are in the Trigger word section of bench/RESULTS.md.
"""

import dataclasses

from tasks.common.config import (ConfigError, TrainConfig, option, require_choice, require_in_interval,
                                 require_non_negative, require_positive)

MODELS = ("course", "streaming")


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    """Train a trigger-word detector on synthesised speech."""

    model: str = option("course", "course (the course's Conv1D + 2 GRU) or streaming (causal, chunked, TFLite); "
                                  "the course model is the reference the streaming one is compared with.")
    word: str = option("activate", "The course's trigger word; any text eSpeak NG can say works.")
    num_train_clips: int = option(8000, "Training clips of 10 s; fewer cost recall on unseen voices.")
    num_validation_clips: int = option(300, "Enough trigger words to choose the decision rule on unseen voices.")
    validation_negative_minutes: float = option(120.0, "Negative-only audio that estimates the false-accept rate "
                                                       "when the rule is chosen; less chose rules that "
                                                       "false-accepted more on test.")
    num_test_clips: int = option(500, "Clips from voices neither training nor validation heard, for recall on "
                                      "several hundred trigger words.")
    test_negative_minutes: float = option(60.0, "One hour of negative-only audio, so false accepts per hour are "
                                                "counted, not extrapolated.")
    negative_words: tuple = option((), "Empty means the data module's NEGATIVE_WORDS: near-misses, which cause "
                                       "the false accepts, and other words.")
    auto_near_misses: bool = option(True, "With no --negative-words, a word other than activate gets near-misses "
                                          "picked from its eSpeak phonemes (data/trigger_word/near_misses.py), "
                                          "because the hand-written ones are activate's.")
    clip_seconds: float = option(10.0, "The course's clip length.")
    speakers_per_variant: int = option(2, "Two accent, pitch and rate draws per eSpeak voice variant, for more "
                                          "speakers than eSpeak ships.")
    synthetic_voices: int = option(1000, "Extra training speakers with generated eSpeak variants, so the model "
                                         "learns the word rather than the training timbres.")
    cache_dir: str = option("", "Clip cache (empty means ~/.cache/seqmodels/trigger_word), so clips are "
                                "synthesised once.")
    dropout: float = option(0.3, "Between the course's heavy dropout and none, since the data are plentiful.")
    target_false_accepts_per_hour: float = option(0.5, "The rule's threshold is the lowest with at most this on "
                                                       "validation, half the goal of 1 per hour for margin.")
    refractory_seconds: float = option(0.5, "Dead time after a detection: one word's plateau fires once, yet "
                                            "triggers in quick succession are still heard.")
    crop_seconds: float = option(3.0, "Train on random crops of the clips (0 = whole clips), which cost a third of "
                                      "the recurrent steps per word heard.")
    near_miss_weight: float = option(4.0, "Loss weight of the frames from a near-miss word's start to 0.36 s after "
                                          "it (1 = none), because false accepts are near-misses.")
    positive_crop_fraction: float = option(0.75, "Crops holding a whole trigger word and its label window, so "
                                                 "most steps see the word; the rest start anywhere.")
    epochs: int = option(40, "Validation loss still falls slowly at 40 epochs, so more would buy little for "
                             "their training time.")
    batch_size: int = option(32, "32 crops of 75 frames per step train stably with Adam.")
    learning_rate: float = option(2e-3, "Cosine-decayed to 5% over the run, for fast early progress and a settled "
                                        "end.")

    def __post_init__(self):
        require_choice(self, "model", MODELS)
        if not self.word.strip():
            raise ConfigError("Invalid value for --word. Expected non-empty text.")
        require_positive(self, "num_train_clips", "num_validation_clips", "num_test_clips")
        if self.clip_seconds < 2.0:
            raise ConfigError(f"Invalid value for --clip-seconds. Expected at least 2 seconds. "
                              f"Received: {self.clip_seconds}")
        if self.crop_seconds and not 1.0 <= self.crop_seconds <= self.clip_seconds:
            raise ConfigError(f"Invalid value for --crop-seconds. Expected 0 (whole clips) or "
                              f"1 to {self.clip_seconds} seconds. Received: {self.crop_seconds}")
        require_in_interval(self, "positive_crop_fraction", "[0, 1]")
        require_non_negative(self, "synthetic_voices")
        require_positive(self, "near_miss_weight")
        require_in_interval(self, "dropout", "[0, 1)")
