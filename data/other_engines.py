"""Speech from other engines than eSpeak NG (Debian's ``flite`` and ``festival``), for evaluation only.

Every model here is trained on eSpeak NG voices; a test on eSpeak voices
never heard still shares the engine's way of making speech. These engines
make it differently (flite's clustergen and diphone voices, festival's
diphones), so they measure how far a model carries beyond the engine it
learnt from. **Nothing made here is ever used in training**: the sets are
evaluation sets, kept aside.

The engines are command-line programs installed by the system's package
manager (``apt-get install flite festival``); when they are missing,
:func:`available_engines` is empty and the functions that need them raise a
``RuntimeError`` saying so.

* :func:`available_engines`: the engines installed and their voices.
* :func:`synthesize`: any text in one voice, float32 16 kHz, at a chosen
  ``duration_stretch`` (above 1 is slower), trimmed of leading and trailing
  silence like :meth:`data.trigger_word.EspeakEngine.synthesize`.
* :func:`make_other_engine_spoken_clips`: grammar utterances of
  ``data.spoken_forms`` said by these voices at varied speed, over the same
  kinds of backgrounds and SNRs as the eSpeak clips (babble from these
  voices too), cached like them.

flite's ``awb_time`` is left out: it is a limited-domain voice that only
says the phrases of a talking clock.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from data.spoken_forms.clips import (
    BABBLE_WORDS,
    DEFAULT_PADDING_SECONDS,
    DEFAULT_SNR_DB,
    SPOKEN_FORMS_VERSION,
    SpokenClips,
    assemble_clips,
    cached_clips,
)
from data.spoken_forms.grammar import CATEGORIES, generate_utterances
from data.spoken_forms.speech import CHUNK_SIZE, speech_text
from data.trigger_word import BACKGROUND_KINDS, SAMPLE_RATE, ClipCache, WordBank, cache_fields
from data.trigger_word import resample, trim_silence

ENGINES = ("flite", "festival")
# Limited-domain voices say only the phrases they were built for.
LIMITED_DOMAIN_VOICES = {"flite": ("awb_time",), "festival": ()}
DEFAULT_DURATION_STRETCH = (0.8, 1.25)
# The random stream of the other engines' texts, apart from the eSpeak splits' (0, 1, 2).
OTHER_ENGINES_STREAM = 17
_TIMEOUT_SECONDS = 120


def available_engines() -> dict[str, list[str]]:
    """``{engine: [voice, ...]}`` of the installed engines (``{}`` when none is).

    flite's voices come from ``flite -lv``, festival's from ``(voice.list)``;
    limited-domain voices (``LIMITED_DOMAIN_VOICES``) are left out.
    """
    engines = {}
    voices = [v for v in _flite_voices() if v not in LIMITED_DOMAIN_VOICES["flite"]]
    if voices:
        engines["flite"] = voices
    if shutil.which("festival") and shutil.which("text2wave"):
        result = subprocess.run(["festival", "-b", "(print (voice.list))"], capture_output=True,
                                text=True, timeout=_TIMEOUT_SECONDS)
        voices = re.findall(r"[A-Za-z0-9_]+", result.stdout)
        voices = [v for v in voices if v not in LIMITED_DOMAIN_VOICES["festival"]]
        if result.returncode == 0 and voices:
            engines["festival"] = voices
    return engines


def _flite_voices() -> list[str]:
    """Every voice ``flite -lv`` lists, limited-domain ones included (``[]`` without flite)."""
    if not shutil.which("flite"):
        return []
    result = subprocess.run(["flite", "-lv"], capture_output=True, text=True,
                            timeout=_TIMEOUT_SECONDS)
    return result.stdout.split(":", 1)[-1].split() if result.returncode == 0 else []


def synthesize(engine: str, voice: str, text: str, duration_stretch: float = 1.0,
               trim: bool = True) -> np.ndarray:
    """``text`` said by ``voice`` of ``engine``: float32 audio at 16 kHz.

    Args:
        engine: ``"flite"`` or ``"festival"``.
        voice: one of ``available_engines()[engine]`` (``"slt"``, ``"kal_diphone"``).
        text: any English text.
        duration_stretch: how much longer than the voice's own pace (0.8 is
            faster, 1.25 slower); flite's ``duration_stretch`` feature,
            festival's ``Duration_Stretch`` parameter.
        trim: cut leading and trailing silence (:func:`data.trigger_word.trim_silence`).
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; expected one of {ENGINES}")
    if not 0.25 <= duration_stretch <= 4.0:
        raise ValueError(f"duration_stretch must lie in [0.25, 4]; received {duration_stretch}")
    if not text.strip():
        raise ValueError("Nothing to say: the text is empty")
    program = "flite" if engine == "flite" else "text2wave"
    if not shutil.which(program):
        raise RuntimeError(f"{engine} is not installed (apt-get install {engine})")
    # flite falls back to its default voice, silently, on a name it does not know.
    if engine == "flite" and voice not in _flite_voices():
        raise ValueError(f"flite has no voice {voice!r}; it has {_flite_voices()}")
    if engine == "festival" and not re.fullmatch(r"[A-Za-z0-9_]+", voice):
        raise ValueError(f"Invalid festival voice name {voice!r}")
    import soundfile

    with tempfile.TemporaryDirectory(prefix="seqmodels-tts-") as directory:
        output = Path(directory) / "speech.wav"
        if engine == "flite":
            command = ["flite", "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.4f}",
                       "-t", text, "-o", str(output)]
        else:
            source = Path(directory) / "text.txt"
            source.write_text(text)
            command = ["text2wave", "-eval", f"(voice_{voice})",
                       "-eval", f"(Parameter.set 'Duration_Stretch {duration_stretch:.4f})",
                       str(source), "-o", str(output)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS)
        if engine == "festival" and f"unbound variable : voice_{voice}" in result.stderr + result.stdout:
            raise ValueError(f"festival has no voice {voice!r}")
        if result.returncode != 0 or not output.exists() or output.stat().st_size <= 44:
            raise RuntimeError(f"{engine} voice {voice!r} failed to say {text!r}: "
                               f"{(result.stderr or result.stdout).strip()[-500:]}")
        audio, rate = soundfile.read(str(output), dtype="float32", always_2d=True)
    audio = resample(audio.mean(axis=1), rate, SAMPLE_RATE)
    return trim_silence(audio) if trim else audio


