"""Error analysis of a sequence-to-sequence model: is the search or the model at fault?

For every input x whose decoded output y^ differs from the reference y*, compare
the model's own probabilities (as the course teaches for beam search):

* P(y*|x) > P(y^|x): the model prefers the right answer, but the search did not
  find it. **The search is at fault**: a wider beam (or exact search) would help.
* P(y*|x) <= P(y^|x): the search found what the model wanted; the model ranks a
  wrong answer first. **The model is at fault**: more data, capacity or training.

With length normalisation (``length_penalty_alpha`` > 0) both scores are divided by
``T_y ** alpha`` first, so the comparison uses the objective the search maximised.

The API is generic: any ``score_fn(inputs, targets) -> log P(targets | inputs)`` works
(:func:`teacher_forced_scorer` builds one for a Keras model trained with teacher
forcing). A task runs it on its own test set, e.g. date translation's
``tasks/date_translation/error_analysis.py``:

    python -m tasks.date_translation.error_analysis --run runs/date_translation --beam-width 3
"""

import dataclasses

import numpy as np

SEARCH = "search"
MODEL = "model"


@dataclasses.dataclass
class ErrorRecord:
    """One wrong output: the two log probabilities and which part is at fault."""

    index: int
    input: str
    reference: str
    output: str
    reference_score: float  # log P(y*|x), length-normalised if asked
    output_score: float  # log P(y^|x), likewise
    at_fault: str  # "search" or "model"


@dataclasses.dataclass
class ErrorAnalysis:
    """Per-error records and the totals."""

    num_examples: int
    records: list

    @property
    def num_errors(self):
        return len(self.records)

    @property
    def search_errors(self):
        return sum(r.at_fault == SEARCH for r in self.records)

    @property
    def model_errors(self):
        return sum(r.at_fault == MODEL for r in self.records)

    def summary(self):
        errors = max(self.num_errors, 1)
        return {
            "examples": self.num_examples,
            "errors": self.num_errors,
            "error_rate": self.num_errors / max(self.num_examples, 1),
            "search_at_fault": self.search_errors,
            "model_at_fault": self.model_errors,
            "search_at_fault_share": self.search_errors / errors if self.num_errors else 0.0,
            "model_at_fault_share": self.model_errors / errors if self.num_errors else 0.0,
        }

    def table(self, limit=20):
        """A plain-text table of the first ``limit`` errors and the totals."""
        lines = [f"{'input':<28} {'reference y*':<14} {'output y^':<14} {'log P(y*|x)':>11} {'log P(y^|x)':>11}  at fault"]
        for record in self.records[:limit]:
            lines.append(
                f"{record.input[:28]:<28} {record.reference[:14]:<14} {record.output[:14]:<14} "
                f"{record.reference_score:>11.3f} {record.output_score:>11.3f}  {record.at_fault}"
            )
        if self.num_errors > limit:
            lines.append(f"... {self.num_errors - limit} more")
        s = self.summary()
        lines.append(
            f"{s['errors']} errors in {s['examples']} examples ({s['error_rate']:.2%}): "
            f"search at fault {s['search_at_fault']} ({s['search_at_fault_share']:.0%}), "
            f"model at fault {s['model_at_fault']} ({s['model_at_fault_share']:.0%})"
        )
        return "\n".join(lines)


def sequence_lengths(targets, end_id=None, pad_id=None):
    """T_y of each row: tokens up to and including the first ``end_id``, padding excluded."""
    targets = np.asarray(targets)
    valid = np.ones(targets.shape, bool) if pad_id is None else targets != pad_id
    if end_id is not None:
        ended_before = np.cumsum(targets == end_id, axis=1) - (targets == end_id) > 0
        valid &= ~ended_before
    return valid.sum(axis=1)


def analyze_errors(score_fn, inputs, references, outputs, *, batch_size=256, length_penalty_alpha=0.0,
                   end_id=None, pad_id=None, describe_input=str, describe_target=str):
    """Attributes each wrong output to the search or to the model.

    Args:
        score_fn: ``(inputs_batch, targets_batch) -> (batch,)`` log P(targets | inputs) under the
            model (numpy or tensors).
        inputs: array-like (num_examples, ...) model inputs.
        references: (num_examples, T) reference ids y*.
        outputs: (num_examples, T) decoded ids y^, padded like the references.
        batch_size: rows scored at once.
        length_penalty_alpha: compare ``log P / T_y ** alpha``; 0 compares plain log probabilities.
        end_id, pad_id: how to measure T_y for the length penalty (see :func:`sequence_lengths`).
        describe_input, describe_target: turn one row into readable text for the records.

    Returns:
        An :class:`ErrorAnalysis`.
    """
    references = np.asarray(references)
    outputs = np.asarray(outputs)
    if references.shape != outputs.shape:
        raise ValueError(f"references and outputs must have the same shape; got {references.shape} and {outputs.shape}.")
    if len(inputs) != len(references):
        raise ValueError(f"Expected one reference per input; got {len(inputs)} inputs and {len(references)} references.")
    if length_penalty_alpha < 0:
        raise ValueError(f"Invalid value for argument length_penalty_alpha. Expected >= 0. Received: {length_penalty_alpha}")
    wrong = np.flatnonzero(np.any(references != outputs, axis=tuple(range(1, references.ndim))))
    records = []
    for start in range(0, len(wrong), batch_size):
        rows = wrong[start : start + batch_size]
        batch_inputs = np.asarray(inputs)[rows] if not isinstance(inputs, dict) else {k: np.asarray(v)[rows] for k, v in inputs.items()}
        reference_scores = np.asarray(score_fn(batch_inputs, references[rows]), np.float64)
        output_scores = np.asarray(score_fn(batch_inputs, outputs[rows]), np.float64)
        if length_penalty_alpha:
            reference_scores = reference_scores / sequence_lengths(references[rows], end_id, pad_id) ** length_penalty_alpha
            output_scores = output_scores / sequence_lengths(outputs[rows], end_id, pad_id) ** length_penalty_alpha
        for row, reference_score, output_score in zip(rows, reference_scores, output_scores):
            records.append(ErrorRecord(
                index=int(row),
                input=describe_input(row),
                reference=describe_target(references[row]),
                output=describe_target(outputs[row]),
                reference_score=float(reference_score),
                output_score=float(output_score),
                at_fault=SEARCH if reference_score > output_score else MODEL,
            ))
    return ErrorAnalysis(num_examples=len(references), records=records)


def teacher_forced_scorer(model, make_decoder_inputs, pad_id=None):
    """``score_fn`` for a Keras model ``model([inputs, decoder_inputs]) -> logits (batch, T, vocabulary)``.

    log P(y|x) = sum_t log softmax(logits<t>)[y<t>], with ``decoder_inputs =
    make_decoder_inputs(y)`` (the start token and y shifted right); positions whose target is
    ``pad_id`` are left out.
    """
    import tensorflow as tf

    def score_fn(inputs, targets):
        targets = tf.convert_to_tensor(targets, tf.int32)
        logits = model([tf.convert_to_tensor(inputs), make_decoder_inputs(targets)], training=False)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        picked = tf.gather(log_probs, targets, batch_dims=2)  # (batch, T)
        if pad_id is not None:
            picked = picked * tf.cast(tf.not_equal(targets, pad_id), picked.dtype)
        return tf.reduce_sum(picked, axis=-1).numpy()

    return score_fn
