"""The date model's data: normalised input with an order token, the fixed-layout answer, the calendar mask.

Input. A string is normalised once, in TensorFlow ops (``normalize``), so the
training data and the SavedModel read exactly the same characters: Unicode
lower case; every Unicode space (no-break U+00A0, narrow no-break U+202F, thin
and figure spaces, ...), tab, newline and comma to one space; Unicode dashes and
minus to ``-``; curly apostrophes to ``'``; stripped. The encoder input is the
caller's order token (``MDY``, ``DMY`` or ``YMD``) followed by the character
ids: 0 padding, 1 unknown character, 2-4 the orders, 5.. ``INPUT_CHARACTERS``.

Output. ``OUTPUT_LENGTH`` (19) characters in a fixed layout, the separators
left out (they never vary)::

    YYYY MM DD hhmmss SHHMM      2003-09-25T10:49:41+05:30 -> 20030925104941+0530
    0    4  6  8      14

``_`` marks an absent part (day of a month-and-year answer, the time, the
offset), ``#`` fills the whole answer for "not a date". ``output_fields``
turns the characters back into ``date``, ``time``, ``utc_offset`` and ``iso``.

Calendar mask. ``allowed_tokens(history, step)`` says which output characters
may come at ``step`` given those before it, so that decoding under it can only
write a real answer: years 1000-9999, month 01-12, a day that exists in that
month of that year (29 February in leap years only), hours 00-23, minutes and
seconds 00-59, offsets -23:59..+23:59; a day only after a month, a time only
after a day, an offset only after a time, and ``#`` only as a whole answer.
"""

import dataclasses
import string
import types

import numpy as np
import tensorflow as tf

from data.date_strings import generator
from data.date_strings.targets import NOT_A_DATE, Answer, answer_problem

ORDERS = ("MDY", "DMY", "YMD")
DEFAULT_ORDER = "MDY"
PADDING_ID, UNKNOWN_ID = 0, 1
ORDER_IDS = {order: index + 2 for index, order in enumerate(ORDERS)}
# Printable ASCII after lower-casing; anything else is "unknown".
INPUT_CHARACTERS = "".join(c for c in string.printable[:95] if not c.isupper() and c not in "\t\n\r\x0b\x0c,")
FIRST_CHARACTER_ID = 2 + len(ORDERS)
INPUT_VOCABULARY_SIZE = FIRST_CHARACTER_ID + len(INPUT_CHARACTERS)

PLUS, MINUS, ABSENT, NOT_A_DATE_ID = 10, 11, 12, 13
OUTPUT_CHARACTERS = "0123456789+-_#"
OUTPUT_LENGTH = 19
YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, SIGN, OFFSET_HOUR, OFFSET_MINUTE = 0, 4, 6, 8, 10, 12, 14, 15, 17

SPACE_PATTERN = r"[\s\x{00a0}\x{1680}\x{2000}-\x{200b}\x{202f}\x{205f}\x{3000}\x{feff},]+"
DASH_PATTERN = r"[\x{2010}-\x{2015}\x{2212}\x{fe63}\x{ff0d}]"
APOSTROPHE_PATTERN = r"[\x{2018}\x{2019}\x{02bc}]"


# ---------------------------------------------------------------------------
# Input: normalisation and ids, in TF ops (the SavedModel runs the same function).


def normalize(text):
    """tf.string ``(batch,)`` -> the normalised strings (see the module docstring)."""
    # Invalid UTF-8 becomes U+FFFD first, so the Unicode-aware ops below never fail.
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, DASH_PATTERN, "-")
    text = tf.strings.regex_replace(text, APOSTROPHE_PATTERN, "'")
    text = tf.strings.regex_replace(text, SPACE_PATTERN, " ")
    return tf.strings.strip(text)


def _codepoint_table():
    table = [UNKNOWN_ID] * 128
    for index, character in enumerate(INPUT_CHARACTERS):
        table[ord(character)] = FIRST_CHARACTER_ID + index
    return tf.constant(table, tf.int32)


def order_ids(order, batch_size):
    """tf.string orders ``(batch,)`` (or a scalar) -> their ids; an unknown order reads as ``MDY``."""
    order = tf.strings.upper(tf.strings.strip(tf.convert_to_tensor(order, tf.string)))
    order = tf.broadcast_to(order, [batch_size])
    ids = tf.fill([batch_size], ORDER_IDS[DEFAULT_ORDER])
    for name, index in ORDER_IDS.items():
        ids = tf.where(tf.equal(order, name), index, ids)
    return ids


