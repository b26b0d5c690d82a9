"""Sentiment classifiers that read raw strings.

Every model here starts with the same preprocessing, inside the model, so the
exported SavedModel takes raw text:

    text --StandardizeText--> "a gorgeous , witty film" --TextVectorization--> [17, 2301, 3, 4120, 19, 0, ...]

`StandardizeText` repairs invalid UTF-8 (each bad byte becomes U+FFFD), keeps
the first `max_chars` characters, lower-cases, and splits punctuation and the
clitics GloVe was trained with (`n't`, `'s`, ...) into tokens of their own.
`TextVectorization` splits on spaces, looks the tokens up (id 0 = padding,
id 1 = out of vocabulary) and keeps the first `sequence_length` tokens: that is
the documented truncation (defaults: 2,000 characters and 64 tokens; the
longest Rotten Tomatoes snippet has 53 words).

Then one of these bodies (`--model`), each ending in a softmax over classes:

* `average`: the mean of frozen GloVe vectors, then softmax (Emojify v1).
* `lstm`: GloVe-initialised embedding, two stacked `RNN(LSTMCell)`s (Emojify v2).
* `transformer`: `TokenAndPositionEmbedding` (GloVe-initialised tokens) and
  `TransformerEncoderBlock`s, then masked mean pooling.
* `cnn`: Kim's (2014) convolutional sentence classifier over fine-tuned GloVe:
  filters of widths 3, 4 and 5, max over time, dropout.
* `ensemble`: the `cnn` plus an NBSVM member (Wang and Manning 2012: logistic
  regression on naive-Bayes-scaled uni- and bigram counts, fitted in closed form
  before training and frozen inside the model as a lookup table and a sum), and
  optionally a bidirectional GRU from our `GRUCell` (`--ensemble-members
  cnn,gru,ngram`). Neural members train on their own losses; the output is the
  mean of the members' probabilities.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from layers import GRUCell, LSTMCell, TokenAndPositionEmbedding, TransformerEncoderBlock
from tasks.sentiment.config import MODELS

PAD_ID, OOV_ID = 0, 1
# Texts with no token at all (empty, whitespace only) become this one unknown
# token, so every sequence has at least one unmasked position: masked means and
# attention never divide by zero.
EMPTY_TOKEN = "[empty]"


# ---------------------------------------------------------------------------
# Preprocessing layers.


@keras.saving.register_keras_serializable(package="seqmodels")
class StandardizeText(keras.layers.Layer):
    """Turns raw strings into space-separated lower-case tokens.

    Steps, each of them total (no input makes them fail):

    1. invalid UTF-8 bytes become U+FFFD (`tf.strings.unicode_transcode`);
    2. only the first `max_chars` characters are kept (the documented truncation
       of very long texts; the tokenizer then keeps the first `sequence_length`
       tokens);
    3. lower case (Unicode-aware); HTML line breaks, control characters (tabs,
       NUL, ...) and other invisible code points to spaces;
    4. every character that is neither a letter, digit, apostrophe nor space is
       a token of its own, and the clitics `n't 's 're 've 'll 'd 'm` are split
       off, which is how GloVe's corpus was tokenised ("don't" -> "do n't");
    5. all Unicode spaces collapse to one ASCII space; a text left empty becomes
       the single token `[empty]`.

    Args:
        max_chars: positive int, characters kept from each text. Default 2000.

    Call arguments:
        inputs: string tensor of any shape.

    Returns:
        A string tensor of the same shape.

    Example:

    >>> StandardizeText()(tf.constant(["Don't MISS it!!"])).numpy()
    array([b"do n't miss it ! !"], dtype=object)
    """

    def __init__(self, max_chars=2000, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(
                "Invalid value for argument max_chars. Expected a positive integer. "
                f"Received: max_chars={max_chars!r}"
            )
        self.max_chars = max_chars

    def call(self, inputs):
        text = tf.convert_to_tensor(inputs, dtype=tf.string)
        text = tf.strings.unicode_transcode(
            text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        text = tf.strings.substr(text, 0, self.max_chars, unit="UTF8_CHAR")
        text = tf.strings.lower(text, encoding="utf-8")
        text = tf.strings.regex_replace(text, r"<br\s*/?>|\pC", " ")  # HTML breaks, control and format characters
        text = tf.strings.regex_replace(text, r"([^\pL\pN\pM\s'])", r" \1 ")
        text = tf.strings.regex_replace(text, r"(\pL)n't\b", r"\1 n't")
        text = tf.strings.regex_replace(text, r"(\pL)'(s|re|ve|ll|d|m)\b", r"\1 '\2")
        text = tf.strings.regex_replace(text, r"[\s\pZ\x{85}\x{feff}]+", " ")
        text = tf.strings.strip(text)
        return tf.where(tf.strings.length(text) > 0, text, tf.fill(tf.shape(text), EMPTY_TOKEN))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_chars": self.max_chars}


@keras.saving.register_keras_serializable(package="seqmodels")
class MaskedMean(keras.layers.Layer):
    """Mean over time of the unmasked steps: `(batch, time, dim) -> (batch, dim)`.

    Unlike `GlobalAveragePooling1D`, an all-padding row gives zeros, not NaN.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.cast(mask, inputs.dtype)[:, :, None]  # (batch, time, 1)
        total = ops.sum(inputs * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return total / count

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="seqmodels")
class MaskedSum(MaskedMean):
    """Sum over time of the unmasked steps (the bag-of-n-grams linear model)."""

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.sum(inputs, axis=1)
        return ops.sum(inputs * ops.cast(mask, inputs.dtype)[:, :, None], axis=1)


