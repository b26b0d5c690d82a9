"""The SavedModel a server loads, and the `predict` command that reads it.

Signature `serving_default`:

    text           tf.string  [None]           raw UTF-8 (invalid bytes are repaired, not rejected)
    -> probabilities float32  [None, classes]  softmax over the class names
       label         tf.string  [None]           the most probable class name

Signature `explain` (one forward pass per word, so slower; see explain.py):

    text                tf.string  [None]
    -> tokens              tf.string  [None, words]           the words the model read ("" past the end)
       contributions       float32    [None, words]           p(answer) - p(answer without that word)
       class_contributions float32    [None, words, classes]  the same for every class
       probabilities, label                                   as serving_default

Both signatures give probabilities scaled by the temperature fitted on the
validation split (calibration.py), also written to
`saved_model/assets.extra/calibration.json`. The class names are written to
`saved_model/assets.extra/class_names.json` so `evaluate` can map a file's
labels onto the model's classes. Preprocessing
(standardisation, tokenisation, vocabulary lookup, truncation to 2,000
characters and 64 tokens by default) is inside the model, see model.py.
"""

import argparse
import json
import os
import pathlib
import sys

CLASS_NAMES_FILE = os.path.join("assets.extra", "class_names.json")
CALIBRATION_FILE = os.path.join("assets.extra", "calibration.json")


def export_saved_model(model, class_names, export_dir, buckets=4, temperature=1.0):
    """Writes `export_dir` with the `serving_default` and `explain` signatures above.

    `temperature` is the one `calibration.fit_temperature` fitted on the
    validation split; 1.0 serves the model's own probabilities.

    The token ids come padded to `sequence_length` (64), but most texts are far
    shorter (Rotten Tomatoes: 22 tokens on average), and the CNN's cost grows
    with the padded length. So the serving function sorts a batch by token
    count, cuts it into `buckets` groups, and runs the model on each group's ids
    cut to that group's longest text plus the widest convolution: every
    position a convolution window of a real token sees is kept, and so is at
    least one all-padding window, so each text gets exactly what the padded
    model gives it (tested), at about half the cost for a batch of 1,000.
    """
    import keras
    import tensorflow as tf

    from tasks.sentiment.calibration import apply_temperature_tf
    from tasks.sentiment.explain import occlusion_function
    from tasks.sentiment.model import probabilities_of

    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"Invalid value for argument temperature. Expected a positive number. "
                         f"Received: temperature={temperature}")
    names = tf.constant([str(name) for name in class_names], dtype=tf.string)
    standardize, tokenize = model.get_layer("standardize"), model.get_layer("tokenize")
    # The model from (standardised text, token ids) on: what runs per bucket.
    body = keras.Model([standardize.output, tokenize.output], model.output, name=f"{model.name}_body")
    margin = max([max(layer.kernel_size) for layer in model.layers if isinstance(layer, keras.layers.Conv1D)] or [0])
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(text):
        size = tf.shape(text)[0]
        # One empty text is appended to the batch and to every bucket, and its rows are dropped again:
        # TensorFlow 2.21's CPU kernels fail on a zero-row batch in the CNN's layers, and an empty
        # request or bucket must still get an (empty) answer.
        standardized = standardize(tf.concat([text, tf.constant([""])], axis=0))  # (batch + 1,)
        token_ids = tokenize(standardized)  # (batch + 1, sequence_length), 0 = padding
        lengths = tf.reduce_sum(tf.cast(token_ids != 0, tf.int32), axis=1)  # (batch + 1,)
        order = tf.argsort(lengths[:size], stable=True)  # (batch,): shortest first

        def in_buckets(count):
            pieces = []
            for bucket in range(count):
                rows = order[size * bucket // count : size * (bucket + 1) // count]
                rows = tf.concat([rows, [size]], axis=0)  # (bucket size + 1,): the empty text last
                width = tf.minimum(tf.shape(token_ids)[1], tf.reduce_max(tf.gather(lengths, rows)) + margin)
                outputs = body([tf.gather(standardized, rows), tf.gather(token_ids, rows)[:, :width]], training=False)
                pieces.append(tf.cast(probabilities_of(outputs), tf.float32)[:-1])  # (bucket size, classes)
            return tf.concat(pieces, axis=0)  # (batch, classes), shortest first

        def whole():  # Small requests (a single text): one call of the padded model is quicker.
            return tf.cast(probabilities_of(body([standardized, token_ids], training=False)), tf.float32)[:size]

        def bucketed():
            return tf.scatter_nd(order[:, None], in_buckets(buckets),
                                 tf.stack([size, tf.shape(names)[0]]))  # (batch, classes), input order

        probabilities = tf.cond(size >= 16 * buckets, bucketed, whole)  # (batch, classes)
        probabilities = apply_temperature_tf(probabilities, temperature)
        label = tf.gather(names, tf.argmax(probabilities, axis=-1))  # (batch,)
        return {"probabilities": probabilities, "label": label}

    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text")],
    )
    archive.add_endpoint(
        name="explain",
        fn=occlusion_function(model, class_names, temperature),
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text")],
    )
    archive.write_out(str(export_dir), verbose=False)
    extra = pathlib.Path(export_dir) / CLASS_NAMES_FILE
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text(json.dumps([str(name) for name in class_names]) + "\n")
    (pathlib.Path(export_dir) / CALIBRATION_FILE).write_text(json.dumps({"temperature": temperature}) + "\n")


