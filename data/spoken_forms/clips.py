"""Spoken-form clips: grammar utterances said by eSpeak NG speakers over backgrounds; their cache.

One clip is one utterance: the speech (trimmed of the synthesiser's silence)
with ``padding_seconds`` of background before and after it, at a random
signal-to-noise ratio over a background of the trigger-word kinds
(:data:`data.trigger_word.BACKGROUND_KINDS`: coloured noise, mains hum,
babble, near-silence, mixtures), then a random overall gain. Babble is made
of words outside the grammar said by a few speakers of the same split, so
the test split's babble voices are never heard in training either.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data.spoken_forms.grammar import CATEGORIES, Utterance, generate_utterances, vocabulary
from data.spoken_forms.speech import iter_synthesized_chunks
from data.trigger_word import (
    BACKGROUND_KINDS,
    NEGATIVE_WORDS,
    SAMPLE_RATE,
    SPLITS,
    ClipCache,
    Speaker,
    WordBank,
    build_word_bank_in_fresh_process,
    cache_fields,
    make_background,
    make_speakers,
)
from data.trigger_word.cache import write_atomically
from data.trigger_word.voices import synthetic_voice_data

# Bump whenever generation changes so stale cache entries are not reused.
SPOKEN_FORMS_VERSION = 3
DEFAULT_SNR_DB = (5.0, 30.0)
DEFAULT_PADDING_SECONDS = (0.1, 0.6)
# Babble words: the trigger-word negatives the grammar never says, so babble
# is never a word the recogniser should write.
BABBLE_WORDS = tuple(word for word in NEGATIVE_WORDS if word not in vocabulary())
BABBLE_SPEAKERS = 6


def default_cache_dir() -> Path:
    """``~/.cache/seqmodels/spoken_forms`` (or ``$SEQMODELS_CACHE/spoken_forms``)."""
    from data.trigger_word.cache import default_cache_dir as trigger_word_cache_dir

    return trigger_word_cache_dir().parent / "spoken_forms"


def make_cache(cache_dir=None) -> ClipCache:
    """A :class:`ClipCache` over ``cache_dir``: ``None`` is :func:`default_cache_dir`, ``False`` none."""
    if cache_dir is False:
        return ClipCache(False)
    return ClipCache(cache_dir or default_cache_dir())


class Waveforms(Sequence):
    """Clips' audio as a sequence of float32 arrays, read from one int16 array (memory-mapped when cached).

    ``waveforms[i]`` is clip ``i`` in [-1, 1]; a slice or index array gives a
    new :class:`Waveforms`. Twenty thousand clips of a few seconds fit in a
    few hundred MB this way, where float32 copies would take four times that.
    """

    def __init__(self, audio: np.ndarray, offsets: np.ndarray, indices=None):
        self.audio, self.offsets = audio, np.asarray(offsets, np.int64)
        self.indices = np.arange(len(self.offsets) - 1) if indices is None else np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (slice, list, np.ndarray)):
            return Waveforms(self.audio, self.offsets, self.indices[index])
        clip = int(self.indices[index])
        return self.audio[self.offsets[clip]:self.offsets[clip + 1]].astype(np.float32) / 32767.0

    def int16(self, index: int) -> np.ndarray:
        """Clip ``index`` as stored: int16 samples (full scale 32767)."""
        clip = int(self.indices[index])
        return np.asarray(self.audio[self.offsets[clip]:self.offsets[clip + 1]])

    @property
    def lengths(self) -> np.ndarray:
        """Samples per clip, int64."""
        return (self.offsets[1:] - self.offsets[:-1])[self.indices]


@dataclasses.dataclass
class SpokenClips:
    """A set of spoken utterances and what they say.

    Attributes:
        waveforms: :class:`Waveforms`, float32 16 kHz 1-D arrays of varying length.
        transcripts: normalised transcripts (:func:`normalize_transcript`).
        categories: the grammar category of each (``CATEGORIES``).
        date_iso, times, numbers: each utterance's meaning (see ``grammar``).
        speakers: the :class:`Speaker` of each, before the utterance's own
            rate and pitch jitter (an ``"engine/voice"`` string for the other
            engines of ``data.other_engines``).
        speech_spans: ``(start_s, end_s)`` of the speech in each clip.
        backgrounds: the background kind of each clip.
        snr_db: the signal-to-noise ratio drawn for each clip.
    """

    waveforms: Waveforms
    transcripts: list
    categories: list
    date_iso: list
    times: list
    numbers: list
    speakers: list
    speech_spans: list
    backgrounds: list
    snr_db: list
    sample_rate: int = SAMPLE_RATE

    def __len__(self):
        return len(self.transcripts)

    @property
    def num_samples(self) -> np.ndarray:
        return self.waveforms.lengths

    @property
    def seconds(self) -> float:
        return float(self.num_samples.sum()) / self.sample_rate

    def utterance(self, index: int) -> Utterance:
        return Utterance(self.transcripts[index], self.categories[index], self.date_iso[index],
                         self.times[index], self.numbers[index])

    def subset(self, indices) -> "SpokenClips":
        """The clips at ``indices`` (audio shared, not copied)."""
        indices = np.asarray(indices, np.int64)
        pick = lambda values: [values[int(i)] for i in indices]  # noqa: E731
        return SpokenClips(self.waveforms[indices], *(pick(getattr(self, name)) for name in (
            "transcripts", "categories", "date_iso", "times", "numbers", "speakers",
            "speech_spans", "backgrounds", "snr_db")), sample_rate=self.sample_rate)

    # -- storage -------------------------------------------------------------

    def save(self, directory: Path, extra_meta: dict) -> None:
        """``audio.npy`` (int16, all clips end to end) then ``clips.json``, each atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        audio = np.concatenate([self.waveforms.int16(i) for i in range(len(self))]) \
            if len(self) else np.zeros(0, np.int16)
        write_atomically(directory / "audio.npy", lambda temporary: np.save(temporary, audio))
        self.write_description(directory, extra_meta)

    def write_description(self, directory: Path, extra_meta: dict) -> None:
        """``clips.json``: offsets and everything but the audio. Written last, it marks a
        complete cache entry."""
        meta = dict(extra_meta, offsets=[int(o) for o in np.cumsum([0, *self.num_samples])],
                    transcripts=self.transcripts, categories=self.categories,
                    date_iso=self.date_iso, times=self.times, numbers=self.numbers,
                    speakers=[dataclasses.asdict(s) if isinstance(s, Speaker) else s
                              for s in self.speakers],
                    speech_spans=[list(s) for s in self.speech_spans],
                    backgrounds=self.backgrounds, snr_db=self.snr_db)
        write_atomically(directory / "clips.json",
                         lambda temporary: temporary.write_text(json.dumps(meta)))

    @classmethod
    def load(cls, directory: Path) -> "SpokenClips":
        meta = json.loads((directory / "clips.json").read_text())
        audio = np.load(directory / "audio.npy", mmap_mode="r")
        return cls(Waveforms(audio, np.array(meta["offsets"], np.int64)), meta["transcripts"],
                   meta["categories"], meta["date_iso"], meta["times"], meta["numbers"],
                   [Speaker(**s) if isinstance(s, dict) else s for s in meta["speakers"]],
                   [tuple(s) for s in meta["speech_spans"]], meta["backgrounds"], meta["snr_db"])


