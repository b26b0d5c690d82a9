"""Clips as scenes: words and sentences in a room, over speech, music or household noise, through a channel.

:func:`make_scene_clip` is the robust counterpart of
:func:`data.trigger_word.make_clip`, used when a clip's options hold
:class:`SceneOptions`:

1. A **background**: the word-bank kinds (coloured noise, hum, babble,
   near-silence, mixtures), or continuous speech (several eSpeak talkers
   reading the text corpus, :func:`data.trigger_word.sentences.continuous_speech`),
   music-like signals or household-like noise (:mod:`data.trigger_word.soundscapes`).
2. With ``room_probability`` one **room** of the cached bank
   (:mod:`data.trigger_word.rooms`) for the whole clip: the background is
   heard through its noise-source response, every word and sentence through
   its speech-source response (another position in the same room).
3. **Speech**: trigger words alone or inside sentences (the label at the end
   of the word in the sentence), negative words and near-miss sentences,
   each augmented (:func:`data.trigger_word.augment.augment_speech`: speed,
   pitch, EQ) and levelled against the background after the room.
4. A **channel** on the whole clip (:func:`data.trigger_word.augment.augment_channel`:
   band limits, mu-law, clipping, downsampling), then a random gain as in
   :func:`make_clip`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE
from data.trigger_word.augment import AugmentOptions, augment_channel, augment_speech
from data.trigger_word.backgrounds import BACKGROUND_KINDS, make_background
from data.trigger_word.rooms import RoomBank, RoomOptions, apply_room, load_room_bank
from data.trigger_word.sentences import (
    SentenceBank,
    SentenceOptions,
    continuous_speech,
    load_sentence_bank,
    trigger_pattern,
)
from data.trigger_word.soundscapes import household_noise, music_like
from data.trigger_word.voices import SPLITS
from data.trigger_word.word_bank import WordBank

SCENE_BACKGROUND_KINDS = ("speech", "music", "household")


@dataclasses.dataclass(frozen=True)
class SceneOptions:
    """What a scene clip adds to a plain one; part of its clips' cache key.

    Args:
        room_probability: chance a clip is in a simulated room (0 = never).
        num_rooms: rooms in the bank (made once per seed and cached).
        rt60_min, rt60_max: the rooms' reverberation times (s).
        sentence_fraction: trigger words said inside a sentence rather than alone.
        negative_sentence_fraction: negatives that are whole (near-miss) sentences.
        sentences_per_speaker: positive and negative sentences per speaker in the bank.
        num_passages: corpus passages for continuous-speech backgrounds.
        speech_background_fraction, music_fraction, household_fraction:
            clips with each new background kind; the rest keep the plain kinds.
        augment: signal augmentation (:class:`AugmentOptions`).
    """

    room_probability: float = 0.5
    num_rooms: int = 64
    rt60_min: float = 0.15
    rt60_max: float = 0.9
    sentence_fraction: float = 0.4
    negative_sentence_fraction: float = 0.5
    sentences_per_speaker: int = 2
    num_passages: int = 100
    speech_background_fraction: float = 0.25
    music_fraction: float = 0.1
    household_fraction: float = 0.15
    augment: AugmentOptions = AugmentOptions()

    def __post_init__(self):
        for name in ("room_probability", "sentence_fraction", "negative_sentence_fraction",
                     "speech_background_fraction", "music_fraction", "household_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Invalid value for argument {name}. Expected a fraction in "
                                 f"[0, 1]. Received: {name}={value}")
        total = self.speech_background_fraction + self.music_fraction + self.household_fraction
        if total > 1.0 + 1e-9:
            raise ValueError(f"The new background fractions add up to {total}; expected at most 1")
        if self.speech_background_fraction and not self.num_passages:
            raise ValueError("Continuous-speech backgrounds need num_passages > 0")
        if self.room_probability:
            RoomOptions(self.num_rooms, 0, (self.rt60_min, self.rt60_max))  # validates them

    def room_options(self, seed: int, split: str) -> RoomOptions:
        """Rooms of their own per split (test rooms are never trained on), fixed by the seed."""
        return RoomOptions(self.num_rooms, seed * len(SPLITS) + SPLITS.index(split),
                           (self.rt60_min, self.rt60_max))

    def sentence_options(self, bank_options) -> SentenceOptions:
        return SentenceOptions(bank_options.split, bank_options.seed, bank_options.word,
                               bank_options.speakers_per_variant, bank_options.synthetic_voices,
                               bank_options.negative_words, self.sentences_per_speaker,
                               self.num_passages if self.speech_background_fraction else 0,
                               bank_options.extra_near_misses)

    @property
    def uses_sentences(self) -> bool:
        return bool(self.sentences_per_speaker and (self.sentence_fraction
                                                    or self.negative_sentence_fraction)
                    or self.speech_background_fraction)


@dataclasses.dataclass
class SceneResources:
    """The banks a scene clip draws from, loaded once per set of clips."""

    rooms: RoomBank | None
    sentences: SentenceBank | None
    positive_spans: list  # per positive sentence: the trigger word's (start_s, end_s) spans

    @classmethod
    def load(cls, options: SceneOptions, bank_options, cache) -> "SceneResources":
        rooms = (load_room_bank(options.room_options(bank_options.seed, bank_options.split), cache)
                 if options.room_probability else None)
        sentences = (load_sentence_bank(options.sentence_options(bank_options), cache)
                     if options.uses_sentences else None)
        pattern = trigger_pattern(bank_options.word)
        spans = [s.spans_of(pattern) for s in sentences.positives] if sentences else []
        return cls(rooms, sentences, spans)


def _scene_background(rng, options: SceneOptions, resources: SceneResources, num_samples: int,
                      bank: WordBank) -> np.ndarray:
    draw = rng.random()
    edges = np.cumsum([options.speech_background_fraction, options.music_fraction,
                       options.household_fraction])
    if draw < edges[0] and resources.sentences and resources.sentences.passages:
        noise, level = continuous_speech(rng, num_samples, resources.sentences.passages), (-40, -18)
    elif edges[0] <= draw < edges[1]:
        noise, level = music_like(rng, num_samples), (-45, -20)
    elif edges[1] <= draw < edges[2]:
        noise, level = household_noise(rng, num_samples), (-45, -20)
    else:
        return make_background(rng, str(rng.choice(BACKGROUND_KINDS)), num_samples, bank)
    return (10 ** (rng.uniform(*level) / 20) * noise).astype(np.float32)


def make_scene_clip(rng: np.random.Generator, bank: WordBank, resources: SceneResources,
                    num_samples: int, options: SceneOptions, negative_only: bool = False,
                    max_triggers: int = 4, max_negatives: int = 4):
    """One scene clip; returns what :func:`data.trigger_word.make_clip` returns.

    (waveform float32 (num_samples,), triggers [(start_s, end_s)], negatives
    [(start_s, end_s, word)]); the negatives of a near-miss sentence are its
    near-miss words, each timed inside the sentence.
    """
    from data.trigger_word.clips import _trigger_count_probabilities, add_speech, apply_random_gain

    background = _scene_background(rng, options, resources, num_samples, bank)
    room = None
    if resources.rooms is not None and rng.random() < options.room_probability:
        room = int(rng.integers(len(resources.rooms)))
        background = apply_room(background, resources.rooms.noise[room], keep_tail=False)
    clip = background.copy()
    background_rms = float(np.sqrt(np.mean(background ** 2))) + 1e-7
    occupied: list = []
    sentences = resources.sentences
    negative_set = set(bank.negative_words)

    def insert(audio, spans, near):
        """Augments, rooms, levels and places ``audio``; its spans in clip time, or None."""
        audio, speed = augment_speech(rng, audio, options.augment)
        if room is not None:
            audio = apply_room(audio, resources.rooms.speech[room])
        if len(audio) >= num_samples - 1:
            return None
        start = add_speech(rng, clip, audio, background_rms, occupied)
        if start is None:
            return None
        offset = start / SAMPLE_RATE
        return ([(offset + a / speed, offset + b / speed) for a, b in spans],
                [(offset + a / speed, offset + b / speed, word) for a, b, word in near])

    triggers = []
    if not negative_only:
        num_triggers = int(rng.choice(max_triggers + 1, p=_trigger_count_probabilities(max_triggers)))
        for _ in range(num_triggers):
            if sentences and sentences.positives and rng.random() < options.sentence_fraction:
                index = int(rng.integers(len(sentences.positives)))
                placed = insert(sentences.positives[index].audio, resources.positive_spans[index], [])
            else:
                takes = bank.triggers[int(rng.integers(len(bank.speakers)))]
                take = takes[int(rng.integers(len(takes)))]
                placed = insert(take, [(0.0, len(take) / SAMPLE_RATE)], [])
            if placed is not None:
                triggers += placed[0]
    negatives = []
    num_negatives = int(rng.integers(0 if not negative_only else 2, max_negatives + 1))
    near_indices = bank.near_miss_indices()
    for _ in range(num_negatives):
        if sentences and sentences.negatives and rng.random() < options.negative_sentence_fraction:
            sentence = sentences.negatives[int(rng.integers(len(sentences.negatives)))]
            near = [(a, b, w.lower().strip(",.")) for a, b, w in sentence.words
                    if w.lower().strip(",.") in negative_set]
            placed = insert(sentence.audio, [], near)
        else:
            # Half the negatives are near-misses: they are what the detector confuses.
            if near_indices and rng.random() < 0.5:
                index = near_indices[int(rng.integers(len(near_indices)))]
            else:
                index = int(rng.integers(len(bank.negative_words)))
            audio = bank.negatives[int(rng.integers(len(bank.speakers)))][index]
            placed = insert(audio, [], [(0.0, len(audio) / SAMPLE_RATE, bank.negative_words[index])])
        if placed is not None:
            negatives += placed[1]
    clip = augment_channel(rng, clip, options.augment)
    apply_random_gain(rng, clip)
    triggers.sort()
    negatives.sort()
    return clip.astype(np.float32), triggers, negatives