def resolve_saved_model(path):
    """A run directory (holding `saved_model/`) or the SavedModel directory itself."""
    from tasks.common.run_dir import RunDir

    return RunDir.open(path, "sentiment").saved_model_dir


def load(path):
    import tensorflow as tf

    return tf.saved_model.load(str(resolve_saved_model(path)))


def class_names_of(path):
    file = resolve_saved_model(path) / CLASS_NAMES_FILE
    return json.loads(file.read_text()) if file.is_file() else None


def temperature_of(path):
    """The temperature the SavedModel's probabilities were scaled by (1.0 for one exported without)."""
    file = resolve_saved_model(path) / CALIBRATION_FILE
    return float(json.loads(file.read_text())["temperature"]) if file.is_file() else 1.0


def serve(loaded, texts, batch_size=1000):
    """`(probabilities (n, classes) float32, labels list of str)` from a loaded SavedModel."""
    import numpy as np
    import tensorflow as tf

    function = loaded.signatures["serving_default"]
    probabilities, labels = [], []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        batch = [_to_bytes(t) for t in batch]
        outputs = function(text=tf.constant(batch, dtype=tf.string))
        probabilities.append(outputs["probabilities"].numpy())
        labels.extend(label.decode("utf-8") for label in outputs["label"].numpy())
    if not probabilities:
        return np.zeros((0, 0), np.float32), []
    return np.concatenate(probabilities), labels


def _to_bytes(text):
    """Command-line arguments with invalid UTF-8 arrive as surrogate escapes: send the original bytes."""
    if isinstance(text, bytes):
        return text
    try:
        return str(text).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return str(text).encode("utf-8", "replace")


def predict(loaded, texts):
    """`[(label, probability of that label)]` for each text."""
    probabilities, labels = serve(loaded, list(texts))
    return [(label, float(row.max())) for label, row in zip(labels, probabilities)]


def predict_command(argv):
    """print the label and its probability for each text (arguments or --file, one text a line)"""
    parser = argparse.ArgumentParser(prog="python -m tasks.sentiment predict")
    parser.add_argument("--model", required=True, help="run directory or SavedModel directory")
    parser.add_argument("--file", help="read texts from this file, one a line ('-' for standard input)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line with all probabilities")
    parser.add_argument("--explain", action="store_true",
                        help="also print each word's contribution to the answer: the fall in the answer's "
                             "probability when that word is taken out (+ pushes towards the answer)")
    parser.add_argument("texts", nargs="*", help="texts to classify")
    args = parser.parse_args(argv)
    texts = list(args.texts)
    if args.file:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace")
        with handle:
            texts.extend(line.rstrip("\n") for line in handle)
    if not texts:
        parser.error("give texts as arguments or with --file")
    loaded = load(args.model)
    probabilities, labels = serve(loaded, texts)
    names = class_names_of(args.model) or [str(i) for i in range(probabilities.shape[1])]
    explanations = [None] * len(texts)
    if args.explain:
        if "explain" not in loaded.signatures:
            parser.error(f"{args.model}: this SavedModel has no explain signature; export it again")
        from tasks.sentiment.explain import explain, format_explanation

        explanations = [words for _, _, words in explain(loaded, texts)]
    for text, label, row, words in zip(texts, labels, probabilities, explanations):
        if args.json:
            record = {"text": text, "label": label,
                      "probabilities": {n: round(float(p), 4) for n, p in zip(names, row)}}
            if words is not None:
                record["contributions"] = [[word, round(score, 4)] for word, score in words]
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{label}\t{row.max():.3f}\t{text}")
            if words is not None:
                print(f"\t{format_explanation(words)}")
    return 0
