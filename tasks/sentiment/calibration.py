"""Calibrated probabilities: temperature scaling, expected calibration error, reliability plots.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks") divides the model's logits by one scalar `T` fitted on held-out
data by minimising the negative log-likelihood:

    p_T(c | x) = softmax(log p(c | x) / T)

The log probabilities are the logits up to a per-text constant, which softmax
ignores, so this works on any model here, the ensemble included. `T > 1`
softens over-confident answers, `T < 1` sharpens timid ones; the ranking of
the classes, hence accuracy, never changes. Fit it on the validation split,
never on test.

Expected calibration error (Naeini et al. 2015; Guo et al. 2017, 15 bins):
the answers are grouped by confidence (the top probability) into equal-width
bins `B_m` over [0, 1], and

    ECE = sum_m |B_m| / n * |accuracy(B_m) - confidence(B_m)|
"""

import numpy as np

ECE_BINS = 15
# Log probabilities are clipped here before scaling, as in MemberCombination, so a zero never becomes -inf.
MIN_PROBABILITY = 1e-7


def _log_probabilities(probabilities):
    return np.log(np.clip(np.asarray(probabilities, np.float64), MIN_PROBABILITY, 1.0))


def apply_temperature(probabilities, temperature):
    """`softmax(log p / T)` of `(n, classes)` probabilities, in numpy; `T = 1` returns them unchanged."""
    probabilities = np.asarray(probabilities)
    if temperature == 1.0:
        return probabilities
    z = _log_probabilities(probabilities) / temperature
    z -= z.max(axis=-1, keepdims=True)
    scaled = np.exp(z)
    return (scaled / scaled.sum(axis=-1, keepdims=True)).astype(probabilities.dtype)


def apply_temperature_tf(probabilities, temperature):
    """The same inside a graph (the SavedModel's signatures)."""
    import tensorflow as tf

    if float(temperature) == 1.0:
        return probabilities
    logits = tf.math.log(tf.clip_by_value(probabilities, MIN_PROBABILITY, 1.0))
    return tf.nn.softmax(logits / tf.cast(temperature, probabilities.dtype), axis=-1)


def _probabilities_of_model(model, texts, batch_size=500):
    import tensorflow as tf

    from tasks.sentiment.model import probabilities_of

    texts = list(texts)
    parts = [np.asarray(probabilities_of(model(tf.constant(texts[i : i + batch_size], dtype=tf.string),
                                                training=False)))
             for i in range(0, len(texts), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def fit_temperature(model_or_logits, validation, bounds=(0.05, 20.0)):
    """The temperature `T` minimising the validation negative log-likelihood of `softmax(logits / T)`.

    Args:
        model_or_logits: a Keras sentiment model (raw strings in), or an `(n, classes)` array of logits
            (log probabilities are logits too).
        validation: `(texts, labels)`; with logits, only the labels are read, and they may be passed alone.
        bounds: the interval searched, on `T`.

    Returns:
        float, the fitted temperature (1.0 for an empty validation set).
    """
    from scipy.optimize import minimize_scalar

    if isinstance(validation, tuple) and len(validation) == 2:
        texts, labels = validation
    else:
        texts, labels = None, validation
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        return 1.0
    if hasattr(model_or_logits, "get_layer"):  # a Keras model
        logits = _log_probabilities(_probabilities_of_model(model_or_logits, texts))
    else:
        logits = np.asarray(model_or_logits, np.float64)
    if logits.shape[0] != len(labels):
        raise ValueError(f"Invalid value for argument validation. Expected {logits.shape[0]} labels, one per row "
                         f"of logits. Received: {len(labels)}")

    def negative_log_likelihood(log_temperature):
        z = logits / np.exp(log_temperature)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))

    result = minimize_scalar(negative_log_likelihood, bounds=np.log(bounds), method="bounded",
                             options={"xatol": 1e-5})
    return float(np.exp(result.x))


def reliability_bins(probabilities, labels, bins=ECE_BINS):
    """Per confidence bin: `(count, mean confidence, accuracy)` arrays of length `bins`
    (bins are `[0, 1/bins], (1/bins, 2/bins], ...`; an empty bin has confidence and accuracy 0)."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels, np.int64)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    # Bin m holds confidences in (m / bins, (m + 1) / bins]; a confidence of exactly 0 goes to bin 0.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    total_confidence = np.bincount(index, weights=confidence, minlength=bins)
    total_correct = np.bincount(index, weights=correct, minlength=bins)
    safe = np.maximum(counts, 1.0)
    return counts.astype(np.int64), total_confidence / safe, total_correct / safe


def expected_calibration_error(probabilities, labels, bins=ECE_BINS):
    """ECE with `bins` equal-width confidence bins (15, as in Guo et al. 2017)."""
    counts, confidence, accuracy = reliability_bins(probabilities, labels, bins)
    if counts.sum() == 0:
        return 0.0
    return float(np.sum(counts / counts.sum() * np.abs(accuracy - confidence)))


def plot_reliability(curves, labels, path, title, bins=ECE_BINS):
    """Reliability diagram: accuracy against confidence per bin, one line per `{name: probabilities}`
    (e.g. before and after temperature scaling), with each curve's ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (axis, histogram) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    axis.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated")
    centres = (np.arange(bins) + 0.5) / bins
    for name, probabilities in curves.items():
        counts, confidence, accuracy = reliability_bins(probabilities, labels, bins)
        filled = counts > 0
        ece = expected_calibration_error(probabilities, labels, bins)
        axis.plot(confidence[filled], accuracy[filled], marker="o", label=f"{name} (ECE {ece:.3f})")
        histogram.bar(centres, counts, width=1 / bins, alpha=0.5, label=name)
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(loc="upper left", fontsize=8)
    axis.set_title(title)
    histogram.set_xlabel(f"confidence (top probability, {bins} bins)")
    histogram.set_ylabel("texts")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
