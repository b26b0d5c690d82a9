"""Signal augmentation of speech and clips with numpy/scipy, deterministic from a random generator.

eSpeak NG's voices share one synthesiser's sound: a detector trained on them
alone learns that sound as much as the word. These transforms move the
training speech around the space real microphones and other voices cover:

* **speed** (:func:`change_speed`): resampling, which changes duration and
  pitch together, like a tape played faster or slower;
* **pitch** (:func:`shift_pitch`): resampling then a WSOLA time stretch back to
  the original duration (:func:`time_stretch`), so only the pitch moves;
* **equalisation** (:func:`random_equalizer`): a chain of random RBJ biquads
  (peaks and shelves), the colour of a cheap microphone or loudspeaker;
* **band limits** (:func:`band_limit`): a Butterworth band-pass, e.g. the
  telephone band 300-3400 Hz;
* **codec-like distortion** (:func:`mu_law`, :func:`hard_clip`,
  :func:`downsample_upsample`): 8-bit mu-law quantisation, clipping and a
  trip through a lower sample rate;
* **gain**.

:func:`augment_speech` draws a chain for one word or sentence and
:func:`augment_channel` one for a whole clip (what the channel does to speech
and background alike), both from :class:`AugmentOptions`. SpecAugment on the
features lives in the model's training path (``tasks/trigger_word/model.py``).
"""

from __future__ import annotations

import dataclasses
from math import gcd

import numpy as np

from data.trigger_word.audio import SAMPLE_RATE

TELEPHONE_BAND = (300.0, 3400.0)


@dataclasses.dataclass(frozen=True)
class AugmentOptions:
    """Probabilities and ranges of the augmentations; 0 probabilities switch one off.

    Args:
        speed_probability: chance a word or sentence is resampled in speed.
        speed_range: speed factors (1 = unchanged; 1.1 is 10% faster and higher).
        pitch_probability: chance of a pitch shift at constant duration.
        pitch_semitones: shifts drawn uniformly from +- this many semitones.
        equalizer_probability: chance of a random biquad chain on a word or sentence.
        channel_probability: chance a whole clip goes through a channel
            (band limits, mu-law, clipping, downsampling; one or more of them).
    """

    speed_probability: float = 0.5
    speed_range: tuple = (0.85, 1.15)
    pitch_probability: float = 0.3
    pitch_semitones: float = 3.0
    equalizer_probability: float = 0.5
    channel_probability: float = 0.3

    def __post_init__(self):
        for name in ("speed_probability", "pitch_probability", "equalizer_probability",
                     "channel_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Invalid value for argument {name}. Expected a probability in "
                                 f"[0, 1]. Received: {name}={value}")
        low, high = self.speed_range
        if not 0.5 <= low <= high <= 2.0:
            raise ValueError(f"Invalid value for argument speed_range. Expected 0.5 <= low <= "
                             f"high <= 2. Received: speed_range={self.speed_range}")
        if not 0.0 <= self.pitch_semitones <= 12.0:
            raise ValueError(f"Invalid value for argument pitch_semitones. Expected 0 to 12. "
                             f"Received: pitch_semitones={self.pitch_semitones}")
        object.__setattr__(self, "speed_range", tuple(float(v) for v in self.speed_range))