@dataclasses.dataclass(frozen=True)
class OtherEngineClipOptions:
    """Everything that decides a set of other engines' clips, and so its cache entry."""

    num_utterances: int
    seed: int = 0
    voices: tuple = ()  # "engine/voice" strings
    duration_stretch: tuple = DEFAULT_DURATION_STRETCH
    snr_db: tuple = DEFAULT_SNR_DB
    background_kinds: tuple = BACKGROUND_KINDS
    padding_seconds: tuple = DEFAULT_PADDING_SECONDS
    categories: tuple = CATEGORIES
    spoken_forms_version: int = SPOKEN_FORMS_VERSION

    def __post_init__(self):
        for name in ("voices", "duration_stretch", "snr_db", "background_kinds",
                     "padding_seconds", "categories"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.num_utterances < 0:
            raise ValueError(f"num_utterances must be >= 0; received {self.num_utterances}")
        if not self.voices:
            raise RuntimeError("No other speech engine is installed (apt-get install flite "
                               "festival), so there are no voices to make clips with")
        for name in self.voices:
            if name.partition("/")[0] not in ENGINES or not name.partition("/")[2]:
                raise ValueError(f"Voices are 'engine/voice' with engine in {ENGINES}; "
                                 f"received {name!r}")
        low, high = self.duration_stretch
        if not 0.25 <= low <= high <= 4.0:
            raise ValueError(f"duration_stretch must be (low, high) within [0.25, 4]; received "
                             f"{self.duration_stretch}")
        unknown = set(self.background_kinds) - set(BACKGROUND_KINDS)
        if unknown or not self.background_kinds:
            raise ValueError(f"background_kinds must be a non-empty subset of {BACKGROUND_KINDS}; "
                             f"received {self.background_kinds}")


def make_other_engine_spoken_clips(num_utterances: int, seed: int = 0, cache_dir=None,
                                   voices=None, duration_stretch=DEFAULT_DURATION_STRETCH,
                                   snr_db=DEFAULT_SNR_DB, background_kinds=BACKGROUND_KINDS,
                                   padding_seconds=DEFAULT_PADDING_SECONDS,
                                   categories=CATEGORIES, verbose: bool = True,
                                   workers: int | None = None,
                                   cache: ClipCache | None = None) -> SpokenClips:
    """Grammar utterances said by flite and festival voices: an **evaluation-only** set.

    Never train on it: it measures speech from engines no model has heard.
    Each utterance is said by a voice drawn uniformly from ``voices`` at a
    ``duration_stretch`` drawn uniformly from its range, then padded and put
    over a background exactly as :func:`data.spoken_forms.make_spoken_clips`
    does; babble is made of these voices saying words outside the grammar.
    The texts come from their own random stream, not the eSpeak splits'.

    Args:
        num_utterances: how many clips.
        seed: fixes texts, voices, speeds, backgrounds and levels; clip ``i``
            is the same in a set of any size.
        cache_dir: as for ``make_spoken_clips`` (default
            ``~/.cache/seqmodels/spoken_forms``; ``False`` writes nothing).
        voices: ``"engine/voice"`` strings; default every voice of
            :func:`available_engines`.
        duration_stretch, snr_db, background_kinds, padding_seconds, categories:
            ranges and choices as named (see ``make_spoken_clips``).
        workers: engine processes run at once (the result does not depend on it).

    Raises:
        RuntimeError: when no engine is installed.
    """
    if voices is None:
        voices = [f"{engine}/{voice}" for engine, names in available_engines().items()
                  for voice in names]
    options = OtherEngineClipOptions(num_utterances, seed, tuple(voices), duration_stretch,
                                     snr_db, background_kinds, padding_seconds, categories)
    return cached_clips(
        "other-engines", options, cache_dir, cache,
        lambda cache, directory: _synthesize_other_engine_clips(options, directory, verbose, workers))


def _synthesize_other_engine_clips(options: OtherEngineClipOptions, directory, verbose: bool,
                                   workers: int | None) -> SpokenClips:
    utterances = generate_utterances(options.num_utterances, options.seed,
                                     stream=OTHER_ENGINES_STREAM, categories=options.categories)
    rngs = [np.random.default_rng([options.seed, OTHER_ENGINES_STREAM, 808, index])
            for index in range(options.num_utterances)]
    voices = [options.voices[int(rng.integers(len(options.voices)))] for rng in rngs]
    stretches = [float(rng.uniform(*options.duration_stretch)) for rng in rngs]
    needs_babble = bool({"babble", "mixture"} & set(options.background_kinds))
    bank = babble_bank(options.voices, workers) if needs_babble and options.num_utterances else None
    if verbose and options.num_utterances:
        print(f"other engines: synthesising {options.num_utterances} utterances with "
              f"{len(options.voices)} voices", flush=True)
    jobs = [(voice, speech_text(u.text), stretch)
            for voice, u, stretch in zip(voices, utterances, stretches)]
    chunks = (_run_jobs(jobs[start:start + CHUNK_SIZE], workers, verbose, start, len(jobs))
              for start in range(0, len(jobs), CHUNK_SIZE))
    return assemble_clips(chunks, rngs, utterances, voices, bank, options.background_kinds,
                          options.snr_db, options.padding_seconds, directory,
                          cache_fields(options))


def _run_jobs(jobs, workers, verbose=False, done=0, total=0) -> list[np.ndarray]:
    """``synthesize`` of each ``(engine/voice, text, stretch)``, in threads (each runs a process)."""
    def run(job):
        name, text, stretch = job
        engine, _, voice = name.partition("/")
        return synthesize(engine, voice, text, stretch)

    with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(run, jobs))
    if verbose:
        print(f"  other engines: {done + len(jobs)}/{total} utterances", flush=True)
    return results


def babble_bank(voices, workers: int | None = None, words=BABBLE_WORDS,
                piece_seconds: float = 0.6) -> WordBank:
    """Babble material for :func:`data.trigger_word.make_background`: each voice says ``words``.

    One call per voice says the whole list; the speech is cut into pieces of
    ``piece_seconds`` (babble needs speech-like sound, not whole words).
    """
    texts = [(voice, ", ".join(words), 1.0) for voice in voices]
    speech = _run_jobs(texts, workers)
    piece = int(piece_seconds * SAMPLE_RATE)
    pieces = [[audio[start:start + piece] for start in range(0, len(audio) - piece + 1, piece)]
              or [audio] for audio in speech]
    count = min(len(p) for p in pieces)
    return WordBank("", tuple(f"piece{i}" for i in range(count)), list(voices),
                    [[] for _ in voices], [p[:count] for p in pieces])
