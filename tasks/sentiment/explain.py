"""Which words made the answer: occlusion over the words of a text.

A word's contribution to class `c` is how much the probability of `c` falls
when that one word is taken out of the text:

    contribution_i(c) = p(c | text) - p(c | text without word i)

Positive: the word pushed the answer towards `c`; negative: away from it.
"not good" answered negative gives `not` a large positive contribution to
*negative*, because "good" alone reads positive.

Why occlusion and not integrated gradients: it needs nothing but the model's
forward pass, so it explains every model here the same way, the ensemble
(whose NBSVM member is lookup tables over word and character n-grams, with no
gradient with respect to a word) included; it is exact for the question a user
asks ("what if this word were not there?"), and it runs inside the SavedModel
on raw text. Its cost is one forward pass per word (`explain` answers a batch
of 20-word texts with 20 passes per text), which is why it is its own
signature and `serving_default` does not pay for it.

Words are the model's tokens after standardisation (`do n't` is two words,
punctuation is a word), at most `sequence_length` of them: the model reads no
further.
"""

import numpy as np


def occlusion_function(model, class_names, temperature=1.0):
    """A `tf.function`-able callable `text (batch,) -> dict` for the SavedModel's `explain` signature.

    Returns a dict of
        tokens               tf.string  [batch, words]           the words ("" past a text's end)
        contributions        float32    [batch, words]           contribution to the answer's probability
        class_contributions  float32    [batch, words, classes]  contribution to each class's probability
        probabilities        float32    [batch, classes]         the (calibrated) answer, as serving_default
        label                tf.string  [batch]
    """
    import keras
    import tensorflow as tf

    from tasks.sentiment.calibration import apply_temperature_tf
    from tasks.sentiment.model import EMPTY_TOKEN, probabilities_of

    names = tf.constant([str(name) for name in class_names], dtype=tf.string)
    standardize, tokenize = model.get_layer("standardize"), model.get_layer("tokenize")
    body = keras.Model([standardize.output, tokenize.output], model.output, name=f"{model.name}_explained")
    max_words = int(tokenize.get_config()["output_sequence_length"])

    def probabilities(standardized):  # (n,) standardised texts -> (n, classes)
        outputs = body([standardized, tokenize(standardized)], training=False)
        return apply_temperature_tf(tf.cast(probabilities_of(outputs), tf.float32), temperature)

    def explain(text):
        size = tf.shape(text)[0]
        # One empty text is appended, as in serving_default: the CNN's CPU kernels fail on zero rows.
        standardized = standardize(tf.concat([text, tf.constant([""])], axis=0))  # (batch + 1,)
        words = tf.strings.split(standardized)[:, :max_words].to_tensor("")  # (batch + 1, words)
        num_words = tf.shape(words)[1]
        present = words != ""  # (batch + 1, words)
        # Variant j of a text keeps every word but the j-th.
        keep = tf.logical_and(present[:, None, :], tf.logical_not(tf.eye(num_words, dtype=tf.bool))[None])
        variants = tf.strings.reduce_join(tf.where(keep, words[:, None, :], ""), axis=-1, separator=" ")
        variants = tf.strings.strip(tf.strings.regex_replace(variants, " +", " "))  # (batch + 1, words)
        variants = tf.where(variants == "", EMPTY_TOKEN, variants)
        # The whole text is rebuilt from the same (truncated) words, so that each variant differs from it
        # by exactly one word.
        whole = tf.strings.reduce_join(words, axis=-1, separator=" ")
        whole = tf.strings.strip(tf.strings.regex_replace(whole, " +", " "))  # (batch + 1,)
        whole = tf.where(whole == "", EMPTY_TOKEN, whole)
        full = probabilities(whole)  # (batch + 1, classes)
        occluded = probabilities(tf.reshape(variants, [-1]))  # ((batch + 1) * words, classes)
        occluded = tf.reshape(occluded, [size + 1, num_words, -1])  # (batch + 1, words, classes)
        class_contributions = tf.where(present[:, :, None], full[:, None, :] - occluded, 0.0)
        answer = tf.argmax(full, axis=-1)  # (batch + 1,)
        contributions = tf.gather(class_contributions, answer, axis=2, batch_dims=1)  # (batch + 1, words)
        return {
            "tokens": words[:size],
            "contributions": contributions[:size],
            "class_contributions": class_contributions[:size],
            "probabilities": full[:size],
            "label": tf.gather(names, answer[:size]),
        }

    return explain


def explain(loaded, texts, batch_size=32):
    """`[(label, probability, [(word, contribution to the answer), ...])]` from a loaded SavedModel.

    Batches are small because each text costs one forward pass per word.
    """
    import tensorflow as tf

    from tasks.sentiment.export import _to_bytes

    function = loaded.signatures["explain"]
    answers = []
    for start in range(0, len(texts), batch_size):
        batch = tf.constant([_to_bytes(t) for t in texts[start : start + batch_size]], dtype=tf.string)
        out = {name: value.numpy() for name, value in function(text=batch).items()}
        for row in range(len(out["label"])):
            words = [(word.decode("utf-8", "replace"), float(score))
                     for word, score in zip(out["tokens"][row], out["contributions"][row]) if word]
            answers.append((out["label"][row].decode("utf-8"), float(np.max(out["probabilities"][row])), words))
    return answers


def format_explanation(words, top=None):
    """`not +0.412  good +0.083  ...`: the words in text order with their signed contributions
    (`top` keeps only the largest in size, still in text order)."""
    keep = range(len(words))
    if top is not None:
        keep = sorted(sorted(keep, key=lambda i: -abs(words[i][1]))[:top])
    return "  ".join(f"{words[i][0]} {words[i][1]:+.3f}" for i in keep)
