"""Music-like signals and household-like noise, made with numpy.

Real rooms hold radios and kitchens. Neither can be downloaded here, so both
are approximated from their structure:

* :func:`music_like`: notes of a random scale, each a harmonic tone with an
  attack-decay envelope and its own timbre (harmonic amplitudes), on a
  rhythmic grid at a random tempo, a bass line and percussive noise bursts
  on the beats;
* :func:`household_noise`: one or two of running water (band-passed noise
  with a slow random flutter), a fan or fridge (a low hum with harmonics over
  brown noise), a vacuum cleaner or hair dryer (a strong motor tone over
  broadband noise) and clatter (dishes and doors: sparse decaying resonant
  impacts).

Both return unit-RMS float32 audio at 16 kHz, deterministic from ``rng``.
"""

from __future__ import annotations

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE
from data.trigger_word.backgrounds import coloured_noise

HOUSEHOLD_KINDS = ("water", "fan", "motor", "clatter")


def _unit(audio: np.ndarray) -> np.ndarray:
    return (audio / (np.std(audio) + 1e-12)).astype(np.float32)


def _tone(frequency, seconds, harmonics, decay, sample_rate=SAMPLE_RATE):
    time = np.arange(int(seconds * sample_rate), dtype=np.float32) / sample_rate
    tone = np.zeros_like(time)
    for number, amplitude in enumerate(harmonics, start=1):
        if frequency * number < sample_rate / 2:
            tone += amplitude * np.sin(2 * np.pi * frequency * number * time)
    attack = np.minimum(time / 0.01, 1.0)
    return tone * attack * np.exp(-time / decay)


def music_like(rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """Harmonic notes on a beat grid with a bass line and percussion, unit RMS."""
    out = np.zeros(num_samples, np.float32)
    tempo = rng.uniform(70, 160)  # beats per minute
    beat = int(SAMPLE_RATE * 60 / tempo)
    # A major or minor scale from a random root, over two octaves.
    steps = (0, 2, 4, 5, 7, 9, 11) if rng.random() < 0.5 else (0, 2, 3, 5, 7, 8, 10)
    root = rng.uniform(196, 392)
    scale = [root * 2 ** ((s + 12 * octave) / 12) for octave in (0, 1) for s in steps]
    harmonics = rng.uniform(0.05, 1.0, int(rng.integers(3, 9)))
    harmonics = harmonics / np.arange(1, len(harmonics) + 1) ** rng.uniform(0.5, 2.0)
    position = 0
    while position < num_samples:
        length = beat * int(rng.choice([1, 1, 2, 2, 4])) // int(rng.choice([1, 2]))
        note = _tone(float(rng.choice(scale)), length / SAMPLE_RATE * 1.5, harmonics,
                     rng.uniform(0.1, 0.6))
        end = min(position + len(note), num_samples)
        out[position:end] += note[:end - position]
        position += max(length, SAMPLE_RATE // 20)
    bass = np.zeros(num_samples, np.float32)
    for position in range(0, num_samples, 2 * beat):
        note = _tone(float(rng.choice(scale)) / 4, 2 * beat / SAMPLE_RATE, (1.0, 0.5, 0.2), 0.4)
        end = min(position + len(note), num_samples)
        bass[position:end] += note[:end - position]
    drums = np.zeros(num_samples, np.float32)
    if rng.random() < 0.7:
        hit = coloured_noise(rng, SAMPLE_RATE // 8, -1.0) * np.exp(
            -np.arange(SAMPLE_RATE // 8) / (SAMPLE_RATE * 0.02))
        for position in range(0, num_samples, beat):
            end = min(position + len(hit), num_samples)
            drums[position:end] += hit[:end - position] * (1.0 if (position // beat) % 2 else 0.5)
    return _unit(_unit(out) + rng.uniform(0.2, 0.8) * _unit(bass) + rng.uniform(0, 0.6) * _unit(drums))


def _band_noise(rng, num_samples, low, high):
    from data.trigger_word.augment import band_limit

    return _unit(band_limit(rng.standard_normal(num_samples).astype(np.float32), low, high))


def household_noise(rng: np.random.Generator, num_samples: int, kind: str | None = None) -> np.ndarray:
    """A household-like noise of ``kind`` (random when ``None``; see the module docstring), unit RMS."""
    if kind is None:
        kinds = rng.choice(HOUSEHOLD_KINDS, size=int(rng.integers(1, 3)), replace=False)
        return _unit(sum(household_noise(rng, num_samples, str(k)) * rng.uniform(0.4, 1.0)
                         for k in kinds))
    time = np.arange(num_samples, dtype=np.float32) / SAMPLE_RATE
    if kind == "water":
        noise = _band_noise(rng, num_samples, rng.uniform(300, 1000), rng.uniform(3000, 7000))
        flutter = 1 + 0.5 * np.interp(time, np.arange(0, time[-1] + 0.05, 0.05),
                                      rng.standard_normal(int(time[-1] / 0.05) + 2))
        return _unit(noise * np.abs(flutter))
    if kind == "fan":
        fundamental = rng.uniform(40, 120)
        hum = sum(np.sin(2 * np.pi * fundamental * h * time + rng.uniform(0, 2 * np.pi)) / h
                  for h in range(1, 6))
        return _unit(_unit(hum) * rng.uniform(0.2, 0.8) + coloured_noise(rng, num_samples, -2.0))
    if kind == "motor":
        fundamental = rng.uniform(150, 400) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * time))
        phase = 2 * np.pi * np.cumsum(fundamental) / SAMPLE_RATE
        whine = sum(np.sin(h * phase) / h for h in range(1, 8))
        return _unit(_unit(whine) * rng.uniform(0.3, 1.0) + coloured_noise(rng, num_samples, -0.5))
    if kind == "clatter":
        out = 0.02 * rng.standard_normal(num_samples).astype(np.float32)
        for _ in range(int(rng.integers(3, 15) * num_samples / (10 * SAMPLE_RATE)) + 1):
            length = int(SAMPLE_RATE * rng.uniform(0.05, 0.4))
            start = int(rng.integers(0, max(1, num_samples - length)))
            partials = rng.uniform(800, 6000, 3)
            impact = sum(np.sin(2 * np.pi * f * time[:length]) for f in partials)
            impact = impact * np.exp(-time[:length] / rng.uniform(0.01, 0.1)) * rng.uniform(0.3, 1.0)
            out[start:start + length] += impact[:num_samples - start]
        return _unit(out)
    raise ValueError(f"Unknown household kind {kind!r}; expected one of {HOUSEHOLD_KINDS}")
