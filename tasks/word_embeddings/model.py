"""Skip-gram, CBOW (word2vec with negative sampling) and GloVe as Keras models.

word2vec (Mikolov et al. 2013) ----------------------------------------------------------------------
Every training step sees one chunk of the corpus: T tokens that survived subsampling, and for each of
them its context mask (which of the 2*window neighbouring positions fall inside that token's randomly
shrunk window and its sentence) and `negative` noise words drawn from the unigram^0.75 distribution.
The tf.data pipeline in train.py builds those; the model only does arithmetic on whole chunks:

    E = V_in[tokens]                      (T, d)       input vectors of the chunk, gathered once
    P = V_out[tokens]                     (T, d)       output vectors of the same tokens
    N = V_out[noise]                      (T, k, d)    output vectors of each token's noise words

    skip-gram: pair (t, t + o):  -log σ(E[t] · P[t + o])  - Σ_j log σ(-E[t] · N[t, j])
    CBOW:      h[t] = mean of E[t + o] over t's window:  -log σ(h[t] · P[t]) - Σ_j log σ(-h[t] · N[t, j])

Neighbours come from shifting P (or E) by each offset o, not from gathering again, and the whole step
(gathers, loss, gradients, updates) is one XLA program, which fuses each shift, product and sum into
one loop: no (T, 2w, d) tensor is materialised. The gradients are written out by hand
(`_chunk_gradients`, checked against GradientTape in the tests): XLA runs them about twice as fast as
the taped version. One difference from word2vec buys most of the speed:
in skip-gram, the k noise words are drawn once per centre word and shared by its (up to 2w) context
pairs instead of being drawn per pair, so the noise term costs k dot products per token rather than
k per pair. Each pair's loss keeps its expectation (the noise words are still independent draws from
unigram^0.75); only the variance of the estimate changes, and the benchmark shows no loss of quality.

Updates are plain SGD on the rows that the chunk touched, with gensim's linearly decaying learning rate
alpha -> min_alpha over all training words: `tensor_scatter_nd_add` applies `-lr * gradient` to those
rows only, so a step costs O(T) and not O(vocabulary). Summing over the chunk reproduces the per-pair
updates that word2vec makes one after another, except for rows repeated many times in one chunk
(frequent noise words), whose summed update is capped (see `_update_rows`). CBOW keeps gensim's
convention that the hidden-layer error goes to every context word undivided.

Fixed costs matter as much as the arithmetic: gensim's CBOW trains the whole 453k-token sample for 5
epochs in about 2-3 s. So one Keras step is one block of `chunks_per_call` chunks: a `tf.while_loop`
inside a single XLA program walks the chunks, carrying the two tables as loop variables. Blocks are
padded to a fixed length, so XLA compiles one program for the whole run (about 1 CPU second, the
largest fixed cost left), and Keras dispatches a handful of steps per epoch instead of hundreds.

GloVe (Pennington et al. 2014) ----------------------------------------------------------------------
    J = Σ_ij f(X_ij) (w_i · w̃_j + b_i + b̃_j - log X_ij)^2,   f(x) = min(1, (x / x_max)^alpha)
over the non-zero cells of the distance-weighted co-occurrence matrix X, trained with per-row AdaGrad
as glove.c does (see `GloVe`). The word vectors are w + w̃.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="seqmodels")
class Word2Vec(keras.Model):
    """word2vec with negative sampling, trained on blocks of corpus chunks with sparse SGD.

    Args:
        vocabulary_size: number of words.
        vector_size: dimension d of the vectors.
        window: the largest context distance w; the data provide a (T, 2w) context mask.
        method: `"skipgram"` or `"cbow"`.
        learning_rate: starting SGD rate (gensim's `alpha`).
        min_learning_rate: final rate (gensim's `min_alpha`).
        total_words: corpus tokens times epochs; the rate reaches `min_learning_rate` after that many.
        repeat_cap: a row that occurs n times in one chunk moves by min(1, repeat_cap / n) times the
            sum of its n updates (see `_update_rows`).
        chunk_size: tokens per SGD update (T); a block of the data is walked in chunks of this size.
        jit_compile_step: compile the block loop with XLA (several times less CPU than plain TensorFlow ops).
        seed: seed of the input vectors' initialisation (uniform in ±1/d, as gensim).

    Call arguments:
        inputs: integer word ids, any shape.

    Returns:
        The input vectors of the ids, shape `inputs.shape + (d,)`: the trained word vectors.

    Training data (what `fit` expects from the dataset, see `train.word2vec_dataset`): dicts of W
    stacked blocks (W >= 1 blocks trained side by side), `ids` (W, B) int32 surviving token ids
    zero-padded to B, `count` (W,) the number of real ones, `context_mask` (W, B, 2w) uint8 (no
    context crosses a chunk boundary), `negatives` (W, B, k) int32 noise ids and `raw_words` (W,)
    int64, each block's token count before subsampling (drives the learning-rate schedule).
    """

    def __init__(
        self,
        vocabulary_size,
        vector_size=100,
        window=5,
        method="skipgram",
        learning_rate=0.025,
        min_learning_rate=1e-4,
        total_words=1,
        repeat_cap=100.0,
        chunk_size=4096,
        jit_compile_step=True,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if method not in ("skipgram", "cbow"):
            raise ValueError(f"Invalid value for argument method. Expected 'skipgram' or 'cbow'. Received: method={method!r}")
        for name, value in (("vocabulary_size", vocabulary_size), ("vector_size", vector_size), ("window", window)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Invalid value for argument {name}. Expected a positive integer. Received: {name}={value}")
        self.vocabulary_size = int(vocabulary_size)
        self.vector_size = int(vector_size)
        self.window = int(window)
        self.method = method
        self.learning_rate = float(learning_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.total_words = int(total_words)
        self.seed = int(seed)
        self.repeat_cap = float(repeat_cap)
        self.chunk_size = int(chunk_size)
        self.jit_compile_step = bool(jit_compile_step)
        self._compiled_block = tf.function(self._train_block, jit_compile=True, autograph=False)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.build(None)

    def build(self, input_shape=None):
        if self.built:
            return
        limit = 1.0 / self.vector_size
        self.input_vectors = self.add_weight(
            shape=(self.vocabulary_size, self.vector_size),
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            name="input_vectors",
        )
        # word2vec starts the output vectors at zero: the first updates then only move input vectors
        # towards each other's contexts, which is a better start than random outputs.
        self.output_vectors = self.add_weight(
            shape=(self.vocabulary_size, self.vector_size), initializer="zeros", name="output_vectors"
        )
        self.words_done = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False, name="words_done")
        self.built = True

    def call(self, inputs):
        return ops.take(self.input_vectors, ops.cast(inputs, "int32"), axis=0)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def current_learning_rate(self):
        return self._learning_rate_at(self.words_done)

    def _learning_rate_at(self, words_done):
        """gensim's schedule: alpha falls linearly to min_alpha over `total_words` corpus tokens."""
        progress = ops.minimum(words_done / float(max(self.total_words, 1)), 1.0)
        return self.learning_rate - (self.learning_rate - self.min_learning_rate) * progress

    def _chunk_loss(self, tokens_in, outputs_in, context_mask, noise_weight):
        """Summed loss of one chunk from its gathered rows; see the module docstring."""
        window = self.window
        tokens = tf.shape(tokens_in)[0]
        offsets = list(range(-window, 0)) + list(range(1, window + 1))
        predicted, noise = outputs_in[:, 0, :], outputs_in[:, 1:, :]  # (T, d), (T, k, d)
        pair_count = tf.reduce_sum(context_mask, axis=1)  # (T,) context words of each centre word
        if self.method == "skipgram":
            # Pairs by shifting, score[t, s] = E[t] · O[t + offset_s]: XLA fuses each shift, product
            # and sum into one loop, so no (T, 2w, d) tensor is ever materialised.
            padded = tf.pad(predicted, [[window, window], [0, 0]])  # (T + 2w, d)
            positive = tf.stack(
                [tf.reduce_sum(tokens_in * padded[window + o : window + o + tokens], axis=-1) for o in offsets], axis=1
            )  # (T, 2w)
            # The noise words of centre t serve all of its context pairs: one score each, counted
            # once per pair.
            negative = tf.reduce_sum(tokens_in[:, None, :] * noise, axis=-1)  # (T, k)
            positive_loss = tf.reduce_sum(tf.nn.softplus(-positive) * context_mask)
            noise_weight = noise_weight * pair_count[:, None]
            pairs = tf.reduce_sum(pair_count)
        else:
            padded = tf.pad(tokens_in, [[window, window], [0, 0]])  # (T + 2w, d)
            summed = tf.add_n(
                [padded[window + o : window + o + tokens] * context_mask[:, i : i + 1] for i, o in enumerate(offsets)]
            )  # (T, d)
            count = pair_count[:, None]
            # Forward: the mean of the context vectors; backward: the error goes to each context word
            # undivided, as in gensim (and word2vec.c).
            hidden = summed + tf.stop_gradient(summed / tf.maximum(count, 1.0) - summed)  # (T, d)
            has_context = tf.cast(pair_count > 0, hidden.dtype)  # (T,)
            positive = tf.reduce_sum(hidden * predicted, axis=-1)  # (T,)
            negative = tf.reduce_sum(hidden[:, None, :] * noise, axis=-1)  # (T, k)
            positive_loss = tf.reduce_sum(tf.nn.softplus(-positive) * has_context)
            noise_weight = noise_weight * has_context[:, None]
            pairs = tf.reduce_sum(has_context)
        # -log σ(x) = softplus(-x) for the observed word; -log σ(-x) = softplus(x) for noise words.
        loss = positive_loss + tf.reduce_sum(tf.nn.softplus(negative) * noise_weight)
        return loss, pairs

    def _chunk_gradients(self, tokens_in, outputs_in, context_mask, noise_weight):
        """`_chunk_loss` with its gradients with respect to both gathered row sets, written out by hand.

        The same arithmetic as GradientTape's (a test checks them against each other), as one forward
        and one backward pass over the 2w offsets, which XLA runs about twice as fast as the taped
        version; all scores of a token (observed and noise words) go through a single softplus and
        a single sigmoid, the most expensive functions to compile.

        Returns (loss, pairs, input_gradient (T, d), output_gradient (T, 1+k, d)).
        """
        window = self.window
        tokens = tf.shape(tokens_in)[0]
        offsets = list(range(-window, 0)) + list(range(1, window + 1))
        negative_count = noise_weight.shape[1]
        predicted, noise = outputs_in[:, 0, :], outputs_in[:, 1:, :]  # (T, d), (T, k, d)
        pair_count = tf.reduce_sum(context_mask, axis=1)  # (T,)
        pad = [[window, window], [0, 0]]

        def shifted(padded, offset):
            # Row t of the result is row t + offset of the unpadded tensor (zero outside it).
            return padded[window + offset : window + offset + tokens]

        def score_errors(scores, weights, observed):
            # Loss -log σ(x) = softplus(-x) for observed words, -log σ(-x) = softplus(x) for noise words,
            # through one softplus on z = ±x; its derivative with respect to x is ±σ(z).
            sign = tf.concat([-tf.ones([observed]), tf.ones([negative_count])], axis=0)  # (observed + k,)
            z = scores * sign
            return tf.reduce_sum(tf.nn.softplus(z) * weights), tf.sigmoid(z) * sign * weights

        if self.method == "skipgram":
            padded_predicted = tf.pad(predicted, pad)  # (T + 2w, d)
            positive = tf.stack(
                [tf.reduce_sum(tokens_in * shifted(padded_predicted, o), axis=-1) for o in offsets], axis=1
            )  # (T, 2w): score of pair (t, t + o)
            negative = tf.reduce_sum(tokens_in[:, None, :] * noise, axis=-1)  # (T, k)
            # The noise words of centre t serve all of its context pairs: counted once per pair.
            weights = tf.concat([context_mask, noise_weight * pair_count[:, None]], axis=1)  # (T, 2w + k)
            loss, error = score_errors(tf.concat([positive, negative], axis=1), weights, 2 * window)
            positive_error, negative_error = error[:, : 2 * window], error[:, 2 * window :]
            # Centre t gets each pair's error times the context word's output vector; the output
            # vector of t gets the error of pair (t - o, t) times the input vector of t - o.
            input_gradient = tf.add_n(
                [positive_error[:, i : i + 1] * shifted(padded_predicted, o) for i, o in enumerate(offsets)]
                + [tf.reduce_sum(negative_error[:, :, None] * noise, axis=1)]
            )  # (T, d)
            padded_inputs, padded_error = tf.pad(tokens_in, pad), tf.pad(positive_error, pad)
            predicted_gradient = tf.add_n(
                [shifted(padded_error, -o)[:, i : i + 1] * shifted(padded_inputs, -o) for i, o in enumerate(offsets)]
            )  # (T, d)
            output_gradient = tf.concat(
                [predicted_gradient[:, None, :], negative_error[:, :, None] * tokens_in[:, None, :]], axis=1
            )  # (T, 1+k, d)
            pairs = tf.reduce_sum(pair_count)
        else:
            padded_inputs, padded_mask = tf.pad(tokens_in, pad), tf.pad(context_mask, pad)
            summed = tf.add_n([shifted(padded_inputs, o) * context_mask[:, i : i + 1] for i, o in enumerate(offsets)])  # (T, d)
            hidden = summed / tf.maximum(pair_count, 1.0)[:, None]  # (T, d)
            has_context = tf.cast(pair_count > 0, hidden.dtype)  # (T,)
            scores = tf.reduce_sum(hidden[:, None, :] * outputs_in, axis=-1)  # (T, 1+k)
            weights = tf.concat([has_context[:, None], noise_weight * has_context[:, None]], axis=1)  # (T, 1+k)
            loss, error = score_errors(scores, weights, 1)
            # gensim's convention: the hidden layer's error goes to every context word undivided, so
            # token t gets the error of each centre t - o whose window holds it.
            hidden_error = tf.reduce_sum(error[:, :, None] * outputs_in, axis=1)  # (T, d)
            padded_error = tf.pad(hidden_error, pad)
            input_gradient = tf.add_n(
                [shifted(padded_error, -o) * shifted(padded_mask, -o)[:, i : i + 1] for i, o in enumerate(offsets)]
            )  # (T, d)
            output_gradient = error[:, :, None] * hidden[:, None, :]  # (T, 1+k, d)
            pairs = tf.reduce_sum(has_context)
        return loss, pairs, input_gradient, output_gradient

    def _update_rows(self, table, ids, weights, gradients, learning_rate):
        """SGD on the rows `ids` (repeats allowed): row r moves by -lr * min(1, c / n_r) * Σ its gradients.

        n_r is how many pair updates row r takes part in during the step (the sum of `weights` over
        its occurrences). word2vec applies the n_r updates one after
        another, each seeing the previous ones, which keeps a row that recurs hundreds of times in a
        chunk (a frequent noise word) stable; their plain sum would overshoot and diverge. Capping the
        sum at `repeat_cap` = c pair updates' worth (the mean gradient times c) gives the same update as
        word2vec for rows that occur up to c times and a stable one beyond.

        `table` is a (V, d) tensor (a loop variable of `_train_block`); returns the updated tensor.
        """
        hits = tf.math.unsorted_segment_sum(weights, ids, self.vocabulary_size)  # (V,)
        scale = tf.minimum(1.0, self.repeat_cap / tf.maximum(tf.gather(hits, ids), 1.0))  # (N,)
        return tf.tensor_scatter_nd_add(table, ids[:, None], gradients * (-learning_rate * scale)[:, None])

    def _chunk_step(self, input_table, output_table, tokens, negatives, context_mask, valid, learning_rate):
        """One chunk: gather rows, loss and its gradients with respect to the rows, sparse updates.

        Returns the updated (input_table, output_table), the chunk's summed loss and its pair count.
        """
        # word2vec skips a noise draw that equals the word being predicted; padding rows weigh 0.
        noise_weight = tf.cast(tf.not_equal(negatives, tokens[:, None]), valid.dtype) * valid[:, None]  # (T, k)
        output_ids = tf.concat([tokens[:, None], negatives], axis=1)  # (T, 1+k)
        tokens_in = tf.gather(input_table, tokens)  # (T, d)
        outputs_in = tf.gather(output_table, output_ids)  # (T, 1+k, d)
        loss, pairs, input_gradient, output_gradient = self._chunk_gradients(tokens_in, outputs_in, context_mask, noise_weight)
        # Each occurrence counts for the number of pair updates it takes part in.
        pair_count = tf.reduce_sum(context_mask, axis=1)  # (T,)
        input_table = self._update_rows(input_table, tokens, pair_count, input_gradient, learning_rate)
        if self.method == "skipgram":
            output_weights = tf.concat([pair_count[:, None], noise_weight * pair_count[:, None]], axis=1)  # (T, 1+k)
        else:
            has_context = tf.cast(pair_count > 0, pair_count.dtype)[:, None]
            output_weights = tf.concat([has_context, noise_weight * has_context], axis=1)  # (T, 1+k)
        output_table = self._update_rows(
            output_table,
            tf.reshape(output_ids, [-1]),
            tf.reshape(output_weights, [-1]),
            tf.reshape(output_gradient, [-1, self.vector_size]),
            learning_rate,
        )
        return input_table, output_table, loss, pairs

    def _train_block(self, input_table, output_table, tokens, negatives, context_mask, count, words_before, raw_words):
        """All chunks of one block, one after another, in one call (one XLA program when compiled).

        A pure function of the two (V, d) tables: it returns them updated, with the block's summed
        loss and pair count, and touches no variable, so that `train_step` can run several blocks at
        once on different cores. The block holds `count` surviving tokens padded to a fixed length,
        so every block (the last one of the corpus included) has the same shapes and XLA compiles a
        single program. A `tf.while_loop` walks the ceil(count / T) chunks of `chunk_size` tokens,
        carrying both tables as loop variables that each chunk updates in place; the learning rate
        falls linearly over the block's `raw_words` as over the whole run.
        """
        chunk = self.chunk_size
        window = 2 * self.window
        count = tf.cast(count, tf.int32)
        chunks = (count + chunk - 1) // chunk
        count_float = tf.maximum(tf.cast(count, tf.float32), 1.0)
        dtype = input_table.dtype

        def body(index, input_table, output_table, loss, pairs):
            start = index * chunk
            chunk_tokens = tf.slice(tokens, [start], [chunk])  # (T,)
            chunk_negatives = tf.slice(negatives, [start, 0], [chunk, -1])  # (T, k)
            chunk_mask = tf.cast(tf.slice(context_mask, [start, 0], [chunk, window]), dtype)  # (T, 2w)
            valid = tf.cast(start + tf.range(chunk) < count, dtype)  # (T,)
            done = words_before + raw_words * tf.cast(start, tf.float32) / count_float
            learning_rate = self._learning_rate_at(done)
            input_table, output_table, chunk_loss, chunk_pairs = self._chunk_step(
                input_table, output_table, chunk_tokens, chunk_negatives, chunk_mask, valid, learning_rate
            )
            return index + 1, input_table, output_table, loss + chunk_loss, pairs + chunk_pairs

        zero = tf.constant(0.0, dtype)
        _, input_table, output_table, loss, pairs = tf.while_loop(
            lambda index, *_: index < chunks, body, [tf.constant(0), input_table, output_table, zero, zero]
        )
        return input_table, output_table, loss, pairs

    def train_step(self, data):
        """One element: W blocks (W, B), trained in parallel from the same tables, then merged.

        Like gensim's worker threads, the W blocks train at the same time, each on its own core
        (TensorFlow runs the W independent XLA calls concurrently). Each starts from the current
        tables and does not see the others' updates until the end of the element, when all W sets
        of changes are added to the tables (for W = 1 this is plain sequential SGD).
        """
        counts = tf.cast(data["count"], tf.int32)  # (W,)
        raw_words = tf.cast(data["raw_words"], tf.float32)  # (W,)
        workers = data["ids"].shape[0]
        words_before = tf.convert_to_tensor(self.words_done.value)
        learning_rate = self._learning_rate_at(words_before)
        # The W blocks cover the element's raw words side by side, so each one's schedule advances
        # over all of them.
        element_words = tf.reduce_sum(raw_words)
        input_table = tf.convert_to_tensor(self.input_vectors.value)
        output_table = tf.convert_to_tensor(self.output_vectors.value)
        train_block = self._compiled_block if self.jit_compile_step else self._train_block
        results = [
            train_block(
                input_table,
                output_table,
                tf.cast(data["ids"][w], tf.int32),
                tf.cast(data["negatives"][w], tf.int32),
                data["context_mask"][w],
                counts[w],
                words_before,
                element_words,
            )
            for w in range(workers)
        ]
        new_input = input_table + tf.add_n([r[0] - input_table for r in results])
        new_output = output_table + tf.add_n([r[1] - output_table for r in results])
        self.input_vectors.assign(new_input)
        self.output_vectors.assign(new_output)
        loss, pairs = tf.add_n([r[2] for r in results]), tf.add_n([r[3] for r in results])
        self.words_done.assign_add(element_words)
        self.loss_tracker.update_state(loss / tf.maximum(pairs, 1.0), sample_weight=pairs)
        return {"loss": self.loss_tracker.result(), "learning_rate": learning_rate}

    def test_step(self, data):
        return {"loss": self.loss_tracker.result()}

    def word_vectors(self):
        """The trained vectors, (vocabulary_size, d) NumPy (gensim's `wv.vectors`)."""
        return np.asarray(ops.convert_to_numpy(self.input_vectors))

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            vector_size=self.vector_size,
            window=self.window,
            method=self.method,
            learning_rate=self.learning_rate,
            min_learning_rate=self.min_learning_rate,
            total_words=self.total_words,
            repeat_cap=self.repeat_cap,
            chunk_size=self.chunk_size,
            jit_compile_step=self.jit_compile_step,
            seed=self.seed,
        )
        return config


def glove_weighting(counts, x_max=100.0, alpha=0.75):
    """f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less, frequent ones are capped."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.minimum(1.0, (counts / x_max) ** alpha).astype(np.float32)


@keras.saving.register_keras_serializable(package="seqmodels")
class GloVeScore(keras.layers.Layer):
    """w_i · w̃_j + b_i + b̃_j for pairs of word ids: the GloVe model's prediction of log X_ij.

    Args:
        vocabulary_size: number of words.
        vector_size: dimension of w and w̃.
        seed: initialisation seed (uniform in ±0.5/d for vectors and biases, as glove.c).

    Call arguments:
        inputs: `(word_ids, context_ids)`, two int tensors of the same shape.

    Returns:
        float tensor of that shape.
    """

    def __init__(self, vocabulary_size, vector_size=100, seed=0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("vector_size", vector_size)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Invalid value for argument {name}. Expected a positive integer. Received: {name}={value}")
        self.vocabulary_size = int(vocabulary_size)
        self.vector_size = int(vector_size)
        self.seed = int(seed)

    def build(self, input_shape=None):
        limit = 0.5 / self.vector_size
        init = lambda offset: keras.initializers.RandomUniform(-limit, limit, seed=self.seed + offset)  # noqa: E731
        shape = (self.vocabulary_size, self.vector_size)
        self.word_vectors = self.add_weight(shape=shape, initializer=init(0), name="word_vectors")
        self.context_vectors = self.add_weight(shape=shape, initializer=init(1), name="context_vectors")
        self.word_biases = self.add_weight(shape=(self.vocabulary_size,), initializer=init(2), name="word_biases")
        self.context_biases = self.add_weight(shape=(self.vocabulary_size,), initializer=init(3), name="context_biases")

    def call(self, inputs):
        word_ids, context_ids = (ops.cast(x, "int32") for x in inputs)
        w = ops.take(self.word_vectors, word_ids, axis=0)  # (..., d)
        w_tilde = ops.take(self.context_vectors, context_ids, axis=0)  # (..., d)
        return (
            ops.sum(w * w_tilde, axis=-1)
            + ops.take(self.word_biases, word_ids, axis=0)
            + ops.take(self.context_biases, context_ids, axis=0)
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, vector_size=self.vector_size, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class GloVe(keras.Model):
    """GloVe trained as glove.c trains it: AdaGrad on the rows of the cells, a chunk of cells at a time.

    For each cell (i, j): diff = w_i · w̃_j + b_i + b̃_j - log X_ij, loss ½ f(X_ij) diff², and every
    row it touches moves by -lr * g / sqrt(G) with its own squared-gradient sum G (started at 1,
    updated after the move), as in glove.c. A Keras optimizer would instead apply one dense AdaGrad
    step per batch, moving each coordinate by at most ~lr per batch of tens of thousands of cells;
    glove.c moves a word's row once per cell it appears in, and on a 450k-token corpus the batched
    version does not get past the bias terms (WordSim353 ~0.0 after 10 epochs). Here one compiled
    `tf.while_loop` walks the block's cells in chunks of `chunk_size`; cells of one chunk see the
    same rows and their updates to a repeated row add up.

    Args:
        vocabulary_size: number of words.
        vector_size: dimension of w and w̃.
        learning_rate: AdaGrad's rate (glove.c's eta, 0.05).
        chunk_size: cells per update.
        seed: initialisation seed (uniform in ±0.5/d for vectors and biases, as glove.c).

    Call arguments:
        inputs: dict with `word` and `context` int ids of the same shape.

    Returns:
        The predicted log co-occurrence w_i · w̃_j + b_i + b̃_j.

    Training data: `(inputs, log X, f(X))` batches of cells; cells of weight 0 (padding) change nothing.
    """

    def __init__(self, vocabulary_size, vector_size=100, learning_rate=0.05, chunk_size=1024, seed=0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("vector_size", vector_size), ("chunk_size", chunk_size)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Invalid value for argument {name}. Expected a positive integer. Received: {name}={value}")
        self.vocabulary_size = int(vocabulary_size)
        self.vector_size = int(vector_size)
        self.learning_rate = float(learning_rate)
        self.chunk_size = int(chunk_size)
        self.seed = int(seed)
        self.score = GloVeScore(self.vocabulary_size, self.vector_size, seed=self.seed, name="glove")
        self.score.build(None)
        # glove.c starts every squared-gradient sum at 1.
        self.squared_gradients = [
            self.add_weight(shape=weight.shape, initializer="ones", trainable=False, name=f"{weight.name}_squared_gradients")
            for weight in self._tables()
        ]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._compiled_block = tf.function(self._train_block, jit_compile=True, autograph=False)
        self.build(None)

    def build(self, input_shape=None):
        # Every weight is created in __init__ (the tables have fixed shapes).
        self.built = True

    def _tables(self):
        return [self.score.word_vectors, self.score.context_vectors, self.score.word_biases, self.score.context_biases]

    def call(self, inputs):
        return self.score([inputs["word"], inputs["context"]])

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _train_block(self, tables, sums, words, contexts, targets, weights):
        """All chunks of one block of cells; pure function of the 4 tables and their 4 squared-gradient sums."""
        chunk = self.chunk_size
        chunks = words.shape[0] // chunk

        def body(index, tables, sums, loss):
            start = index * chunk
            i, j = tf.slice(words, [start], [chunk]), tf.slice(contexts, [start], [chunk])  # (C,)
            target, weight = tf.slice(targets, [start], [chunk]), tf.slice(weights, [start], [chunk])  # (C,)
            w, w_tilde = tf.gather(tables[0], i), tf.gather(tables[1], j)  # (C, d)
            diff = tf.reduce_sum(w * w_tilde, axis=-1) + tf.gather(tables[2], i) + tf.gather(tables[3], j) - target  # (C,)
            weighted = weight * diff  # (C,) f(X) * diff, the gradient of ½ f diff² with respect to the score
            gradients = [weighted[:, None] * w_tilde, weighted[:, None] * w, weighted, weighted]
            new_tables, new_sums = [], []
            for table, squared, ids, gradient in zip(tables, sums, [i, j, i, j], gradients):
                # Move by the sum of the rows' steps, then add the squared gradients (glove.c's order).
                step = -self.learning_rate * gradient / tf.sqrt(tf.gather(squared, ids))
                new_tables.append(tf.tensor_scatter_nd_add(table, ids[:, None], step))
                new_sums.append(tf.tensor_scatter_nd_add(squared, ids[:, None], gradient * gradient))
            return index + 1, new_tables, new_sums, loss + 0.5 * tf.reduce_sum(weighted * diff)

        _, tables, sums, loss = tf.while_loop(
            lambda index, *_: index < chunks, body, [tf.constant(0), tables, sums, tf.constant(0.0)]
        )
        return tables, sums, loss

    def train_step(self, data):
        inputs, targets, weights = data
        words, contexts = tf.cast(inputs["word"], tf.int32), tf.cast(inputs["context"], tf.int32)
        targets, weights = tf.cast(targets, tf.float32), tf.cast(weights, tf.float32)
        # Whole chunks: pad the block with weight-0 cells (static shapes, one compiled program).
        padding = -words.shape[0] % self.chunk_size
        words, contexts, targets, weights = (tf.pad(x, [[0, padding]]) for x in (words, contexts, targets, weights))
        tables = [tf.convert_to_tensor(v.value) for v in self._tables()]
        sums = [tf.convert_to_tensor(v.value) for v in self.squared_gradients]
        tables, sums, loss = self._compiled_block(tables, sums, words, contexts, targets, weights)
        for variable, value in zip(self._tables() + self.squared_gradients, tables + sums):
            variable.assign(value)
        cells = tf.reduce_sum(tf.cast(weights > 0, tf.float32))
        self.loss_tracker.update_state(loss / tf.maximum(cells, 1.0), sample_weight=cells)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            vector_size=self.vector_size,
            learning_rate=self.learning_rate,
            chunk_size=self.chunk_size,
            seed=self.seed,
        )
        return config


def build_glove_model(vocabulary_size, vector_size=100, learning_rate=0.05, chunk_size=1024, seed=0):
    """GloVe model trained by its own per-row AdaGrad (see `GloVe`); compile only sets up fit's machinery."""
    model = GloVe(vocabulary_size, vector_size, learning_rate=learning_rate, chunk_size=chunk_size, seed=seed, name="glove_model")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), jit_compile=False)
    return model


def glove_word_vectors(model):
    """w + w̃, the vectors the GloVe paper evaluates."""
    layer = model.get_layer("glove")
    return np.asarray(ops.convert_to_numpy(layer.word_vectors) + ops.convert_to_numpy(layer.context_vectors))
