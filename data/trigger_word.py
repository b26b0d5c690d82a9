"""Synthetic trigger-word clips: eSpeak NG speech over generated backgrounds.

No speech corpus can be downloaded here, so the data is made, deterministically
from a seed, the way the course's trigger-word exercise assembles its clips:

1. **Speakers.** eSpeak NG voices are combined from an English accent
   (``en-us``, ``en-gb-scotland``, ``en-029``, ...), a voice variant (``f3``,
   ``klatt2``, ``Andy``, ...; about a hundred ship with ``espeakng-loader``), a
   pitch, a pitch range and a speaking rate. Speakers are split into
   train / validation / test **by variant**, so the test split only holds voice
   variants the model never heard. Training can add speakers with *generated*
   variants (``synthetic_voices``, :func:`random_variant`: random vocal-tract
   length, formants, breathiness up to a whisper, roughness, spectral tilt,
   echo, Klatt synthesis): about 70 shipped timbres are too few to learn a word
   apart from the voice saying it, and the generated ones never touch the
   validation or test voices.
2. **Word bank.** Every speaker says the trigger word a few times (with jittered
   rate and pitch) and every negative word once. Negatives include near-misses
   ("activity", "captivate", "vacation", ...). The bank is cached on disk.
3. **Backgrounds** made with numpy: white/pink/brown/blue noise, mains hum with
   harmonics, babble of overlapping negative words, near-silence, and mixtures.
4. **Clips** of 10 s at 16 kHz: triggers and negatives inserted without overlap
   at random signal-to-noise ratios. Labels per output frame are 1 for the 50
   course-frames (50 * 10 s / 1375 = 0.364 s) after each trigger word ends,
   converted to the model's frame rate by :func:`frame_labels`.

Clips are cached as int16 ``.npy`` files (memory-mapped when read) next to a
JSON file of event times, under ``~/.cache/seqmodels/trigger_word`` unless a
``cache_dir`` is given. A few thousand clips take a few minutes to make.

Example:

>>> clips = make_trigger_word_clips("train", num_clips=8, seed=0)
>>> clips.waveforms.shape
(8, 160000)
>>> labels = frame_labels(clips.events[0], num_frames=250, frame_seconds=0.04)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import dataclasses
import hashlib
import json
import os
import tempfile
import zlib
import threading
from pathlib import Path

import numpy as np
import scipy.fft

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0
DEFAULT_WORD = "activate"
# The course labels 50 of its 1375 output frames per 10 s clip after each word.
LABEL_SECONDS = 50 * CLIP_SECONDS / 1375
# Bump whenever generation changes so stale caches are not reused.
GENERATOR_VERSION = 2

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

ACCENTS = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
SPLITS = ("train", "validation", "test")
# Names of the procedurally generated voice variants (see random_variant). Their
# files live outside voices/ (eSpeak NG lists at most 349 voices and variants
# there), in this folder of the data directory, reached from voices/!v/.
SYNTHETIC_VARIANT_PREFIX = "seqmodels-"
SYNTHETIC_VARIANT_DIR = "smv"
BACKGROUND_KINDS = ("white", "pink", "brown", "blue", "hum", "babble", "silence", "mixture")


# --------------------------------------------------------------------------- eSpeak NG


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic voice: eSpeak NG accent + variant + prosody settings."""

    accent: str
    variant: str
    pitch: int  # eSpeak pitch, 0-100 (50 is the voice's default).
    pitch_range: int  # eSpeak pitch range, 0-100 (0 is monotone).
    rate: int  # Words per minute (eSpeak default 175).

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


