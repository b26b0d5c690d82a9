"""Backgrounds made with numpy: coloured noise, mains hum, babble, near-silence, mixtures."""

from __future__ import annotations

import numpy as np
import scipy.fft

from data.trigger_word.audio import CLIP_SECONDS, SAMPLE_RATE
from data.trigger_word.word_bank import WordBank

BACKGROUND_KINDS = ("white", "pink", "brown", "blue", "hum", "babble", "silence", "mixture")
# Power spectral density ~ f ** exponent of the coloured noises.
NOISE_EXPONENTS = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0}


def coloured_noise(rng: np.random.Generator, num_samples: int, exponent: float) -> np.ndarray:
    """Noise with power spectral density proportional to ``f ** exponent``, unit RMS.

    exponent 0 is white, -1 pink, -2 brown, +1 blue.
    """
    white = rng.standard_normal(num_samples, dtype=np.float32)
    if exponent == 0:
        return white / (np.std(white) + 1e-12)
    frequencies = np.fft.rfftfreq(num_samples)
    frequencies[0] = frequencies[1]
    shape = (frequencies ** (float(exponent) / 2)).astype(np.float32)
    spectrum = scipy.fft.rfft(white) * shape
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
    if kind in NOISE_EXPONENTS:
        noise = coloured_noise(rng, num_samples, NOISE_EXPONENTS[kind])
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