def _rational(factor: float, limit: int = 200) -> tuple[int, int]:
    """(up, down) integers with up / down close to ``factor``, for polyphase resampling."""
    up = int(round(factor * limit))
    divisor = gcd(up, limit)
    return up // divisor, limit // divisor


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Plays ``audio`` ``factor`` times faster: ``len / factor`` samples, pitch up by ``factor``."""
    from scipy.signal import resample_poly

    if factor <= 0:
        raise ValueError(f"Invalid value for argument factor. Expected a positive number. "
                         f"Received: factor={factor}")
    if abs(factor - 1.0) < 1e-6:
        return np.asarray(audio, np.float32)
    # Resampling by down/up then playing at the old rate changes speed by up/down.
    up, down = _rational(factor)
    return resample_poly(np.asarray(audio, np.float32), down, up).astype(np.float32)


def time_stretch(audio: np.ndarray, rate: float, frame: int = 480, hop: int = 240,
                 tolerance: int = 120) -> np.ndarray:
    """WSOLA: ``audio`` ``rate`` times faster (``len / rate`` samples) at the same pitch.

    Hann-windowed frames of ``frame`` samples are overlap-added every ``hop``
    output samples; each is read near ``rate`` times its output position,
    shifted by up to ``tolerance`` samples to the offset whose waveform best
    continues the previous frame (the cross-correlation peak), so periods line
    up and no phasiness is heard (Verhelst and Roelands, 1993).
    """
    audio = np.asarray(audio, np.float32)
    if abs(rate - 1.0) < 1e-6 or len(audio) < 2 * frame:
        return audio.copy()
    out_length = int(round(len(audio) / rate))
    padded = np.concatenate([np.zeros(tolerance, np.float32), audio,
                             np.zeros(frame + 2 * tolerance, np.float32)])
    window = np.hanning(frame).astype(np.float32)
    num_frames = out_length // hop + 1
    output = np.zeros(num_frames * hop + frame, np.float32)
    norm = np.zeros_like(output)
    previous = None  # read position of the previous frame in ``padded``
    for index in range(num_frames):
        ideal = int(round(index * hop * rate)) + tolerance
        if previous is None:
            position = ideal
        else:
            # The natural continuation of the previous frame, to be matched.
            target = padded[previous + hop: previous + hop + frame]
            low = max(ideal - tolerance, 0)
            region = padded[low: ideal + tolerance + frame]
            if len(region) < frame or not np.any(target):
                position = ideal
            else:
                scores = np.correlate(region, target, mode="valid")
                position = low + int(np.argmax(scores))
        piece = padded[position: position + frame]
        if len(piece) < frame:
            piece = np.pad(piece, (0, frame - len(piece)))
        output[index * hop: index * hop + frame] += piece * window
        norm[index * hop: index * hop + frame] += window
        previous = position
    output = output / np.maximum(norm, 1e-3)
    return output[:out_length].astype(np.float32)


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """``audio`` ``semitones`` higher (lower when negative) at the same duration."""
    factor = 2.0 ** (semitones / 12.0)
    faster = change_speed(audio, factor)  # higher and shorter by ``factor``
    return time_stretch(faster, 1.0 / factor)[:len(audio)]


def biquad(kind: str, frequency: float, gain_db: float = 0.0, q: float = 0.707,
           sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of an RBJ Audio EQ Cookbook biquad: "peak", "lowshelf" or "highshelf"."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency / sample_rate
    alpha = np.sin(omega) / (2 * q)
    cos = np.cos(omega)
    if kind == "peak":
        b = [1 + alpha * amplitude, -2 * cos, 1 - alpha * amplitude]
        a = [1 + alpha / amplitude, -2 * cos, 1 - alpha / amplitude]
    elif kind in ("lowshelf", "highshelf"):
        sign = 1 if kind == "lowshelf" else -1
        root = 2 * np.sqrt(amplitude) * alpha
        b = [amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos + root),
             sign * 2 * amplitude * ((amplitude - 1) - sign * (amplitude + 1) * cos),
             amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos - root)]
        a = [(amplitude + 1) + sign * (amplitude - 1) * cos + root,
             -sign * 2 * ((amplitude - 1) + sign * (amplitude + 1) * cos),
             (amplitude + 1) + sign * (amplitude - 1) * cos - root]
    else:
        raise ValueError(f"Invalid value for argument kind. Expected 'peak', 'lowshelf' or "
                         f"'highshelf'. Received: kind={kind!r}")
    b, a = np.asarray(b, np.float64), np.asarray(a, np.float64)
    return b / a[0], a / a[0]


def random_equalizer(rng: np.random.Generator, audio: np.ndarray) -> np.ndarray:
    """One to three random peaks plus, half the time, a shelf: +-12 dB, 100-6000 Hz."""
    from scipy.signal import lfilter

    out = np.asarray(audio, np.float64)
    for _ in range(int(rng.integers(1, 4))):
        b, a = biquad("peak", float(np.exp(rng.uniform(np.log(100), np.log(6000)))),
                      float(rng.uniform(-12, 12)), float(rng.uniform(0.5, 3.0)))
        out = lfilter(b, a, out)
    if rng.random() < 0.5:
        kind = "lowshelf" if rng.random() < 0.5 else "highshelf"
        frequency = rng.uniform(100, 400) if kind == "lowshelf" else rng.uniform(2000, 6000)
        b, a = biquad(kind, float(frequency), float(rng.uniform(-12, 12)))
        out = lfilter(b, a, out)
    return _same_rms(out, audio)


def band_limit(audio: np.ndarray, low_hertz: float = TELEPHONE_BAND[0],
               high_hertz: float = TELEPHONE_BAND[1], order: int = 4,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Butterworth band-pass (zero ``low_hertz`` means low-pass), the telephone band by default."""
    from scipy.signal import butter, sosfilt

    nyquist = sample_rate / 2
    if not 0 <= low_hertz < high_hertz < nyquist:
        raise ValueError(f"Invalid band. Expected 0 <= low < high < {nyquist}. Received: "
                         f"({low_hertz}, {high_hertz})")
    if low_hertz > 0:
        sos = butter(order, [low_hertz, high_hertz], "bandpass", fs=sample_rate, output="sos")
    else:
        sos = butter(order, high_hertz, "lowpass", fs=sample_rate, output="sos")
    return sosfilt(sos, np.asarray(audio, np.float64)).astype(np.float32)