@dataclasses.dataclass(frozen=True)
class SpokenClipOptions:
    """Everything that decides a set of spoken clips, and so its cache entry (see
    :func:`make_spoken_clips` for the fields)."""

    split: str
    num_utterances: int
    seed: int = 0
    speakers_per_variant: int = 2
    synthetic_voices: int = 0
    snr_db: tuple = DEFAULT_SNR_DB
    background_kinds: tuple = BACKGROUND_KINDS
    padding_seconds: tuple = DEFAULT_PADDING_SECONDS
    categories: tuple = CATEGORIES
    spoken_forms_version: int = SPOKEN_FORMS_VERSION

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"Invalid split {self.split!r}; expected one of {SPLITS}")
        if self.num_utterances < 0:
            raise ValueError(f"num_utterances must be >= 0; received {self.num_utterances}")
        if self.speakers_per_variant < 1:
            raise ValueError(f"speakers_per_variant must be >= 1; received "
                             f"{self.speakers_per_variant}")
        if self.synthetic_voices < 0:
            raise ValueError(f"synthetic_voices must be >= 0; received {self.synthetic_voices}")
        if self.synthetic_voices and self.split != "train":
            raise ValueError(f"Synthetic voices are for training only (validation and test measure "
                             f"shipped voices never heard); received split={self.split!r}")
        for name in ("snr_db", "background_kinds", "padding_seconds", "categories"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_range("snr_db", self.snr_db)
        _check_range("padding_seconds", self.padding_seconds, minimum=0.0)
        unknown = set(self.background_kinds) - set(BACKGROUND_KINDS)
        if unknown or not self.background_kinds:
            raise ValueError(f"background_kinds must be a non-empty subset of {BACKGROUND_KINDS}; "
                             f"received {self.background_kinds}")
        unknown = set(self.categories) - set(CATEGORIES)
        if unknown or not self.categories:
            raise ValueError(f"categories must be a non-empty subset of {CATEGORIES}; "
                             f"received {self.categories}")

    @property
    def needs_babble(self) -> bool:
        return bool({"babble", "mixture"} & set(self.background_kinds))


def _check_range(name, values, minimum=None):
    if len(values) != 2 or values[0] > values[1] or (minimum is not None and values[0] < minimum):
        raise ValueError(f"{name} must be (low, high) with low <= high"
                         + (f" and low >= {minimum}" if minimum is not None else "")
                         + f"; received {values}")


@dataclasses.dataclass(frozen=True)
class BabbleOptions:
    """The babble bank of a split: ``BABBLE_WORDS`` said by ``BABBLE_SPEAKERS`` of its speakers."""

    split: str
    seed: int
    speakers_per_variant: int
    synthetic_voices: int
    words: tuple = BABBLE_WORDS
    num_speakers: int = BABBLE_SPEAKERS
    spoken_forms_version: int = SPOKEN_FORMS_VERSION


def make_spoken_clips(split: str, num_utterances: int, seed: int = 0, cache_dir=None,
                      speakers_per_variant: int = 2, synthetic_voices: int = 0,
                      snr_db=DEFAULT_SNR_DB, background_kinds=BACKGROUND_KINDS,
                      padding_seconds=DEFAULT_PADDING_SECONDS, categories=CATEGORIES,
                      verbose: bool = True, workers: int | None = None,
                      cache: ClipCache | None = None) -> SpokenClips:
    """Makes (or loads from cache) ``num_utterances`` spoken clips of one speaker split.

    Args:
        split: "train", "validation" or "test"; split by voice variant exactly
            as :func:`data.trigger_word.make_speakers`, so the test split only
            holds variants never heard in training.
        num_utterances: how many clips (one utterance each).
        seed: fixes speakers, texts, prosody, backgrounds and levels. Clip
            ``i`` depends only on the options other than ``num_utterances``
            and on ``i``: a longer set starts with the shorter one.
        cache_dir: default ``~/.cache/seqmodels/spoken_forms`` (or
            ``$SEQMODELS_CACHE/spoken_forms``); ``False`` writes nothing.
        speakers_per_variant: speakers made from each shipped voice variant.
        synthetic_voices: extra training speakers with generated variants
            (:func:`data.trigger_word.random_variant`); training split only.
        snr_db: range of the speech-to-background ratio, drawn uniformly
            (speech stays audible over near-silence, as in the trigger-word clips).
        background_kinds: background kinds drawn uniformly per clip.
        padding_seconds: range of the background before and after the speech.
        categories: the grammar categories drawn (in proportion to their weights).
        verbose: print progress while synthesising.
        workers: synthesis processes run at once (the result does not depend on it).
        cache: a :class:`ClipCache` instead of ``cache_dir``.

    Example:

    >>> clips = make_spoken_clips("test", 4, seed=0)  # doctest: +SKIP
    >>> clips.transcripts[0], clips.waveforms[0].shape  # doctest: +SKIP
    ('the third of march nineteen seventy nine', (41280,))
    """
    options = SpokenClipOptions(split, num_utterances, seed, speakers_per_variant,
                                synthetic_voices, snr_db, background_kinds, padding_seconds,
                                categories)
    return cached_clips(
        f"clips-{split}", options, cache_dir, cache,
        lambda cache, directory: synthesize_spoken_clips(options, cache, directory,
                                                         verbose=verbose, workers=workers))


def cached_clips(name, options, cache_dir, cache, synthesize) -> SpokenClips:
    """The clips of cache entry ``name`` for ``options``, made by ``synthesize(cache, directory)``
    on a miss (``directory`` is ``None`` when nothing is written).

    ``cache_dir`` and ``cache`` are the callers' two ways to name the cache
    (:func:`make_spoken_clips`); at most one may be given.
    """
    if cache is None:
        cache = make_cache(cache_dir)
    elif cache_dir is not None:
        raise ValueError("Pass either cache_dir or cache, not both")
    directory = cache.path(name, options)
    if directory is not None and (directory / "clips.json").exists():
        return SpokenClips.load(directory)
    clips = synthesize(cache, directory)
    # From the cache entry just written: the same memory-mapped audio as a later cache hit.
    return SpokenClips.load(directory) if directory is not None else clips


def synthesize_spoken_clips(options: SpokenClipOptions, cache: ClipCache, directory=None,
                            verbose: bool = False, workers: int | None = None) -> SpokenClips:
    """The clips of ``options``, made now (deterministically); see :func:`make_spoken_clips`.

    With a ``directory``, the audio is written there as it is made (so memory
    holds a few chunks, not the whole set) and the entry is completed with
    its ``clips.json``.
    """
    split_index = SPLITS.index(options.split)
    speakers = make_speakers(options.speakers_per_variant, options.seed,
                             synthetic_voices=options.synthetic_voices)[options.split]
    utterances = generate_utterances(options.num_utterances, options.seed, stream=split_index,
                                     categories=options.categories)
    # Per clip: its own random stream, so clip i is the same in a set of any size.
    rngs = [np.random.default_rng([options.seed, split_index, 808, index])
            for index in range(options.num_utterances)]
    clip_speakers = [speakers[int(rng.integers(len(speakers)))] for rng in rngs]
    said_by = [jitter_prosody(rng, speaker) for rng, speaker in zip(rngs, clip_speakers)]
    with synthetic_voice_data(options.seed, options.synthetic_voices, cache.directory) as data_path:
        bank = (load_babble_bank(BabbleOptions(options.split, options.seed,
                                               options.speakers_per_variant,
                                               options.synthetic_voices), cache, data_path)
                if options.needs_babble and options.num_utterances else None)
        if verbose and options.num_utterances:
            print(f"spoken forms: synthesising {options.num_utterances} {options.split} utterances "
                  f"({len(speakers)} speakers)", flush=True)
        speech = iter_synthesized_chunks([u.text for u in utterances], said_by, data_path,
                                         workers=workers, verbose=verbose, label=options.split)
        return assemble_clips(speech, rngs, utterances, clip_speakers, bank,
                              options.background_kinds, options.snr_db, options.padding_seconds,
                              directory, cache_fields(options))


def jitter_prosody(rng: np.random.Generator, speaker: Speaker) -> Speaker:
    """The speaker with this utterance's rate and pitch (so one voice never says two alike)."""
    return dataclasses.replace(
        speaker, rate=int(np.clip(speaker.rate * rng.uniform(0.85, 1.15), 80, 300)),
        pitch=int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 100)))