def encode_text(text, order, sequence_length):
    """tf.string texts and orders ``(batch,)`` -> ids ``(batch, L)`` (order token first, L <= sequence_length,
    at least 2) and the normalised lengths in characters ``(batch,)``; longer inputs are cut."""
    text = tf.convert_to_tensor(text, tf.string)
    batch_size = tf.shape(text)[0]
    codepoints = tf.strings.unicode_decode(normalize(text), "UTF-8", errors="replace", replacement_char=0xFFFD)
    table = _codepoint_table()
    ids = tf.ragged.map_flat_values(
        lambda points: tf.where(points < 128, tf.gather(table, tf.clip_by_value(points, 0, 127)), UNKNOWN_ID),
        codepoints)
    lengths = tf.cast(ids.row_lengths(), tf.int32)
    ids = tf.concat([tf.RaggedTensor.from_tensor(order_ids(order, batch_size)[:, None]), ids], axis=1)
    width = tf.clip_by_value(tf.reduce_max(tf.concat([lengths + 1, [2]], 0)), 2, sequence_length)
    dense = ids.to_tensor(default_value=PADDING_ID, shape=[None, sequence_length])[:, :width]
    return dense, lengths


def encode_inputs(texts, orders, sequence_length):
    """Python strings and orders -> ids ``(n, sequence_length)`` int32 and normalised lengths (numpy)."""
    ids, lengths = encode_text(tf.constant(list(texts), tf.string), tf.constant(list(orders), tf.string),
                               sequence_length)
    ids = ids.numpy()
    padded = np.zeros((len(texts), sequence_length), "int32")
    padded[:, :ids.shape[1]] = ids
    return padded, lengths.numpy()


def normalized(text):
    """One Python string, normalised (for plots and messages)."""
    return normalize(tf.constant([text]))[0].numpy().decode("utf-8")


# ---------------------------------------------------------------------------
# Output: the fixed layout.


def target_string(answer):
    """``Answer`` -> its 19 output characters."""
    if not answer.date:
        return "#" * OUTPUT_LENGTH
    year, month, *day = answer.date.split("-")
    clock = answer.time.replace(":", "") if answer.time else "_" * 6
    offset = answer.utc_offset.replace(":", "") if answer.utc_offset else "_" * 5
    return year + month + (day[0] if day else "__") + clock + offset


def encode_target(characters):
    """19 output characters -> their ids."""
    return [OUTPUT_CHARACTERS.index(c) for c in characters]


def encode_answer(answer):
    return encode_target(target_string(answer))


def training_target(example):
    """The 19 characters the model learns to write for a generator example: its answer's, except for an
    impossible date whose numbers fit the layout (``29/02/2019``), where it is the date as written
    (``2019022...``). The model then only reads; the calendar mask, which knows every month's length
    and the leap years exactly, forbids the day at decoding, and the not-a-date rule
    (``model.calendar_rule``) answers "not a date". Trained to write ``#`` there instead, the model
    itself would have to work out the leap-year rule from the year's digits."""
    if not example.reading:
        return target_string(example.answer)
    return example.reading.replace("-", "") + "_" * (OUTPUT_LENGTH - 8)  # no time, no offset


def output_fields(output_ids):
    """int ids ``(batch, 19)`` -> dict of tf.string ``(batch,)``: ``date``, ``time``, ``utc_offset``, ``iso``."""
    characters = tf.strings.reduce_join(tf.gather(tf.constant(list(OUTPUT_CHARACTERS)), output_ids), axis=1)

    def part(start, length):
        return tf.strings.substr(characters, start, length)

    is_date = tf.logical_not(tf.strings.regex_full_match(part(YEAR, 1), "[#_]"))
    has_day = tf.logical_and(is_date, tf.strings.regex_full_match(part(DAY, 2), "[0-9]{2}"))
    has_time = tf.logical_and(has_day, tf.strings.regex_full_match(part(HOUR, 6), "[0-9]{6}"))
    has_offset = tf.logical_and(has_time, tf.strings.regex_full_match(part(SIGN, 5), "[+-][0-9]{4}"))
    month = part(YEAR, 4) + "-" + part(MONTH, 2)
    date = tf.where(has_day, month + "-" + part(DAY, 2), tf.where(is_date, month, ""))
    clock = tf.where(has_time, part(HOUR, 2) + ":" + part(MINUTE, 2) + ":" + part(SECOND, 2), "")
    offset = tf.where(has_offset, part(SIGN, 3) + ":" + part(OFFSET_MINUTE, 2), "")
    iso = tf.where(has_time, date + "T" + clock + offset, date)
    return {"date": date, "time": clock, "utc_offset": offset, "iso": iso}


