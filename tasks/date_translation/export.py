"""SavedModel export: raw strings in, ISO 8601 answers and confidences out.

Signatures (all take ``text``: tf.string ``[None]``):

* ``serving_default``: decoding of width ``config.serving_beam_width`` (1, greedy, by default), order ``MDY``;
* ``with_order``: the same with ``order`` (tf.string ``[None]``: ``MDY``, ``DMY`` or ``YMD`` per string);
* ``greedy``: greedy decoding, order ``MDY``;
* ``beam``: beam search of width ``config.beam_width``, order ``MDY``;

and return ``date`` (``YYYY-MM-DD``, ``YYYY-MM`` or ``""`` for not a date),
``time`` (``HH:MM:SS`` or ``""``), ``utc_offset`` (``+HH:MM`` or ``""``),
``iso`` (the three as one ISO 8601 string) and ``confidence`` (float32); all
``[None]``. Decoding runs under the calendar mask (``data.allowed_tokens``), so
every answer is a real date, time and offset or an explicit "not a date".

Preprocessing inside the graph is ``data.encode_text``, the very function the
training data went through (normalisation, the order token, character ids).

Bad-input policy (every string gets an answer, never an error):

* characters outside ``data.INPUT_CHARACTERS`` after normalisation (invalid
  UTF-8 included) map to the "unknown" id and the model still answers;
* an order other than the three reads as ``MDY``;
* an input longer than ``sequence_length - 1`` characters after normalisation
  is cut, answered, and given confidence 0 (we never vouch for an answer to
  text we could not read whole); an empty (or all-space) input too;
* confidence is P(answer | input) under the model, the product of the
  model's own per-character probabilities (not renormalised over what the
  calendar mask allowed: an answer the mask forced on the model is not
  vouched for). Where the mask removed more than ``not_a_date_above`` of the
  model's probability at a step, the answer is "not a date", with the
  probability the model gave to that impossible continuation
  (``model.calendar_rule``). Callers reject answers below a threshold (the
  CLI flags those below ``confidence_threshold``).
"""

import tensorflow as tf

from tasks.date_translation.data import DEFAULT_ORDER, OUTPUT_LENGTH, encode_text, output_fields
from tasks.date_translation.model import rule_limit


def padded_batch_size(batch_size):
    """The batch size the compiled decoder sees: the next power of two, at least 8.

    XLA compiles one program per input shape; rounding the batch up bounds the
    programs a server ever compiles (about a dozen) at the cost of at most 2x
    padding rows, and a batch of 2,000 pays 2.4%.
    """
    batch_size = tf.maximum(batch_size, 1)
    exponent = tf.math.ceil(tf.math.log(tf.cast(batch_size, tf.float32)) / tf.math.log(2.0))
    padded = tf.cast(tf.pow(2.0, exponent), tf.int32)
    padded = tf.where(padded < batch_size, padded * 2, padded)  # float rounding of the log
    return tf.maximum(padded, 8)


# Rows per call of the compiled decoder: the batch is sorted by input length and cut into chunks of
# this many rows, each padded only to its own longest input, so most rows are decoded at a fraction of
# sequence_length; chunks this large still keep the matrix products of every step efficient.
CHUNK_ROWS = 256
# The widths a chunk is padded to (sequence_length closes the list): each is one compiled program per
# batch-size bucket, so a handful bounds the programs a server compiles.
WIDTH_BUCKETS = (16, 24, 32, 48, 64)


def padded_width(width, sequence_length):
    """The input width the compiled decoder sees: the first of ``WIDTH_BUCKETS`` (then ``sequence_length``)
    at least ``width``."""
    buckets = tf.constant([b for b in WIDTH_BUCKETS if b < sequence_length] + [sequence_length])
    return tf.reduce_min(tf.where(buckets >= tf.minimum(width, sequence_length), buckets, sequence_length))