class _AudioSink:
    """int16 clips appended in order: streamed to a file next to a cache entry, or kept in memory."""

    def __init__(self, directory: Path | None):
        self.directory, self.pieces, self.lengths = directory, [], []
        self.file = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.raw_path = directory / f"audio.raw-{os.getpid()}"
            self.file = open(self.raw_path, "wb")

    def append(self, clip: np.ndarray) -> None:
        if self.file is not None:
            clip.tofile(self.file)
        else:
            self.pieces.append(clip)
        self.lengths.append(len(clip))

    def finish(self) -> np.ndarray:
        """All clips end to end: ``audio.npy`` of the entry (memory-mapped), or an array."""
        if self.file is None:
            return np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.int16)
        self.file.close()
        total = int(sum(self.lengths))
        target = self.directory / "audio.npy"
        temporary = target.with_name(f"audio.tmp-{os.getpid()}.npy")
        stored = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.int16, shape=(total,))
        if total:
            raw = np.memmap(self.raw_path, dtype=np.int16, mode="r", shape=(total,))
            for start in range(0, total, 1 << 24):
                stored[start:start + (1 << 24)] = raw[start:start + (1 << 24)]
            del raw
        stored.flush()
        del stored
        os.replace(temporary, target)
        os.remove(self.raw_path)
        return np.load(target, mmap_mode="r")


