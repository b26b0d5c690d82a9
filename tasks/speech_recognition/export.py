"""SavedModel (and TFLite) exports of a speech recogniser: waveform in, text out.

SavedModel signatures, each taking ``waveform``: float32 ``[None]``, one
utterance of 16 kHz mono audio of any length:

* ``serving_default``: the decoding named by ``serving_decoder`` (greedy, beam,
  beam_lm or beam_lm_lexicon) -> ``text`` tf.string ``[]`` and ``confidence``
  float32 ``[]``;
* ``greedy``: best-path decoding -> ``text``, ``confidence``;
* ``beam``: CTC prefix beam search of width ``beam_width``, fused with the word
  n-gram language model when one was given -> ``text``, ``confidence``;
* ``beam_lexicon`` (with a language model only): the same search held to the
  language model's words, so every transcript is a sequence of them;
* ``posteriors``: ``log_probs`` float32 ``[frames, 28]`` (one frame per
  ``frame_seconds``), for plots and alignments.

Decoding runs inside the graph (``ctc_decoding.py``), so a server needs
nothing but the directory. The module also stores ``sample_rate``,
``frame_seconds``, ``alphabet``, ``serving_decoder``, ``silence_dbfs`` and
``min_confidence`` as variables. Audio whose loudest 25 ms frame is below ``silence_dbfs`` gets an
empty text without asking the network; confidence is 0 for an empty
transcript (nothing recognised: silence, noise). A transcript whose
confidence is below ``min_confidence`` (0, none, unless given) comes out
empty too, with its confidence kept, so that noise the decoder forced into
words is not passed on as speech.

TFLite (:func:`export_tflite`): the acoustic model alone, waveform of a fixed
number of samples in, log-probabilities out; decoding is left to the caller.
"""

from __future__ import annotations

from tasks.speech_recognition.config import DECODERS
from tasks.speech_recognition.model import FRAME_LENGTH, FRAME_STEP, SAMPLE_RATE
# Audio whose loudest 25 ms frame stays below this is silence: empty text, confidence 0, whatever the
# network says (its per-utterance normalisation would otherwise lift a whisper of hiss to speech level).
SILENCE_DBFS = -50.0


def _server_class():
    import tensorflow as tf

    from tasks.speech_recognition.ctc_decoding import ALPHABET, Lexicon, decode

    class SpeechRecognizer(tf.Module):
        def __init__(self, model, beam_width=8, lm=None, lm_weight=0.5, word_bonus=1.0,
                     serving_decoder="greedy", silence_dbfs=SILENCE_DBFS, min_confidence=0.0):
            super().__init__(name="speech_recognition")
            if serving_decoder not in DECODERS:
                raise ValueError(f"Invalid value for argument serving_decoder. Expected one of {DECODERS}. "
                                 f"Received: serving_decoder={serving_decoder!r}")
            if serving_decoder.startswith("beam_lm") and lm is None:
                raise ValueError(f"serving_decoder={serving_decoder!r} needs a language model (lm).")
            self.model = model
            # The LM's words as a trie (constants of the graph), for the search held to them.
            self.lexicon = Lexicon(lm.words()) if hasattr(lm, "words") else None
            if serving_decoder == "beam_lm_lexicon" and self.lexicon is None:
                raise ValueError("serving_decoder='beam_lm_lexicon' needs a language model with its words "
                                 "(a language_model.NgramLanguageModel).")
            # The scorer is a tf.Module of lookup tables: owned here, it is saved with the SavedModel.
            self.lm = lm.scorer() if hasattr(lm, "scorer") else lm
            self._beam_width = int(beam_width)
            self._lm_weight = float(lm_weight)
            self._word_bonus = float(word_bonus)
            self._serving_decoder = serving_decoder
            self.serving_decoder = tf.Variable(serving_decoder, trainable=False, name="serving_decoder")
            self.sample_rate = tf.Variable(SAMPLE_RATE, trainable=False, name="sample_rate")
            self.frame_seconds = tf.Variable(FRAME_STEP * model.subsampling / SAMPLE_RATE, trainable=False,
                                             name="frame_seconds")
            self.alphabet = tf.Variable(ALPHABET, trainable=False, name="alphabet")
            self.beam_width = tf.Variable(self._beam_width, trainable=False, name="beam_width")
            self.has_language_model = tf.Variable(lm is not None, trainable=False, name="has_language_model")
            self.silence_dbfs = tf.Variable(float(silence_dbfs), trainable=False, name="silence_dbfs")
            if not 0.0 <= float(min_confidence) <= 1.0:
                raise ValueError(f"Invalid value for argument min_confidence. Expected a number in [0, 1]. "
                                 f"Received: min_confidence={min_confidence}")
            self.min_confidence = tf.Variable(float(min_confidence), trainable=False, name="min_confidence")

        def _encode(self, waveform):
            batch = waveform[tf.newaxis]  # (1, samples)
            return self.model.encode(batch, tf.shape(batch)[1:2])

        def decode(self, log_probs, lengths, decoder):
            return decode(log_probs, lengths, decoder, beam_width=self._beam_width, lm=self.lm,
                          lm_weight=self._lm_weight, word_bonus=self._word_bonus, lexicon=self.lexicon)

        def is_silent(self, waveform):
            """True when no 25 ms frame of ``waveform`` reaches ``silence_dbfs`` (RMS, full scale 1)."""
            frames = tf.signal.frame(waveform, FRAME_LENGTH, FRAME_STEP, pad_end=True)  # (frames, 400)
            peak = tf.reduce_max(tf.concat([tf.sqrt(tf.reduce_mean(tf.square(frames), axis=-1)), [0.0]], 0))
            return peak < tf.pow(10.0, self.silence_dbfs / 20.0)

        def _answer(self, waveform, decoder):
            log_probs, lengths = self._encode(waveform)
            texts, confidence = self.decode(log_probs, lengths, decoder)
            silent = self.is_silent(waveform)
            unsure = confidence[0] < self.min_confidence
            return {"text": tf.where(silent | unsure, tf.constant(""), texts[0]),
                    "confidence": tf.where(silent, 0.0, confidence[0])}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
        def serve(self, waveform):
            return self._answer(waveform, self._serving_decoder)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
        def greedy(self, waveform):
            return self._answer(waveform, "greedy")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
        def beam(self, waveform):
            return self._answer(waveform, "beam_lm" if self.lm is not None else "beam")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
        def beam_lexicon(self, waveform):
            # Without a lexicon it is the beam signature (and not exported: export_saved_model).
            if self.lexicon is None:
                return self._answer(waveform, "beam_lm" if self.lm is not None else "beam")
            return self._answer(waveform, "beam_lm_lexicon")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
        def posteriors(self, waveform):
            log_probs, lengths = self._encode(waveform)
            return {"log_probs": log_probs[0, :lengths[0]]}

    return SpeechRecognizer