def standardize_python(texts, max_chars=2000):
    """The model's tokenisation run outside it, for building vocabularies: lists of tokens."""
    standardized = StandardizeText(max_chars=max_chars)(tf.constant(list(texts), dtype=tf.string))
    return [t.decode("utf-8").split(" ") for t in standardized.numpy()]


def build_vocabulary(token_lists, min_count=1, extra_words=(), max_size=None):
    """Training tokens seen at least `min_count` times, most frequent first, then
    `extra_words` (e.g. frequent GloVe words, so that unseen words at test time
    still get a pretrained vector)."""
    counts = {}
    for tokens in token_lists:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    words = [w for w, c in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if c >= min_count]
    words = [w for w in words if w and w not in ("[UNK]", EMPTY_TOKEN)]
    seen = set(words)
    for word in extra_words:
        if word not in seen and word and word not in ("[UNK]", EMPTY_TOKEN) and " " not in word:
            words.append(word)
            seen.add(word)
    return words[:max_size] if max_size else words


def ngram_tokens(tokens):
    """Unigrams then bigrams ("a b"), the order TextVectorization(ngrams=2) emits them in."""
    return list(tokens) + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def fit_nbsvm(token_lists, labels, num_classes, min_count=1, max_size=300_000, regularization=1.0, alpha=1.0):
    """NBSVM (Wang and Manning 2012): logistic regression on naive-Bayes-scaled n-gram counts.

    For class k, `r_k = log((p_k / |p_k|) / (q_k / |q_k|))`, where `p_k` counts the
    training texts of class k that hold each uni- or bigram (plus `alpha`) and
    `q_k` the other texts. A logistic regression (scikit-learn, L2 with
    `C=regularization`) is fitted on the counts times `r_k`; the model's logit
    for class k is then `sum_g count_g * r_kg * w_kg + b_k`, a lookup table and
    a sum, so it runs inside the Keras model. Two classes need one regression
    (class 0's logit stays 0); more classes get one-vs-rest regressions.

    Returns `(ngrams, weights (len(ngrams), num_classes), bias (num_classes,))`.
    """
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    document_counts = {}
    for tokens in token_lists:
        for gram in set(ngram_tokens(tokens)):
            document_counts[gram] = document_counts.get(gram, 0) + 1
    grams = [g for g, c in sorted(document_counts.items(), key=lambda item: (-item[1], item[0]))
             if c >= min_count and g != EMPTY_TOKEN][:max_size]
    index = {g: i for i, g in enumerate(grams)}
    rows, columns = [], []
    for row, tokens in enumerate(token_lists):
        for gram in ngram_tokens(tokens):
            column = index.get(gram)
            if column is not None:
                rows.append(row)
                columns.append(column)
    counts = sparse.csr_matrix(
        (np.ones(len(rows), np.float64), (rows, columns)), shape=(len(token_lists), len(grams))
    )  # duplicates are summed: n-gram counts
    present = (counts > 0).astype(np.float64)
    weights = np.zeros((len(grams), num_classes), np.float32)
    bias = np.zeros(num_classes, np.float32)
    for k in ([1] if num_classes == 2 else range(num_classes)):
        is_k = labels == k
        p = np.asarray(present[is_k].sum(axis=0)).ravel() + alpha
        q = np.asarray(present[~is_k].sum(axis=0)).ravel() + alpha
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        regression = LogisticRegression(C=regularization, max_iter=5000)
        regression.fit(counts @ sparse.diags(ratio), is_k.astype(np.int64))
        weights[:, k] = ratio * regression.coef_[0]
        bias[k] = regression.intercept_[0]
    return grams, weights, bias


