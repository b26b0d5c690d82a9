"""The speech recogniser: 16 kHz waveform in, CTC character log-probabilities out.

    waveform (batch, samples), num_samples (batch,)
      -> LogMelSpectrogram            (batch, frames, num_mel_bins)     one frame per 10 ms
      -> per-utterance normalisation   mean 0, variance 1 per mel band over the utterance's own frames
      -> SpecAugment (training only)   time and frequency masks (Park et al., 2019)
      -> Conv1D subsampling            (batch, frames / subsampling, conv_filters): stride 2, 3 or 2 x 2
      -> encoder                       bidirectional GRU/LSTM layers of our cells, or Transformer blocks
      -> Dense(NUM_CLASSES), log-softmax  (batch, output_frames, 28): blank and the 27 characters

Time grid: the waveform is padded on the left by ``frame_length - frame_step``
zeros and on the right to a multiple of ``frame_step * subsampling`` samples,
so an utterance of ``n`` samples has ``ceil(n / 160)`` spectral frames and
``ceil(n / (160 * subsampling))`` output frames (:func:`output_lengths`);
frames beyond an utterance's own length are zeroed after normalisation and
masked in the encoder, so a padded batch gives each utterance the answer it
gets alone (up to float rounding).

The model owns its inference: :meth:`SpeechRecognitionModel.encode` gives the
log-probabilities and their lengths, which training checks, evaluation and the
SavedModel all decode. The CTC loss (:func:`ctc_loss`, equal to
``keras.ops.ctc_loss`` with blank = class 0) is the model's
:meth:`compute_loss`, so ``fit`` and ``evaluate`` need no loss argument.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from layers import GRUCell, LogMelSpectrogram, LSTMCell, SinusoidalPositionalEncoding, TransformerEncoderBlock

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms analysis window.
FRAME_STEP = 160  # 10 ms hop.
FFT_LENGTH = 512
ARCHITECTURES = ("birnn", "transformer")
CELLS = {"gru": GRUCell, "lstm": LSTMCell}
NUM_CLASSES = 28  # CTC blank + " abcdefghijklmnopqrstuvwxyz"
# Strides of the subsampling convolutions for each time reduction.
SUBSAMPLING_STRIDES = {2: (2,), 3: (3,), 4: (2, 2)}


def output_lengths(num_samples, subsampling):
    """Output frames of utterances of ``num_samples`` samples: ``ceil(n / (160 * subsampling))``."""
    hop = FRAME_STEP * subsampling
    return (num_samples + hop - 1) // hop


def ctc_loss(labels, log_probs, label_length, logit_length):
    """Per-utterance CTC loss, blank = class 0: the value of ``keras.ops.ctc_loss(..., mask_index=0)``.

    The labels go to TensorFlow's CTC kernel as a sparse tensor: the same
    numbers as the dense form that ``keras.ops.ctc_loss`` uses (tested), with
    gradients about ten times faster on CPU, where most of a training step
    went to the dense form. An utterance whose transcript cannot fit its
    frames (fast speech: more labels and repeats than output frames) gets
    loss 0 and no gradient instead of stopping the training.
    """
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    valid = tf.sequence_mask(label_length, tf.shape(labels)[1])  # (batch, label_length)
    sparse = tf.sparse.from_dense(tf.where(valid, labels, 0))  # 0 is never a label, so padding drops out
    # The kernel wants the blank last: classes 1..K-1 become 0..K-2 and the blank K-1.
    sparse = tf.SparseTensor(sparse.indices, sparse.values - 1, sparse.dense_shape)
    log_probs = tf.cast(log_probs, tf.float32)
    logits = tf.concat([log_probs[..., 1:], log_probs[..., :1]], axis=-1)  # (batch, frames, classes)
    return tf.compat.v1.nn.ctc_loss(sparse, logits, tf.cast(logit_length, tf.int32),
                                    preprocess_collapse_repeated=False, ctc_merge_repeated=True,
                                    ignore_longer_outputs_than_inputs=True, time_major=False)


def _positive(name, value):
    if int(value) != value or int(value) < 1:
        raise ValueError(f"Invalid value for argument {name}. Expected a positive integer. "
                         f"Received: {name}={value}")


def _non_negative(name, value):
    if int(value) != value or int(value) < 0:
        raise ValueError(f"Invalid value for argument {name}. Expected a non-negative integer. "
                         f"Received: {name}={value}")


@keras.saving.register_keras_serializable(package="seqmodels_speech_recognition")
class SpeechRecognitionModel(keras.Model):
    """Waveform -> per-frame log-probabilities of the CTC blank and 27 characters.

    Args:
        architecture: "birnn" (bidirectional recurrent layers) or "transformer".
        num_classes: output classes, blank (0) included; default 28.
        num_mel_bins: mel bands of the front end, default 64.
        subsampling: time reduction of the convolutions, 2, 3 or 4 (default 3).
        conv_filters: channels of the subsampling convolutions, default 128.
        units: units per direction of each recurrent layer, or the Transformer
            width; default 128.
        num_layers: recurrent layers or Transformer blocks, default 3.
        cell: "gru" or "lstm" (birnn only), our `layers.GRUCell`/`LSTMCell`.
        num_heads, intermediate_dim: of each Transformer block.
        dropout: between layers (and inside the Transformer blocks).
        time_masks, time_mask_frames: SpecAugment time masks per utterance and
            the widest, in 10 ms frames (training only; 0 masks: none).
        frequency_masks, frequency_mask_bins: the same along the mel axis.
        seed: seed of the SpecAugment masks.

    Call arguments:
        inputs: dict with ``waveform`` float32 ``(batch, samples)`` at 16 kHz
            and ``num_samples`` int32 ``(batch,)``, each utterance's length
            (the rest of its row is padding). A bare waveform counts as unpadded.
        training: whether SpecAugment and dropout are active.

    Returns:
        float32 ``(batch, ceil(samples / (160 * subsampling)), num_classes)``
        log-probabilities.

    Example:

    >>> model = SpeechRecognitionModel(units=8, num_layers=1, conv_filters=8, num_mel_bins=16,
    ...                                frequency_mask_bins=4)
    >>> log_probs, lengths = model.encode(np.zeros((2, 16000), "float32"), np.array([16000, 8000]))
    >>> tuple(log_probs.shape), lengths.numpy().tolist()
    ((2, 25, 28), [25, 13])

    Reference:
        Graves et al., "Connectionist Temporal Classification", ICML 2006;
        Park et al., "SpecAugment", Interspeech 2019.
    """

    def __init__(self, architecture="birnn", num_classes=NUM_CLASSES, num_mel_bins=64, subsampling=3,
                 conv_filters=128, units=128, num_layers=3, cell="gru", num_heads=4, intermediate_dim=256,
                 dropout=0.1, time_masks=2, time_mask_frames=10, frequency_masks=2, frequency_mask_bins=8,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError(f"Invalid value for argument architecture. Expected one of {ARCHITECTURES}. "
                             f"Received: architecture={architecture!r}")
        if cell not in CELLS:
            raise ValueError(f"Invalid value for argument cell. Expected one of {tuple(CELLS)}. "
                             f"Received: cell={cell!r}")
        if subsampling not in SUBSAMPLING_STRIDES:
            raise ValueError(f"Invalid value for argument subsampling. Expected 2, 3 or 4. "
                             f"Received: subsampling={subsampling}")
        for name, value in (("num_classes", num_classes), ("num_mel_bins", num_mel_bins),
                            ("conv_filters", conv_filters), ("units", units), ("num_layers", num_layers),
                            ("num_heads", num_heads), ("intermediate_dim", intermediate_dim)):
            _positive(name, value)
        for name, value in (("time_masks", time_masks), ("time_mask_frames", time_mask_frames),
                            ("frequency_masks", frequency_masks), ("frequency_mask_bins", frequency_mask_bins)):
            _non_negative(name, value)
        if not 0 <= dropout < 1:
            raise ValueError(f"Invalid value for argument dropout. Expected a number in [0, 1). "
                             f"Received: dropout={dropout}")
        if frequency_mask_bins >= num_mel_bins:
            raise ValueError(f"Invalid value for argument frequency_mask_bins. Expected fewer than "
                             f"num_mel_bins={num_mel_bins}. Received: frequency_mask_bins={frequency_mask_bins}")
        if architecture == "transformer" and units % num_heads:
            raise ValueError(f"Invalid value for argument units. Expected a multiple of num_heads={num_heads}. "
                             f"Received: units={units}")
        self.architecture = architecture
        self.num_classes = int(num_classes)
        self.num_mel_bins = int(num_mel_bins)
        self.subsampling = int(subsampling)
        self.conv_filters = int(conv_filters)
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.cell = cell
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.time_masks = int(time_masks)
        self.time_mask_frames = int(time_mask_frames)
        self.frequency_masks = int(frequency_masks)
        self.frequency_mask_bins = int(frequency_mask_bins)
        self.seed = seed

        self.front_end = LogMelSpectrogram(SAMPLE_RATE, FRAME_LENGTH, FRAME_STEP, FFT_LENGTH, num_mel_bins,
                                           lower_edge_hertz=20.0, name="log_mel_spectrogram")
        self.spec_augment_seed = keras.random.SeedGenerator(seed, name="spec_augment_seed")
        self.convolutions = [keras.layers.Conv1D(conv_filters, 5, strides=stride, padding="same",
                                                 name=f"subsampling_conv_{i}")
                             for i, stride in enumerate(SUBSAMPLING_STRIDES[subsampling])]
        self.conv_norms = [keras.layers.LayerNormalization(name=f"subsampling_norm_{i}")
                           for i in range(len(self.convolutions))]
        self.encoder_dropout = [keras.layers.Dropout(dropout, name=f"encoder_dropout_{i}")
                                for i in range(num_layers + 1)]
        if architecture == "birnn":
            self.encoder_layers = [
                keras.layers.Bidirectional(keras.layers.RNN(CELLS[cell](units), return_sequences=True),
                                           name=f"bidirectional_{cell}_{i}")
                for i in range(num_layers)]
        else:
            self.input_projection = keras.layers.Dense(units, name="input_projection")
            self.positional_encoding = SinusoidalPositionalEncoding(name="positional_encoding")
            self.encoder_layers = [
                TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout, norm_first=True,
                                        name=f"transformer_encoder_{i}")
                for i in range(num_layers)]
            self.final_norm = keras.layers.LayerNormalization(name="final_norm")
        self.classifier = keras.layers.Dense(num_classes, name="classifier")

    # ------------------------------------------------------------------ front end

    def features(self, waveform, num_samples, training=False):
        """Normalised (and, in training, masked) log-mel frames and their mask.

        Returns:
            (features ``(batch, frames, num_mel_bins)``, frame mask bool ``(batch, frames)``).
        """
        total = ops.shape(waveform)[1]
        hop = FRAME_STEP * self.subsampling
        padded_length = (total + hop - 1) // hop * hop
        waveform = ops.pad(waveform, [[0, 0], [FRAME_LENGTH - FRAME_STEP, padded_length - total]])
        log_mel = self.front_end(waveform)  # (batch, padded_length / 160, mels)
        frames = ops.shape(log_mel)[1]
        valid_frames = (num_samples + FRAME_STEP - 1) // FRAME_STEP  # (batch,)
        mask = ops.arange(frames)[None, :] < valid_frames[:, None]  # (batch, frames)
        weights = ops.cast(mask, log_mel.dtype)[..., None]  # (batch, frames, 1)
        count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)  # (batch, 1, 1)
        mean = ops.sum(log_mel * weights, axis=1, keepdims=True) / count
        variance = ops.sum(ops.square(log_mel - mean) * weights, axis=1, keepdims=True) / count
        features = (log_mel - mean) * ops.rsqrt(variance + 1e-3) * weights
        if training:
            features = self._spec_augment(features, valid_frames)
        return features, mask

    def _spec_augment(self, features, valid_frames):
        """Zeroes ``time_masks`` random spans of frames and ``frequency_masks`` of mel bands per utterance."""
        batch, frames = ops.shape(features)[0], ops.shape(features)[1]
        keep = ops.ones_like(features[..., :1]) * ops.ones_like(features[:, :1, :])  # (batch, frames, mels)
        for count, widest, axis_length, axis in (
                (self.time_masks, self.time_mask_frames, None, 1),
                (self.frequency_masks, self.frequency_mask_bins, self.num_mel_bins, 2)):
            if not count or not widest:
                continue
            widths = ops.floor(keras.random.uniform((batch, count), 0, widest + 1, seed=self.spec_augment_seed))
            limit = ops.cast(valid_frames if axis == 1 else ops.full((batch,), axis_length), "float32")
            starts = ops.floor(keras.random.uniform((batch, count), seed=self.spec_augment_seed)
                               * ops.maximum(limit[:, None] - widths, 1.0))
            positions = ops.cast(ops.arange(frames if axis == 1 else axis_length), "float32")
            # (batch, count, positions) -> (batch, positions): inside any of the masks.
            inside = ops.logical_and(positions[None, None, :] >= starts[..., None],
                                     positions[None, None, :] < (starts + widths)[..., None])
            masked = ops.cast(ops.any(inside, axis=1), features.dtype)
            keep = keep * (1.0 - (masked[:, :, None] if axis == 1 else masked[:, None, :]))
        return features * keep

    # ------------------------------------------------------------------ network

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            waveform, num_samples = inputs["waveform"], inputs["num_samples"]
        else:
            waveform = inputs
            num_samples = ops.full(ops.shape(waveform)[:1], ops.shape(waveform)[1], "int32")
        return self._log_probs(waveform, ops.cast(num_samples, "int32"), training)

    def _log_probs(self, waveform, num_samples, training):
        features, _ = self.features(waveform, num_samples, training=bool(training))
        lengths = output_lengths(num_samples, self.subsampling)
        hidden = features
        for convolution, norm in zip(self.convolutions, self.conv_norms):
            hidden = ops.relu(norm(convolution(hidden)))  # (batch, frames / stride, conv_filters)
        frames = ops.shape(hidden)[1]
        mask = ops.arange(frames)[None, :] < lengths[:, None]  # (batch, output_frames)
        hidden = hidden * ops.cast(mask, hidden.dtype)[..., None]
        hidden = self.encoder_dropout[0](hidden, training=training)
        if self.architecture == "birnn":
            for i, layer in enumerate(self.encoder_layers):
                hidden = layer(hidden, mask=mask, training=training)  # (batch, output_frames, 2 * units)
                hidden = self.encoder_dropout[i + 1](hidden, training=training)
        else:
            hidden = self.input_projection(hidden)  # (batch, output_frames, units)
            hidden = hidden + self.positional_encoding(hidden)
            for i, layer in enumerate(self.encoder_layers):
                hidden = layer(hidden, padding_mask=mask, training=training)
            hidden = self.final_norm(hidden)
        logits = self.classifier(hidden)  # (batch, output_frames, num_classes)
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)

    def encode(self, waveform, num_samples=None):
        """(log-probabilities ``(batch, output_frames, classes)``, output lengths ``(batch,)`` int32)."""
        waveform = ops.convert_to_tensor(waveform, "float32")
        if num_samples is None:
            num_samples = ops.full(ops.shape(waveform)[:1], ops.shape(waveform)[1], "int32")
        num_samples = ops.cast(ops.convert_to_tensor(num_samples), "int32")
        log_probs = self._log_probs(waveform, num_samples, False)
        return log_probs, output_lengths(num_samples, self.subsampling)

    # ------------------------------------------------------------------ loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss of the batch; frames past each utterance's output length are ignored."""
        lengths = output_lengths(ops.cast(x["num_samples"], "int32"), self.subsampling)
        losses = ctc_loss(y["labels"], y_pred, y["label_length"], lengths)
        if sample_weight is not None:
            losses = losses * ops.cast(sample_weight, losses.dtype)
        return _per_replica(ops.mean(losses))

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "num_classes": self.num_classes,
                "num_mel_bins": self.num_mel_bins, "subsampling": self.subsampling,
                "conv_filters": self.conv_filters, "units": self.units, "num_layers": self.num_layers,
                "cell": self.cell, "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout, "time_masks": self.time_masks,
                "time_mask_frames": self.time_mask_frames, "frequency_masks": self.frequency_masks,
                "frequency_mask_bins": self.frequency_mask_bins, "seed": self.seed}


def _per_replica(loss):
    """``loss`` over the replicas in sync, as Keras's own losses are scaled under ``tf.distribute``.

    The strategy sums the replicas' gradients and Keras multiplies the logged
    loss back, so without it a two-replica run would take doubled steps and
    report twice the loss.
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
    return loss


def build_model(**arguments) -> SpeechRecognitionModel:
    """A :class:`SpeechRecognitionModel`, built on a short dummy batch."""
    model = SpeechRecognitionModel(**arguments)
    model({"waveform": np.zeros((1, 3200), np.float32), "num_samples": np.array([3200], np.int32)})
    return model