def mu_law(audio: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """G.711-style companding quantisation to ``bits`` bits: audio in [-1, 1] and back."""
    audio = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
    compressed = np.sign(audio) * np.log1p(mu * np.abs(audio)) / np.log1p(mu)
    levels = 2 ** (bits - 1) - 1
    quantised = np.round(compressed * levels) / levels
    return (np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu).astype(np.float32)


def hard_clip(audio: np.ndarray, level: float) -> np.ndarray:
    """Clips at ``level`` times the peak (an overdriven input stage)."""
    audio = np.asarray(audio, np.float32)
    limit = level * (float(np.max(np.abs(audio))) + 1e-12)
    return np.clip(audio, -limit, limit)


def downsample_upsample(audio: np.ndarray, rate: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A trip through ``rate`` Hz and back: nothing above ``rate / 2`` survives."""
    from data.trigger_word.audio import resample

    low = resample(np.asarray(audio, np.float32), sample_rate, rate)
    back = resample(low, rate, sample_rate)
    return np.pad(back, (0, max(0, len(audio) - len(back))))[:len(audio)]


def _same_rms(audio, reference) -> np.ndarray:
    """``audio`` scaled to the RMS of ``reference`` (filters must not change levels)."""
    rms = float(np.sqrt(np.mean(np.square(audio)))) + 1e-12
    target = float(np.sqrt(np.mean(np.square(reference))))
    return (np.asarray(audio) * (target / rms)).astype(np.float32)


def augment_speech(rng: np.random.Generator, audio: np.ndarray,
                   options: AugmentOptions) -> tuple[np.ndarray, float]:
    """Speed, pitch and EQ, each with its probability, on one word or sentence.

    Returns:
        (audio float32, speed factor): times inside the original audio are
        divided by the factor to find them in the augmented audio.
    """
    speed = 1.0
    if rng.random() < options.speed_probability:
        speed = float(rng.uniform(*options.speed_range))
        audio = change_speed(audio, speed)
    if options.pitch_semitones and rng.random() < options.pitch_probability:
        audio = shift_pitch(audio, float(rng.uniform(-options.pitch_semitones,
                                                     options.pitch_semitones)))
    if rng.random() < options.equalizer_probability:
        audio = random_equalizer(rng, audio)
    return np.asarray(audio, np.float32), speed


def augment_channel(rng: np.random.Generator, clip: np.ndarray, options: AugmentOptions) -> np.ndarray:
    """With ``channel_probability``: one or more of telephone band, mu-law, clipping, downsampling.

    Peak level is kept (the clip's later gain decides its loudness).
    """
    if rng.random() >= options.channel_probability:
        return clip
    peak = float(np.max(np.abs(clip))) + 1e-12
    out = np.asarray(clip, np.float32) / peak
    steps = [name for name in ("band", "mu_law", "clip", "resample") if rng.random() < 0.5]
    if not steps:
        steps = [str(rng.choice(["band", "mu_law", "clip", "resample"]))]
    for step in steps:
        if step == "band":
            low, high = ((TELEPHONE_BAND if rng.random() < 0.5 else
                          (float(rng.uniform(0, 400)), float(rng.uniform(3000, 7000)))))
            out = band_limit(out, low, high)
        elif step == "mu_law":
            out = mu_law(out / (float(np.max(np.abs(out))) + 1e-12), bits=int(rng.choice([6, 8])))
        elif step == "clip":
            out = hard_clip(out, float(rng.uniform(0.2, 0.7)))
        else:
            out = downsample_upsample(out, int(rng.choice([8000, 11025, 12000])))
    return (out * (peak / (float(np.max(np.abs(out))) + 1e-12))).astype(np.float32)


def random_gain(rng: np.random.Generator, audio: np.ndarray, low_db: float = -6.0,
                high_db: float = 6.0) -> np.ndarray:
    return (np.asarray(audio, np.float32) * 10 ** (rng.uniform(low_db, high_db) / 20)).astype(np.float32)