def embedding_matrix(vocabulary, word_vectors, seed=0):
    """Rows for ids `[pad, oov, *vocabulary]`: GloVe where the word has a vector,
    small random rows elsewhere, zeros for padding and unknown words.
    Returns `(matrix, coverage)` with coverage the fraction of words found."""
    dim = word_vectors.vectors.shape[1]
    matrix = np.zeros((len(vocabulary) + 2, dim), np.float32)
    rows = np.array([word_vectors.index.get(w, -1) for w in vocabulary], np.int64)
    found = rows >= 0
    matrix[2 + np.flatnonzero(found)] = word_vectors.vectors[rows[found]]
    scale = float(word_vectors.vectors[: min(len(word_vectors.vectors), 50_000)].std())
    random = np.random.default_rng(seed).normal(0.0, scale, size=(int((~found).sum()), dim))
    matrix[2 + np.flatnonzero(~found)] = random.astype(np.float32)
    return matrix, float(found.mean()) if len(found) else 0.0


# ---------------------------------------------------------------------------
# Model bodies. Each takes token ids (batch, sequence_length) and returns
# class probabilities (batch, num_classes).


def _word_embedding(matrix, trainable, name="word_embedding"):
    layer = keras.layers.Embedding(
        matrix.shape[0], matrix.shape[1], mask_zero=True, trainable=trainable, name=name
    )
    layer.build((None, None))
    layer.embeddings.assign(matrix)
    return layer


def _average_body(token_ids, matrix, num_classes, config):
    vectors = _word_embedding(matrix, trainable=False)(token_ids)  # (batch, time, 50)
    average = MaskedMean(name="mean_of_vectors")(vectors)  # (batch, 50)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(average)


