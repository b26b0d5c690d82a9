"""SavedModel and TFLite exports of a trigger-word model.

SavedModel signatures:

* ``serving_default``: ``waveform`` float32 ``[None, None]`` (16 kHz mono,
  any length) -> ``probabilities`` float32 ``[None, frames]`` (one per 40 ms)
  and ``detections`` float32 ``[None, max_detections]``: detection times in
  seconds, padded with -1.
* ``stream_step`` (streaming model only): ``chunk`` ``[None, k * 640]`` plus
  the carried ``audio_state``, ``conv_state`` and ``recurrent_state`` ->
  ``probabilities`` ``[None, k]`` and the new states. Start from zeros (shapes
  in ``state_shapes``); the outputs equal ``serving_default``'s on the whole
  audio.

The module also stores the decision rule (``threshold``,
``refractory_seconds``, ``smoothing_frames``, ``min_frames``; see
``evaluate.py``) and ``frame_seconds`` as variables, so the ``detect`` command
applies the same rule as ``detections`` with nothing but the SavedModel
directory.

TFLite (:func:`export_tflite`): the streaming model's ``stream_step`` for one
stream and a fixed chunk (default 1.28 s = 32 frames), builtin ops only.
"""

from __future__ import annotations

import numpy as np

from tasks.trigger_word.evaluate import DecisionRule, detect_events_tf
from tasks.trigger_word.model import FRAME_SAMPLES, FRAME_SECONDS

DEFAULT_TFLITE_CHUNK = 32 * FRAME_SAMPLES
STEP_OUTPUTS = ("audio_state", "conv_state", "probabilities", "recurrent_state")


def _server_class():
    import tensorflow as tf

    class TriggerWordServer(tf.Module):
        def __init__(self, model, rule):
            super().__init__(name="trigger_word")
            self.model = model
            # Smoothing and persistence shape the detection graph, so they are
            # fixed here; the variables record them for the detect command.
            self._smoothing_frames = int(rule.smoothing_frames)
            self._min_frames = int(rule.min_frames)
            self.threshold = tf.Variable(float(rule.threshold), trainable=False, name="threshold")
            self.refractory_seconds = tf.Variable(float(rule.refractory_seconds), trainable=False,
                                                  name="refractory_seconds")
            self.smoothing_frames = tf.Variable(self._smoothing_frames, trainable=False,
                                                name="smoothing_frames")
            self.min_frames = tf.Variable(self._min_frames, trainable=False, name="min_frames")
            self.frame_seconds = tf.Variable(FRAME_SECONDS, trainable=False, name="frame_seconds")
            self.frame_samples = tf.Variable(FRAME_SAMPLES, trainable=False, name="frame_samples")
            self.streaming = tf.Variable(model.causal, trainable=False, name="streaming")

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
        def serve(self, waveform):
            probabilities = self.model(waveform, training=False)
            detections = detect_events_tf(probabilities, self.threshold, self.refractory_seconds,
                                          smoothing_frames=self._smoothing_frames,
                                          min_frames=self._min_frames)
            return {"probabilities": probabilities, "detections": detections}

    return TriggerWordServer


def make_server(model, threshold=0.5, refractory_seconds=0.5, rule=None):
    """A ``tf.Module`` with the serving functions of ``model``.

    ``rule`` (a :class:`DecisionRule`) takes precedence over ``threshold``
    and ``refractory_seconds``, which alone give a plain rising-edge rule.
    """
    import tensorflow as tf

    rule = rule or DecisionRule(float(threshold), float(refractory_seconds))
    server = _server_class()(model, rule)
    if model.causal:
        bins = model.num_mel_bins or model.fft_length // 2 + 1
        specs = [
            tf.TensorSpec([None, None], tf.float32, name="chunk"),
            tf.TensorSpec([None, model.frame_length - 160], tf.float32, name="audio_state"),
            tf.TensorSpec([None, model.conv_kernel - 1, bins], tf.float32, name="conv_state"),
            tf.TensorSpec([model.num_layers, None, model.units], tf.float32,
                          name="recurrent_state"),
        ]

        @tf.function(input_signature=specs)
        def stream_step(chunk, audio_state, conv_state, recurrent_state):
            probabilities, states = model.stream_step(
                chunk, [audio_state, conv_state] + tf.unstack(recurrent_state, model.num_layers))
            return {"probabilities": probabilities, "audio_state": states[0],
                    "conv_state": states[1], "recurrent_state": tf.stack(states[2:])}

        server.stream_step = stream_step
        server.state_shapes = {
            "audio_state": tf.Variable([1, model.frame_length - 160], trainable=False),
            "conv_state": tf.Variable([1, model.conv_kernel - 1, bins], trainable=False),
            "recurrent_state": tf.Variable([model.num_layers, 1, model.units], trainable=False),
        }
    return server


