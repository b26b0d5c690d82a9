"""Trigger-word models: the course architecture and a streaming one.

Both read a raw 16 kHz waveform ``(batch, samples)`` and return one
probability per output frame ``(batch, frames)``; the spectrogram front end is
inside the model, so SavedModels and TFLite files take audio, not features.

Time grid (shared by both models, and by the labels in ``data/trigger_word/dataset.py``):

* The waveform is padded on the left by ``frame_length - frame_step`` zeros,
  so spectrogram frame ``f`` ends at sample ``(f + 1) * frame_step`` and a clip
  of ``N`` samples gives ``N / frame_step`` frames (the streaming-friendly,
  non-centred framing: no frame looks into the future).
* It is padded on the right to a multiple of ``FRAME_SAMPLES`` =
  ``frame_step * conv_stride`` = 640 samples (40 ms).
* Output frame ``t`` therefore ends at ``(t + 1) * 40 ms``; a 10 s clip gives
  250 output frames (the course's 1375 frames were 7.3 ms apart at 44.1 kHz).

``course``: the course's network (Conv1D 196 filters, kernel 15, stride 4;
batch norm; ReLU; dropout; two GRU(128) layers each followed by dropout and
batch norm; a per-frame sigmoid), here on a log spectrogram of 101 bins like
the course's ``n_fft=200``. Its convolution is centred ("same"), so it looks a
few frames ahead and cannot stream exactly.

``streaming``: causal throughout. A 40-bin log-mel front end
(``layers.LogMelSpectrogram``, HTK filters), a causal
Conv1D (its left context carried between chunks), and unidirectional GRUs
whose states are carried between chunks; :meth:`TriggerWordModel.stream_step`
processes a chunk of any multiple of 640 samples and returns the same frame
probabilities as the whole clip at once.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from layers import GRUCell, LogMelSpectrogram, Spectrogram

SAMPLE_RATE = 16000
FRAME_STEP = 160  # 10 ms spectrogram hop.
CONV_STRIDE = 4
FRAME_SAMPLES = FRAME_STEP * CONV_STRIDE  # 640 samples = 40 ms per output frame.
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
ARCHITECTURES = ("course", "streaming")


# --------------------------------------------------------------------------- SpecAugment


@keras.saving.register_keras_serializable(package="seqmodels_trigger_word")
class SpecAugment(keras.layers.Layer):
    """Time and frequency masks on features, in training only.

    ``time_masks`` bands of up to ``time_mask_frames`` consecutive frames and
    ``frequency_masks`` bands of up to ``frequency_mask_bins`` bins are set
    to 0 (the normalised features' mean), each band's width and position
    drawn uniformly per example. At inference the layer is the identity.

    Args:
        time_masks, time_mask_frames: number and largest width of time masks.
        frequency_masks, frequency_mask_bins: number and largest width of frequency masks.
        seed: seed of the masks' random stream.

    Call arguments:
        features: float ``(batch, frames, bins)``.
        training: masks only when true.

    Reference: Park et al., "SpecAugment: A Simple Data Augmentation Method
    for Automatic Speech Recognition", Interspeech 2019.
    """

    def __init__(self, time_masks=2, time_mask_frames=10, frequency_masks=2, frequency_mask_bins=8,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("time_masks", time_masks), ("time_mask_frames", time_mask_frames),
                            ("frequency_masks", frequency_masks),
                            ("frequency_mask_bins", frequency_mask_bins)):
            if int(value) < 0:
                raise ValueError(f"Invalid value for argument {name}. Expected a non-negative "
                                 f"integer. Received: {name}={value}")
        self.time_masks = int(time_masks)
        self.time_mask_frames = int(time_mask_frames)
        self.frequency_masks = int(frequency_masks)
        self.frequency_mask_bins = int(frequency_mask_bins)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _band_mask(self, batch, length, count, widest):
        """(batch, length) float mask: 0 inside ``count`` random bands of up to ``widest``, else 1."""
        positions = ops.arange(length)[None, :]  # (1, length)
        keep = ops.ones((batch, length), "float32")
        for _ in range(count):
            width = ops.floor(keras.random.uniform((batch, 1), 0.0, widest + 1.0,
                                                   seed=self.seed_generator))
            width = ops.minimum(width, ops.cast(length, "float32"))
            start = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator)
                              * (ops.cast(length, "float32") - width + 1.0))
            positions_float = ops.cast(positions, "float32")
            inside = ops.logical_and(positions_float >= start, positions_float < start + width)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, features, training=None):
        if not training or not (self.time_masks or self.frequency_masks):
            return features
        shape = ops.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        keep_time = self._band_mask(batch, frames, self.time_masks, self.time_mask_frames)
        keep_frequency = self._band_mask(batch, bins, self.frequency_masks, self.frequency_mask_bins)
        # (batch, frames, 1) * (batch, 1, bins): a frame or a bin masked anywhere is 0.
        keep = keep_time[:, :, None] * keep_frequency[:, None, :]
        return features * ops.cast(keep, features.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks,
                "time_mask_frames": self.time_mask_frames, "frequency_masks": self.frequency_masks,
                "frequency_mask_bins": self.frequency_mask_bins, "seed": self.seed}


# --------------------------------------------------------------------------- model


@keras.saving.register_keras_serializable(package="seqmodels_trigger_word")
class TriggerWordModel(keras.Model):
    """Waveform -> per-frame trigger probability, in the course or the streaming form.

    Args:
        architecture: "course" or "streaming" (see the module docstring).
        units: GRU units per layer (course: 128).
        num_layers: GRU layers (course: 2).
        conv_filters: Conv1D filters (course: 196).
        conv_kernel: Conv1D kernel size in spectrogram frames (course: 15).
        dropout: dropout rate after the convolution and each GRU.
        num_mel_bins: mel bins of the streaming front end (course: 0, a plain
            101-bin spectrogram).
        frame_length, fft_length: analysis window and FFT size in samples.
        spec_augment: ``(time_masks, time_mask_frames, frequency_masks,
            frequency_mask_bins)`` of :class:`SpecAugment` on the normalised
            features in training; ``None`` (default) for none.

    Call arguments:
        waveform: float32 ``(batch, samples)`` at 16 kHz.

    Returns:
        float32 ``(batch, ceil(samples / 640))`` probabilities.
    """

    def __init__(self, architecture="course", units=128, num_layers=2, conv_filters=196,
                 conv_kernel=15, dropout=0.3, num_mel_bins=0, frame_length=200, fft_length=200,
                 spec_augment=None, **kwargs):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError(f"Invalid value for argument architecture. Expected one of "
                             f"{ARCHITECTURES}. Received: architecture={architecture!r}")
        for name, value in (("units", units), ("num_layers", num_layers),
                            ("conv_filters", conv_filters), ("conv_kernel", conv_kernel)):
            if int(value) < 1:
                raise ValueError(f"Invalid value for argument {name}. Expected a positive "
                                 f"integer. Received: {name}={value}")
        if not 0 <= dropout < 1:
            raise ValueError(f"Invalid value for argument dropout. Expected a number in [0, 1). "
                             f"Received: dropout={dropout}")
        self.architecture = architecture
        self.units = units
        self.num_layers = num_layers
        self.conv_filters = conv_filters
        self.conv_kernel = conv_kernel
        self.dropout = dropout
        self.num_mel_bins = num_mel_bins
        self.frame_length = frame_length
        self.fft_length = fft_length
        self.causal = architecture == "streaming"
        if spec_augment is not None:
            spec_augment = tuple(int(v) for v in spec_augment)
            if len(spec_augment) != 4:
                raise ValueError(f"Invalid value for argument spec_augment. Expected (time_masks, "
                                 f"time_mask_frames, frequency_masks, frequency_mask_bins). "
                                 f"Received: spec_augment={spec_augment}")
        self.spec_augment = spec_augment

        if num_mel_bins:
            # HTK mel filters from 20 Hz, unnormalised, on the non-centred
            # power spectrogram: the streaming model's features since it was
            # first trained (its former private matrix front end gave the same
            # values to float32 rounding, so trained weights carry over).
            self.front_end = LogMelSpectrogram(
                SAMPLE_RATE, frame_length, FRAME_STEP, fft_length, num_mel_bins,
                lower_edge_hertz=20.0, mel_scale="htk", mel_norm=None, name="spectrogram")
        else:
            # The course model's log power spectrogram, from layers/ (non-centred framing).
            self.front_end = Spectrogram(frame_length, FRAME_STEP, fft_length,
                                         name="spectrogram")
        # Per-bin normalisation of the log spectrogram (inference: a fixed affine map per frame).
        # Synchronized: under a distribution strategy the statistics are the whole batch's, as
        # on one device, not each replica's share (one device: the same layer).
        self.feature_norm = keras.layers.BatchNormalization(synchronized=True, name="feature_norm")
        # Only models trained with masks hold the layer (and its seed state), so
        # models saved before it existed load unchanged.
        self.feature_masks = (SpecAugment(*spec_augment, name="spec_augment")
                              if spec_augment and any(spec_augment) else None)
        self.conv = keras.layers.Conv1D(conv_filters, conv_kernel, strides=CONV_STRIDE,
                                        padding="valid" if self.causal else "same", name="conv")
        self.conv_norm = keras.layers.BatchNormalization(synchronized=True, name="conv_norm")
        self.conv_dropout = keras.layers.Dropout(dropout, name="conv_dropout")
        self.recurrent = [
            keras.layers.RNN(GRUCell(units), return_sequences=True, return_state=True,
                             name=f"gru_{i}")
            for i in range(num_layers)
        ]
        self.recurrent_dropout = [keras.layers.Dropout(dropout, name=f"gru_dropout_{i}")
                                  for i in range(num_layers)]
        # The course normalises after each GRU; the streaming model keeps that too
        # (at inference batch norm is a per-frame affine map, so it streams).
        self.recurrent_norm = [keras.layers.BatchNormalization(synchronized=True, name=f"gru_norm_{i}")
                               for i in range(num_layers)]
        self.classifier = keras.layers.Dense(1, activation="sigmoid", name="classifier")

    # ------------------------------------------------------------------ whole clip

    def _features(self, waveform):
        """(batch, samples) -> normalised log spectrogram (batch, samples_padded / 160, bins)."""
        num_samples = ops.shape(waveform)[1]
        padded_length = -(-num_samples // FRAME_SAMPLES) * FRAME_SAMPLES
        waveform = ops.pad(waveform, [[0, 0], [self.frame_length - FRAME_STEP,
                                               padded_length - num_samples]])
        return self.feature_norm(self.front_end(waveform))

    def call(self, waveform, training=None):
        features = self._features(waveform)
        if self.feature_masks is not None and training:
            features = self.feature_masks(features, training=training)
        if self.causal:
            # Causal convolution: the left context of the first frames is zeros,
            # exactly what stream_step's initial convolution state holds.
            features = ops.pad(features, [[0, 0], [self.conv_kernel - 1, 0], [0, 0]])
        probabilities, _ = self._head(features, None, training)
        return probabilities

    def _head(self, features, recurrent_states, training, unroll=False):
        hidden = self.conv(features)  # (batch, frames, conv_filters)
        hidden = self.conv_dropout(ops.relu(self.conv_norm(hidden, training=training)),
                                   training=training)
        new_states = []
        for i, rnn in enumerate(self.recurrent):
            initial = None if recurrent_states is None else [recurrent_states[i]]
            if unroll:
                # A Python loop over a static number of frames: no while loop,
                # which TFLite cannot run with the cell's variables inside it.
                state = initial[0]
                steps = []
                for t in range(hidden.shape[1]):
                    output, state = rnn.cell(hidden[:, t], [state], training=False)
                    state = state[0] if isinstance(state, (list, tuple)) else state
                    steps.append(output)
                hidden = ops.stack(steps, axis=1)  # (batch, frames, units)
            else:
                hidden, state = rnn(hidden, initial_state=initial, training=training)
            new_states.append(state)
            hidden = self.recurrent_dropout[i](hidden, training=training)
            hidden = self.recurrent_norm[i](hidden, training=training)
        probabilities = ops.squeeze(self.classifier(hidden), -1)  # (batch, frames)
        return probabilities, new_states

    # ------------------------------------------------------------------ streaming

    def initial_stream_state(self, batch_size=1):
        """Zero state: audio tail, convolution context, one GRU state per layer."""
        if not self.causal:
            raise ValueError("Only the streaming architecture can be streamed; the course "
                             "model's centred convolution looks ahead.")
        bins = self.num_mel_bins or self.fft_length // 2 + 1
        return [np.zeros((batch_size, self.frame_length - FRAME_STEP), np.float32),
                np.zeros((batch_size, self.conv_kernel - 1, bins), np.float32)] + [
            np.zeros((batch_size, self.units), np.float32) for _ in range(self.num_layers)]

    def stream_step(self, chunk, states, unroll=False):
        """Processes ``chunk`` (batch, k * 640 samples) given the carried ``states``.

        ``unroll=True`` (needs a static chunk length) unrolls the recurrence
        into k cell steps, as the TFLite export does.

        Returns:
            (probabilities (batch, k), new states).
        """
        if not self.causal:
            raise ValueError("Only the streaming architecture can be streamed.")
        audio_tail, conv_context = states[0], states[1]
        audio = ops.concatenate([audio_tail, chunk], axis=1)
        features = self.feature_norm(self.front_end(audio), training=False)
        features = ops.concatenate([conv_context, features], axis=1)
        probabilities, recurrent_states = self._head(features, list(states[2:]), False, unroll)
        new_states = [audio[:, -(self.frame_length - FRAME_STEP):],
                      features[:, -(self.conv_kernel - 1):]] + recurrent_states
        return probabilities, new_states

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "units": self.units,
                "num_layers": self.num_layers, "conv_filters": self.conv_filters,
                "conv_kernel": self.conv_kernel, "dropout": self.dropout,
                "num_mel_bins": self.num_mel_bins, "frame_length": self.frame_length,
                "fft_length": self.fft_length,
                "spec_augment": list(self.spec_augment) if self.spec_augment else None}


def build_model(architecture="course", **overrides) -> TriggerWordModel:
    """The course model or the streaming model with their default sizes, built."""
    if architecture == "course":
        # The course: 101-bin spectrogram (n_fft 200), Conv1D(196, 15, 4), 2 x GRU(128).
        settings = dict(units=128, num_layers=2, conv_filters=196, conv_kernel=15,
                        num_mel_bins=0, frame_length=200, fft_length=200)
    elif architecture == "streaming":
        # 25 ms windows into 40 mel bins; a smaller convolution keeps the
        # per-chunk cost low while the GRUs do the listening.
        settings = dict(units=128, num_layers=2, conv_filters=128, conv_kernel=15,
                        num_mel_bins=40, frame_length=400, fft_length=512)
    else:
        raise ValueError(f"Invalid architecture {architecture!r}; expected one of {ARCHITECTURES}")
    settings.update(overrides)
    model = TriggerWordModel(architecture=architecture, **settings)
    model(np.zeros((1, FRAME_SAMPLES * 2), np.float32))
    return model


@keras.saving.register_keras_serializable(package="seqmodels_trigger_word")
def frame_binary_crossentropy(labels, probabilities):
    """Binary cross-entropy per frame, ``(batch, frames)``, not averaged over the frames.

    Keras then weights each frame by a ``(batch, frames)`` sample weight and
    averages; without weights the value equals ``binary_crossentropy``'s.
    """
    return keras.losses.binary_crossentropy(labels[..., None], probabilities[..., None])


def num_output_frames(num_samples: int) -> int:
    return -(-int(num_samples) // FRAME_SAMPLES)
