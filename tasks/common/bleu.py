"""BLEU (Papineni et al., 2002) computed the way sacrebleu computes it.

BLEU is the geometric mean of the modified n-gram precisions p_1..p_N (N = 4)
times a brevity penalty:

    BLEU = BP * exp( (1/N) * sum_n log p_n ),   BP = 1 if c > r else exp(1 - r / c)

where a hypothesis n-gram counts as correct at most as often as it occurs in
any single reference ("clipping"), c is the total hypothesis length and r the
sum over segments of the reference length closest to each hypothesis length
(ties go to the shorter reference).

This module reproduces ``sacrebleu.corpus_bleu(...).score`` and
``sacrebleu.sentence_bleu(...).score`` (13a tokenisation, the four smoothing
methods of Chen and Cherry, 2014) without importing sacrebleu, so the score can
be computed inside evaluation code and, through :class:`BleuMetric`, inside a
Keras training loop on token ids.

Example:

>>> round(corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score, 6)
100.0
>>> round(sentence_bleu("the cat", ["the cat sat"]).score, 2)
60.65

References: Papineni et al., "BLEU: a Method for Automatic Evaluation of Machine
Translation", ACL 2002. Chen and Cherry, "A Systematic Comparison of Smoothing
Techniques for Sentence-Level BLEU", WMT 2014. Post, "A Call for Clarity in
Reporting BLEU Scores", WMT 2018 (sacrebleu).
"""

import collections
import dataclasses
import functools
import math
import re
from typing import Optional, Sequence

import keras
from keras import ops

MAX_NGRAM_ORDER = 4
# Defaults for the smoothing value of each method (Chen and Cherry, 2014), as sacrebleu uses them.
SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}
TOKENIZERS = ("13a", "none")
# log(0) is floored to this value, so a zero precision drives the score to 0 instead of raising.
_LOG_ZERO = -9999999999


# Tokenisation ------------------------------------------------------------------------------


_13A_RULES = (
    # Punctuation and symbols become their own tokens (the language-dependent part of mteval-v13a).
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    # A period or comma is split off unless it is preceded by a digit...
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    # ...or unless it is followed by a digit, so "3.5" and "1,000" stay whole.
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    # A dash after a digit is split off ("1990-2000" -> "1990 - 2000").
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)