class ESpeak:
    """Minimal ctypes binding of the eSpeak NG C API bundled by ``espeakng-loader``.

    eSpeak NG keeps global state, so one instance per process is shared and
    every synthesis call holds a lock.
    """

    _instance = None
    _lock = threading.Lock()
    # espeak_PARAMETER values from speak_lib.h.
    _RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
    _AUDIO_OUTPUT_SYNCHRONOUS = 2
    _POS_CHARACTER = 1

    @classmethod
    def get(cls, data_path=None) -> "ESpeak":
        """The process's eSpeak NG, initialised from ``data_path`` (default: the bundled data).

        eSpeak NG can be initialised once per process, so asking for another
        data directory later is an error.
        """
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(data_path)
            elif data_path is not None and str(data_path) != cls._instance.data_path:
                raise RuntimeError(f"eSpeak NG was initialised from {cls._instance.data_path}; "
                                   f"it cannot switch to {data_path} in the same process")
            return cls._instance

    def __init__(self, data_path=None):
        try:
            import espeakng_loader
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(
                "Trigger-word data needs eSpeak NG: pip install espeakng-loader"
            ) from error
        self.data_path = str(data_path or espeakng_loader.get_data_path())
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = self._lib.espeak_Initialize(
            self._AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed with {self.sample_rate}")
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def collect(wav, num_samples, events):
            if num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            return 0

        # Keep a reference: ctypes callbacks are freed with their Python object.
        self._callback = callback_type(collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def variants(self) -> list[str]:
        """Names of the voice variants shipped with the eSpeak NG data."""
        return sorted(p.name for p in (Path(self.data_path) / "voices" / "!v").iterdir()
                      if p.is_file())

    def _voice_name(self, speaker: Speaker) -> str:
        """eSpeak's name for the speaker's voice; unknown variants are an error.

        (eSpeak NG itself silently falls back to the plain voice.)
        """
        if speaker.variant.startswith(SYNTHETIC_VARIANT_PREFIX):
            # Short relative name: eSpeak NG overflows on long variant names.
            variant = f"../../{SYNTHETIC_VARIANT_DIR}/{speaker.variant[len(SYNTHETIC_VARIANT_PREFIX):]}"
        else:
            variant = speaker.variant
        if not (Path(self.data_path) / "voices" / "!v" / variant).is_file():
            hint = (" (synthetic variants need the data directory made by "
                    "voice_data_with_variants)" if variant != speaker.variant else "")
            raise ValueError(f"eSpeak NG has no voice variant {speaker.variant!r} in "
                             f"{self.data_path}{hint}")
        return f"{speaker.accent}+{variant}"

    def synthesize(self, text: str, speaker: Speaker) -> np.ndarray:
        """Speaks ``text`` and returns float32 audio at 16 kHz, silence trimmed."""
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(self._voice_name(speaker).encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {speaker.voice!r}")
            # Every setting is made explicit and the noise generator reseeded, so a
            # word sounds the same whatever was synthesised before it.
            self._lib.espeak_ng_SetRandSeed(ctypes.c_long(zlib.crc32(f"{text}|{speaker}".encode())))
            self._lib.espeak_SetParameter(self._VOLUME, 100, 0)
            self._lib.espeak_SetParameter(self._RATE, int(speaker.rate), 0)
            self._lib.espeak_SetParameter(self._PITCH, int(speaker.pitch), 0)
            self._lib.espeak_SetParameter(self._RANGE, int(speaker.pitch_range), 0)
            encoded = text.encode() + b"\0"
            status = self._lib.espeak_Synth(
                encoded, len(encoded), 0, self._POS_CHARACTER, 0, 0, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0 or not chunks:
            raise RuntimeError(f"eSpeak NG failed to speak {text!r} as {speaker.voice}")
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        audio = resample(audio, self.sample_rate, SAMPLE_RATE)
        return trim_silence(audio)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis (float32)."""
    if rate_in == rate_out:
        return audio.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    divisor = gcd(int(rate_in), int(rate_out))
    return resample_poly(audio, rate_out // divisor, rate_in // divisor, axis=-1).astype(np.float32)


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> np.ndarray:
    """Cuts leading/trailing frames quieter than ``threshold_db`` below the peak.

    Word boundaries define the labels, so the synthesiser's padding silence
    must not count as part of the word.
    """
    num_frames = len(audio) // frame
    if num_frames == 0:
        return audio
    energy = np.sqrt(np.mean(audio[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1))
    loud = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 20))[0]
    if len(loud) == 0:
        return audio
    return audio[loud[0] * frame: (loud[-1] + 1) * frame]


# --------------------------------------------------------------------------- speakers


def make_speakers(speakers_per_variant: int = 2, seed: int = 0,
                  split_fractions=(0.7, 0.12, 0.18),
                  synthetic_voices: int = 0) -> dict[str, list[Speaker]]:
    """Makes speakers and splits them by voice variant into train/validation/test.

    Every speaker of one variant lands in the same split, so the test split
    measures voices (variant timbres) the model never heard; accents, pitch
    and rate are drawn independently per speaker.

    ``synthetic_voices`` adds that many training speakers whose variants are
    generated by :func:`random_variant` (random vocal-tract length, formants,
    breathiness, roughness, tone...). They only ever join the training split,
    and are drawn from their own random stream, so validation and test
    speakers are the same whatever their number.
    """
    variants = ESpeak.get().variants()
    rng = np.random.default_rng([seed, 101])
    order = rng.permutation(len(variants))
    num_train = int(round(split_fractions[0] * len(variants)))
    num_validation = int(round(split_fractions[1] * len(variants)))
    groups = {
        "train": order[:num_train],
        "validation": order[num_train:num_train + num_validation],
        "test": order[num_train + num_validation:],
    }
    speakers = {}
    for split, indices in groups.items():
        speakers[split] = [
            Speaker(
                accent=ACCENTS[rng.integers(len(ACCENTS))],
                variant=variants[index],
                pitch=int(rng.integers(20, 81)),
                pitch_range=int(rng.integers(20, 91)),
                rate=int(rng.integers(120, 231)),
            )
            for index in sorted(indices)
            for _ in range(speakers_per_variant)
        ]
    synthetic_rng = np.random.default_rng([seed, 104])
    speakers["train"] += [
        Speaker(
            accent=ACCENTS[synthetic_rng.integers(len(ACCENTS))],
            variant=synthetic_variant_name(seed, index),
            pitch=int(synthetic_rng.integers(10, 91)),
            pitch_range=int(synthetic_rng.integers(10, 96)),
            rate=int(synthetic_rng.integers(110, 251)),
        )
        for index in range(synthetic_voices)
    ]
    return speakers


def synthetic_variant_name(seed: int, index: int) -> str:
    return f"{SYNTHETIC_VARIANT_PREFIX}{seed}-{index}"


def random_variant(rng: np.random.Generator, name: str) -> str:
    """An eSpeak NG voice variant file with random timbre.

    The shipped variants (about a hundred) are few for learning a word
    independent of the voice; these fill the space between and around them:
    a vocal-tract length that scales every formant together, per-formant
    jitter, strengths and bandwidths, pitch register, flutter, roughness,
    breathiness up to a whisper, a random spectral tilt (``tone``), echo, and
    now and then eSpeak's Klatt synthesiser instead of its default one.
    """
    female = rng.random() < 0.5
    low = int(rng.uniform(140, 210) if female else rng.uniform(70, 130))
    lines = ["language variant", f"name {name}", f"gender {'female' if female else 'male'}",
             f"pitch {low} {low + int(rng.uniform(20, 110))}"]
    # Shorter vocal tracts (higher formants) for female voices, on average.
    tract = rng.uniform(1.0, 1.22) if female else rng.uniform(0.84, 1.06)
    for formant in range(9):
        frequency = int(round(100 * tract * rng.uniform(0.93, 1.07)))
        strength = int(rng.uniform(60, 150) if formant <= 3 else rng.uniform(10, 120))
        width = int(rng.uniform(60, 170))
        lines.append(f"formant {formant} {frequency} {strength} {width}")
    lines.append(f"flutter {int(rng.choice([0, 2, 5, 10, 20, 40]))}")
    lines.append(f"roughness {int(rng.choice([0, 0, 1, 2, 3, 4]))}")
    style = rng.random()
    if style < 0.15:  # whisper: breath noise on the formants, little voicing
        breath = np.sort(rng.uniform(10, 80, 8))[::-1].astype(int)
        lines += [f"voicing {int(rng.uniform(10, 30))}", "breath " + " ".join(map(str, breath)),
                  "breathw 150 150 200 200 400 400"]
    elif style < 0.45:  # breathy
        breath = rng.integers(0, 8, 8)
        lines += [f"voicing {int(rng.uniform(50, 120))}", "breath " + " ".join(map(str, breath))]
    else:
        lines.append(f"voicing {int(rng.uniform(60, 150))}")
    lines.append(f"consonants {int(rng.uniform(60, 140))} {int(rng.uniform(60, 140))}")
    if rng.random() < 0.5:
        points = [600, 1200, 2000, 3000]
        lines.append("tone " + " ".join(f"{f} {int(rng.uniform(20, 255))}" for f in points))
    if rng.random() < 0.25:
        lines.append(f"echo {int(rng.uniform(20, 150))} {int(rng.uniform(5, 30))}")
    if rng.random() < 0.15:
        lines.append(f"klatt {int(rng.integers(1, 7))}")
    return "\n".join(lines) + "\n"


def voice_data_with_variants(seed: int, synthetic_voices: int, cache_dir=None) -> str:
    """A copy of eSpeak NG's data directory holding the synthetic variants of ``seed``.

    The bundled data (about 20 MB) is copied once into ``cache_dir`` (default
    the trigger-word cache); variant files are written from their seed every
    time, so the copy can never hold stale ones.
    """
    import shutil

    import espeakng_loader

    source = Path(espeakng_loader.get_data_path())
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / "espeak-ng-data"
    if not (target / "phontab").exists():
        staging = root / f"espeak-ng-data.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    (target / SYNTHETIC_VARIANT_DIR).mkdir(exist_ok=True)
    for index in range(synthetic_voices):
        name = synthetic_variant_name(seed, index)
        text = random_variant(np.random.default_rng([seed, 105, index]), name)
        path = target / SYNTHETIC_VARIANT_DIR / name[len(SYNTHETIC_VARIANT_PREFIX):]
        if not path.exists() or path.read_text() != text:
            _write_atomically(path, lambda temporary: temporary.write_text(text))
    return str(target)


def _write_atomically(path: Path, write) -> None:
    """``write(temporary)`` then rename onto ``path``: a killed run leaves no half file.

    The temporary name is per process (two runs may fill one cache entry at
    once) and keeps the suffix (``np.save`` would append ``.npy`` otherwise).
    """
    temporary = path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")
    write(temporary)
    os.replace(temporary, path)


# --------------------------------------------------------------------------- word bank


@dataclasses.dataclass
class WordBank:
    """Synthesised words of one split: ``triggers[s]`` and ``negatives[s][w]`` per speaker s."""

    word: str
    negative_words: tuple
    speakers: list
    triggers: list  # list (speaker) of list (take) of float32 arrays
    negatives: list  # list (speaker) of list (negative word) of float32 arrays


def build_word_bank(word: str, speakers: list[Speaker], negative_words=NEGATIVE_WORDS,
                    trigger_takes: int = 3, seed: int = 0) -> WordBank:
    """Synthesises the trigger ``trigger_takes`` times and each negative once per speaker."""
    espeak = ESpeak.get()
    rng = np.random.default_rng([seed, 202])
    negative_words = tuple(w for w in negative_words if w.lower() != word.lower())
    triggers, negatives = [], []
    for speaker in speakers:
        takes = []
        for _ in range(trigger_takes):
            # Jitter prosody per take so one speaker's triggers are not identical.
            varied = dataclasses.replace(
                speaker,
                rate=int(np.clip(speaker.rate * rng.uniform(0.85, 1.15), 80, 300)),
                pitch=int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 100)),
            )
            takes.append(espeak.synthesize(word, varied))
        triggers.append(takes)
        negatives.append([espeak.synthesize(w, speaker) for w in negative_words])
    return WordBank(word, negative_words, list(speakers), triggers, negatives)


def _build_word_bank_in_fresh_process(word, speakers, negative_words, seed,
                                      data_path=None) -> WordBank:
    """:func:`build_word_bank` in a new Python process.

    eSpeak NG keeps a little global state between calls (the level of the last
    voice variant, its noise generator), which ``espeak_Terminate`` does not
    reset; a fresh process per bank makes every bank the same whatever was
    synthesised before it in the caller.
    """
    import subprocess
    import sys

    request = dict(word=word, speakers=[dataclasses.asdict(s) for s in speakers],
                   negative_words=list(negative_words), seed=int(seed), data_path=data_path)
    root = str(Path(__file__).resolve().parents[1])
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bank.npz"
        result = subprocess.run(
            [sys.executable, "-c", "from data.trigger_word import _bank_worker; _bank_worker()",
             str(path)], input=json.dumps(request), text=True, capture_output=True,
            env=environment, cwd=root)
        if result.returncode != 0:
            raise RuntimeError(f"Word bank synthesis failed:\n{result.stderr[-2000:]}")
        return _load_bank(path)


def _bank_worker():
    """Entry point of the child process: request JSON on stdin, bank to argv[1]."""
    import sys

    request = json.loads(sys.stdin.read())
    ESpeak.get(request.get("data_path"))
    speakers = [Speaker(**s) for s in request["speakers"]]
    bank = build_word_bank(request["word"], speakers, tuple(request["negative_words"]),
                           seed=request["seed"])
    _save_bank(bank, Path(sys.argv[1]), {})


def _save_bank(bank: WordBank, path: Path, extra_meta: dict):
    pieces = [a for s in range(len(bank.speakers)) for a in bank.triggers[s] + bank.negatives[s]]
    offsets = np.cumsum([0] + [len(a) for a in pieces])
    meta = dict(extra_meta, word=bank.word, negative_words=list(bank.negative_words),
                trigger_takes=len(bank.triggers[0]) if bank.triggers else 0,
                speakers=[dataclasses.asdict(s) for s in bank.speakers])
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, lambda temporary: np.savez(
        temporary, audio=np.concatenate(pieces).astype(np.float16), offsets=offsets,
        meta=np.array(json.dumps(meta))))


def _load_bank(path: Path) -> WordBank:
    stored = np.load(path, allow_pickle=False)
    meta = json.loads(str(stored["meta"]))
    audio, offsets = stored["audio"].astype(np.float32), stored["offsets"]
    pieces = [audio[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    speakers = [Speaker(**s) for s in meta["speakers"]]
    takes, per_speaker = meta["trigger_takes"], meta["trigger_takes"] + len(meta["negative_words"])
    return WordBank(
        meta["word"], tuple(meta["negative_words"]), speakers,
        [pieces[i * per_speaker: i * per_speaker + takes] for i in range(len(speakers))],
        [pieces[i * per_speaker + takes: (i + 1) * per_speaker] for i in range(len(speakers))])


# --------------------------------------------------------------------------- backgrounds


@functools.lru_cache(maxsize=16)
def _spectral_shape(num_samples: int, exponent: float) -> np.ndarray:
    frequencies = np.fft.rfftfreq(num_samples)
    frequencies[0] = frequencies[1]
    return (frequencies ** (exponent / 2)).astype(np.float32)


def coloured_noise(rng: np.random.Generator, num_samples: int, exponent: float) -> np.ndarray:
    """Noise with power spectral density proportional to ``f ** exponent``, unit RMS.

    exponent 0 is white, -1 pink, -2 brown, +1 blue.
    """
    white = rng.standard_normal(num_samples, dtype=np.float32)
    if exponent == 0:
        return white / (np.std(white) + 1e-12)
    spectrum = scipy.fft.rfft(white) * _spectral_shape(num_samples, float(exponent))
    noise = scipy.fft.irfft(spectrum, n=num_samples).astype(np.float32)
    return noise / (np.std(noise) + 1e-12)


def mains_hum(rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """50 or 60 Hz hum with decaying harmonics and a little noise, unit RMS.

    Both mains frequencies divide 16 kHz into a whole number of samples every
    (1/10 s), so one 0.1 s period is computed and tiled.
    """
    fundamental = float(rng.choice([50.0, 60.0]))
    period = SAMPLE_RATE // 10
    time = np.arange(period, dtype=np.float32) / SAMPLE_RATE
    hum = np.zeros(period, np.float32)
    for harmonic in range(1, 8):
        hum += rng.uniform(0.1, 1.0) / harmonic * np.sin(
            2 * np.pi * fundamental * harmonic * time + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    hum = np.resize(hum, num_samples)
    hum += 0.05 * np.std(hum) * rng.standard_normal(num_samples, dtype=np.float32)
    return hum / (np.std(hum) + 1e-12)


def babble(rng: np.random.Generator, num_samples: int, bank: WordBank) -> np.ndarray:
    """Many overlapping negative words from the split's own speakers, unit RMS."""
    out = np.zeros(num_samples, np.float32)
    num_words = int(rng.integers(15, 40)) * num_samples // int(SAMPLE_RATE * CLIP_SECONDS) + 1
    for _ in range(num_words):
        speaker = rng.integers(len(bank.speakers))
        audio = bank.negatives[speaker][rng.integers(len(bank.negative_words))]
        if len(audio) >= num_samples:
            continue
        start = rng.integers(0, num_samples - len(audio))
        out[start:start + len(audio)] += audio * rng.uniform(0.3, 1.0)
    out += 0.01 * rng.standard_normal(num_samples, dtype=np.float32)
    return out / (np.std(out) + 1e-12)


def make_background(rng: np.random.Generator, kind: str, num_samples: int,
                    bank: WordBank) -> np.ndarray:
    """A background of the given kind at a random level (peak-normalised RMS in dBFS)."""
    if kind == "white":
        noise = coloured_noise(rng, num_samples, 0.0)
    elif kind == "pink":
        noise = coloured_noise(rng, num_samples, -1.0)
    elif kind == "brown":
        noise = coloured_noise(rng, num_samples, -2.0)
    elif kind == "blue":
        noise = coloured_noise(rng, num_samples, 1.0)
    elif kind == "hum":
        noise = mains_hum(rng, num_samples)
    elif kind == "babble":
        noise = babble(rng, num_samples, bank)
    elif kind == "silence":
        return (10 ** (rng.uniform(-80, -60) / 20)
                * rng.standard_normal(num_samples, dtype=np.float32)).astype(np.float32)
    elif kind == "mixture":
        parts = rng.choice(["white", "pink", "brown", "hum", "babble"], size=2, replace=False)
        noise = sum(make_background(rng, str(part), num_samples, bank) for part in parts)
        noise = noise / (np.std(noise) + 1e-12)
    else:
        raise ValueError(f"Unknown background kind {kind!r}; expected one of {BACKGROUND_KINDS}")
    return (10 ** (rng.uniform(-45, -20) / 20) * noise).astype(np.float32)


# --------------------------------------------------------------------------- clips


def _place(rng, occupied, length, num_samples, gap):
    """Finds a random start for a segment that overlaps none in ``occupied``."""
    for _ in range(50):
        start = int(rng.integers(0, num_samples - length))
        end = start + length
        if all(end + gap <= s or start >= e + gap for s, e in occupied):
            occupied.append((start, end))
            return start
    return None


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
    gap = int(0.1 * SAMPLE_RATE)
    # Speech level: a signal-to-noise ratio against the background, clamped so
    # near-silent backgrounds still get audible speech.
    def insert(audio):
        snr_db = rng.uniform(0, 30)
        speech_rms = float(np.sqrt(np.mean(audio ** 2))) + 1e-7
        target = max(background_rms * 10 ** (snr_db / 20), 10 ** (rng.uniform(-35, -15) / 20))
        start = _place(rng, occupied, len(audio), num_samples, gap)
        if start is None:
            return None
        clip[start:start + len(audio)] += audio * (target / speech_rms)
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
    num_near = sum(w in NEAR_MISS_WORDS for w in bank.negative_words)
    for _ in range(num_negatives):
        # Half the negatives are near-misses: they are what the detector confuses.
        if num_near and rng.random() < 0.5:
            index = int(rng.integers(num_near))
        else:
            index = int(rng.integers(len(bank.negative_words)))
        speaker = rng.integers(len(bank.speakers))
        span = insert(bank.negatives[speaker][index])
        if span is not None:
            negatives.append((span[0], span[1], bank.negative_words[index]))
    # Random overall gain, avoiding clipping.
    peak = float(np.max(np.abs(clip))) + 1e-7
    clip *= min(10 ** (rng.uniform(-20, -1) / 20) / peak, 0.99 / peak)
    triggers.sort()
    negatives.sort()
    return clip.astype(np.float32), triggers, negatives


def _trigger_count_probabilities(max_triggers):
    weights = np.array([1.0, 1.4, 1.0, 0.6, 0.3, 0.2, 0.1][: max_triggers + 1])
    return weights / weights.sum()


def frame_labels(triggers, num_frames: int, frame_seconds: float,
                 label_seconds: float = LABEL_SECONDS) -> np.ndarray:
    """Per-frame targets: 1 where a frame ends within ``label_seconds`` after a trigger ends.

    Output frame ``t`` of a causal model summarises audio up to
    ``(t + 1) * frame_seconds``, so that is the time each frame is labelled at.
    """
    times = (np.arange(num_frames) + 1) * frame_seconds
    labels = np.zeros(num_frames, np.float32)
    for trigger in triggers:
        end = trigger[1]
        labels[(times > end) & (times <= end + label_seconds)] = 1.0
    return labels


def near_miss_weights(negatives, num_frames: int, frame_seconds: float, weight: float,
                      near_miss_words=NEAR_MISS_WORDS,
                      label_seconds: float = LABEL_SECONDS) -> np.ndarray:
    """Per-frame loss weights: ``weight`` from a near-miss word's start to a label window after it.

    False accepts fire where a near-miss ("activist", "captivate") ends, on the
    frames a trigger would have been labelled 1; weighting exactly those
    frames makes the loss dwell on the mistakes that set the threshold.
    """
    times = (np.arange(num_frames) + 1) * frame_seconds
    weights = np.ones(num_frames, np.float32)
    for start, end, word in negatives:
        if word in near_miss_words:
            weights[(times > start) & (times <= end + label_seconds)] = weight
    return weights


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


def default_cache_dir() -> Path:
    root = os.environ.get("SEQMODELS_CACHE", os.path.join(Path.home(), ".cache", "seqmodels"))
    return Path(root) / "trigger_word"


_BANK_MEMO: dict = {}


def _check_synthetic_voices(split, synthetic_voices):
    if synthetic_voices < 0:
        raise ValueError(f"synthetic_voices must be >= 0; received {synthetic_voices}")
    if synthetic_voices and split != "train":
        raise ValueError(f"Synthetic voices are for training only (validation and test measure "
                         f"shipped voices never heard); received split={split!r}")
    return int(synthetic_voices)


def load_word_bank(split: str, seed: int = 0, word: str = DEFAULT_WORD,
                   speakers_per_variant: int = 2, negative_words=NEGATIVE_WORDS,
                   cache_dir=None, synthetic_voices: int = 0) -> WordBank:
    """The word bank of one split, from memory, the disk cache, or eSpeak NG (in that order).

    ``synthetic_voices`` (training split only) adds speakers with generated
    voice variants; see :func:`make_speakers`.
    """
    synthetic_voices = _check_synthetic_voices(split, synthetic_voices)
    memo_key = (split, seed, word, speakers_per_variant, tuple(negative_words), synthetic_voices)
    if memo_key in _BANK_MEMO:
        return _BANK_MEMO[memo_key]
    key_fields = dict(version=GENERATOR_VERSION, split=split, seed=seed, word=word,
                      speakers_per_variant=speakers_per_variant,
                      negative_words=list(negative_words))
    if synthetic_voices:  # (absent otherwise, so banks cached before the option stay valid)
        key_fields["synthetic_voices"] = synthetic_voices
    key = hashlib.sha1(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()[:16]
    path = None
    if cache_dir is not False:
        directory = Path(cache_dir) if cache_dir else default_cache_dir()
        path = directory / f"bank-{split}-{word.replace(' ', '_')[:20]}-{key}.npz"
    if path is not None and path.exists():
        bank = _load_bank(path)
    else:
        speakers = make_speakers(speakers_per_variant, seed,
                                 synthetic_voices=synthetic_voices)[split]
        # Generated voices need a copy of eSpeak's data: in the cache, or a
        # temporary directory (removed after synthesis) when caching is off.
        data_root = (tempfile.TemporaryDirectory(prefix="seqmodels-espeak-")
                     if synthetic_voices and cache_dir is False else contextlib.nullcontext(cache_dir))
        with data_root as root:
            data_path = voice_data_with_variants(seed, synthetic_voices, root) if synthetic_voices else None
            bank = _build_word_bank_in_fresh_process(word, speakers, tuple(negative_words),
                                                     seed + SPLITS.index(split), data_path)
        if path is not None:
            _save_bank(bank, path, key_fields)
    _BANK_MEMO[memo_key] = bank
    return bank


def make_trigger_word_clips(split: str, num_clips: int, seed: int = 0, word: str = DEFAULT_WORD,
                            clip_seconds: float = CLIP_SECONDS, negative_only: bool = False,
                            speakers_per_variant: int = 2, cache_dir=None,
                            negative_words=NEGATIVE_WORDS, verbose: bool = False,
                            synthetic_voices: int = 0) -> TriggerWordClips:
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
    """
    if split not in SPLITS:
        raise ValueError(f"Invalid split {split!r}; expected one of {SPLITS}")
    if num_clips < 0:
        raise ValueError(f"num_clips must be >= 0; received {num_clips}")
    if not word.strip():
        raise ValueError("The trigger word must be non-empty text")
    synthetic_voices = _check_synthetic_voices(split, synthetic_voices)
    num_samples = int(round(clip_seconds * SAMPLE_RATE))
    key_fields = dict(version=GENERATOR_VERSION, split=split, num_clips=num_clips, seed=seed,
                      word=word, clip_seconds=clip_seconds, negative_only=negative_only,
                      speakers_per_variant=speakers_per_variant,
                      negative_words=list(negative_words))
    if synthetic_voices:
        key_fields["synthetic_voices"] = synthetic_voices
    key = hashlib.sha1(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()[:16]
    directory = None
    if cache_dir is not False:
        directory = Path(cache_dir) if cache_dir else default_cache_dir()
        directory = directory / f"{split}-{word.replace(' ', '_')[:20]}-{key}"
        if (directory / "events.json").exists():
            meta = json.loads((directory / "events.json").read_text())
            waveforms = np.load(directory / "waveforms.npy", mmap_mode="r")
            return TriggerWordClips(waveforms, [[tuple(e) for e in c] for c in meta["events"]],
                                    [[tuple(e) for e in c] for c in meta["negatives"]],
                                    [Speaker(**s) for s in meta["speakers"]])

    bank = load_word_bank(split, seed, word, speakers_per_variant, negative_words,
                          cache_dir=cache_dir, synthetic_voices=synthetic_voices)

    rng = np.random.default_rng([seed, SPLITS.index(split), int(negative_only), 303])
    waveforms = np.zeros((num_clips, num_samples), np.int16)
    events, negatives = [], []
    for index in range(num_clips):
        clip, triggers, spoken_negatives = make_clip(rng, bank, num_samples,
                                                     negative_only=negative_only)
        waveforms[index] = np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16)
        events.append(triggers)
        negatives.append(spoken_negatives)
        if verbose and (index + 1) % 500 == 0:
            print(f"  {split}: {index + 1}/{num_clips} clips", flush=True)
    clips = TriggerWordClips(waveforms, events, negatives, bank.speakers)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        # events.json last: its presence marks a complete entry.
        _write_atomically(directory / "waveforms.npy", lambda temporary: np.save(temporary, waveforms))
        meta = dict(key_fields, events=events, negatives=negatives,
                    speakers=[dataclasses.asdict(s) for s in bank.speakers])
        _write_atomically(directory / "events.json",
                          lambda temporary: temporary.write_text(json.dumps(meta)))
    return clips


def crop_events(triggers, start_seconds: float, crop_seconds: float):
    """Trigger words of a crop ``[start, start + crop)``, in the crop's time.

    Only words that start inside the crop are kept: a word cut at the crop's
    start leaves only its tail, which the model cannot recognise (and the
    label would then teach it to fire on fragments). Words that end after the
    crop keep their (later) end time, so their labels fall outside the crop.
    """
    return [(start - start_seconds, end - start_seconds) for start, end in triggers
            if start_seconds <= start < start_seconds + crop_seconds]


def crop_start(rng: np.random.Generator, triggers, num_samples: int, crop_samples: int,
               frame_samples: int, positive_fraction: float,
               label_seconds: float = LABEL_SECONDS) -> int:
    """A crop start (a multiple of ``frame_samples``) for one training example.

    With probability ``positive_fraction`` (when the clip has a trigger) the
    crop holds one trigger word chosen at random together with its whole label
    window after it, at a random position; otherwise it starts anywhere.
    Starts on the model's frame grid keep the crop's labels aligned with the
    whole clip's.
    """
    last = (num_samples - crop_samples) // frame_samples
    if last <= 0:
        return 0
    if triggers and rng.random() < positive_fraction:
        start, end = triggers[int(rng.integers(len(triggers)))]
        # The crop must begin before the word and end after its label window.
        lowest = int(np.ceil(((end + label_seconds) * SAMPLE_RATE - crop_samples) / frame_samples))
        highest = int(np.floor(start * SAMPLE_RATE / frame_samples))
        lowest, highest = max(lowest, 0), min(highest, last)
        if lowest <= highest:
            return int(rng.integers(lowest, highest + 1)) * frame_samples
    return int(rng.integers(0, last + 1)) * frame_samples


def make_dataset(clips: TriggerWordClips, num_frames: int, frame_seconds: float,
                 batch_size: int, shuffle: bool = False, seed: int = 0,
                 crop_seconds: float = 0.0, positive_fraction: float = 0.75,
                 near_miss_weight: float = 1.0, speed_perturbation: float = 0.0):
    """A batched ``tf.data.Dataset`` of (waveform float32 (samples,), labels (num_frames,)).

    With ``speed_perturbation`` s > 0 (crops only) each crop is cut
    ``f`` times longer from the clip, ``f`` uniform in ``[1 - s, 1 + s]``, and
    linearly resampled to the crop length: pitch, formants and tempo all
    scale by ``f``, as between a child's and an adult's vocal tract, which
    widens the training voices; event times and labels follow the new time axis.

    With ``near_miss_weight`` != 1 the examples carry a third element, per-frame
    loss weights from :func:`near_miss_weights`.

    With ``crop_seconds`` > 0 every example is a random crop of that length
    (a multiple of the frame length) of one clip, redrawn every epoch:
    ``positive_fraction`` of them hold a whole trigger word and its label
    window (see :func:`crop_start`). The recurrence then runs over far fewer
    steps per word heard, so an epoch costs ``crop_seconds / clip_seconds``
    of a full-clip epoch; ``num_frames`` is the whole clip's frame count.
    """
    import tensorflow as tf

    labels = np.stack([frame_labels(events, num_frames, frame_seconds) for events in clips.events]) \
        if len(clips) else np.zeros((0, num_frames), np.float32)
    num_samples = clips.waveforms.shape[1]
    frame_samples = int(round(frame_seconds * clips.sample_rate))
    crop_frames = int(round(crop_seconds / frame_seconds)) if crop_seconds else 0
    crop_samples = crop_frames * frame_samples
    if crop_seconds and not 0 < crop_samples <= num_samples:
        raise ValueError(f"crop_seconds must be between one frame and the clip length "
                         f"({num_samples / clips.sample_rate} s); received {crop_seconds}")

    weighted = near_miss_weight != 1.0

    def example(waveform, label, negatives):  # negatives in the example's own time
        if not weighted:
            return waveform, label
        return waveform, label, near_miss_weights(negatives, len(label), frame_seconds,
                                                  near_miss_weight)

    def generate():
        order = np.arange(len(clips))
        generate.epoch += 1
        if shuffle:
            order = np.random.default_rng([seed, generate.epoch]).permutation(len(clips))
        rng = np.random.default_rng([seed, generate.epoch, 404])
        for index in order:
            index = int(index)
            if not crop_samples:
                yield example(clips.waveform(index), labels[index], clips.negatives[index])
                continue
            factor = rng.uniform(1 - speed_perturbation, 1 + speed_perturbation) \
                if speed_perturbation else 1.0
            source_samples = min(num_samples, int(round(crop_samples * factor)))
            start = crop_start(rng, clips.events[index], num_samples, source_samples,
                               frame_samples, positive_fraction)
            waveform = clips.waveforms[index, start:start + source_samples].astype(np.float32) / 32767.0
            events = crop_events(clips.events[index], start / clips.sample_rate,
                                 source_samples / clips.sample_rate)
            negatives = [(a - start / clips.sample_rate, b - start / clips.sample_rate, word)
                         for a, b, word in clips.negatives[index]]
            if source_samples != crop_samples:
                ratio = source_samples / crop_samples
                waveform = np.interp(np.arange(crop_samples) * ratio, np.arange(source_samples),
                                     waveform).astype(np.float32)
                events = [(a / ratio, b / ratio) for a, b in events]
                negatives = [(a / ratio, b / ratio, word) for a, b, word in negatives]
            yield example(waveform, frame_labels(events, crop_frames, frame_seconds), negatives)

    generate.epoch = 0
    example_samples, example_frames = (crop_samples, crop_frames) if crop_samples else (num_samples, num_frames)
    signature = (tf.TensorSpec((example_samples,), tf.float32),
                 tf.TensorSpec((example_frames,), tf.float32))
    if weighted:
        signature += (tf.TensorSpec((example_frames,), tf.float32),)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(clips)))
    return dataset.batch(batch_size).prefetch(2)
