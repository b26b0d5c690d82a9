"""Clips: a background with trigger and negative words inserted without overlap; their cache entries."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from data.trigger_word.audio import CLIP_SECONDS, SAMPLE_RATE
from data.trigger_word.backgrounds import BACKGROUND_KINDS, make_background
from data.trigger_word.cache import ClipCache, cache_fields, write_atomically
from data.trigger_word.voices import SPLITS, Speaker
from data.trigger_word.word_bank import (
    DEFAULT_WORD,
    NEGATIVE_WORDS,
    WordBank,
    WordBankOptions,
    load_word_bank,
)

# Silence kept between two words placed in a clip, so their events never touch.
SPEECH_GAP_SAMPLES = int(0.1 * SAMPLE_RATE)


@dataclasses.dataclass
class TriggerWordClips:
    """A split's clips: int16 waveforms (num_clips, samples) and events per clip."""

    waveforms: np.ndarray
    events: list  # per clip: list of (start_s, end_s) trigger words
    negatives: list  # per clip: list of (start_s, end_s, word)
    speakers: list
    sample_rate: int = SAMPLE_RATE

    def __len__(self):
        return len(self.waveforms)

    def waveform(self, index: int) -> np.ndarray:
        return self.waveforms[index].astype(np.float32) / 32767.0

    @property
    def seconds(self) -> float:
        return self.waveforms.shape[0] * self.waveforms.shape[1] / self.sample_rate


@dataclasses.dataclass(frozen=True)
class ClipOptions:
    """Everything that decides a set of clips, and so its cache entry.

    Holds the word bank's options, so a clip key changes whenever its bank's does.
    """

    bank: WordBankOptions
    num_clips: int
    clip_seconds: float = CLIP_SECONDS
    negative_only: bool = False
    # Rooms, sentences, new backgrounds and augmentation (data/trigger_word/scenes.py); left
    # out of the cache key when absent, so plain clips keep their entries.
    scene: object = dataclasses.field(default=None, metadata={"cache_key_omits": None})

    def __post_init__(self):
        if self.num_clips < 0:
            raise ValueError(f"num_clips must be >= 0; received {self.num_clips}")


def make_trigger_word_clips(split: str, num_clips: int, seed: int = 0, word: str = DEFAULT_WORD,
                            clip_seconds: float = CLIP_SECONDS, negative_only: bool = False,
                            speakers_per_variant: int = 2, cache_dir=None,
                            negative_words=NEGATIVE_WORDS, verbose: bool = False,
                            synthetic_voices: int = 0, cache: ClipCache | None = None,
                            scene=None, extra_near_misses=(),
                            varied_prosody: bool = False) -> TriggerWordClips:
    """Makes (or loads from cache) ``num_clips`` clips of one speaker split.

    Args:
        split: "train", "validation" or "test"; the splits share no voice variant.
        num_clips: how many clips.
        seed: fixes speakers, words, backgrounds and placements.
        word: the trigger word, any English text eSpeak NG can say.
        clip_seconds: clip length (10 s in the course).
        negative_only: no trigger words at all (for false accepts per hour).
        speakers_per_variant: speakers made from each voice variant.
        synthetic_voices: extra training speakers with generated voice
            variants (:func:`random_variant`); training split only.
        cache_dir: where clips are cached; default ``~/.cache/seqmodels/trigger_word``
            (or ``$SEQMODELS_CACHE/trigger_word``). ``False`` disables caching.
        cache: a :class:`ClipCache` instead of ``cache_dir``; calls that share
            one read or synthesise each word bank once.
        scene: a :class:`data.trigger_word.scenes.SceneOptions` for clips with
            rooms, sentences, speech/music/household backgrounds and
            augmentation; ``None`` gives the plain clips.
        extra_near_misses: more near-miss negatives (e.g. mined from the
            word's phonemes), said by every speaker and drawn like ``NEAR_MISS_WORDS``.
        varied_prosody: trigger takes with random clause intonation and wider
            rate and pitch jitter (:func:`data.trigger_word.build_word_bank`).
    """
    options = ClipOptions(
        WordBankOptions(split, seed, word, speakers_per_variant, negative_words, synthetic_voices,
                        extra_near_misses, varied_prosody),
        num_clips, clip_seconds, negative_only, scene)
    if cache is None:
        cache = ClipCache(cache_dir)
    elif cache_dir is not None:
        raise ValueError("Pass either cache_dir or cache, not both")
    directory = cache.path(options.bank.name, options)
    if directory is not None and (directory / "events.json").exists():
        meta = json.loads((directory / "events.json").read_text())
        waveforms = np.load(directory / "waveforms.npy", mmap_mode="r")
        return TriggerWordClips(waveforms, [[tuple(e) for e in c] for c in meta["events"]],
                                [[tuple(e) for e in c] for c in meta["negatives"]],
                                [Speaker(**s) for s in meta["speakers"]])
    clips = synthesize_clips(options, load_word_bank(options.bank, cache), verbose, cache)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        # events.json last: its presence marks a complete entry.
        write_atomically(directory / "waveforms.npy",
                         lambda temporary: np.save(temporary, clips.waveforms))
        meta = dict(cache_fields(options), events=clips.events, negatives=clips.negatives,
                    speakers=[dataclasses.asdict(s) for s in clips.speakers])
        write_atomically(directory / "events.json",
                         lambda temporary: temporary.write_text(json.dumps(meta)))
    return clips