@functools.lru_cache(maxsize=2**16)
def tokenize_13a(line: str) -> str:
    """Tokenises a line like mteval-v13a.pl (WMT's reference tokeniser).

    Returns the tokens joined by single spaces.
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A_RULES:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _tokenizer(name: str):
    if name == "13a":
        return tokenize_13a
    if name == "none":
        return lambda line: line
    raise ValueError(f"Invalid value for argument tokenize. Expected one of {TOKENIZERS}. Received: tokenize={name!r}")


# Sufficient statistics ---------------------------------------------------------------------


def _ngram_counts(tokens: Sequence[str], max_order: int) -> collections.Counter:
    return collections.Counter(
        tuple(tokens[i : i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1)
    )


def _closest_reference_length(hypothesis_length: int, reference_lengths: Sequence[int]) -> int:
    # The reference closest in length wins; on a tie the shorter one, as in mteval and sacrebleu.
    return min(reference_lengths, key=lambda length: (abs(hypothesis_length - length), length))


def segment_statistics(hypothesis_tokens, references_tokens, max_order=MAX_NGRAM_ORDER):
    """Returns ``[hyp_len, ref_len, correct_1..N, total_1..N]`` for one segment.

    Args:
        hypothesis_tokens: list of tokens.
        references_tokens: list of token lists, one per available reference (at least one).
        max_order: highest n-gram order N.
    """
    reference_counts = collections.Counter()
    for tokens in references_tokens:
        # Clipping: an n-gram may match as often as it occurs in the reference that has it most.
        reference_counts |= _ngram_counts(tokens, max_order)
    hypothesis_counts = _ngram_counts(hypothesis_tokens, max_order)
    correct = [0] * max_order
    total = [0] * max_order
    for ngram, count in hypothesis_counts.items():
        total[len(ngram) - 1] += count
        correct[len(ngram) - 1] += min(count, reference_counts[ngram])
    reference_length = _closest_reference_length(len(hypothesis_tokens), [len(t) for t in references_tokens])
    return [len(hypothesis_tokens), reference_length] + correct + total


@dataclasses.dataclass
class BleuScore:
    """A BLEU score (0-100) with the statistics it was computed from."""

    score: float
    counts: list
    totals: list
    precisions: list
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int

    def __str__(self):
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {precisions} (BP = {self.brevity_penalty:.3f} "
            f"hyp_len = {self.hypothesis_length} ref_len = {self.reference_length})"
        )


def _check_smoothing(smooth_method, smooth_value):
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(
            f"Invalid value for argument smooth_method. Expected one of {tuple(SMOOTH_DEFAULTS)}. "
            f"Received: smooth_method={smooth_method!r}"
        )
    return SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value


def bleu_from_statistics(
    statistics,
    smooth_method: str = "exp",
    smooth_value: Optional[float] = None,
    effective_order: bool = False,
    max_order: int = MAX_NGRAM_ORDER,
) -> BleuScore:
    """Computes BLEU from summed segment statistics (see :func:`segment_statistics`).

    Smoothing (Chen and Cherry, 2014): ``none``; ``floor`` (method 1: a zero count
    becomes ``smooth_value``, default 0.1); ``add-k`` (method 2: add ``smooth_value``,
    default 1, to counts and totals of orders 2..N); ``exp`` (method 3, NIST: the
    k-th zero precision becomes ``1 / (2^k * total)``). With ``effective_order`` the
    mean runs only over orders that have any n-gram, as sentence-level BLEU needs.
    """
    smooth_value = _check_smoothing(smooth_method, smooth_value)
    hypothesis_length, reference_length = int(statistics[0]), int(statistics[1])
    correct = list(statistics[2 : 2 + max_order])
    total = list(statistics[2 + max_order : 2 + 2 * max_order])

    brevity_penalty = 1.0
    if hypothesis_length < reference_length:
        brevity_penalty = math.exp(1 - reference_length / hypothesis_length) if hypothesis_length > 0 else 0.0

    precisions = [0.0] * max_order
    if not any(correct):
        # No n-gram matched at all: BLEU is 0 whatever the smoothing.
        return BleuScore(0.0, correct, total, precisions, brevity_penalty, hypothesis_length, reference_length)

    nist_divisor = 1.0
    order = max_order
    for n in range(1, max_order + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:
            # Totals never grow with n, so every higher order has no n-gram either.
            break
        if effective_order:
            order = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":
                nist_divisor *= 2
                precisions[n - 1] = 100.0 / (nist_divisor * total[n - 1])
            elif smooth_method == "floor":
                precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]

    log_mean = sum(math.log(p) if p > 0 else _LOG_ZERO for p in precisions[:order]) / order
    score = brevity_penalty * math.exp(log_mean)
    return BleuScore(score, correct, total, precisions, brevity_penalty, hypothesis_length, reference_length)


# Public API --------------------------------------------------------------------------------


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[Optional[str]]],
    smooth_method: str = "exp",
    smooth_value: Optional[float] = None,
    lowercase: bool = False,
    tokenize: str = "13a",
    effective_order: bool = False,
    max_order: int = MAX_NGRAM_ORDER,
) -> BleuScore:
    """Corpus BLEU of ``hypotheses`` against one or more reference streams.

    Args:
        hypotheses: one detokenised string per segment.
        references: a list of reference *streams*, as sacrebleu takes them:
            ``references[k][i]`` is the k-th reference of segment i. A reference may
            be ``None`` where a segment has fewer references than others.
        smooth_method: ``"exp"`` (default, as sacrebleu), ``"floor"``, ``"add-k"`` or ``"none"``.
        smooth_value: value for ``floor`` (default 0.1) and ``add-k`` (default 1).
        lowercase: compare lowercased text.
        tokenize: ``"13a"`` (default, mteval-v13a) or ``"none"`` (split on whitespace only).
        effective_order: average only over n-gram orders present in the hypotheses.
        max_order: highest n-gram order (default 4).

    Returns:
        A :class:`BleuScore`; ``.score`` is on the 0-100 scale.
    """
    tokenizer = _tokenizer(tokenize)
    _check_smoothing(smooth_method, smooth_value)
    if isinstance(hypotheses, str):
        raise ValueError("Invalid value for argument hypotheses. Expected a list of strings. Received a string.")
    for stream in references:
        if isinstance(stream, str) or len(stream) != len(hypotheses):
            raise ValueError(
                "Invalid value for argument references. Expected a list of reference streams, each with one "
                f"string per hypothesis ({len(hypotheses)}). Received a stream of length "
                f"{len(stream) if not isinstance(stream, str) else 'str'}."
            )

    def preprocess(line):
        line = line.lower() if lowercase else line
        return tokenizer(line.rstrip()).split()

    summed = [0] * (2 + 2 * max_order)
    for index, hypothesis in enumerate(hypotheses):
        segment_references = [stream[index] for stream in references if stream[index] is not None]
        if not segment_references:
            raise ValueError(f"Segment {index} has no reference (every stream has None there).")
        statistics = segment_statistics(
            preprocess(hypothesis), [preprocess(r) for r in segment_references], max_order
        )
        summed = [a + b for a, b in zip(summed, statistics)]
    return bleu_from_statistics(summed, smooth_method, smooth_value, effective_order, max_order)


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    smooth_method: str = "exp",
    smooth_value: Optional[float] = None,
    lowercase: bool = False,
    tokenize: str = "13a",
    effective_order: bool = True,
    max_order: int = MAX_NGRAM_ORDER,
) -> BleuScore:
    """BLEU of a single hypothesis against its references (a list of strings).

    Uses ``effective_order=True`` by default, as sacrebleu's ``sentence_bleu`` does,
    so a short sentence without 4-grams is not scored 0 for that alone.
    """
    if isinstance(references, str):
        raise ValueError("Invalid value for argument references. Expected a list of strings. Received a string.")
    return corpus_bleu(
        [hypothesis],
        [[reference] for reference in references],
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        lowercase=lowercase,
        tokenize=tokenize,
        effective_order=effective_order,
        max_order=max_order,
    )


# Keras metric ------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="seqmodels")
class BleuMetric(keras.metrics.Metric):
    """Corpus BLEU (0-100) over batches of token ids, accumulated during ``fit``/``evaluate``.

    Each token id is one word. Tokens equal to ``pad_id`` are ignored and, when
    ``end_id`` is given, so is everything from the first ``end_id`` on. The metric
    keeps the sufficient statistics (lengths, clipped n-gram matches and n-gram
    totals) as variables, so the result equals :func:`corpus_bleu` with
    ``tokenize="none"`` on the id strings, summed over every batch seen. It uses
    only ``keras.ops`` and so runs inside a compiled graph on any backend.

    Args:
        max_order: highest n-gram order (default 4).
        smooth_method: ``"exp"`` (default), ``"floor"``, ``"add-k"`` or ``"none"``.
        smooth_value: value for ``floor``/``add-k`` (defaults 0.1 and 1).
        pad_id: id of padding (default 0).
        end_id: id of the end-of-sequence token, or None.
        name, dtype: as for any Keras metric.

    Call arguments (``update_state``):
        y_true: int tensor (batch, time), the single reference per sequence.
        y_pred: int tensor (batch, time) of predicted ids, or (batch, time, vocab)
            scores, which are reduced with argmax.

    Example:

    >>> metric = BleuMetric(pad_id=0)
    >>> metric.update_state([[5, 6, 7, 8, 0]], [[5, 6, 7, 8, 9]])
    >>> round(float(metric.result()), 2)
    66.87
    """

    def __init__(self, max_order=MAX_NGRAM_ORDER, smooth_method="exp", smooth_value=None, pad_id=0, end_id=None,
                 name="bleu", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if not isinstance(max_order, int) or max_order < 1:
            raise ValueError(f"Invalid value for argument max_order. Expected a positive integer. Received: max_order={max_order}")
        _check_smoothing(smooth_method, smooth_value)
        self.max_order = max_order
        self.smooth_method = smooth_method
        self.smooth_value = smooth_value
        self.pad_id = pad_id
        self.end_id = end_id
        self.statistics = self.add_variable(
            shape=(2 + 2 * max_order,), initializer="zeros", name="statistics", dtype="float64"
        )

    def _valid_mask(self, ids):
        valid = ops.not_equal(ids, self.pad_id)
        if self.end_id is not None:
            # Everything from the first end token on is dropped: cumsum marks it and what follows.
            ended = ops.cumsum(ops.cast(ops.equal(ids, self.end_id), "int32"), axis=1) > 0
            valid = ops.logical_and(valid, ops.logical_not(ended))
        return valid

    def _ngram_codes(self, ids, valid, n):
        # Each n-gram becomes one integer (a polynomial hash in base vocab + 1) and is valid only if
        # all of its tokens are; ids are assumed below 2**15 so the code fits an int64 for n <= 4.
        time = ops.shape(ids)[1]
        length = time - n + 1
        code = ops.zeros_like(ids[:, :length], dtype="int64")
        ngram_valid = ops.ones_like(valid[:, :length])
        for k in range(n):
            code = code * 32768 + ops.cast(ids[:, k : k + length], "int64")
            ngram_valid = ops.logical_and(ngram_valid, valid[:, k : k + length])
        return code, ngram_valid

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == len(y_true.shape) + 1:
            y_pred = ops.argmax(y_pred, axis=-1)
        y_true = ops.cast(y_true, "int64")
        y_pred = ops.cast(y_pred, "int64")
        reference_valid = self._valid_mask(y_true)
        hypothesis_valid = self._valid_mask(y_pred)
        hypothesis_length = ops.sum(ops.cast(hypothesis_valid, "float64"))
        reference_length = ops.sum(ops.cast(reference_valid, "float64"))
        correct, total = [], []
        for n in range(1, self.max_order + 1):
            if y_pred.shape[1] is not None and y_pred.shape[1] < n or y_true.shape[1] is not None and y_true.shape[1] < n:
                correct.append(ops.zeros((), "float64"))
                total.append(ops.zeros((), "float64"))
                continue
            hyp_code, hyp_valid = self._ngram_codes(y_pred, hypothesis_valid, n)
            ref_code, ref_valid = self._ngram_codes(y_true, reference_valid, n)
            hyp_valid_f = ops.cast(hyp_valid, "float64")
            ref_valid_f = ops.cast(ref_valid, "float64")
            # (batch, hyp_len, hyp_len) and (batch, hyp_len, ref_len) equality of n-gram codes.
            same_in_hypothesis = ops.cast(ops.equal(hyp_code[:, :, None], hyp_code[:, None, :]), "float64")
            same_in_reference = ops.cast(ops.equal(hyp_code[:, :, None], ref_code[:, None, :]), "float64")
            hypothesis_count = ops.sum(same_in_hypothesis * hyp_valid_f[:, None, :], axis=-1)
            reference_count = ops.sum(same_in_reference * ref_valid_f[:, None, :], axis=-1)
            # Each of the c_h occurrences of an n-gram contributes min(c_h, c_r) / c_h, so together
            # they add up to the clipped count min(c_h, c_r).
            share = ops.minimum(hypothesis_count, reference_count) / ops.maximum(hypothesis_count, 1.0)
            correct.append(ops.sum(share * hyp_valid_f))
            total.append(ops.sum(hyp_valid_f))
        update = ops.stack([hypothesis_length, reference_length] + correct + total)
        self.statistics.assign(self.statistics + ops.round(update))

    def result(self):
        order = self.max_order
        smooth_value = SMOOTH_DEFAULTS[self.smooth_method] if self.smooth_value is None else self.smooth_value
        hypothesis_length, reference_length = self.statistics[0], self.statistics[1]
        correct = self.statistics[2 : 2 + order]
        total = self.statistics[2 + order : 2 + 2 * order]
        brevity_penalty = ops.where(
            hypothesis_length < reference_length,
            ops.where(
                hypothesis_length > 0,
                ops.exp(1.0 - reference_length / ops.maximum(hypothesis_length, 1.0)),
                0.0,
            ),
            1.0,
        )
        if self.smooth_method == "add-k":
            bump = ops.convert_to_tensor([0.0] + [float(smooth_value)] * (order - 1), dtype="float64")
            correct, total = correct + bump, total + bump
        zero = ops.equal(correct, 0.0)
        safe_total = ops.maximum(total, 1e-300)
        precision = 100.0 * correct / safe_total
        if self.smooth_method == "exp":
            divisor = ops.power(2.0, ops.cumsum(ops.cast(zero, "float64")))
            precision = ops.where(zero, 100.0 / (divisor * safe_total), precision)
        elif self.smooth_method == "floor":
            precision = ops.where(zero, 100.0 * smooth_value / safe_total, precision)
        log_precision = ops.where(precision > 0, ops.log(ops.maximum(precision, 1e-300)), float(_LOG_ZERO))
        # An order without any n-gram contributes log 0, as in sacrebleu without effective order.
        log_precision = ops.where(total > 0, log_precision, float(_LOG_ZERO))
        score = brevity_penalty * ops.exp(ops.mean(log_precision))
        raw_correct = self.statistics[2 : 2 + order]
        score = ops.where(ops.sum(raw_correct) > 0, score, 0.0)
        return ops.cast(score, self.dtype)

    def reset_state(self):
        self.statistics.assign(ops.zeros_like(self.statistics))

    def get_config(self):
        config = super().get_config()
        config.update(
            max_order=self.max_order,
            smooth_method=self.smooth_method,
            smooth_value=self.smooth_value,
            pad_id=self.pad_id,
            end_id=self.end_id,
        )
        return config