def assemble_clips(speech_chunks, rngs, utterances, speakers, bank, background_kinds, snr_db,
                   padding_seconds, directory: Path | None = None,
                   extra_meta: dict | None = None) -> SpokenClips:
    """Puts each speech array over its background (:func:`mix_speech`), chunk by chunk.

    Args:
        speech_chunks: lists of speech arrays, in the clips' order.
        rngs: one random generator per clip (its background, level and padding).
        utterances, speakers: per clip.
        bank: babble material (``None`` when no kind needs it).
        directory: the cache entry to write (audio streamed as it is made,
            ``clips.json`` last), or ``None`` to keep the clips in memory.
    """
    sink = _AudioSink(directory)
    spans, kinds, ratios = [], [], []
    index = 0
    for chunk in speech_chunks:
        for audio in chunk:
            rng = rngs[index]
            kind = str(background_kinds[int(rng.integers(len(background_kinds)))])
            clip, span, ratio = mix_speech(rng, audio, kind, bank, snr_db, padding_seconds)
            sink.append(np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16))
            spans.append(span)
            kinds.append(kind)
            ratios.append(ratio)
            index += 1
    if index != len(utterances):
        raise ValueError(f"{index} speech arrays for {len(utterances)} utterances")
    offsets = np.cumsum([0] + sink.lengths)
    clips = SpokenClips(Waveforms(sink.finish(), offsets), [u.text for u in utterances],
                        [u.category for u in utterances], [u.date_iso for u in utterances],
                        [u.time for u in utterances], [u.number for u in utterances],
                        list(speakers), spans, kinds, ratios)
    if directory is not None:
        clips.write_description(directory, extra_meta or {})
    return clips


