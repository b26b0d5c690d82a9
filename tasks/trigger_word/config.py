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
    mined_near_misses: int = option(0, "Training-only near-misses picked from the word's eSpeak phonemes "
                                       "against the GloVe vocabulary (adversarial negatives) on top of the "
                                       "negative words; validation and test keep theirs, so runs compare.")
    varied_prosody: bool = option(False, "Training trigger takes end a random clause (statement, question, "
                                         "exclamation, comma, ellipsis) with wider rate and pitch jitter, "
                                         "since other voices say the word with other melodies.")
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
    # Robustness: what the training clips hold beyond isolated eSpeak words over generated noise.
    training_scenes: bool = option(True, "Training clips are scenes (rooms, sentences, speech/music/household "
                                         "backgrounds, augmentation; the options below), so the model hears "
                                         "the word as users say it, not eSpeak's word alone.")
    evaluation_scenes: bool = option(True, "Validation and test clips are scenes too (rooms, sentences, new "
                                           "backgrounds, no speed/pitch/EQ), so the rule is chosen and judged on "
                                           "speech as people speak; the same clips whatever --training-scenes.")
    room_probability: float = option(0.5, "Half the clips are in a simulated room: reverberation is what a "
                                          "far microphone adds, and dry clips keep the close-talking case.")
    num_rooms: int = option(64, "Shoebox rooms per split (2.5-12 m, RT60 0.15-0.9 s), simulated once and "
                                "cached; each has its own speech and noise source positions.")
    sentence_fraction: float = option(0.4, "Trigger words said inside a sentence (labelled at the word's end "
                                           "in it), because users rarely say the word alone.")
    negative_sentence_fraction: float = option(0.5, "Negatives that are whole sentences full of near-misses, the "
                                                    "false accepts of continuous speech.")
    sentences_per_speaker: int = option(1, "Positive and negative sentences per eSpeak speaker, enough with "
                                           "a thousand speakers while the bank stays a few minutes to make.")
    num_passages: int = option(100, "Text-corpus passages read by the split's voices for continuous-speech "
                                    "backgrounds; several talkers at once mix them.")
    speech_background_fraction: float = option(0.25, "Clips over continuous speech (several talkers reading), "
                                                     "the hardest background for false accepts.")
    music_fraction: float = option(0.1, "Clips over music-like signals (harmonic notes with rhythm).")
    household_fraction: float = option(0.15, "Clips over household-like noise (water, fan, motor, clatter).")
    speed_probability: float = option(0.5, "Words and sentences resampled 0.85-1.15x in speed, for speaking "
                                           "rates and pitches beyond eSpeak's settings.")
    pitch_probability: float = option(0.3, "Pitch shifted +-3 semitones at constant duration.")
    equalizer_probability: float = option(0.5, "Random biquad EQ per utterance: microphones and loudspeakers "
                                               "colour speech.")
    channel_probability: float = option(0.3, "Whole clips through a channel (telephone band, mu-law, clipping, "
                                             "downsampling): cheap devices and codecs.")
    spec_augment_time_masks: int = option(2, "SpecAugment time masks per training crop (0 = none), so no "
                                             "single stretch of the word decides.")
    spec_augment_time_mask_frames: int = option(10, "Widest time mask: 0.1 s, a fraction of a syllable.")
    spec_augment_frequency_masks: int = option(2, "SpecAugment frequency masks, so no single band (one "
                                                  "synthesiser's formants) decides.")
    spec_augment_frequency_mask_bins: int = option(6, "Widest frequency mask in feature bins.")
    other_engine_clips: int = option(100, "Clips of other speech engines (flite, festival; never trained on) "
                                          "for recall per voice, isolated and in sentences; 0 skips them.")
    other_engine_negative_minutes: float = option(20.0, "Other-engine negative-only audio (near-miss sentences "
                                                        "over speech and noise) for false accepts per hour.")
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
        require_in_interval(self, "room_probability", "[0, 1]")
        require_in_interval(self, "sentence_fraction", "[0, 1]")
        require_in_interval(self, "negative_sentence_fraction", "[0, 1]")
        require_in_interval(self, "speed_probability", "[0, 1]")
        require_in_interval(self, "pitch_probability", "[0, 1]")
        require_in_interval(self, "equalizer_probability", "[0, 1]")
        require_in_interval(self, "channel_probability", "[0, 1]")
        require_non_negative(self, "num_rooms", "sentences_per_speaker", "num_passages",
                             "spec_augment_time_masks", "spec_augment_time_mask_frames",
                             "spec_augment_frequency_masks", "spec_augment_frequency_mask_bins",
                             "other_engine_clips", "other_engine_negative_minutes", "mined_near_misses")
        backgrounds = self.speech_background_fraction + self.music_fraction + self.household_fraction
        if min(self.speech_background_fraction, self.music_fraction, self.household_fraction) < 0 or \
                backgrounds > 1:
            raise ConfigError(f"Invalid background fractions: --speech-background-fraction, "
                              f"--music-fraction and --household-fraction must be >= 0 and add up to at "
                              f"most 1. Received: {backgrounds:g} in all")
        if self.room_probability and not self.num_rooms:
            raise ConfigError("Invalid value for --num-rooms. Expected at least 1 with --room-probability > 0.")
