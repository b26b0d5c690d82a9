"""Log mel spectrogram of a raw waveform, inside the model."""

import keras
import numpy as np
from keras import ops

from layers._validation import one_of, positive_int
from layers.spectrogram import Spectrogram

MEL_SCALES = ("slaney", "htk")
MEL_NORMS = ("slaney", None)


def hertz_to_mel(frequencies, mel_scale="slaney"):
    """Hertz to mels: HTK's `2595 log10(1 + f / 700)`, or Slaney's (librosa's default),
    linear below 1 kHz (3 mels per 200 Hz) and logarithmic above."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    linear_step = 200.0 / 3
    mels = frequencies / linear_step
    break_hertz, break_mel = 1000.0, 1000.0 / linear_step
    log_step = np.log(6.4) / 27.0
    above = frequencies >= break_hertz
    safe = np.where(above, frequencies, break_hertz)
    return np.where(above, break_mel + np.log(safe / break_hertz) / log_step, mels)


def mel_to_hertz(mels, mel_scale="slaney"):
    mels = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    linear_step = 200.0 / 3
    frequencies = mels * linear_step
    break_hertz, break_mel = 1000.0, 1000.0 / linear_step
    log_step = np.log(6.4) / 27.0
    above = mels >= break_mel
    return np.where(above, break_hertz * np.exp(log_step * (mels - break_mel)), frequencies)


def mel_filterbank(
    sample_rate, fft_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz, mel_scale, mel_norm
):
    """Triangular mel filters, `(fft_length // 2 + 1, num_mel_bins)`, as `librosa.filters.mel(...).T`.

    Filter `m` rises linearly from mel point `m` to `m + 1` and falls to `m + 2`,
    the `num_mel_bins + 2` points being equally spaced in mels between the edges;
    with `mel_norm="slaney"` each filter is scaled by `2 / (f[m + 2] - f[m])` so
    that it has the same area (constant energy per band).
    """
    bin_hertz = np.fft.rfftfreq(fft_length, d=1.0 / sample_rate)
    mel_edges = np.linspace(
        hertz_to_mel(lower_edge_hertz, mel_scale),
        hertz_to_mel(upper_edge_hertz, mel_scale),
        num_mel_bins + 2,
    )
    hertz_edges = mel_to_hertz(mel_edges, mel_scale)
    widths = np.diff(hertz_edges)
    ramps = hertz_edges[:, None] - bin_hertz[None, :]  # (num_mel_bins + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (num_mel_bins, bins)
    if mel_norm == "slaney":
        weights *= (2.0 / (hertz_edges[2:] - hertz_edges[:-2]))[:, None]
    return weights.T


@keras.saving.register_keras_serializable(package="seqmodels")
class LogMelSpectrogram(keras.layers.Layer):
    """Log mel spectrogram: waveform `(batch, samples)` -> `(batch, frames, num_mel_bins)`.

    ```
    S[t, k]   = |STFT(x)[t, k]| ** power            (see `Spectrogram`)
    M[t, m]   = sum_k S[t, k] F[k, m]                triangular mel filters F
    out[t, m] = log(M[t, m] + log_offset)            (natural log)
    ```

    `F` is `librosa.filters.mel(sr=sample_rate, n_fft=fft_length,
    n_mels=num_mel_bins, fmin=lower_edge_hertz, fmax=upper_edge_hertz,
    htk=(mel_scale == "htk"), norm=mel_norm).T`, computed here in NumPy (no
    librosa at run time). With `center=True` and `pad_mode="constant"`,
    `exp(out) - log_offset` agrees with `librosa.feature.melspectrogram(y=x,
    sr=sample_rate, n_fft=fft_length, hop_length=frame_step,
    win_length=frame_length, window=window, center=True, pad_mode="constant",
    power=power, n_mels=num_mel_bins, fmin=..., fmax=..., htk=..., norm=...)`
    within 1e-4 relative (tested). `center=False` (default) is the streaming
    framing: no look-ahead, `1 + (samples - frame_length) // frame_step` frames.

    Args:
        sample_rate: samples per second, positive, default 16000.
        frame_length: samples per frame, default 400 (25 ms at 16 kHz).
        frame_step: samples between frames, default 160 (10 ms).
        fft_length: FFT size, at least `frame_length`, default 512.
        num_mel_bins: number of mel bands, default 40.
        lower_edge_hertz: lowest filter edge, default 0.
        upper_edge_hertz: highest filter edge, default `sample_rate / 2`.
        window: `"hann"` (default), `"hamming"` or `"rectangular"`.
        power: exponent of the magnitude before the filters, default 2.0.
        log_offset: positive constant added before the log, default 1e-6.
        center: librosa's centred framing, default `False` (streaming).
        pad_mode: `"constant"` (default) or `"reflect"`, for `center=True`.
        mel_scale: `"slaney"` (default, librosa's `htk=False`) or `"htk"`.
        mel_norm: `"slaney"` (default, librosa's) or `None` (peak 1 filters).

    Call arguments:
        inputs: waveform, `(batch, samples)`.

    Returns:
        `(batch, frames, num_mel_bins)`.

    Example:

    >>> layer = LogMelSpectrogram()
    >>> layer(np.zeros((2, 16000), "float32")).shape
    (2, 98, 40)

    Reference:
        Stevens, Volkmann and Newman, "A scale for the measurement of the
        psychological magnitude pitch", 1937; Slaney, "Auditory Toolbox", 1998.
    """

    def __init__(
        self,
        sample_rate=16000,
        frame_length=400,
        frame_step=160,
        fft_length=512,
        num_mel_bins=40,
        lower_edge_hertz=0.0,
        upper_edge_hertz=None,
        window="hann",
        power=2.0,
        log_offset=1e-6,
        center=False,
        pad_mode="constant",
        mel_scale="slaney",
        mel_norm="slaney",
        **kwargs,
    ):
        super().__init__(**kwargs)
        positive_int("sample_rate", sample_rate)
        positive_int("num_mel_bins", num_mel_bins)
        nyquist = sample_rate / 2
        if upper_edge_hertz is None:
            upper_edge_hertz = nyquist
        if not 0 <= lower_edge_hertz < upper_edge_hertz <= nyquist:
            raise ValueError(
                "Invalid values for arguments lower_edge_hertz and upper_edge_hertz. Expected "
                f"0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2 = {nyquist}. "
                f"Received: lower_edge_hertz={lower_edge_hertz}, upper_edge_hertz={upper_edge_hertz}"
            )
        one_of("mel_scale", mel_scale, MEL_SCALES)
        one_of("mel_norm", mel_norm, MEL_NORMS)
        # The Spectrogram validates the framing arguments; log is applied after the filters.
        self.spectrogram = Spectrogram(
            frame_length=frame_length,
            frame_step=frame_step,
            fft_length=fft_length,
            window=window,
            power=power,
            log=False,
            log_offset=log_offset,
            center=center,
            pad_mode=pad_mode,
            dtype=self.dtype_policy,
            name="spectrogram",
        )
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.num_mel_bins = int(num_mel_bins)
        self.lower_edge_hertz = float(lower_edge_hertz)
        self.upper_edge_hertz = float(upper_edge_hertz)
        self.window = window
        self.power = float(power)
        self.log_offset = float(log_offset)
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self._filterbank = mel_filterbank(
            self.sample_rate,
            self.fft_length,
            self.num_mel_bins,
            self.lower_edge_hertz,
            self.upper_edge_hertz,
            mel_scale,
            mel_norm,
        ).astype("float32")

    def build(self, input_shape):
        self.spectrogram.build(input_shape)
        self.built = True

    def call(self, inputs):
        power = self.spectrogram.power_spectrum(inputs)  # (batch, frames, bins), float32
        mel = ops.matmul(power, ops.convert_to_tensor(self._filterbank))  # (batch, frames, mels)
        return ops.cast(ops.log(mel + self.log_offset), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        batch, frames, _ = self.spectrogram.compute_output_shape(input_shape)
        return (batch, frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "frame_length": self.frame_length,
                "frame_step": self.frame_step,
                "fft_length": self.fft_length,
                "num_mel_bins": self.num_mel_bins,
                "lower_edge_hertz": self.lower_edge_hertz,
                "upper_edge_hertz": self.upper_edge_hertz,
                "window": self.window,
                "power": self.power,
                "log_offset": self.log_offset,
                "center": self.center,
                "pad_mode": self.pad_mode,
                "mel_scale": self.mel_scale,
                "mel_norm": self.mel_norm,
            }
        )
        return config