def mix_clips(rngs, speech, utterances, speakers, bank, background_kinds, snr_db,
              padding_seconds) -> SpokenClips:
    """:func:`assemble_clips` of speech arrays already in memory, the clips kept in memory."""
    return assemble_clips([speech], rngs, utterances, speakers, bank, background_kinds, snr_db,
                          padding_seconds)


def mix_speech(rng: np.random.Generator, speech: np.ndarray, kind: str, bank: WordBank | None,
               snr_db=DEFAULT_SNR_DB, padding_seconds=DEFAULT_PADDING_SECONDS):
    """Speech over a background of ``kind``, padded both sides; then a random overall gain.

    Returns:
        ``(clip float32, (speech_start_s, speech_end_s), snr_db)``.
    """
    lead, trail = (int(round(rng.uniform(*padding_seconds) * SAMPLE_RATE)) for _ in range(2))
    num_samples = lead + len(speech) + trail
    clip = make_background(rng, kind, num_samples, bank).copy()
    background_rms = float(np.sqrt(np.mean(clip ** 2))) + 1e-7
    speech_rms = float(np.sqrt(np.mean(speech ** 2))) + 1e-7
    ratio = float(rng.uniform(*snr_db))
    # The level is clamped from below, as in the trigger-word clips, so speech
    # over near-silence is still audible.
    target = max(background_rms * 10 ** (ratio / 20), 10 ** (rng.uniform(-35, -15) / 20))
    clip[lead:lead + len(speech)] += speech * (target / speech_rms)
    peak = float(np.max(np.abs(clip))) + 1e-7
    clip *= min(10 ** (rng.uniform(-20, -1) / 20) / peak, 0.99 / peak)
    return (clip.astype(np.float32),
            (lead / SAMPLE_RATE, (lead + len(speech)) / SAMPLE_RATE), ratio)


def load_babble_bank(options: BabbleOptions, cache: ClipCache, data_path=None) -> WordBank:
    """The babble words of a split: from ``cache``'s memory, its directory, or eSpeak NG."""
    if options in cache.word_banks:
        return cache.word_banks[options]
    path = cache.path(f"babble-{options.split}", options, ".npz")
    if path is not None and path.exists():
        bank = WordBank.load(path)
    else:
        speakers = make_speakers(options.speakers_per_variant, options.seed,
                                 synthetic_voices=options.synthetic_voices)[options.split]
        rng = np.random.default_rng([options.seed, SPLITS.index(options.split), 809])
        chosen = rng.choice(len(speakers), size=min(options.num_speakers, len(speakers)),
                            replace=False)
        # The bank's "trigger" takes are one more babble word; babble uses the negatives.
        bank = build_word_bank_in_fresh_process(
            options.words[0], [speakers[int(i)] for i in sorted(chosen)], options.words[1:],
            options.seed + SPLITS.index(options.split), data_path)
        if path is not None:
            bank.save(path, cache_fields(options))
    cache.word_banks[options] = bank
    return bank
