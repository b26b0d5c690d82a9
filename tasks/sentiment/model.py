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
* `ensemble`: three members, each trained or fitted on its own:
  the `cnn`; `mean`, a fastText-style classifier on the mean of its own
  fine-tuned GloVe vectors; and `ngram`, an NBSVM (Wang and Manning 2012:
  logistic regression on naive-Bayes-scaled counts of word uni- and bigrams and
  of character 2- to 5-grams, fitted before training and frozen inside the model
  as lookup tables and sums). A bidirectional GRU from our `GRUCell` can be
  added (`--ensemble-members cnn,mean,gru,ngram`). The output is
  `softmax(sum_k w_k log p_k + b)` over the members' probabilities `p_k`, with
  the weights `w` and class biases `b` fitted on the validation split after
  training (`fit_member_weights`: a logistic regression on the members' log
  probabilities, i.e. stacking).
"""

import collections

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
# The `mean` member's embedding is stored divided by this and multiplied back
# after pooling, so Adam moves its vectors this many times faster (see _ensemble_body).
MEAN_EMBEDDING_SCALE = 3.0


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

    def compute_output_spec(self, inputs):
        # Strings out (the default spec would say float32), so a model cut at this
        # layer's output (export.py) takes strings there.
        return keras.KerasTensor(inputs.shape, dtype="string")

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


@keras.saving.register_keras_serializable(package="seqmodels")
class CharacterNgramLogits(keras.layers.Layer):
    """Sum of fixed per-class weights over the character n-grams of a text.

    For each of the first `max_tokens` space-separated tokens, padded with one
    space on each side, every character n-gram of width `min_width..max_width`
    is looked up in `vocabulary` (unknown n-grams weigh nothing) and the rows
    of a frozen `(len(vocabulary) + 1, num_classes)` table are summed: the
    character part of the NBSVM member, `sum_g count_g * r_g * w_g`. The
    n-grams stay ragged inside the layer, so a short text costs only its own
    n-grams. `character_ngrams` in this module is the same function in Python.

    Args:
        vocabulary: list of str, the n-grams that carry a weight.
        num_classes: positive int, width of the output.
        min_width, max_width: n-gram widths, in characters. Default 2 and 5.
        max_tokens: positive int, tokens read per text. Default 64.

    Call arguments:
        inputs: string tensor `(batch,)` of standardised, space-separated tokens.

    Returns:
        float32 `(batch, num_classes)`.
    """

    def __init__(self, vocabulary, num_classes, min_width=2, max_width=5, max_tokens=64, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not 1 <= min_width <= max_width:
            raise ValueError(
                "Invalid value for arguments min_width and max_width. Expected 1 <= min_width <= max_width. "
                f"Received: min_width={min_width}, max_width={max_width}"
            )
        self.vocabulary = list(vocabulary)
        self.num_classes = num_classes
        self.min_width = min_width
        self.max_width = max_width
        self.max_tokens = max_tokens
        # Index 0 is every unknown n-gram; the vocabulary starts at 1.
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=1, name="lookup")

    def build(self, input_shape):
        self.table = self.add_weight(
            name="table", shape=(len(self.vocabulary) + 1, self.num_classes), initializer="zeros", trainable=False
        )

    def set_weights_of_ngrams(self, weights):
        """Loads the `(len(vocabulary), num_classes)` fitted weights (row 0, unknown, stays 0)."""
        if not self.built:
            self.build((None,))
        self.table.assign(np.concatenate([np.zeros((1, self.num_classes), np.float32), weights]).astype(np.float32))

    def call(self, inputs):
        tokens = tf.strings.split(inputs)[:, : self.max_tokens]  # (batch, tokens), ragged
        # A token's n-grams are the same wherever it occurs, and a batch repeats its
        # words many times ("the", ",", "film"): each distinct token is scored once.
        distinct, token_to_distinct = tf.unique(tokens.flat_values)  # (distinct tokens,), (all tokens,)
        padded = tf.strings.join([" ", distinct, " "])  # (distinct tokens,)
        characters = tf.strings.unicode_split(padded, "UTF-8")  # (distinct tokens, characters), ragged
        grams = tf.concat(
            [tf.strings.ngrams(characters, width, separator="") for width in range(self.min_width, self.max_width + 1)],
            axis=1,
        )  # (distinct tokens, n-grams), ragged
        rows = tf.gather(ops.convert_to_tensor(self.table), self.lookup(grams.flat_values))  # (all n-grams, classes)
        per_distinct = tf.math.unsorted_segment_sum(
            rows, grams.value_rowids(), tf.shape(distinct, out_type=tf.int64)[0]
        )  # (distinct tokens, classes)
        per_token = tf.gather(per_distinct, token_to_distinct)  # (all tokens, classes)
        return tf.math.unsorted_segment_sum(per_token, tokens.value_rowids(), tokens.nrows())  # (batch, classes)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "num_classes": self.num_classes,
                "min_width": self.min_width, "max_width": self.max_width, "max_tokens": self.max_tokens}


@keras.saving.register_keras_serializable(package="seqmodels")
class MemberCombination(keras.layers.Layer):
    """Combines the members of an ensemble: `softmax(sum_k w_k log p_k + b)`.

    `p_k` are the members' class probabilities, `w` one weight per member and
    `b` one bias per class. Both are frozen variables: they start as the
    normalised geometric mean (`w_k = 1 / members`, `b = 0`) and are fitted on
    held-out data after training (`fit_member_weights`, then
    `set_member_weights`), which is stacking with a logistic regression on the
    members' log probabilities. Unlike the plain mean of probabilities, it
    learns how much to trust each member and corrects a shared bias.

    Call arguments:
        inputs: list of `(batch, classes)` probability tensors, one per member.

    Returns:
        `(batch, classes)` probabilities.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)

    def build(self, input_shape):
        num_members, num_classes = len(input_shape), input_shape[0][-1]
        self.member_weights = self.add_weight(
            name="member_weights", shape=(num_members,),
            initializer=keras.initializers.Constant(1.0 / num_members), trainable=False,
        )
        self.class_bias = self.add_weight(name="class_bias", shape=(num_classes,), initializer="zeros",
                                          trainable=False)

    def set_member_weights(self, member_weights, class_bias):
        self.member_weights.assign(np.asarray(member_weights, np.float32))
        self.class_bias.assign(np.asarray(class_bias, np.float32))

    def call(self, inputs):
        logs = ops.log(ops.clip(ops.stack(inputs, axis=0), 1e-7, 1.0))  # (members, batch, classes)
        logits = ops.einsum("k,kbc->bc", ops.cast(self.member_weights, logs.dtype), logs)
        return ops.softmax(logits + ops.cast(self.class_bias, logs.dtype), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


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


def character_ngrams(tokens, min_width=2, max_width=5, max_tokens=None):
    """Character n-grams of each token padded with one space on each side
    (" film " -> " f", "fi", ..., "m "), widths `min_width..max_width`, for the
    first `max_tokens` tokens: what `CharacterNgramLogits` computes in the graph."""
    grams = []
    for token in tokens[:max_tokens]:
        padded = f" {token} "
        for width in range(min_width, max_width + 1):
            grams.extend(padded[i : i + width] for i in range(len(padded) - width + 1))
    return grams


NBSVM = collections.namedtuple("NBSVM", ["ngrams", "weights", "character_ngrams", "character_weights", "bias"])


def _feature_index(feature_lists, min_count, max_size):
    document_counts = collections.Counter()
    for features in feature_lists:
        document_counts.update(set(features))
    return [g for g, c in sorted(document_counts.items(), key=lambda item: (-item[1], item[0]))
            if c >= min_count and g != EMPTY_TOKEN][:max_size]


def _count_matrix(feature_lists, vocabulary):
    from scipy import sparse

    index = {g: i for i, g in enumerate(vocabulary)}
    rows, columns = [], []
    for row, features in enumerate(feature_lists):
        for feature in features:
            column = index.get(feature)
            if column is not None:
                rows.append(row)
                columns.append(column)
    return sparse.csr_matrix(
        (np.ones(len(rows), np.float64), (rows, columns)), shape=(len(feature_lists), len(vocabulary))
    )  # duplicates are summed: counts


def fit_nbsvm(token_lists, labels, num_classes, min_count=1, max_size=300_000, regularization=1.0, alpha=1.0,
              character_widths=None, max_tokens=None):
    """NBSVM (Wang and Manning 2012): logistic regression on naive-Bayes-scaled n-gram counts.

    Features are word uni- and bigrams, plus (when `character_widths=(min, max)`)
    the character n-grams of `character_ngrams`. For class k,
    `r_k = log((p_k / |p_k|) / (q_k / |q_k|))`, where `p_k` counts the training
    texts of class k that hold each feature (plus `alpha`) and `q_k` the other
    texts. A logistic regression (scikit-learn, L2 with `C=regularization`) is
    fitted on the counts times `r_k`; the model's logit for class k is then
    `sum_g count_g * r_kg * w_kg + b_k`, lookup tables and sums, so it runs
    inside the Keras model. Two classes need one regression (class 0's logit
    stays 0); more classes get one-vs-rest regressions.

    Returns an `NBSVM`: `ngrams`, `weights (len(ngrams), num_classes)`,
    `character_ngrams`, `character_weights (len(character_ngrams), num_classes)`
    (empty without `character_widths`) and `bias (num_classes,)`.
    """
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    word_features = [ngram_tokens(tokens) for tokens in token_lists]
    grams = _feature_index(word_features, min_count, max_size)
    blocks = [_count_matrix(word_features, grams)]
    character_grams = []
    if character_widths:
        character_features = [character_ngrams(tokens, *character_widths, max_tokens) for tokens in token_lists]
        character_grams = _feature_index(character_features, min_count, max_size)
        blocks.append(_count_matrix(character_features, character_grams))
    counts = sparse.hstack(blocks).tocsr()  # (texts, word grams + character grams)
    present = (counts > 0).astype(np.float64)
    weights = np.zeros((counts.shape[1], num_classes), np.float32)
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
    return NBSVM(grams, weights[: len(grams)], character_grams, weights[len(grams) :], bias)


def fit_member_weights(member_probabilities, labels, regularization=1.0):
    """Stacking weights for `MemberCombination`, fitted on held-out data.

    Minimises the cross-entropy of `softmax(sum_k w_k log p_k + b)` plus
    `|w|^2 / (2 * regularization)` (L-BFGS). For two classes this is exactly
    scikit-learn's `LogisticRegression(C=regularization)` on the members'
    logits `log(p_k1 / p_k0)`. Returns `(w (members,), b (classes,))`.
    """
    from scipy.optimize import minimize

    logs = np.log(np.clip(np.stack([np.asarray(p, np.float64) for p in member_probabilities]), 1e-7, 1.0))
    num_members, _, num_classes = logs.shape  # (members, examples, classes)
    labels = np.asarray(labels, np.int64)
    one_hot = np.eye(num_classes)[labels]

    def loss_and_gradient(parameters):
        w, b = parameters[:num_members], parameters[num_members:]
        z = np.einsum("k,knc->nc", w, logs) + b  # (examples, classes)
        z -= z.max(axis=1, keepdims=True)
        probabilities = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.sum(np.log(np.clip((probabilities * one_hot).sum(1), 1e-300, None)))
        error = probabilities - one_hot  # d loss / d z
        gradient_w = np.einsum("nc,knc->k", error, logs) + w / regularization
        return loss + 0.5 * np.dot(w, w) / regularization, np.concatenate([gradient_w, error.sum(0)])

    start = np.concatenate([np.full(num_members, 1.0 / num_members), np.zeros(num_classes)])
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B")
    w, b = result.x[:num_members], result.x[num_members:]
    return w.astype(np.float32), (b - b.mean()).astype(np.float32)  # a shared shift of b changes nothing


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


def _ensemble_body(token_ids, matrix, num_classes, config, standardized=None, nbsvm=None):
    """Member probabilities by name plus their combination under "probabilities".

    Each neural member is trained on its own loss (see `compile_classifier`):
    a loss on the combination alone lets the member that fits the training set
    first starve the others of gradient. The NBSVM member arrives fitted and
    frozen; the combination's weights are fitted on validation data after
    training (`MemberCombination`).
    """
    members = {}
    # Member 1: Kim's CNN.
    cnn = _cnn_features(token_ids, matrix, config, prefix="cnn")
    members["cnn"] = keras.layers.Dense(num_classes, activation="softmax", name="cnn")(cnn)
    # Member 2: fastText-style, the mean of its own fine-tuned GloVe vectors. Its
    # embedding learns slowly at the CNN's learning rate (best after ~13 epochs
    # at 1e-3, ~5 at 3e-3), so it is stored divided by 3 and multiplied by 3
    # after the mean: Adam's steps are ~lr per stored value, so the vectors move
    # 3 times faster and the member peaks around the CNN's best epoch.
    if "mean" in config.ensemble_members:
        x = _word_embedding(matrix / MEAN_EMBEDDING_SCALE, trainable=True, name="mean_embedding")(token_ids)
        x = MaskedMean(name="mean_of_embeddings")(x)  # (batch, 50)
        x = keras.layers.Rescaling(MEAN_EMBEDDING_SCALE, name="mean_rescale")(x)
        x = keras.layers.Dropout(config.dropout, name="mean_dropout")(x)
        members["mean"] = keras.layers.Dense(num_classes, activation="softmax", name="mean")(x)
    # Member 3: a bidirectional GRU built from our cell, mean-pooled over time.
    if "gru" in config.ensemble_members:
        x = _word_embedding(matrix, trainable=True, name="gru_embedding")(token_ids)
        x = keras.layers.Dropout(config.dropout / 2)(x)
        x = keras.layers.Bidirectional(
            keras.layers.RNN(GRUCell(config.units), return_sequences=True), name="bidirectional_gru"
        )(x)  # (batch, time, 2 * units)
        x = MaskedMean(name="gru_mean")(x)
        x = keras.layers.Dropout(config.dropout)(x)
        members["gru"] = keras.layers.Dense(num_classes, activation="softmax", name="gru")(x)
    # Member 4: NBSVM over word uni- and bigrams and character n-grams, fitted
    # in closed form (fit_nbsvm) and frozen.
    if nbsvm is not None:
        ngram_ids = keras.layers.TextVectorization(
            standardize=None,
            split="whitespace",
            ngrams=2,
            output_mode="int",
            output_sequence_length=2 * config.sequence_length,
            vocabulary=nbsvm.ngrams,
            name="ngram_tokenize",
        )(standardized)  # (batch, 2 * sequence_length): unigrams, then bigrams
        table = keras.layers.Embedding(len(nbsvm.ngrams) + 2, num_classes, mask_zero=True,
                                       trainable=False, name="ngram_weights")
        table.build((None, None))
        table.embeddings.assign(np.concatenate([np.zeros((2, num_classes), np.float32), nbsvm.weights]))
        logits = MaskedSum(name="ngram_logits")(table(ngram_ids))  # (batch, classes)
        if len(nbsvm.character_ngrams):
            characters = CharacterNgramLogits(
                nbsvm.character_ngrams, num_classes, config.char_ngram_min, config.char_ngram_max,
                config.sequence_length, name="character_ngram_logits",
            )
            characters.build((None,))
            characters.set_weights_of_ngrams(nbsvm.character_weights)
            logits = keras.layers.Add(name="ngram_all_logits")([logits, characters(standardized)])
        bias = keras.layers.Dense(num_classes, kernel_initializer="identity", trainable=False, name="ngram_bias")
        bias.build((None, num_classes))
        bias.bias.assign(nbsvm.bias)
        members["ngram"] = keras.layers.Softmax(name="ngram")(bias(logits))
    if len(members) == 1:
        return {"probabilities": keras.layers.Identity(name="probabilities")(members["cnn"]), **members}
    combined = MemberCombination(name="probabilities")(list(members.values()))
    return {"probabilities": combined, **members}


BODIES = {
    "average": _average_body,
    "lstm": _lstm_body,
    "transformer": _transformer_body,
    "cnn": _cnn_body,
    "ensemble": _ensemble_body,
}


def build_classifier(config, vocabulary, matrix, num_classes, nbsvm=None):
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
    if config.model == "ensemble":
        nbsvm = nbsvm if "ngram" in config.ensemble_members else None
        probabilities = _ensemble_body(token_ids, matrix, num_classes, config, standardized, nbsvm)
    else:
        probabilities = BODIES[config.model](token_ids, matrix, num_classes, config)
    return keras.Model(text, probabilities, name=f"sentiment_{config.model}")


def compile_classifier(model, config):
    """Adam and cross-entropy; an ensemble gets one loss per neural member and
    its accuracy is measured on the combination ("probabilities")."""
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
    """Names of an ensemble's outputs (the combination first), or None for a one-output model."""
    if config.model != "ensemble":
        return None
    return ["probabilities"] + ensemble_members(config)


def ensemble_members(config):
    """The ensemble's members in model order; the CNN is always one."""
    return ["cnn"] + [name for name in ("mean", "gru", "ngram") if name in config.ensemble_members]


def combine_members(model, texts, labels, batch_size=500, regularization=1.0):
    """Fits the ensemble's `MemberCombination` on `(texts, labels)` (held-out
    data) and returns `{member: weight, "class_bias": [...]}`; a no-op for other models."""
    try:
        combination = model.get_layer("probabilities")
    except ValueError:
        return None
    if not isinstance(combination, MemberCombination):
        return None
    members = [name for name in model.output if name != "probabilities"]
    outputs = {name: [] for name in members}
    for start in range(0, len(texts), batch_size):
        batch = model(tf.constant(list(texts[start : start + batch_size]), dtype=tf.string), training=False)
        for name in members:
            outputs[name].append(np.asarray(batch[name]))
    weights, bias = fit_member_weights([np.concatenate(outputs[name]) for name in members], labels, regularization)
    combination.set_member_weights(weights, bias)
    return {**{name: float(w) for name, w in zip(members, weights)}, "class_bias": [float(b) for b in bias]}