def _lstm_body(token_ids, matrix, num_classes, config):
    x = _word_embedding(matrix, trainable=True)(token_ids)
    x = keras.layers.Dropout(config.dropout)(x)
    # Two stacked LSTMs as in Emojify v2: the first hands its whole sequence on.
    x = keras.layers.RNN(LSTMCell(config.units), return_sequences=True, name="lstm_1")(x)
    x = keras.layers.Dropout(config.dropout)(x)
    x = keras.layers.RNN(LSTMCell(config.units), name="lstm_2")(x)  # (batch, units): last step
    x = keras.layers.Dropout(config.dropout)(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def _transformer_body(token_ids, matrix, num_classes, config):
    embedding = TokenAndPositionEmbedding(
        matrix.shape[0], config.sequence_length, matrix.shape[1], mask_zero=True, name="token_and_position"
    )
    embedding.build((None, config.sequence_length))
    embedding.token_embedding.embeddings.assign(matrix)  # GloVe rows; positions are sinusoidal.
    x = embedding(token_ids)  # (batch, time, 50), padding mask attached
    x = keras.layers.Dropout(config.dropout)(x)
    for i in range(config.num_layers):
        x = TransformerEncoderBlock(
            num_heads=config.num_heads,
            intermediate_dim=config.intermediate_dim,
            dropout=config.dropout,
            name=f"encoder_block_{i + 1}",
        )(x)
    x = MaskedMean(name="mean_over_tokens")(x)  # (batch, 50)
    x = keras.layers.Dropout(config.dropout)(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def _cnn_features(token_ids, matrix, config, prefix="cnn"):
    x = _word_embedding(matrix, trainable=True, name=f"{prefix}_embedding")(token_ids)  # (batch, time, 50)
    pooled = []
    for width in config.filter_widths:
        feature_map = keras.layers.Conv1D(
            config.filters, width, padding="same", activation="relu", name=f"{prefix}_conv_{width}"
        )(x)  # (batch, time, filters)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"{prefix}_max_{width}")(feature_map))
    x = keras.layers.Concatenate(name=f"{prefix}_features")(pooled)  # (batch, filters * len(widths))
    return keras.layers.Dropout(config.dropout, name=f"{prefix}_dropout")(x)


def _cnn_body(token_ids, matrix, num_classes, config):
    x = _cnn_features(token_ids, matrix, config)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def _ensemble_body(token_ids, matrix, num_classes, config, ngram_ids=None, ngram_model=None):
    """Member probabilities by name plus their mean under "probabilities".

    Each neural member is trained on its own loss (see `compile_classifier`):
    a loss on the mean alone lets the member that fits the training set first
    starve the others of gradient. The NBSVM member arrives fitted and frozen.
    """
    members = {}
    # Member 1: Kim's CNN.
    cnn = _cnn_features(token_ids, matrix, config, prefix="cnn")
    members["cnn"] = keras.layers.Dense(num_classes, activation="softmax", name="cnn")(cnn)
    # Member 2: a bidirectional GRU built from our cell, mean-pooled over time.
    if "gru" in config.ensemble_members:
        x = _word_embedding(matrix, trainable=True, name="gru_embedding")(token_ids)
        x = keras.layers.Dropout(config.dropout / 2)(x)
        x = keras.layers.Bidirectional(
            keras.layers.RNN(GRUCell(config.units), return_sequences=True), name="bidirectional_gru"
        )(x)  # (batch, time, 2 * units)
        x = MaskedMean(name="gru_mean")(x)
        x = keras.layers.Dropout(config.dropout)(x)
        members["gru"] = keras.layers.Dense(num_classes, activation="softmax", name="gru")(x)
    # Member 3: NBSVM over uni- and bigrams, fitted in closed form (fit_nbsvm) and frozen.
    if ngram_ids is not None:
        ngram_weights, ngram_bias = ngram_model
        table = keras.layers.Embedding(ngram_weights.shape[0] + 2, num_classes, mask_zero=True,
                                       trainable=False, name="ngram_weights")
        table.build((None, None))
        table.embeddings.assign(np.concatenate([np.zeros((2, num_classes), np.float32), ngram_weights]))
        logits = MaskedSum(name="ngram_logits")(table(ngram_ids))  # (batch, classes)
        bias = keras.layers.Dense(num_classes, kernel_initializer="identity", trainable=False, name="ngram_bias")
        bias.build((None, num_classes))
        bias.bias.assign(ngram_bias)
        members["ngram"] = keras.layers.Softmax(name="ngram")(bias(logits))
    average = keras.layers.Average(name="probabilities")(list(members.values()))
    return {"probabilities": average, **members}


BODIES = {
    "average": _average_body,
    "lstm": _lstm_body,
    "transformer": _transformer_body,
    "cnn": _cnn_body,
    "ensemble": _ensemble_body,
}


def build_classifier(config, vocabulary, matrix, num_classes, ngrams=None, ngram_model=None):
    """The whole model: raw strings `(batch,)` -> probabilities `(batch, num_classes)`."""
    if config.model not in BODIES:
        raise ValueError(f"Invalid value for argument model. Expected one of {MODELS}. Received: {config.model!r}")
    text = keras.Input(shape=(), dtype="string", name="text")
    standardized = StandardizeText(max_chars=config.max_chars, name="standardize")(text)
    tokenizer = keras.layers.TextVectorization(
        standardize=None,
        split="whitespace",
        output_mode="int",
        output_sequence_length=config.sequence_length,
        vocabulary=vocabulary,
        name="tokenize",
    )
    token_ids = tokenizer(standardized)  # (batch, sequence_length), 0 = padding
    if config.model == "ensemble" and ngrams is not None and "ngram" in config.ensemble_members:
        ngram_lookup = keras.layers.TextVectorization(
            standardize=None,
            split="whitespace",
            ngrams=2,
            output_mode="int",
            output_sequence_length=2 * config.sequence_length,
            vocabulary=ngrams,
            name="ngram_tokenize",
        )
        ngram_ids = ngram_lookup(standardized)  # (batch, 2 * sequence_length): unigrams, then bigrams
        probabilities = _ensemble_body(token_ids, matrix, num_classes, config, ngram_ids, ngram_model)
    else:
        probabilities = BODIES[config.model](token_ids, matrix, num_classes, config)
    return keras.Model(text, probabilities, name=f"sentiment_{config.model}")


def compile_classifier(model, config):
    """Adam and cross-entropy; an ensemble gets one loss per member and its
    accuracy is measured on the mean of the members ("probabilities")."""
    loss = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.Adam(config.learning_rate)
    if isinstance(model.output, dict):
        frozen = {"ngram"}  # Fitted in closed form before training.
        members = [name for name in model.output if name not in ("probabilities", *frozen)]
        model.compile(
            optimizer=optimizer,
            loss={name: loss for name in members},
            metrics={"probabilities": ["accuracy"]},
        )
    else:
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def probabilities_of(outputs):
    """The class probabilities among a model's outputs (a tensor or the ensemble's dict)."""
    return outputs["probabilities"] if isinstance(outputs, dict) else outputs


def output_names(config):
    """Names of an ensemble's outputs (the mean first), or None for a one-output model."""
    if config.model != "ensemble":
        return None
    members = ["cnn"] + [name for name in ("gru", "ngram") if name in config.ensemble_members]
    return ["probabilities"] + members
