"""The sample rate and clip length every part shares; the resampling and trimming of speech."""

from __future__ import annotations

from math import gcd

import numpy as np

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis (float32)."""
    if rate_in == rate_out:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly

    divisor = gcd(int(rate_in), int(rate_out))
    return resample_poly(audio, rate_out // divisor, rate_in // divisor, axis=-1).astype(np.float32)


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> np.ndarray:
    """Cuts leading/trailing frames quieter than ``threshold_db`` below the peak.

    Word boundaries define the labels, so the synthesiser's padding silence
    must not count as part of the word.
    """
    first, last = trim_bounds(audio, threshold_db, frame)
    return audio[first:last]


def trim_bounds(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> tuple[int, int]:
    """The (first, last) samples :func:`trim_silence` keeps."""
    num_frames = len(audio) // frame
    if num_frames == 0:
        return 0, len(audio)
    energy = np.sqrt(np.mean(audio[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1))
    loud = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 20))[0]
    if len(loud) == 0:
        return 0, len(audio)
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)
