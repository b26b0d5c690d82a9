"""Word banks: every speaker of a split says the trigger word a few times and each negative word once.

A bank is synthesised by eSpeak NG in a fresh Python process (so it is the
same whatever was synthesised before it), then kept in a :class:`ClipCache`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from data.trigger_word.cache import ClipCache, cache_fields, write_atomically
from data.trigger_word.fresh_process import worker_output
from data.trigger_word.speech_engine import EspeakEngine
from data.trigger_word.voices import SPLITS, Speaker, make_speakers, synthetic_voice_data

DEFAULT_WORD = "activate"
# Near-misses share sounds with "activate"; the detector must learn to reject them.
NEAR_MISS_WORDS = (
    "activity", "active", "actively", "activist", "action", "captivate", "captive",
    "motivate", "cultivate", "navigate", "vacation", "vacate", "cavity", "relative",
    "creative", "elevate", "accurate", "candidate", "alligator", "activism",
)
# Ordinary words give the detector the rest of the language.
OTHER_WORDS = (
    "hello", "computer", "weather", "music", "today", "morning", "yellow", "window",
    "banana", "seven", "purple", "garden", "listen", "people", "table", "paper",
    "river", "dinner", "evening", "tomorrow", "keyboard", "kitchen", "telephone",
    "umbrella", "picture", "station",
)
NEGATIVE_WORDS = NEAR_MISS_WORDS + OTHER_WORDS
# Clause endings eSpeak NG gives their own intonation (statement, exclamation, question,
# continuation, trailing off); "" is the bare word.
CLAUSE_ENDINGS = ("", ".", "!", "?", ",", "...")


def with_extra_near_misses(negative_words, extra_near_misses) -> tuple:
    """``negative_words`` followed by the words of ``extra_near_misses`` not already in it."""
    negative_words = tuple(negative_words)
    seen = set(negative_words)
    extra = [w for w in dict.fromkeys(extra_near_misses) if w not in seen]
    return negative_words + tuple(extra)


@dataclasses.dataclass(frozen=True)
class WordBankOptions:
    """Everything that decides one split's word bank, and so its cache entry.

    Args:
        split: "train", "validation" or "test"; the splits share no voice variant.
        seed: fixes the speakers and the prosody of each take.
        word: the trigger word, any English text eSpeak NG can say.
        speakers_per_variant: speakers made from each shipped voice variant.
        negative_words: the words that are not the trigger.
        synthetic_voices: extra training speakers with generated voice
            variants (:func:`random_variant`); training split only.
        extra_near_misses: near-misses beyond ``NEAR_MISS_WORDS`` (e.g. mined
            from the word's phonemes, :func:`data.trigger_word.near_misses.pick_near_misses`),
            said after ``negative_words`` and drawn as near-misses by the clips.
        varied_prosody: each trigger take gets a random clause intonation
            (:data:`CLAUSE_ENDINGS`) and wider rate, pitch and pitch-range
            jitter than the default takes (see :func:`build_word_bank`).
    """

    split: str
    seed: int = 0
    word: str = DEFAULT_WORD
    speakers_per_variant: int = 2
    negative_words: tuple = NEGATIVE_WORDS
    # Left out of the cache key at 0, so banks cached before generated voices existed stay valid.
    synthetic_voices: int = dataclasses.field(default=0, metadata={"cache_key_omits": 0})
    # Left out of the cache key when empty, so banks cached before it existed stay valid.
    extra_near_misses: tuple = dataclasses.field(default=(), metadata={"cache_key_omits": ()})
    varied_prosody: bool = dataclasses.field(default=False, metadata={"cache_key_omits": False})

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"Invalid split {self.split!r}; expected one of {SPLITS}")
        if not self.word.strip():
            raise ValueError("The trigger word must be non-empty text")
        if self.synthetic_voices < 0:
            raise ValueError(f"synthetic_voices must be >= 0; received {self.synthetic_voices}")
        if self.synthetic_voices and self.split != "train":
            raise ValueError(f"Synthetic voices are for training only (validation and test measure "
                             f"shipped voices never heard); received split={self.split!r}")
        object.__setattr__(self, "negative_words", tuple(self.negative_words))
        object.__setattr__(self, "synthetic_voices", int(self.synthetic_voices))
        object.__setattr__(self, "extra_near_misses", tuple(self.extra_near_misses))

    @property
    def all_negative_words(self) -> tuple:
        """``negative_words`` then the extra near-misses not among them (the bank's words, in order)."""
        return with_extra_near_misses(self.negative_words, self.extra_near_misses)

    @property
    def name(self) -> str:
        """The readable start of this split's cache entry names."""
        return f"{self.split}-{self.word.replace(' ', '_')[:20]}"


@dataclasses.dataclass
class WordBank:
    """Synthesised words of one split: ``triggers[s]`` and ``negatives[s][w]`` per speaker s."""

    word: str
    negative_words: tuple
    speakers: list
    triggers: list  # list (speaker) of list (take) of float32 arrays
    negatives: list  # list (speaker) of list (negative word) of float32 arrays
    # Negative words drawn as near-misses besides NEAR_MISS_WORDS (mined ones, for example).
    extra_near_misses: tuple = ()

    def is_near_miss(self, word: str) -> bool:
        return word in NEAR_MISS_WORDS or word in self.extra_near_misses

    def near_miss_indices(self) -> list:
        """Indices into ``negative_words`` of the near-misses, which clips draw half their negatives from."""
        return [index for index, word in enumerate(self.negative_words) if self.is_near_miss(word)]

    def save(self, path: Path, extra_meta: dict) -> None:
        """Writes the bank as float16 audio plus offsets and a JSON description, atomically."""
        pieces = [a for s in range(len(self.speakers)) for a in self.triggers[s] + self.negatives[s]]
        offsets = np.cumsum([0] + [len(a) for a in pieces])
        meta = dict(extra_meta, word=self.word, negative_words=list(self.negative_words),
                    trigger_takes=len(self.triggers[0]) if self.triggers else 0,
                    extra_near_misses=list(self.extra_near_misses),
                    speakers=[dataclasses.asdict(s) for s in self.speakers])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temporary: np.savez(
            temporary, audio=np.concatenate(pieces).astype(np.float16), offsets=offsets,
            meta=np.array(json.dumps(meta))))

    @classmethod
    def load(cls, path: Path) -> "WordBank":
        stored = np.load(path, allow_pickle=False)
        meta = json.loads(str(stored["meta"]))
        audio, offsets = stored["audio"].astype(np.float32), stored["offsets"]
        pieces = [audio[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        speakers = [Speaker(**s) for s in meta["speakers"]]
        takes, per_speaker = meta["trigger_takes"], meta["trigger_takes"] + len(meta["negative_words"])
        return cls(
            meta["word"], tuple(meta["negative_words"]), speakers,
            [pieces[i * per_speaker: i * per_speaker + takes] for i in range(len(speakers))],
            [pieces[i * per_speaker + takes: (i + 1) * per_speaker] for i in range(len(speakers))],
            tuple(meta.get("extra_near_misses", ())))


def build_word_bank(engine: EspeakEngine, word: str, speakers: list[Speaker],
                    negative_words=NEGATIVE_WORDS, trigger_takes: int = 3, seed: int = 0,
                    varied_prosody: bool = False) -> WordBank:
    """Synthesises the trigger ``trigger_takes`` times and each negative once per speaker.

    Each take jitters the speaker's rate (x0.85-1.15) and pitch (+-8). With
    ``varied_prosody`` the jitter is wider (rate x0.7-1.35, pitch +-20, a new
    pitch range 0-100) and the word ends a clause drawn from
    :data:`CLAUSE_ENDINGS`, whose intonation eSpeak NG varies (falling,
    rising, exclaimed): other voices say the word with other melodies and speeds.
    """
    rng = np.random.default_rng([seed, 202])
    negative_words = tuple(w for w in negative_words if w.lower() != word.lower())
    triggers, negatives = [], []
    for speaker in speakers:
        takes = []
        for _ in range(trigger_takes):
            # Jitter prosody per take so one speaker's triggers are not identical.
            if varied_prosody:
                varied = dataclasses.replace(
                    speaker,
                    rate=int(np.clip(speaker.rate * rng.uniform(0.7, 1.35), 80, 320)),
                    pitch=int(np.clip(speaker.pitch + rng.integers(-20, 21), 0, 100)),
                    pitch_range=int(rng.integers(0, 101)))
                text = word + CLAUSE_ENDINGS[int(rng.integers(len(CLAUSE_ENDINGS)))]
            else:
                varied = dataclasses.replace(
                    speaker,
                    rate=int(np.clip(speaker.rate * rng.uniform(0.85, 1.15), 80, 300)),
                    pitch=int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 100)),
                )
                text = word
            takes.append(engine.synthesize(text, varied))
        triggers.append(takes)
        negatives.append([engine.synthesize(w, speaker) for w in negative_words])
    return WordBank(word, negative_words, list(speakers), triggers, negatives)


def build_word_bank_in_fresh_process(word, speakers, negative_words, seed,
                                     data_path=None, varied_prosody: bool = False) -> WordBank:
    """:func:`build_word_bank` in a new Python process with its own :class:`EspeakEngine`.

    eSpeak NG keeps a little global state between calls (the level of the last
    voice variant, its noise generator), which ``espeak_Terminate`` does not
    reset; a fresh process per bank makes every bank the same whatever was
    synthesised before it in the caller.
    """
    request = dict(word=word, speakers=[dataclasses.asdict(s) for s in speakers],
                   negative_words=list(negative_words), seed=int(seed), data_path=data_path,
                   varied_prosody=bool(varied_prosody))
    with worker_output("data.trigger_word.word_bank:_bank_worker", request, "bank.npz",
                       "Word bank synthesis") as path:
        return WordBank.load(path)


def _bank_worker():
    """Entry point of the child process: request JSON on stdin, bank to argv[1]."""
    request = json.loads(sys.stdin.read())
    engine = EspeakEngine(request.get("data_path"))
    speakers = [Speaker(**s) for s in request["speakers"]]
    bank = build_word_bank(engine, request["word"], speakers, tuple(request["negative_words"]),
                           seed=request["seed"], varied_prosody=request.get("varied_prosody", False))
    bank.save(Path(sys.argv[1]), {})


def load_word_bank(options: WordBankOptions, cache: ClipCache | None = None) -> WordBank:
    """The word bank of ``options``: from ``cache``'s memory, its directory, or eSpeak NG (in order)."""
    cache = ClipCache() if cache is None else cache
    if options in cache.word_banks:
        return cache.word_banks[options]
    path = cache.path(f"bank-{options.name}", options, ".npz")
    if path is not None and path.exists():
        bank = WordBank.load(path)
        # The word list is the options' (older entries did not store the extra near-misses).
        bank.extra_near_misses = options.extra_near_misses
    else:
        bank = _synthesize_word_bank(options, cache.directory)
        if path is not None:
            bank.save(path, cache_fields(options))
    cache.word_banks[options] = bank
    return bank


def _synthesize_word_bank(options: WordBankOptions, cache_directory) -> WordBank:
    speakers = make_speakers(options.speakers_per_variant, options.seed,
                             synthetic_voices=options.synthetic_voices)[options.split]
    with synthetic_voice_data(options.seed, options.synthetic_voices, cache_directory) as data_path:
        bank = build_word_bank_in_fresh_process(options.word, list(speakers), options.all_negative_words,
                                                options.seed + SPLITS.index(options.split), data_path,
                                                options.varied_prosody)
    bank.extra_near_misses = options.extra_near_misses
    return bank