class DateTranslator(tf.Module):
    """The serving graph: preprocessing, encoder, constrained greedy or beam decoding, confidence.

    Strings are handled in a plain TensorFlow graph (normalisation, code
    points to ids; ids to the answer's fields); the numeric part, encoder and
    decoding loop, runs in a function compiled with XLA (``jit_compile``, kept
    in the SavedModel) when ``jit_compile`` is true. The batch is sorted by
    input length and decoded in chunks of ``CHUNK_ROWS`` rows (fewer for a
    small batch: ``padded_batch_size``), each chunk padded to the width bucket
    of its longest input (``padded_width``); the answers are put back in the
    caller's order. Every row's answer depends on its own characters only (the
    model masks padding), so the chunking changes the speed, not the answers.
    XLA compiles one program per (rows, width) pair, a few dozen at most.
    """

    def __init__(self, model, sequence_length, beam_width, serving_beam_width=1, jit_compile=True,
                 not_a_date_above=None):
        super().__init__(name="date_translator")
        self.model = model  # tracks the weights; model.decode is the search
        self.sequence_length = sequence_length
        self.beam_width = beam_width
        self.serving_beam_width = serving_beam_width
        self.jit_compile = jit_compile
        self.not_a_date_above = not_a_date_above
        self._decoders = {}

    def _decode(self, ids, lengths, beam_width):
        if not self.jit_compile:
            return self.model.decode(ids, beam_width, not_a_date_above=self.not_a_date_above)
        name = f"width_{beam_width}"
        if name not in self._decoders:
            self._decoders[name] = tf.function(
                lambda ids: self.model.decode(ids, beam_width, not_a_date_above=self.not_a_date_above),
                jit_compile=True, reduce_retracing=True)
        decode = self._decoders[name]
        batch_size = tf.shape(ids)[0]
        chunk_rows = tf.minimum(CHUNK_ROWS, padded_batch_size(batch_size))
        num_chunks = tf.maximum((batch_size + chunk_rows - 1) // chunk_rows, 1)
        # Shortest inputs first; padding rows (all ids 0) go last.
        widths = tf.clip_by_value(lengths + 1, 2, self.sequence_length)  # the order token and the characters
        order = tf.argsort(widths, stable=True)
        padded_rows = num_chunks * chunk_rows - batch_size
        sorted_ids = tf.pad(tf.gather(ids, order), [[0, padded_rows], [0, self.sequence_length - tf.shape(ids)[1]]])
        sorted_widths = tf.pad(tf.gather(widths, order), [[0, padded_rows]], constant_values=2)

        def decode_chunk(index, sequences, log_probs):
            rows = tf.range(index * chunk_rows, (index + 1) * chunk_rows)
            width = padded_width(tf.reduce_max(tf.gather(sorted_widths, rows)), self.sequence_length)
            chunk_ids, chunk_log_probs = decode(tf.gather(sorted_ids, rows)[:, :width])  # (chunk_rows, 19)
            return index + 1, sequences.write(index, chunk_ids), log_probs.write(index, chunk_log_probs)

        _, sequences, log_probs = tf.while_loop(
            lambda index, *_: index < num_chunks, decode_chunk,
            (0, tf.TensorArray(tf.int32, num_chunks, element_shape=[None, OUTPUT_LENGTH]),
             tf.TensorArray(tf.float32, num_chunks, element_shape=[None])))
        # Back to the caller's order: row order[i] of the input is row i of the sorted answers.
        inverse = tf.math.invert_permutation(order)
        return tf.gather(sequences.concat(), inverse), tf.gather(log_probs.concat(), inverse)

    def translate(self, text, beam_width, order=DEFAULT_ORDER):
        ids, lengths = encode_text(text, order, self.sequence_length)
        output_ids, log_probs = self._decode(ids, lengths, beam_width)
        readable = tf.logical_and(lengths > 0, lengths < self.sequence_length)
        outputs = output_fields(output_ids)
        outputs["confidence"] = tf.where(readable, tf.exp(log_probs), 0.0)
        return outputs

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return self.translate(text, self.serving_beam_width)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.string, name="order")])
    def with_order(self, text, order):
        return self.translate(text, self.serving_beam_width, order)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def beam(self, text):
        return self.translate(text, self.beam_width)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def greedy(self, text):
        return self.translate(text, 1)


def export_model(model, config, export_dir):
    translator = DateTranslator(model, config.sequence_length, config.beam_width, config.serving_beam_width,
                                jit_compile=config.serving_jit_compile,
                                not_a_date_above=rule_limit(config.not_a_date_above))
    tf.saved_model.save(
        translator,
        str(export_dir),
        signatures={"serving_default": translator.serve, "with_order": translator.with_order,
                    "greedy": translator.greedy, "beam": translator.beam},
    )
    return translator