def export_saved_model(model, export_dir, threshold=0.5, refractory_seconds=0.5, rule=None):
    """Writes the SavedModel described in the module docstring (``rule`` as in :func:`make_server`)."""
    import tensorflow as tf

    server = make_server(model, threshold, refractory_seconds, rule)
    signatures = {"serving_default": server.serve}
    if model.causal:
        signatures["stream_step"] = server.stream_step
    tf.saved_model.save(server, str(export_dir), signatures=signatures)
    return export_dir


def initial_states(loaded, batch_size=1):
    """Zero streaming states for a loaded SavedModel's ``stream_step``."""
    shapes = {name: variable.numpy().tolist() for name, variable in loaded.state_shapes.items()}
    shapes["audio_state"][0] = batch_size
    shapes["conv_state"][0] = batch_size
    shapes["recurrent_state"][1] = batch_size
    return {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}


def export_tflite(model, path, chunk_samples=DEFAULT_TFLITE_CHUNK):
    """Converts the streaming step (batch 1, fixed chunk) to a TFLite flatbuffer."""
    import tensorflow as tf

    if not model.causal:
        raise ValueError("Only the streaming model exports to TFLite (the course model's "
                         "centred convolution looks ahead).")
    if chunk_samples % FRAME_SAMPLES:
        raise ValueError(f"chunk_samples must be a multiple of {FRAME_SAMPLES}; "
                         f"received {chunk_samples}")
    bins = model.num_mel_bins or model.fft_length // 2 + 1
    specs = [
        tf.TensorSpec([1, chunk_samples], tf.float32, name="chunk"),
        tf.TensorSpec([1, model.frame_length - 160], tf.float32, name="audio_state"),
        tf.TensorSpec([1, model.conv_kernel - 1, bins], tf.float32, name="conv_state"),
        tf.TensorSpec([model.num_layers, 1, model.units], tf.float32, name="recurrent_state"),
    ]

    @tf.function(input_signature=specs)
    def stream_step(chunk, audio_state, conv_state, recurrent_state):
        probabilities, states = model.stream_step(
            chunk, [audio_state, conv_state] + tf.unstack(recurrent_state, model.num_layers),
            unroll=True)
        return {"probabilities": probabilities, "audio_state": states[0],
                "conv_state": states[1], "recurrent_state": tf.stack(states[2:])}

    from tasks.common.tflite import write_tflite

    return write_tflite(stream_step, model, path)


class TFLiteStreamer:
    """Runs an exported TFLite streaming step over audio, chunk by chunk."""

    def __init__(self, path, num_threads=1):
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()
        details = self.runner.get_input_details()
        self.chunk_samples = int(details["chunk"]["shape"][1])
        self.state_shapes = {name: tuple(d["shape"]) for name, d in details.items() if name != "chunk"}
        self.reset()

    def reset(self):
        self.states = {name: np.zeros(shape, np.float32) for name, shape in self.state_shapes.items()}

    def step(self, chunk):
        """Probabilities (frames,) of one chunk of exactly ``chunk_samples`` samples."""
        outputs = self.runner(chunk=np.asarray(chunk, np.float32).reshape(1, -1), **self.states)
        if "probabilities" not in outputs:
            # Frozen functions name their outputs output_0.. in sorted key order.
            outputs = {name: outputs[f"output_{i}"] for i, name in enumerate(STEP_OUTPUTS)}
        self.states = {name: outputs[name] for name in self.state_shapes}
        return outputs["probabilities"][0]

    def probabilities(self, waveform):
        """Probabilities of a whole waveform streamed in chunks (zero-padded at the end)."""
        self.reset()
        waveform = np.asarray(waveform, np.float32)
        num_frames = -(-len(waveform) // FRAME_SAMPLES)
        padded = np.zeros(-(-len(waveform) // self.chunk_samples) * self.chunk_samples, np.float32)
        padded[:len(waveform)] = waveform
        outputs = [self.step(padded[s:s + self.chunk_samples])
                   for s in range(0, len(padded), self.chunk_samples)]
        return np.concatenate(outputs)[:num_frames]