def answers_of(output_ids):
    """ids ``(batch, 19)`` -> ``Answer`` objects (``NOT_A_DATE`` for a layout that breaks the format)."""
    fields = output_fields(tf.convert_to_tensor(output_ids, tf.int32))
    answers = []
    for date, clock, offset in zip(*(fields[k].numpy() for k in ("date", "time", "utc_offset"))):
        fields = types.SimpleNamespace(date=date.decode(), time=clock.decode(), utc_offset=offset.decode())
        answers.append(NOT_A_DATE if answer_problem(fields) else Answer(**vars(fields)))
    return answers


# ---------------------------------------------------------------------------
# The calendar mask.


def _digits(low, high):
    """Rows' allowed digits ``low..high`` (int ``(batch,)`` each) as bool ``(batch, vocabulary)``."""
    vocabulary = tf.range(len(OUTPUT_CHARACTERS))[tf.newaxis]
    return tf.logical_and(vocabulary >= low[:, tf.newaxis], vocabulary <= tf.minimum(high, 9)[:, tf.newaxis])


def _tokens(*token_ids):
    vocabulary = tf.range(len(OUTPUT_CHARACTERS))
    return tf.reduce_any(tf.stack([tf.equal(vocabulary, t) for t in token_ids]), axis=0)[tf.newaxis]


def _after(gate, allowed):
    """``allowed`` where ``gate`` (the token that opens this part) is a digit or sign, else ``gate`` again."""
    opened = (gate < ABSENT)[:, tf.newaxis]
    return tf.logical_or(tf.logical_and(opened, allowed),
                         tf.logical_and(tf.logical_not(opened), tf.one_hot(gate, len(OUTPUT_CHARACTERS)) > 0))


