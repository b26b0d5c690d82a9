"""Trigger-word evaluation sets spoken by other speech engines (flite, festival): never trained on.

A detector trained on eSpeak NG and tested on eSpeak voices it never heard
still hears eSpeak's way of making speech. These sets are spoken by the
engines of :mod:`data.other_engines` instead, each voice at several speeds
(``duration_stretch``), and built like the eSpeak scene clips
(:func:`data.trigger_word.scenes.make_scene_clip`, no augmentation): one
voice per clip (so figures can be given per voice), rooms from a bank of
their own, backgrounds of every plain kind (babble of these voices too),
continuous speech of these voices reading the text corpus, music-like and
household noise.

* ``words``: the trigger word said alone;
* ``sentences``: the word inside the positive sentence templates
  (:data:`data.trigger_word.sentences.POSITIVE_TEMPLATES`);
* ``negatives``: negative-only clips of near-miss words and near-miss
  sentences, for false accepts per hour.

These engines give no word times, so the word's place in a sentence is
measured: its start is the length of the text before it said alone, its end
the length of the text up to and including it said alone (both trimmed of
silence). An utterance-final word is said longer than inside a sentence, so
both times may be late by up to about 0.2 s (eSpeak's own word events show
that much); a detection counts from the word's start to 1 s after its end,
which absorbs it, but delays measured on these sets would be biased, so
none are reported.

Every set is cached like the eSpeak clips (``other-engines-<kind>-<key>``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from data.trigger_word.audio import CLIP_SECONDS, SAMPLE_RATE, trim_silence
from data.trigger_word.augment import AugmentOptions
from data.trigger_word.cache import ClipCache, cache_fields, write_atomically
from data.trigger_word.clips import TriggerWordClips
from data.trigger_word.rooms import RoomOptions, load_room_bank
from data.trigger_word.scenes import SceneOptions, SceneResources, make_scene_clip
from data.trigger_word.sentences import (
    POSITIVE_TEMPLATES,
    SentenceBank,
    SpokenText,
    corpus_passages,
    negative_texts,
    trigger_pattern,
)
from data.trigger_word.word_bank import DEFAULT_WORD, NEGATIVE_WORDS, WordBank

KINDS = ("words", "sentences", "negatives")
DURATION_STRETCHES = (0.85, 1.0, 1.2)
# Their own random streams and rooms, apart from the eSpeak splits'.
OTHER_ENGINE_STREAM = 31


@dataclasses.dataclass(frozen=True)
class HeldOutOptions:
    """Everything that decides one other-engine set, and so its cache entry.

    Args:
        kind: "words", "sentences" or "negatives".
        num_clips: clips in the set (voices take turns).
        voices: "engine/voice" names (default: every installed voice).
        seed, word, negative_words: as for the eSpeak clips.
        duration_stretches: speeds each voice says every text at.
        num_rooms: rooms of the set's own bank.
        num_passages: corpus passages per voice for continuous-speech backgrounds.
        sentences_per_voice: positive (or negative) sentences each voice says.
        words_per_voice: negative words each voice says (near-misses first).
    """

    kind: str
    num_clips: int
    voices: tuple
    seed: int = 0
    word: str = DEFAULT_WORD
    negative_words: tuple = NEGATIVE_WORDS
    clip_seconds: float = CLIP_SECONDS
    duration_stretches: tuple = DURATION_STRETCHES
    num_rooms: int = 16
    num_passages: int = 4
    # festival takes over a second per utterance: a sample of texts per voice keeps a set minutes to make.
    sentences_per_voice: int = 8
    words_per_voice: int = 16

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Invalid kind {self.kind!r}; expected one of {KINDS}")
        if self.num_clips < 0:
            raise ValueError(f"num_clips must be >= 0; received {self.num_clips}")
        if not self.voices:
            raise RuntimeError("No other speech engine is installed (apt-get install flite festival)")
        for name in ("voices", "negative_words", "duration_stretches"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def name(self) -> str:
        return f"other-engines-{self.kind}-{self.word.replace(' ', '_')[:20]}"


@dataclasses.dataclass
class HeldOutClips(TriggerWordClips):
    """Other-engine clips; ``speakers`` holds each clip's "engine/voice"."""

    @property
    def voices(self) -> list:
        return list(self.speakers)


