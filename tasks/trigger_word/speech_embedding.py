"""openWakeWord's speech-embedding backbone in Keras: its mel front end and Google's speech_embedding.

openWakeWord (Scripka, 2023) trains wake-word classifiers from synthetic
speech on a frozen backbone pre-trained on large amounts of real speech:

* ``melspectrogram.onnx``: a 32-bin log-mel spectrogram of 16 kHz audio at
  int16 scale (400-sample periodic Hann window centred in a 512-point FFT, hop
  160, no centring; Slaney mel filters from 60 Hz to 3.8 kHz; power in dB,
  floored at 1e-10 and at 80 dB under the clip's maximum), which openWakeWord
  then maps by ``x / 10 + 2``. It is a formula, so
  :class:`OpenWakeWordMelSpectrogram` computes its weights itself.
* ``embedding_model.onnx``: Google's speech_embedding (Lin et al. 2020,
  arXiv:2002.01322) as openWakeWord re-implemented it, a stack of 3x3, 1x3 and
  3x1 convolutions with leaky ReLUs floored at -0.4 and five max poolings,
  mapping 76 mel frames (0.78 s) to one 96-dimensional embedding. Fully
  convolutional in time with a stride of 8 frames, it gives one embedding every
  80 ms (1280 samples) on a spectrogram of any length:
  :class:`SpeechEmbedding`. Its weights are learnt, and are read from the
  user's installed ``openwakeword`` package (or a given file) by
  :func:`load_speech_embedding_weights`, never shipped with this repository:
  their licence is unclear (see the README), so this backbone is optional.

The weights become ordinary Keras variables, so a saved ``.keras`` model or an
exported SavedModel needs neither ``onnx`` nor ``onnxruntime``; ``onnx`` is only
needed once, to read the file.

    backbone = speech_embedding_backbone()          # finds openwakeword's files
    embeddings = backbone(waveforms)                # (batch, samples) in [-1, 1] -> (batch, n, 96)
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from layers._validation import positive_number
from layers.log_mel_spectrogram import mel_filterbank

SAMPLE_RATE = 16000
EMBEDDING_FILE = "embedding_model.onnx"
MEL_FILE = "melspectrogram.onnx"
WINDOW_FRAMES = 76  # mel frames under one embedding
EMBEDDING_STEP_FRAMES = 8  # mel frames between embeddings
EMBEDDING_STEP_SAMPLES = 1280  # 8 frames x hop 160: one embedding per 80 ms
EMBEDDING_DIM = 96
INSTALL_HINT = "pip install onnx && pip install --no-deps openwakeword==0.4.0"

# Google's speech_embedding as openWakeWord's embedding_model.onnx lays it out:
# (filters, kernel) of each convolution after the first 3x3 one (which has its
# own batch normalisation), and the max pooling that follows a convolution.
_CONVOLUTIONS = (
    (24, (1, 3)), (24, (3, 1)),
    (48, (1, 3)), (48, (3, 1)), (48, (1, 3)), (48, (3, 1)),
    (72, (1, 3)), (72, (3, 1)), (72, (1, 3)), (72, (3, 1)),
    (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)),
    (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)),
)
_POOL_AFTER = {1: (2, 2), 5: (1, 2), 9: (2, 2), 13: (1, 2), 17: (2, 2)}
_NEGATIVE_SLOPE = 0.2
_ACTIVATION_FLOOR = -0.4


# --------------------------------------------------------------------------- mel front end


@keras.saving.register_keras_serializable(package="seqmodels_trigger_word")
class OpenWakeWordMelSpectrogram(keras.layers.Layer):
    """openWakeWord's log-mel front end: ``melspectrogram.onnx`` followed by ``x / 10 + 2``.

    With ``s = waveform_scale * waveform`` (int16 scale) and frames
    ``s[160 f : 160 f + 512]``:

        P[f, k]  = |sum_n w[n] s[160 f + n] e^(-2 pi i k n / 512)|^2
        D[f, m]  = 10 log10(max(sum_k P[f, k] M[k, m], 1e-10))
        D'[f, m] = max(D[f, m], max_{f, m} D - top_db)
        out      = D' / 10 + 2

    where ``w`` is a 400-sample periodic Hann window centred in the 512-sample
    frame and ``M`` the 32 Slaney mel filters from 60 to 3800 Hz. The ONNX
    file takes the floor ``max D - top_db`` over its whole input batch; here it
    is per example, which equals the file's output on one clip at a time.

    Args:
        waveform_scale: float, default 32767. What the input is multiplied by
            first: openWakeWord's models take int16-scale audio, our waveforms
            are in [-1, 1].
        top_db: float or None, default 80. Floor below each example's loudest
            bin, in dB; ``None`` for none.

    Call arguments:
        inputs: ``(batch, samples)`` float waveform at 16 kHz, at least 512 samples.

    Returns:
        ``(batch, (samples - 512) // 160 + 1, 32)`` features.

    Example:

    >>> layer = OpenWakeWordMelSpectrogram()
    >>> layer(np.zeros((2, 16000), "float32")).shape
    (2, 97, 32)

    Reference: openWakeWord 0.4.0, ``openwakeword/utils.py`` and
    ``resources/models/melspectrogram.onnx`` (github.com/dscripka/openWakeWord).
    """

    fft_length = 512
    window_length = 400
    frame_step = 160
    num_mel_bins = 32
    lower_edge_hertz = 60.0
    upper_edge_hertz = 3800.0

    def __init__(self, waveform_scale=32767.0, top_db=80.0, **kwargs):
        super().__init__(**kwargs)
        self.waveform_scale = positive_number("waveform_scale", waveform_scale)
        self.top_db = None if top_db is None else positive_number("top_db", top_db)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"OpenWakeWordMelSpectrogram expects (batch, samples). Received: "
                             f"input_shape={input_shape}")
        if input_shape[-1] is not None and input_shape[-1] < self.fft_length:
            raise ValueError(f"OpenWakeWordMelSpectrogram needs at least {self.fft_length} samples. "
                             f"Received: input_shape={input_shape}")
        real, imaginary = dft_kernels(self.fft_length, self.window_length)
        self.dft_kernel = self.add_weight(
            name="dft_kernel", shape=(self.fft_length, 1, 2 * real.shape[1]), trainable=False,
            initializer=keras.initializers.Constant(np.concatenate([real, imaginary], 1)[:, None, :]))
        self.mel_matrix = self.add_weight(
            name="mel_matrix", shape=(real.shape[1], self.num_mel_bins), trainable=False,
            initializer=keras.initializers.Constant(mel_filterbank(
                SAMPLE_RATE, self.fft_length, self.num_mel_bins, self.lower_edge_hertz,
                self.upper_edge_hertz, "slaney", "slaney")))

    def call(self, inputs):
        # Framing and the DFT in one strided convolution, as the ONNX file does it.
        scaled = ops.cast(inputs, "float32") * self.waveform_scale
        spectrum = ops.conv(scaled[:, :, None], ops.cast(self.dft_kernel, "float32"),
                            strides=self.frame_step, padding="valid")  # (batch, frames, 2 * 257)
        real, imaginary = ops.split(spectrum, 2, axis=-1)
        power = ops.square(real) + ops.square(imaginary)  # (batch, frames, 257)
        mel = ops.matmul(power, ops.cast(self.mel_matrix, "float32"))  # (batch, frames, 32)
        decibels = 10.0 * ops.log(ops.maximum(mel, 1e-10)) / np.log(10.0)
        if self.top_db is not None:
            loudest = ops.max(decibels, axis=(1, 2), keepdims=True)
            decibels = ops.maximum(decibels, loudest - self.top_db)
        return ops.cast(decibels / 10.0 + 2.0, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else (samples - self.fft_length) // self.frame_step + 1
        return (input_shape[0], frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(waveform_scale=self.waveform_scale, top_db=self.top_db)
        return config


def dft_kernels(fft_length, window_length):
    """``(fft_length, fft_length // 2 + 1)`` real and imaginary DFT rows times a periodic Hann
    window of ``window_length`` samples centred in the frame (torchlibrosa's STFT convolution)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window_length) / window_length)
    offset = (fft_length - window_length) // 2
    window = np.pad(window, (offset, fft_length - window_length - offset))
    angles = 2 * np.pi * np.outer(np.arange(fft_length), np.arange(fft_length // 2 + 1)) / fft_length
    return window[:, None] * np.cos(angles), -window[:, None] * np.sin(angles)


# --------------------------------------------------------------------------- embedding network


@keras.saving.register_keras_serializable(package="seqmodels_trigger_word")
class SpeechEmbedding(keras.layers.Layer):
    """Google's speech_embedding network: 76 mel frames -> one 96-dimensional embedding.

    ``h = max(LeakyReLU_0.2(BN(ReLU(conv3x3(pad_mel(x))))), -0.4)``, then 18
    convolutions alternating 1x3 ("same" along the mel axis) and 3x1 ("valid"
    along time), each followed by ``max(LeakyReLU_0.2(.), -0.4)`` (their batch
    normalisation folded into the kernels, as in the ONNX file), with max
    poolings 2x2, 1x2, 2x2, 1x2, 2x2 after the 2nd, 6th, 10th, 14th and 18th,
    and a last 3x1 convolution to 96 channels without bias or activation. Every
    time convolution is "valid" and the poolings stride 8 frames in all, so on
    ``F >= 76`` frames the layer returns the embeddings of the windows starting
    at frames ``0, 8, 16, ...``, exactly as windowing and calling the file on
    each window would.

    The weights are random until :func:`load_speech_embedding_weights` reads
    them from openWakeWord's ``embedding_model.onnx``.

    Args:
        No arguments of its own (the architecture is the pre-trained one);
        ``**kwargs`` go to ``keras.layers.Layer`` (``trainable=False`` freezes it).

    Call arguments:
        inputs: ``(batch, frames, 32)`` from :class:`OpenWakeWordMelSpectrogram`.
        training: passed to the batch normalisation.

    Returns:
        ``(batch, (frames - 76) // 8 + 1, 96)``.

    Example:

    >>> layer = SpeechEmbedding()
    >>> layer(np.zeros((1, 97, 32), "float32")).shape
    (1, 3, 96)

    Reference: Lin, Kilgour, Roblek, Sharifi, "Training Keyword Spotters with
    Limited and Synthesized Speech Data", ICASSP 2020 (arXiv:2002.01322);
    openWakeWord 0.4.0 ``resources/models/embedding_model.onnx``.
    """

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] != OpenWakeWordMelSpectrogram.num_mel_bins:
            raise ValueError(f"SpeechEmbedding expects (batch, frames, "
                             f"{OpenWakeWordMelSpectrogram.num_mel_bins}) mel features. Received: "
                             f"input_shape={input_shape}")
        if input_shape[1] is not None and input_shape[1] < WINDOW_FRAMES:
            raise ValueError(f"SpeechEmbedding needs at least {WINDOW_FRAMES} frames. Received: "
                             f"input_shape={input_shape}")
        shape = (input_shape[0], input_shape[1], input_shape[2] + 2, 1)
        self.first_convolution = keras.layers.Conv2D(
            24, (3, 3), use_bias=False, name="first_convolution", dtype=self.dtype_policy)
        self.first_convolution.build(shape)
        shape = self.first_convolution.compute_output_shape(shape)
        self.first_normalization = keras.layers.BatchNormalization(
            epsilon=1e-3, name="first_normalization", dtype=self.dtype_policy)
        self.first_normalization.build(shape)
        self.convolutions, self.poolings = [], []
        for index, (filters, kernel) in enumerate(_CONVOLUTIONS):
            convolution = keras.layers.Conv2D(
                filters, kernel, padding="same" if kernel[0] == 1 else "valid",
                name=f"convolution_{index}", dtype=self.dtype_policy)
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
            self.convolutions.append(convolution)
            if index in _POOL_AFTER:
                pooling = keras.layers.MaxPooling2D(_POOL_AFTER[index], name=f"pooling_{index}",
                                                    dtype=self.dtype_policy)
                shape = pooling.compute_output_shape(shape)
                self.poolings.append(pooling)
        self.last_convolution = keras.layers.Conv2D(
            EMBEDDING_DIM, (3, 1), use_bias=False, name="last_convolution", dtype=self.dtype_policy)
        self.last_convolution.build(shape)

    def call(self, inputs, training=None):
        # The mel axis is padded by one zero bin on each side, as the file does.
        x = ops.pad(inputs[..., None], [[0, 0], [0, 0], [1, 1], [0, 0]])  # (batch, frames, 34, 1)
        x = self.first_normalization(ops.relu(self.first_convolution(x)), training=training)
        x = ops.maximum(ops.leaky_relu(x, _NEGATIVE_SLOPE), _ACTIVATION_FLOOR)
        poolings = iter(self.poolings)
        for index, convolution in enumerate(self.convolutions):
            x = ops.maximum(ops.leaky_relu(convolution(x), _NEGATIVE_SLOPE), _ACTIVATION_FLOOR)
            if index in _POOL_AFTER:
                x = next(poolings)(x)
        x = self.last_convolution(x)  # (batch, embeddings, 1, 96)
        return ops.squeeze(x, axis=2)  # (batch, embeddings, 96)

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        count = None if frames is None else (frames - WINDOW_FRAMES) // EMBEDDING_STEP_FRAMES + 1
        return (input_shape[0], count, EMBEDDING_DIM)


# --------------------------------------------------------------------------- weights from the ONNX file


def find_onnx_model(name=EMBEDDING_FILE, source=None) -> bytes:
    """The bytes of openWakeWord's ``name`` (``embedding_model.onnx`` or ``melspectrogram.onnx``).

    ``source`` is the file itself, a folder holding it, or an openWakeWord
    wheel (``.whl``); ``None`` looks in the installed ``openwakeword`` package
    without importing it (its ``__init__`` would load onnxruntime).
    """
    if source is None:
        spec = importlib.util.find_spec("openwakeword")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"openWakeWord's {name} was not found: the openwakeword package is not installed. "
                f"Install it with `{INSTALL_HINT}` (its pre-trained models' licence is unclear: "
                f"research use only, see the README), or pass the file's path.")
        source = Path(list(spec.submodule_search_locations)[0]) / "resources" / "models"
    source = Path(source)
    if source.suffix == ".whl" and source.is_file():
        with zipfile.ZipFile(source) as wheel:
            member = f"openwakeword/resources/models/{name}"
            if member not in wheel.namelist():
                raise FileNotFoundError(f"{source} holds no {member}")
            return wheel.read(member)
    path = source / name if source.is_dir() else source
    if not path.is_file():
        raise FileNotFoundError(f"openWakeWord's {name} was not found at {path}. Install it with "
                                f"`{INSTALL_HINT}`, or pass the file's path.")
    return path.read_bytes()


def _onnx_graph(model_bytes):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise ImportError(f"Reading openWakeWord's ONNX weights needs the onnx package: "
                          f"`pip install onnx` ({error})") from None
    graph = onnx.load_model_from_string(model_bytes).graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    return graph, initializers


def speech_embedding_weights(source=None):
    """The embedding network's weights from ``embedding_model.onnx``, in graph order.

    Returns a dict: ``first_kernel`` (3, 3, 1, 24), ``first_normalization``
    [gamma, beta, mean, variance], ``kernels`` and ``biases`` of the 18 middle
    convolutions (Keras layout, height x width x in x out), ``last_kernel``.
    """
    graph, initializers = _onnx_graph(find_onnx_model(EMBEDDING_FILE, source))
    convolutions = []
    normalization = None
    for node in graph.node:
        if node.op_type == "Conv":
            kernel = initializers[node.input[1]].transpose(2, 3, 1, 0)  # (out, in, h, w) -> (h, w, in, out)
            bias = initializers[node.input[2]] if len(node.input) > 2 else None
            convolutions.append((kernel, bias))
        elif node.op_type == "BatchNormalization":
            if normalization is not None:
                raise ValueError("embedding_model.onnx has more than one unfused batch normalisation")
            normalization = [initializers[name] for name in node.input[1:5]]
    expected = len(_CONVOLUTIONS) + 2
    if len(convolutions) != expected or normalization is None:
        raise ValueError(f"embedding_model.onnx does not have the speech_embedding layout: "
                         f"{len(convolutions)} convolutions (expected {expected})")
    return dict(first_kernel=convolutions[0][0], first_normalization=normalization,
                kernels=[k for k, _ in convolutions[1:-1]], biases=[b for _, b in convolutions[1:-1]],
                last_kernel=convolutions[-1][0])


def load_speech_embedding_weights(layer: SpeechEmbedding, source=None) -> SpeechEmbedding:
    """Sets a built :class:`SpeechEmbedding`'s weights from openWakeWord's ``embedding_model.onnx``."""
    if not isinstance(layer, SpeechEmbedding):
        raise ValueError(f"Expected a SpeechEmbedding layer. Received: layer={layer!r}")
    if not layer.built:
        layer.build((None, None, OpenWakeWordMelSpectrogram.num_mel_bins))
    weights = speech_embedding_weights(source)
    layer.first_convolution.set_weights([weights["first_kernel"]])
    layer.first_normalization.set_weights(weights["first_normalization"])
    for convolution, kernel, bias in zip(layer.convolutions, weights["kernels"], weights["biases"]):
        if bias is None:
            raise ValueError("embedding_model.onnx: a middle convolution has no (folded) bias")
        convolution.set_weights([kernel, bias])
    layer.last_convolution.set_weights([weights["last_kernel"]])
    return layer


def speech_embedding_backbone(source=None, trainable=False, name="speech_embedding_backbone"):
    """A ``keras.Model`` from ``(batch, samples)`` waveforms in [-1, 1] to ``(batch, n, 96)``
    embeddings, one per 1280 samples, with openWakeWord's weights (frozen unless ``trainable``).

    Embedding ``j`` covers samples ``[1280 j, 1280 j + 12512)``.
    """
    waveforms = keras.Input((None,), name="waveform")
    mel = OpenWakeWordMelSpectrogram(name="mel_spectrogram")
    embedding = SpeechEmbedding(name="speech_embedding", trainable=trainable)
    embedding.build((None, None, OpenWakeWordMelSpectrogram.num_mel_bins))
    load_speech_embedding_weights(embedding, source)
    model = keras.Model(waveforms, embedding(mel(waveforms), training=False), name=name)
    model.trainable = trainable
    return model


def onnx_reference_embeddings(waveforms_int16, source=None):
    """openWakeWord's own pipeline on onnxruntime, clip by clip: the mel file, ``x / 10 + 2``,
    windows of 76 frames every 8, the embedding file. ``(clips, n, 96)``; for tests and the bench."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    mel_session = onnxruntime.InferenceSession(find_onnx_model(MEL_FILE, source), options,
                                               providers=["CPUExecutionProvider"])
    embedding_session = onnxruntime.InferenceSession(find_onnx_model(EMBEDDING_FILE, source), options,
                                                     providers=["CPUExecutionProvider"])
    outputs = []
    for clip in np.asarray(waveforms_int16):
        mel = np.squeeze(mel_session.run(None, {"input": clip[None].astype(np.float32)})[0]) / 10 + 2
        windows = np.stack([mel[i:i + WINDOW_FRAMES] for i in
                            range(0, mel.shape[0] - WINDOW_FRAMES + 1, EMBEDDING_STEP_FRAMES)])
        outputs.append(embedding_session.run(None, {"input_1": windows[..., None].astype(np.float32)})[0]
                       .reshape(len(windows), EMBEDDING_DIM))
    return np.stack(outputs)


__all__ = ["OpenWakeWordMelSpectrogram", "SpeechEmbedding", "find_onnx_model", "speech_embedding_weights",
           "load_speech_embedding_weights", "speech_embedding_backbone", "onnx_reference_embeddings"]