def make_server(model, beam_width=8, lm=None, lm_weight=0.5, word_bonus=1.0, serving_decoder="greedy",
                min_confidence=0.0):
    """The ``tf.Module`` whose functions are the SavedModel's signatures."""
    return _server_class()(model, beam_width, lm, lm_weight, word_bonus, serving_decoder,
                           min_confidence=min_confidence)


def export_saved_model(model, export_dir, beam_width=8, lm=None, lm_weight=0.5, word_bonus=1.0,
                       serving_decoder="greedy", min_confidence=0.0):
    """Writes the SavedModel described in the module docstring."""
    import tensorflow as tf

    server = make_server(model, beam_width, lm, lm_weight, word_bonus, serving_decoder, min_confidence)
    signatures = {"serving_default": server.serve, "greedy": server.greedy, "beam": server.beam,
                  "posteriors": server.posteriors}
    if server.lexicon is not None:
        signatures["beam_lexicon"] = server.beam_lexicon
    tf.saved_model.save(server, str(export_dir), signatures=signatures)
    return export_dir


def export_tflite(model, path, num_samples=4 * SAMPLE_RATE):
    """Converts the acoustic model (batch 1, up to ``num_samples`` samples) to TFLite; returns the path.

    Its inputs are ``waveform`` float32 ``[1, num_samples]`` (zero-padded) and
    ``num_samples`` int32 ``[1]`` (the utterance's own length), so the
    normalisation sees only the utterance, as in the SavedModel. Builtin ops
    only (the recurrent layers' while loops convert to TFLite's own).
    """
    import tensorflow as tf

    from tasks.common.tflite import write_tflite

    @tf.function(input_signature=[tf.TensorSpec([1, num_samples], tf.float32, name="waveform"),
                                  tf.TensorSpec([1], tf.int32, name="num_samples")])
    def acoustic_model(waveform, num_samples):
        log_probs, _ = model.encode(waveform, num_samples)
        return {"log_probs": log_probs}

    return write_tflite(acoustic_model, model, path)


class TFLiteAcousticModel:
    """Runs an exported TFLite acoustic model: a waveform up to its fixed length -> log-probabilities."""

    def __init__(self, path, num_threads=1):
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()
        self.num_samples = int(self.runner.get_input_details()["waveform"]["shape"][1])

    def log_probs(self, waveform):
        import numpy as np

        length = min(len(waveform), self.num_samples)
        padded = np.zeros((1, self.num_samples), np.float32)
        padded[0, :length] = waveform[:length]
        outputs = self.runner(waveform=padded, num_samples=np.array([length], np.int32))
        return next(iter(outputs.values()))[0]