def installed_voices() -> tuple:
    """"engine/voice" of every voice :func:`data.other_engines.available_engines` finds."""
    from data.other_engines import available_engines

    return tuple(f"{engine}/{voice}" for engine, voices in sorted(available_engines().items())
                 for voice in voices)


class _Speech:
    """Synthesis by the other engines, memoised; :meth:`prefetch` runs many requests in parallel.

    The engines are separate programs, so a few run at once while others
    start up; the results do not depend on the order.
    """

    def __init__(self, workers: int = 2):
        self.workers = workers
        self.said: dict = {}
        self.recording: list | None = None

    def __call__(self, voice: str, text: str, stretch: float) -> np.ndarray:
        key = (voice, text, round(float(stretch), 4))
        if self.recording is not None:
            self.recording.append(key)
            return np.zeros(SAMPLE_RATE // 2, np.float32)
        if key not in self.said:
            self.said[key] = self._synthesize(key)
        return self.said[key]

    @staticmethod
    def _synthesize(key) -> np.ndarray:
        from data.other_engines import synthesize

        voice, text, stretch = key
        engine, _, name = voice.partition("/")
        return trim_silence(synthesize(engine, name, text, duration_stretch=stretch))

    def prefetch(self, keys) -> None:
        import concurrent.futures

        keys = [k for k in dict.fromkeys(keys) if k not in self.said]
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            for key, audio in zip(keys, pool.map(self._synthesize, keys)):
                self.said[key] = audio

    def plan(self, build, rng):
        """Runs ``build(rng)`` twice: once recording its requests (on a copy of ``rng``), then for real."""
        import copy

        self.recording = []
        try:
            build(copy.deepcopy(rng))
            keys = self.recording
        finally:
            self.recording = None
        self.prefetch(keys)
        return build(rng)


def _timed_sentence(say, voice: str, template: str, word: str, stretch: float) -> SpokenText:
    """The sentence of ``template`` with the word's (start, end) measured from its prefixes."""
    text = template.format(word=word)
    before = template.split("{word}")[0].strip().rstrip(",")
    start = len(say(voice, before, stretch)) / SAMPLE_RATE if before else 0.0
    through = len(say(voice, (before + " " + word).strip(), stretch)) / SAMPLE_RATE
    audio = say(voice, text, stretch)
    end = min(through, len(audio) / SAMPLE_RATE)
    return SpokenText(audio, text, [(min(start, end), end, word)])


def _voice_resources(say, options: HeldOutOptions, voice: str, rng, rooms, passages):
    """A one-voice word bank and sentence bank of ``options.kind``."""
    word = options.word
    negative_words = tuple(w for w in options.negative_words
                           if not trigger_pattern(word).search(w))[:options.words_per_voice]
    stretches = options.duration_stretches
    takes = [say(voice, word, s) for s in stretches] if options.kind == "words" else [np.zeros(1)]
    negatives = [say(voice, w, float(rng.choice(stretches))) for w in negative_words]
    bank = WordBank(word, negative_words, [voice], [takes], [negatives])
    positives, sentence_negatives = [], []
    if options.kind == "sentences":
        chosen = rng.choice(len(POSITIVE_TEMPLATES), min(options.sentences_per_voice,
                                                         len(POSITIVE_TEMPLATES)), replace=False)
        positives = [_timed_sentence(say, voice, POSITIVE_TEMPLATES[int(i)], word,
                                     float(rng.choice(stretches))) for i in sorted(chosen)]
    if options.kind == "negatives":
        texts = negative_texts(rng, word, negative_words, options.sentences_per_voice)
        sentence_negatives = [SpokenText(say(voice, t, float(rng.choice(stretches))), t, [])
                              for t in texts]
    sentences = SentenceBank(word, positives, sentence_negatives, passages)
    spans = [[(s.words[0][0], s.words[0][1])] for s in positives]
    return bank, SceneResources(rooms, sentences, spans)


def synthesize_held_out(options: HeldOutOptions, cache: ClipCache) -> HeldOutClips:
    """The clips of ``options``, deterministically (texts, speeds, rooms, backgrounds)."""
    rng = np.random.default_rng([options.seed, OTHER_ENGINE_STREAM, KINDS.index(options.kind)])
    rooms = load_room_bank(RoomOptions(options.num_rooms, 1000 + options.seed), cache)
    say = _Speech()

    def build(rng):
        texts = corpus_passages(rng, options.word, options.num_passages * len(options.voices))
        passages = [SpokenText(say(options.voices[i % len(options.voices)], text,
                                   float(rng.choice(options.duration_stretches))), text, [])
                    for i, text in enumerate(texts)]
        return {voice: _voice_resources(say, options, voice, rng, rooms, passages)
                for voice in options.voices}

    per_voice = say.plan(build, rng)
    scene = SceneOptions(room_probability=0.5, num_rooms=options.num_rooms,
                         sentence_fraction=1.0 if options.kind == "sentences" else 0.0,
                         negative_sentence_fraction=0.6 if options.kind == "negatives" else 0.0,
                         num_passages=options.num_passages,
                         augment=AugmentOptions(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0))
    num_samples = int(round(options.clip_seconds * SAMPLE_RATE))
    waveforms = np.zeros((options.num_clips, num_samples), np.int16)
    events, negatives, voices = [], [], []
    for index in range(options.num_clips):
        voice = options.voices[index % len(options.voices)]
        bank, resources = per_voice[voice]
        clip, triggers, spoken = make_scene_clip(
            rng, bank, resources, num_samples, scene, negative_only=options.kind == "negatives")
        # Every positive clip holds at least one trigger word, for recall per voice.
        for _ in range(5):
            if triggers or options.kind == "negatives":
                break
            clip, triggers, spoken = make_scene_clip(rng, bank, resources, num_samples, scene)
        waveforms[index] = np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16)
        events.append(triggers)
        negatives.append(spoken)
        voices.append(voice)
    return HeldOutClips(waveforms, events, negatives, voices)