def allowed_tokens(history, step):
    """bool ``(batch, 14)``: the output characters allowed at ``step`` after ``history``.

    ``history``: int ``(batch, 19)`` whose positions before ``step`` hold the
    characters written so far (the rest is ignored). ``step`` is a scalar int
    tensor (a search loop's counter: every position's mask is built and the
    step's one picked) or a Python int (an unrolled search: only that
    position's mask is built).
    """
    history = tf.convert_to_tensor(history, tf.int32)
    batch = tf.shape(history)[0]
    zeros, nines = tf.zeros([batch], tf.int32), tf.fill([batch], 9)
    h = tf.unstack(history, num=OUTPUT_LENGTH, axis=1)  # one op, not 19 slices
    any_digit = lambda: _digits(zeros, nines)  # noqa: E731
    broadcast = lambda mask: tf.broadcast_to(mask, [batch, len(OUTPUT_CHARACTERS)])  # noqa: E731
    absent = lambda: broadcast(_tokens(ABSENT))  # noqa: E731

    def month_days():
        digit = [tf.minimum(t, 9) for t in h[:6]]
        year = digit[0] * 1000 + digit[1] * 100 + digit[2] * 10 + digit[3]
        month = tf.clip_by_value(digit[4] * 10 + digit[5], 1, 12)
        leap = tf.logical_and(tf.equal(year % 4, 0),
                              tf.logical_or(tf.not_equal(year % 100, 0), tf.equal(year % 400, 0)))
        days = tf.gather(tf.constant([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]), month - 1)
        return days + tf.cast(tf.logical_and(leap, tf.equal(month, 2)), tf.int32)

    # One function a position, so that an unrolled search builds only the mask it needs.
    masks = [
        lambda: broadcast(tf.logical_or(_digits(zeros + 1, nines), _tokens(NOT_A_DATE_ID))),  # year, thousands: 1-9 or #
        lambda: _after(h[0], any_digit()), lambda: _after(h[0], any_digit()), lambda: _after(h[0], any_digit()),
        lambda: _after(h[0], _digits(zeros, zeros + 1)),  # month tens
        lambda: _after(h[0], _digits(tf.where(h[4] == 0, 1, 0), tf.where(h[4] == 0, 9, 2))),
        # Day tens: up to the tens of the month's length, or absent (a month-and-year answer).
        lambda: _after(h[0], tf.logical_or(_digits(zeros, month_days() // 10), absent())),
        lambda: _after(h[6], _digits(tf.where(h[6] == 0, 1, 0),
                                     tf.where(h[6] < month_days() // 10, 9, month_days() % 10))),
        lambda: _after(h[6], tf.logical_or(_digits(zeros, zeros + 2), absent())),  # hour tens, or no time
        lambda: _after(h[8], _digits(zeros, tf.where(h[8] == 2, 3, 9))),
        lambda: _after(h[8], _digits(zeros, zeros + 5)), lambda: _after(h[8], any_digit()),  # minutes
        lambda: _after(h[8], _digits(zeros, zeros + 5)), lambda: _after(h[8], any_digit()),  # seconds
        lambda: _after(h[8], broadcast(_tokens(PLUS, MINUS, ABSENT))),  # offset sign, or no offset
        lambda: _after(h[14], _digits(zeros, zeros + 2)),
        lambda: _after(h[14], _digits(zeros, tf.where(h[15] == 2, 3, 9))),
        lambda: _after(h[14], _digits(zeros, zeros + 5)), lambda: _after(h[14], any_digit()),
    ]
    if not isinstance(step, int) and tf.executing_eagerly():
        step = int(step)  # Run eagerly (a search loop outside tf.function), the step is known: build one mask.
    if isinstance(step, int):
        return masks[min(max(step, 0), OUTPUT_LENGTH - 1)]()
    masks = tf.stack([mask() for mask in masks], axis=1)  # (batch, 19, vocabulary)
    return tf.gather(masks, tf.clip_by_value(step, 0, OUTPUT_LENGTH - 1), axis=1)


# ---------------------------------------------------------------------------
# Datasets for training.


@dataclasses.dataclass
class DateData:
    train: tf.data.Dataset  # ((encoder_ids, decoder_ids), target_ids), batched
    validation: tf.data.Dataset
    train_pairs: list  # data.date_strings.generator.Example
    validation_pairs: list
    test_pairs: list


def encode_pairs(examples, sequence_length, readings=True):
    """Generator examples -> (encoder ids (n, sequence_length), target ids (n, 19)) int32 arrays.

    The targets are what training teaches (``training_target``), or with ``readings=False`` the answers
    themselves, which is what decoding under the calendar rule must produce."""
    inputs, _ = encode_inputs([e.text for e in examples], [e.order for e in examples], sequence_length)
    strings = [training_target(e) if readings else target_string(e.answer) for e in examples]
    targets = np.array([encode_target(t) for t in strings], "int32")
    return inputs, targets.reshape(len(examples), OUTPUT_LENGTH)


# Training batches group strings of similar length (most are far shorter than the longest) and are
# padded to their bucket's bound, so the encoder reads little padding and the training step is
# traced for a handful of widths only.
LENGTH_BUCKETS = (24, 40, 56, 72)


def make_dataset(examples, config, shuffle):
    from tasks.date_translation.model import decoder_inputs

    inputs, targets = encode_pairs(examples, config.sequence_length)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        # Seeded and reshuffled each epoch; the runner replays the reshuffles on resume.
        dataset = dataset.shuffle(len(examples), seed=config.seed, reshuffle_each_iteration=True)
        bounds = [b for b in LENGTH_BUCKETS if b < config.sequence_length]
        dataset = dataset.bucket_by_sequence_length(
            lambda x, y: tf.reduce_sum(tf.cast(x != PADDING_ID, tf.int32)),
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[config.batch_size] * (len(bounds) + 1),
            padded_shapes=([None], [OUTPUT_LENGTH]), pad_to_bucket_boundary=False,
            drop_remainder=len(examples) >= config.batch_size)

        def trim(x, y):
            # Every batch of a bucket gets the bucket's width: one traced training step per bucket.
            longest = tf.reduce_max(tf.reduce_sum(tf.cast(x != PADDING_ID, tf.int32), axis=1))
            width = tf.reduce_min(tf.constant(bounds + [config.sequence_length])[
                tf.constant(bounds + [config.sequence_length]) >= longest])
            return ((x[:, :width], decoder_inputs(y)), y)
    else:
        dataset = dataset.batch(config.batch_size)

        def trim(x, y):
            # Pad each batch only to its longest input.
            width = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(x != PADDING_ID, tf.int32), axis=1)), 2)
            return ((x[:, :width], decoder_inputs(y)), y)

    return dataset.map(trim, num_parallel_calls=1).prefetch(2)


def build_data(config):
    """Train / validation datasets from the generator's own splits, and the test examples."""
    # The hard families come more often in training; validation and test keep equal shares.
    train_pairs = generator.generate(config.train_size, "train", seed=config.seed, weights=generator.TRAINING_WEIGHTS)
    validation_pairs = generator.generate(config.validation_size, "validation", seed=config.seed)
    test_pairs = generator.generate(config.test_size, "test", seed=config.seed)
    return DateData(
        train=make_dataset(train_pairs, config, shuffle=True),
        validation=make_dataset(validation_pairs, config, shuffle=False),
        train_pairs=train_pairs,
        validation_pairs=validation_pairs,
        test_pairs=test_pairs,
    )
