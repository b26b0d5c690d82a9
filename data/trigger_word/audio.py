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
    num_frames = len(audio) // frame
    if num_frames == 0:
        return audio
    energy = np.sqrt(np.mean(audio[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1))
    loud = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 20))[0]
    if len(loud) == 0:
        return audio
    return audio[loud[0] * frame: (loud[-1] + 1) * frame]