def make_held_out_clips(kind: str, num_clips: int, seed: int = 0, word: str = DEFAULT_WORD,
                        negative_words=NEGATIVE_WORDS, voices=None, cache_dir=None,
                        cache: ClipCache | None = None, **options) -> HeldOutClips:
    """Makes (or loads from cache) an other-engine set of ``kind``; **evaluation only**."""
    options = HeldOutOptions(kind, num_clips, tuple(voices) if voices else installed_voices(),
                             seed, word, tuple(negative_words), **options)
    cache = cache if cache is not None else ClipCache(cache_dir)
    directory = cache.path(options.name, options)
    if directory is not None and (directory / "events.json").exists():
        meta = json.loads((directory / "events.json").read_text())
        return HeldOutClips(np.load(directory / "waveforms.npy", mmap_mode="r"),
                            [[tuple(e) for e in c] for c in meta["events"]],
                            [[tuple(e) for e in c] for c in meta["negatives"]], meta["voices"])
    clips = synthesize_held_out(options, cache)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / "waveforms.npy",
                         lambda temporary: np.save(temporary, clips.waveforms))
        meta = dict(cache_fields(options), events=clips.events, negatives=clips.negatives,
                    voices=clips.voices)
        write_atomically(directory / "events.json",
                         lambda temporary: temporary.write_text(json.dumps(meta)))
    return clips
