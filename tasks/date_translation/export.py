"""SavedModel export: raw strings in, ISO dates and confidences out.

Signatures (all take ``text``: tf.string ``[None]``):

* ``serving_default``: decoding of width ``config.serving_beam_width`` (1, greedy, by default);
* ``greedy``: greedy decoding;
* ``beam``: beam search of width ``config.beam_width``;

and return ``date`` (tf.string ``[None]``, ``yyyy-mm-dd``) and
``confidence`` (float32 ``[None]``).

Preprocessing inside the graph, identical to ``data.dates.normalize`` +
``encode_input``: ASCII letters to lower case, commas to spaces, runs of ASCII
white space to one space, stripped; characters to ids.

Bad-input policy (every string gets an answer, never an error):

* characters never seen in training (anything outside
  ``data.dates.INPUT_CHARACTERS`` after normalisation, invalid UTF-8 included)
  map to the "unknown" id 1 and the model still answers;
* an input longer than ``sequence_length`` characters after normalisation is
  cut to its first ``sequence_length`` characters, answered, and given
  confidence 0 (we never vouch for an answer to text we could not read whole);
* an empty (or all-space) input is answered with confidence 0;
* confidence is P(answer | input), the product of the per-character
  probabilities of the decoded date, and is 0 when the answer is not a real
  calendar date between 1900-01-01 and 2099-12-31. Callers reject answers
  below a threshold (the CLI flags those below ``confidence_threshold``).
"""

import tensorflow as tf

from data.dates import INPUT_CHARACTERS, OUTPUT_CHARACTERS, WHITESPACE_PATTERN
UNKNOWN_ID = 1


def _codepoint_table():
    """Id of every ASCII code point (unknown for the ones never seen)."""
    table = [UNKNOWN_ID] * 128
    for index, character in enumerate(INPUT_CHARACTERS):
        table[ord(character)] = index + 2
    return tf.constant(table, tf.int32)


def preprocess(text, sequence_length):
    """tf.string ``(batch,)`` -> ids ``(batch, L)`` with L = min(longest, sequence_length) >= 1,
    the normalised lengths ``(batch,)``."""
    text = tf.strings.lower(text)  # ASCII only, as data.dates.normalize
    text = tf.strings.regex_replace(text, ",", " ")
    text = tf.strings.regex_replace(text, WHITESPACE_PATTERN, " ")
    text = tf.strings.strip(text)
    codepoints = tf.strings.unicode_decode(text, "UTF-8", errors="replace", replacement_char=0xFFFD)
    table = _codepoint_table()
    ids = tf.ragged.map_flat_values(
        lambda points: tf.where(points < 128, tf.gather(table, tf.clip_by_value(points, 0, 127)), UNKNOWN_ID),
        codepoints,
    )
    lengths = tf.cast(ids.row_lengths(), tf.int32)
    width = tf.clip_by_value(tf.reduce_max(tf.concat([lengths, [1]], 0)), 1, sequence_length)
    # Pad to the longest input of this batch only; cut longer inputs.
    dense = ids.to_tensor(default_value=0, shape=[None, sequence_length])[:, :width]
    return dense, lengths


def is_calendar_date(iso):
    """tf.bool ``(batch,)``: ``yyyy-mm-dd`` naming a real day in 1900..2099."""
    well_formed = tf.strings.regex_full_match(iso, r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    safe = tf.where(well_formed, iso, "2000-01-01")  # to_number must never see junk
    year = tf.strings.to_number(tf.strings.substr(safe, 0, 4), tf.int32)
    month = tf.strings.to_number(tf.strings.substr(safe, 5, 2), tf.int32)
    day = tf.strings.to_number(tf.strings.substr(safe, 8, 2), tf.int32)
    leap = tf.logical_and(tf.equal(year % 4, 0), tf.logical_or(tf.not_equal(year % 100, 0), tf.equal(year % 400, 0)))
    month_days = tf.constant([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], tf.int32)
    days = tf.gather(month_days, tf.clip_by_value(month - 1, 0, 11)) + tf.cast(
        tf.logical_and(leap, tf.equal(month, 2)), tf.int32)
    return tf.reduce_all(
        tf.stack([well_formed, month >= 1, month <= 12, day >= 1, day <= days, year >= 1900, year <= 2099]),
        axis=0,
    )


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


class DateTranslator(tf.Module):
    """The serving graph: preprocessing, encoder, greedy or beam decoding, confidence.

    Strings are handled in a plain TensorFlow graph (lower case, spaces,
    code points to ids; ids to characters; the calendar check); the numeric
    part, encoder and decoding loop, runs in a function compiled with XLA
    (``jit_compile``, kept in the SavedModel) when ``jit_compile`` is true. Its
    inputs have fixed shapes: ``sequence_length`` ids a row (padding ids the
    model masks) and the batch padded by ``padded_batch_size``, so XLA compiles
    one program per batch-size bucket instead of one per input shape.
    """

    def __init__(self, model, sequence_length, beam_width, serving_beam_width=1, jit_compile=True):
        super().__init__(name="date_translator")
        self.model = model  # tracks the weights; model.decode is the search
        self.sequence_length = sequence_length
        self.beam_width = beam_width
        self.serving_beam_width = serving_beam_width
        self.jit_compile = jit_compile
        self.output_characters = tf.constant(list(OUTPUT_CHARACTERS))
        self._decoders = {}

    def _decode(self, ids, beam_width):
        if not self.jit_compile:
            return self.model.decode(ids, beam_width)
        name = f"width_{beam_width}"
        if name not in self._decoders:
            self._decoders[name] = tf.function(
                lambda ids: self.model.decode(ids, beam_width), jit_compile=True, reduce_retracing=True)
        batch_size = tf.shape(ids)[0]
        # Fixed shapes for XLA: every row sequence_length ids long, the batch padded to its bucket.
        padded_rows = padded_batch_size(batch_size) - batch_size
        ids = tf.pad(ids, [[0, padded_rows], [0, self.sequence_length - tf.shape(ids)[1]]])
        ids = tf.ensure_shape(ids, [None, self.sequence_length])
        output_ids, log_probs = self._decoders[name](ids)
        return output_ids[:batch_size], log_probs[:batch_size]

    def translate(self, text, beam_width):
        ids, lengths = preprocess(text, self.sequence_length)
        output_ids, log_probs = self._decode(ids, beam_width)
        date = tf.strings.reduce_join(tf.gather(self.output_characters, output_ids), axis=1)
        readable = tf.logical_and(lengths > 0, lengths <= self.sequence_length)
        keep = tf.logical_and(readable, is_calendar_date(date))
        confidence = tf.where(keep, tf.exp(log_probs), 0.0)
        return {"date": date, "confidence": confidence}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return self.translate(text, self.serving_beam_width)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def beam(self, text):
        return self.translate(text, self.beam_width)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def greedy(self, text):
        return self.translate(text, 1)


def export_model(model, config, export_dir):
    translator = DateTranslator(model, config.sequence_length, config.beam_width, config.serving_beam_width,
                                jit_compile=config.serving_jit_compile)
    tf.saved_model.save(
        translator,
        str(export_dir),
        signatures={"serving_default": translator.serve, "greedy": translator.greedy, "beam": translator.beam},
    )
    return translator