def synthesize_clips(options: ClipOptions, bank: WordBank, verbose: bool = False,
                     cache: ClipCache | None = None) -> TriggerWordClips:
    """The clips of ``options`` made from the word bank of ``options.bank``, deterministically.

    Scene clips also read (or make) their room and sentence banks in ``cache``.
    """
    split = options.bank.split
    num_samples = int(round(options.clip_seconds * SAMPLE_RATE))
    rng = np.random.default_rng(
        [options.bank.seed, SPLITS.index(split), int(options.negative_only), 303])
    waveforms = np.zeros((options.num_clips, num_samples), np.int16)
    events, negatives = [], []
    resources = None
    if options.scene is not None:
        from data.trigger_word.scenes import SceneResources

        resources = SceneResources.load(options.scene, options.bank,
                                        cache if cache is not None else ClipCache(False))
    for index in range(options.num_clips):
        if resources is None:
            clip, triggers, spoken_negatives = make_clip(rng, bank, num_samples,
                                                         negative_only=options.negative_only)
        else:
            from data.trigger_word.scenes import make_scene_clip

            clip, triggers, spoken_negatives = make_scene_clip(
                rng, bank, resources, num_samples, options.scene, options.negative_only)
        waveforms[index] = np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16)
        events.append(triggers)
        negatives.append(spoken_negatives)
        if verbose and (index + 1) % 500 == 0:
            print(f"  {split}: {index + 1}/{options.num_clips} clips", flush=True)
    return TriggerWordClips(waveforms, events, negatives, bank.speakers)


def make_clip(rng: np.random.Generator, bank: WordBank, num_samples: int,
              max_triggers: int = 4, max_negatives: int = 4,
              negative_only: bool = False):
    """One clip: background + non-overlapping triggers and negatives.

    Returns:
        (waveform float32 (num_samples,), triggers [(start_s, end_s)], negatives
        [(start_s, end_s, word)]).
    """
    kind = str(rng.choice(BACKGROUND_KINDS))
    background = make_background(rng, kind, num_samples, bank)
    clip = background.copy()
    background_rms = float(np.sqrt(np.mean(background ** 2))) + 1e-7
    occupied: list = []

    def insert(audio):
        start = add_speech(rng, clip, audio, background_rms, occupied)
        if start is None:
            return None
        return start / SAMPLE_RATE, (start + len(audio)) / SAMPLE_RATE

    triggers = []
    if not negative_only:
        num_triggers = int(rng.choice(max_triggers + 1, p=_trigger_count_probabilities(max_triggers)))
        for _ in range(num_triggers):
            speaker = rng.integers(len(bank.speakers))
            takes = bank.triggers[speaker]
            span = insert(takes[rng.integers(len(takes))])
            if span is not None:
                triggers.append(span)
    negatives = []
    num_negatives = int(rng.integers(0 if not negative_only else 2, max_negatives + 1))
    near_indices = bank.near_miss_indices()
    for _ in range(num_negatives):
        # Half the negatives are near-misses: they are what the detector confuses.
        if near_indices and rng.random() < 0.5:
            index = near_indices[int(rng.integers(len(near_indices)))]
        else:
            index = int(rng.integers(len(bank.negative_words)))
        speaker = rng.integers(len(bank.speakers))
        span = insert(bank.negatives[speaker][index])
        if span is not None:
            negatives.append((span[0], span[1], bank.negative_words[index]))
    apply_random_gain(rng, clip)
    triggers.sort()
    negatives.sort()
    return clip.astype(np.float32), triggers, negatives


def add_speech(rng, clip, audio, background_rms, occupied):
    """Adds ``audio`` to ``clip`` (in place) where it overlaps none of ``occupied``; its start sample.

    The level is a signal-to-noise ratio against the background (``background_rms``),
    clamped so near-silent backgrounds still get audible speech. Returns ``None``
    (and adds nothing) when no free place is found.
    """
    snr_db = rng.uniform(0, 30)
    speech_rms = float(np.sqrt(np.mean(audio ** 2))) + 1e-7
    target = max(background_rms * 10 ** (snr_db / 20), 10 ** (rng.uniform(-35, -15) / 20))
    start = _place(rng, occupied, len(audio), len(clip), SPEECH_GAP_SAMPLES)
    if start is None:
        return None
    clip[start:start + len(audio)] += audio * (target / speech_rms)
    return start


def apply_random_gain(rng, clip):
    """Scales ``clip`` (in place) to a random overall level, avoiding clipping."""
    peak = float(np.max(np.abs(clip))) + 1e-7
    clip *= min(10 ** (rng.uniform(-20, -1) / 20) / peak, 0.99 / peak)


def _place(rng, occupied, length, num_samples, gap):
    """Finds a random start for a segment that overlaps none in ``occupied``."""
    for _ in range(50):
        start = int(rng.integers(0, num_samples - length))
        end = start + length
        if all(end + gap <= s or start >= e + gap for s, e in occupied):
            occupied.append((start, end))
            return start
    return None


def _trigger_count_probabilities(max_triggers):
    weights = np.array([1.0, 1.4, 1.0, 0.6, 0.3, 0.2, 0.1][: max_triggers + 1])
    return weights / weights.sum()
