"""Short-time Fourier power spectrogram of a raw waveform, inside the model."""

import keras
import numpy as np
from keras import ops

from layers._validation import one_of, positive_int, positive_number

WINDOWS = ("hann", "hamming", "rectangular")
PAD_MODES = ("constant", "reflect")


def window_function(name, length):
    """The periodic ("DFT-even") window, as `scipy.signal.get_window(name, length)` and librosa."""
    n = np.arange(length)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * n / length)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / length)
    return np.ones(length)


@keras.saving.register_keras_serializable(package="seqmodels")
class Spectrogram(keras.layers.Layer):
    """Power spectrogram: waveform `(batch, samples)` -> `(batch, frames, bins)`.

    Frame `t` holds the `frame_length` samples starting at `t * frame_step`,
    multiplied by the window `w`, zero-padded to `fft_length` and Fourier
    transformed (`bins = fft_length // 2 + 1`):

    ```
    X[t, k] = sum_n w[n] x[t * frame_step + n] exp(-2πi k n / fft_length)
    S[t, k] = |X[t, k]| ** power          (log(S + log_offset) if log)
    ```

    `center=False` (default) is the streaming-friendly framing of
    `tf.signal.stft` and kws_streaming: no look-ahead, frame `t` ends at sample
    `t * frame_step + frame_length`, and `1 + (samples - frame_length) //
    frame_step` frames. `center=True` is librosa's framing
    (`librosa.stft(center=True)`): the waveform is padded with
    `fft_length // 2` samples on both sides (zeros with `pad_mode="constant"`,
    librosa's default, or a mirror image with `"reflect"`), the window sits in
    the middle of each `fft_length` frame, and there are
    `1 + samples // frame_step` frames, frame `t` centred on sample
    `t * frame_step`. Where the zero padding of the window goes does not change
    `|X|`, so the power agrees with librosa's (tested to 1e-4 relative).

    Only `keras.ops` are used (reshapes and slices for the framing, `ops.rfft`), so the layer
    runs on any backend and exports in a SavedModel; the tests also convert a
    model containing it with `tf.lite.TFLiteConverter`. The transform runs in
    float32 even under a float16 policy; the output is cast to the compute
    dtype at the end.

    Args:
        frame_length: samples per frame (the window length), positive.
        frame_step: samples between the starts of consecutive frames, positive.
        fft_length: FFT size, at least `frame_length`; default (`None`) the
            smallest power of 2 not below `frame_length`, as `tf.signal.stft`.
        window: `"hann"` (default), `"hamming"` (both periodic, as librosa's and
            scipy's) or `"rectangular"`.
        power: exponent of the magnitude, positive; 2.0 (default) gives power,
            1.0 the magnitude.
        log: if `True` (default), return `log(S + log_offset)` (natural log).
        log_offset: positive constant added before the log, default 1e-6.
        center: librosa's centred framing (see above), default `False`.
        pad_mode: padding of the centred framing, `"constant"` (default, as
            librosa >= 0.10) or `"reflect"`.

    Call arguments:
        inputs: waveform, `(batch, samples)`, at least `frame_length` samples
            (`fft_length // 2 + 1` with `center=True` and `"reflect"`).

    Returns:
        `(batch, frames, fft_length // 2 + 1)`.

    Example:

    >>> layer = Spectrogram(frame_length=400, frame_step=160, fft_length=512)
    >>> layer(np.zeros((2, 16000), "float32")).shape
    (2, 98, 257)

    Reference:
        Allen, "Short term spectral analysis, synthesis, and modification by
        discrete Fourier transform", 1977; librosa's `stft`.
    """

    def __init__(
        self,
        frame_length,
        frame_step,
        fft_length=None,
        window="hann",
        power=2.0,
        log=True,
        log_offset=1e-6,
        center=False,
        pad_mode="constant",
        **kwargs,
    ):
        super().__init__(**kwargs)
        positive_int("frame_length", frame_length)
        positive_int("frame_step", frame_step)
        if fft_length is None:
            fft_length = 1 << (int(frame_length) - 1).bit_length()
        positive_int("fft_length", fft_length)
        if fft_length < frame_length:
            raise ValueError(
                "Invalid value for argument fft_length. Expected an integer at least "
                f"frame_length={frame_length}. Received: fft_length={fft_length}"
            )
        one_of("window", window, WINDOWS)
        positive_number("power", power)
        positive_number("log_offset", log_offset)
        one_of("pad_mode", pad_mode, PAD_MODES)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.window = window
        self.power = float(power)
        self.log = bool(log)
        self.log_offset = float(log_offset)
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.num_bins = self.fft_length // 2 + 1
        self._window_values = window_function(window, self.frame_length).astype("float32")

    def _padding_and_offset(self):
        """Samples added on each side, and where the window starts inside an FFT frame."""
        if self.center:
            return self.fft_length // 2, (self.fft_length - self.frame_length) // 2
        return 0, 0

    def _span(self):
        # The samples one frame needs, counted as librosa counts them.
        return self.fft_length if self.center else self.frame_length

    def num_frames(self, num_samples):
        """Frames for a waveform of `num_samples` samples (a Python int)."""
        padding, _ = self._padding_and_offset()
        return 1 + (num_samples + 2 * padding - self._span()) // self.frame_step

    def _check_num_samples(self, num_samples):
        padding, _ = self._padding_and_offset()
        minimum = self._span() - 2 * padding
        if self.center and self.pad_mode == "reflect":
            minimum = max(minimum, padding + 1)
        if num_samples is not None and num_samples < max(minimum, 1):
            raise ValueError(
                f"The waveform is too short: {num_samples} samples, the layer needs at "
                f"least {max(minimum, 1)} (frame_length={self.frame_length}, "
                f"fft_length={self.fft_length}, center={self.center})."
            )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Spectrogram expects waveforms of shape (batch, samples). Received: {input_shape}"
            )
        self._check_num_samples(input_shape[1])
        self.built = True

    def power_spectrum(self, inputs):
        """`|X[t, k]| ** power` in float32, before any log."""
        waveform = ops.cast(inputs, "float32")
        padding, offset = self._padding_and_offset()
        num_frames = 1 + (ops.shape(waveform)[1] + 2 * padding - self._span()) // self.frame_step

        # Framing: frame t reads samples t * frame_step + offset + n, n < frame_length,
        # of the padded waveform. Cutting it into frame_step-long chunks makes frame
        # t the concatenation of chunks t, t + 1, ..., t + k - 1 (the last one cut
        # short): reshapes and slices, about twice as fast as a gather.
        chunks_per_frame = -(-self.frame_length // self.frame_step)  # ceil
        num_chunks = num_frames + chunks_per_frame - 1
        # Zeros at the end make the last chunk whole; they never reach a frame.
        tail = chunks_per_frame * self.frame_step
        if padding and self.pad_mode == "constant":
            # One pad: the centring zeros (less the window offset) and the tail.
            waveform = ops.pad(waveform, [[0, 0], [padding - offset, padding + tail]])
        else:
            if padding:
                waveform = ops.pad(waveform, [[0, 0], [padding, padding]], mode=self.pad_mode)
            waveform = ops.pad(waveform, [[0, 0], [0, tail]])[:, offset:]
        waveform = waveform[:, : num_chunks * self.frame_step]
        chunks = ops.reshape(waveform, (-1, num_chunks, self.frame_step))  # (batch, chunks, step)

        # Each piece is windowed by its slice of w; the zeros up to fft_length join
        # the same concatenation, so rfft needs no padding copy of its own.
        window = self._window_values
        pieces = []
        for j in range(chunks_per_frame):
            start = j * self.frame_step
            width = min(self.frame_step, self.frame_length - start)
            piece = chunks[:, j : j + num_frames, :width]  # (batch, frames, width)
            pieces.append(piece * ops.convert_to_tensor(window[start : start + width]))
        if self.fft_length > self.frame_length:
            pieces[-1] = ops.pad(pieces[-1], [[0, 0], [0, 0], [0, self.fft_length - self.frame_length]])
        frames = pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=-1)
        # frames: (batch, frames, fft_length), windowed.

        real, imag = ops.rfft(frames, fft_length=self.fft_length)  # (batch, frames, bins) each
        power = real * real + imag * imag
        if self.power == 1.0:
            return ops.sqrt(power)
        if self.power != 2.0:
            return ops.power(power, self.power / 2.0)
        return power

    def call(self, inputs):
        spectrum = self.power_spectrum(inputs)
        if self.log:
            spectrum = ops.log(spectrum + self.log_offset)
        return ops.cast(spectrum, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        num_samples = input_shape[1]
        frames = None if num_samples is None else self.num_frames(num_samples)
        return (input_shape[0], frames, self.num_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "frame_length": self.frame_length,
                "frame_step": self.frame_step,
                "fft_length": self.fft_length,
                "window": self.window,
                "power": self.power,
                "log": self.log,
                "log_offset": self.log_offset,
                "center": self.center,
                "pad_mode": self.pad_mode,
            }
        )
        return config
