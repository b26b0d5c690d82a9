"""A word n-gram language model with interpolated Kneser-Ney smoothing, and its in-graph scorer.

Smoothing: interpolated Kneser-Ney (Chen & Goodman, 1998, "An Empirical Study
of Smoothing Techniques for Language Modeling"), one absolute discount per
order. Chosen over Witten-Bell and stupid backoff because it gives a proper
distribution (the probabilities of every word and ``</s>`` after a history sum
to 1, which the shallow-fusion weight assumes when it trades log p_lm against
log p_ctc; stupid backoff's scores do not sum to 1), and because its
lower orders use continuation counts (in how many contexts a word appears),
which is what a backed-off estimate needs on a small, repetitive grammar text
where words like "the" and "of" occur often but in few contexts.

For an n-gram ``h w`` of order n (history h of n - 1 words):

    P_n(w | h) = max(a_n(h w) - D_n, 0) / a_n(h .) + gamma(h) * P_{n-1}(w | h')
    gamma(h)   = D_n * |{w : a_n(h w) > 0}| / a_n(h .)

where h' drops h's oldest word, ``a_N`` are raw counts at the highest order
and, for lower orders, the number of distinct words seen before the n-gram
(continuation counts; n-grams that start with ``<s>`` keep their raw counts,
as KenLM and SRILM do, since nothing can precede them). An unseen history
gives ``P_n(w | h) = P_{n-1}(w | h')``. The unigram level interpolates with
the uniform distribution over the vocabulary, which holds the training words,
``</s>`` and ``<unk>``: every word outside the training text is ``<unk>`` and
gets that floor, ``gamma_1 / |V|``. The discounts are ``D_n = n1 / (n1 + 2 n2)``
(n1, n2: the n-grams of count 1 and 2 at that order), clamped to [0.1, 0.9]
so that a tiny text keeps some mass for unseen events and some for seen ones.

The model is stored in backoff (ARPA) form: for every seen n-gram its
interpolated ``log P_n(w | h)``, and for every seen history ``log gamma(h)``;
then ``P_n(w | h) = gamma(h) * P_{n-1}(w | h')`` for an unseen ``h w``. Logs
are natural logs. Histories are the words since the start of the sentence,
padded on the left with ``<s>``.

``NgramScorer`` holds the same numbers in ``tf.lookup.StaticHashTable``s
keyed by int64 codes of word-id tuples, so a CTC beam search in a
``tf.function`` can score words, and a ``tf.Module`` or Keras model that owns
the scorer saves the tables in its SavedModel.
"""

import collections
import json
import math

import tensorflow as tf

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (BOS, EOS, UNK)
FORMAT = "seqmodels-ngram-language-model"


class NgramLanguageModel:
    """Word n-gram LM (interpolated Kneser-Ney) in backoff form.

    Build one with ``NgramLanguageModel.from_texts(texts, order=3)`` or
    ``NgramLanguageModel.load(path)``.

    Args:
        order: the n of the n-grams (1 = unigram).
        vocabulary: list of tokens; a token's index is its id. It starts with
            ``<s>``, ``</s>``, ``<unk>``.
        log_probs: list over orders 1..order of dicts mapping id tuples
            ``(h..., w)`` to ``log P(w | h)``.
        log_backoffs: list over orders 1..order - 1 of dicts mapping id tuples
            ``h`` to ``log gamma(h)``.
        discounts: the Kneser-Ney discount of each order (for the record).

    Example:

    >>> lm = NgramLanguageModel.from_texts(["two three", "one two three"], order=3)
    >>> lm.log_prob("three", ["two"]) > lm.log_prob("one", ["two"])
    True
    """

    def __init__(self, order, vocabulary, log_probs, log_backoffs, discounts=None):
        if not isinstance(order, int) or order < 1:
            raise ValueError(
                f"Invalid value for argument order. Expected a positive integer. "
                f"Received: order={order}"
            )
        if tuple(vocabulary[:3]) != SPECIAL_TOKENS:
            raise ValueError(
                f"The vocabulary must start with {SPECIAL_TOKENS}. Received: {vocabulary[:3]}"
            )
        if len(log_probs) != order or len(log_backoffs) != order - 1:
            raise ValueError(
                f"Expected {order} tables of log probabilities and {order - 1} of backoff "
                f"weights. Received: {len(log_probs)} and {len(log_backoffs)}"
            )
        self.order = order
        self.vocabulary = list(vocabulary)
        self.log_probs = log_probs
        self.log_backoffs = log_backoffs
        self.discounts = list(discounts or [])
        self.word_to_id = {word: i for i, word in enumerate(self.vocabulary)}
        self.bos_id, self.eos_id, self.unk_id = 0, 1, 2
        self._scorer = None

    # Training.
    @classmethod
    def from_texts(cls, texts, order=3):
        """Count the n-grams of ``texts`` (a sentence each, split on whitespace) and smooth them."""
        if not isinstance(order, int) or order < 1:
            raise ValueError(
                f"Invalid value for argument order. Expected a positive integer. "
                f"Received: order={order}"
            )
        sentences = [text.split() for text in texts]
        words = sorted({word for sentence in sentences for word in sentence} - set(SPECIAL_TOKENS))
        vocabulary = list(SPECIAL_TOKENS) + words
        word_to_id = {word: i for i, word in enumerate(vocabulary)}
        bos, eos = 0, 1

        # Raw counts of every order, of n-grams that end at a predicted token.
        raw = [collections.Counter() for _ in range(order + 1)]  # raw[n]: order n
        for sentence in sentences:
            ids = [bos] * (order - 1) + [word_to_id[w] for w in sentence] + [eos]
            for i in range(order - 1, len(ids)):
                for n in range(1, order + 1):
                    raw[n][tuple(ids[i - n + 1 : i + 1])] += 1

        # Kneser-Ney counts: raw at the highest order and for n-grams starting with <s>,
        # otherwise the number of distinct words seen before the n-gram.
        counts = [None] * (order + 1)
        counts[order] = raw[order]
        for n in range(order - 1, 0, -1):
            left_words = collections.Counter(ngram[1:] for ngram in raw[n + 1])
            counts[n] = collections.Counter(
                {
                    ngram: raw[n][ngram] if ngram[0] == bos else left_words[ngram]
                    for ngram in raw[n]
                }
            )

        discounts = [None] * (order + 1)
        for n in range(1, order + 1):
            n1 = sum(1 for c in counts[n].values() if c == 1)
            n2 = sum(1 for c in counts[n].values() if c == 2)
            discount = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
            discounts[n] = min(max(discount, 0.1), 0.9)

        # Interpolated probabilities, from the unigrams up.
        predictable = [i for i in range(len(vocabulary)) if i != bos]
        log_probs = [dict() for _ in range(order)]
        log_backoffs = [dict() for _ in range(order - 1)]
        unigram = {}
        totals = sum(counts[1].values())
        gamma = discounts[1] * len(counts[1]) / totals if totals else 1.0
        for w in predictable:
            count = counts[1].get((w,), 0)
            unigram[w] = max(count - discounts[1], 0) / totals if totals else 0.0
            unigram[w] += gamma / len(predictable)
            log_probs[0][(w,)] = math.log(unigram[w])
        lower = {(w,): p for w, p in unigram.items()}  # P_{n-1} of the seen n-grams
        for n in range(2, order + 1):
            history_totals = collections.Counter()
            history_types = collections.Counter()
            for ngram, count in counts[n].items():
                history_totals[ngram[:-1]] += count
                history_types[ngram[:-1]] += 1
            gammas = {
                history: discounts[n] * history_types[history] / total
                for history, total in history_totals.items()
            }
            current = {}
            for ngram, count in counts[n].items():
                history = ngram[:-1]
                backed_off = _backoff_prob(ngram[1:], lower, log_backoffs, log_probs)
                current[ngram] = (
                    max(count - discounts[n], 0) / history_totals[history]
                    + gammas[history] * backed_off
                )
                log_probs[n - 1][ngram] = math.log(current[ngram])
            for history, value in gammas.items():
                log_backoffs[n - 2][history] = math.log(value)
            lower = current
        return cls(order, vocabulary, log_probs, log_backoffs, discounts[1:])

    # Scoring.
    def words(self):
        """The vocabulary's words, without ``<s>``, ``</s>`` and ``<unk>``."""
        return self.vocabulary[len(SPECIAL_TOKENS):]

    def word_id(self, word):
        """The id of a word; ``<unk>`` outside the vocabulary (and for ``<s>``, never predicted)."""
        word_id = self.word_to_id.get(word, self.unk_id)
        return self.unk_id if word_id == self.bos_id else word_id

    def _history_ids(self, history):
        ids = [self.word_to_id.get(word, self.unk_id) for word in history]
        ids = [self.bos_id] * (self.order - 1) + ids
        return tuple(ids[len(ids) - (self.order - 1) :]) if self.order > 1 else ()

    def log_prob_ids(self, history_ids, word_id):
        """``log P(word | history)`` from ids; ``history_ids`` holds the last order - 1 ids."""
        return _log_backoff_prob(tuple(history_ids) + (word_id,), self.log_probs, self.log_backoffs)

    def log_prob(self, word, history=()):
        """Natural-log ``P(word | history)``; history: the previous words of the sentence."""
        word_id = self.eos_id if word == EOS else self.word_id(word)
        return self.log_prob_ids(self._history_ids(history), word_id)

    def score(self, sentence):
        """Natural-log probability of a sentence (a string or list of words), ``</s>`` included."""
        words = sentence.split() if isinstance(sentence, str) else list(sentence)
        total = 0.0
        for i, word in enumerate(words + [EOS]):
            total += self.log_prob(word, words[:i])
        return total

    # Saving.
    def to_json(self):
        return {
            "format": FORMAT,
            "smoothing": "interpolated Kneser-Ney",
            "log_base": "e",
            "order": self.order,
            "discounts": self.discounts,
            "vocabulary": self.vocabulary,
            "log_probs": [
                [list(ngram) + [value] for ngram, value in sorted(table.items())]
                for table in self.log_probs
            ],
            "log_backoffs": [
                [list(history) + [value] for history, value in sorted(table.items())]
                for table in self.log_backoffs
            ],
        }

    @classmethod
    def from_json(cls, config):
        if config.get("format") != FORMAT:
            raise ValueError(f"Not a {FORMAT} file (format: {config.get('format')!r}).")

        def table(rows):
            return {tuple(int(i) for i in row[:-1]): float(row[-1]) for row in rows}

        return cls(
            config["order"],
            config["vocabulary"],
            [table(rows) for rows in config["log_probs"]],
            [table(rows) for rows in config["log_backoffs"]],
            config.get("discounts"),
        )

    def save(self, path):
        with open(path, "w") as file:
            json.dump(self.to_json(), file)

    @classmethod
    def load(cls, path):
        with open(path) as file:
            return cls.from_json(json.load(file))

    def scorer(self):
        """The in-graph scorer (created once, outside any ``tf.function`` being traced)."""
        if self._scorer is None:
            with tf.init_scope():
                self._scorer = NgramScorer(self)
        return self._scorer


def _log_backoff_prob(ngram, log_probs, log_backoffs):
    """ARPA-style lookup: the longest stored n-gram, times the weights of the histories skipped."""
    total = 0.0
    while len(ngram) > 1:
        value = log_probs[len(ngram) - 1].get(ngram)
        if value is not None:
            return total + value
        total += log_backoffs[len(ngram) - 2].get(ngram[:-1], 0.0)
        ngram = ngram[1:]
    return total + log_probs[0][ngram]


def _backoff_prob(ngram, lower, log_backoffs, log_probs):
    """``P_{n-1}`` of an n-gram: stored if it was seen at that order, else backed off."""
    if ngram in lower:
        return lower[ngram]
    return math.exp(_log_backoff_prob(ngram, log_probs, log_backoffs))


class NgramScorer(tf.Module):
    """``NgramLanguageModel``'s numbers in lookup tables, for scoring inside a graph.

    Attach it to the module or model being saved (``module.lm = lm.scorer()``)
    so that its tables go into the SavedModel.

    Args:
        language_model: an ``NgramLanguageModel``.

    Methods:
        ``word_ids(words)``: tf.string -> int64 ids (``<unk>`` for unknown words).
        ``log_prob_ids(histories, word_ids)``: int64 ``(..., order - 1)``
        histories (oldest word first, ``<s>``-padded) and int64 ``(...)``
        words -> float32 ``(...)`` natural-log ``P(word | history)``.
    """

    def __init__(self, language_model, name=None):
        super().__init__(name=name)
        self.order = language_model.order
        self.bos_id = language_model.bos_id
        self.eos_id = language_model.eos_id
        self.unk_id = language_model.unk_id
        self.vocabulary_size = len(language_model.vocabulary)
        if self.vocabulary_size ** self.order >= 2**62:
            raise ValueError(
                f"A vocabulary of {self.vocabulary_size} words is too large for int64 "
                f"n-gram codes of order {self.order}."
            )
        words = language_model.vocabulary[3:]
        self.vocabulary_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(words or ["<none>"], tf.string),
                tf.constant(list(range(3, 3 + len(words))) or [self.unk_id], tf.int64),
            ),
            default_value=self.unk_id,
        )
        unigram = [0.0] * self.vocabulary_size
        for (w,), value in language_model.log_probs[0].items():
            unigram[w] = value
        self.unigram_log_probs = tf.Variable(unigram, trainable=False, dtype=tf.float32)
        self.log_prob_tables = [
            self._table(language_model.log_probs[n - 1], default=1.0)
            for n in range(2, self.order + 1)
        ]
        self.log_backoff_tables = [
            self._table(language_model.log_backoffs[n - 1], default=0.0)
            for n in range(1, self.order)
        ]

    def _code(self, ids):
        code = 0
        for i in ids:
            code = code * self.vocabulary_size + i
        return code

    def _table(self, entries, default):
        keys = [self._code(ngram) for ngram in entries] or [-1]
        values = list(entries.values()) or [default]
        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.int64), tf.constant(values, tf.float32)
            ),
            default_value=default,
        )

    def word_ids(self, words):
        return self.vocabulary_table.lookup(words)

    def log_prob_ids(self, histories, word_ids):
        histories = tf.cast(histories, tf.int64)
        word_ids = tf.cast(word_ids, tf.int64)
        log_prob = tf.gather(self.unigram_log_probs, word_ids)
        history_code = tf.zeros_like(word_ids)
        # Lengthen the history one word at a time (newest first), backing off where unseen.
        for n in range(2, self.order + 1):
            newest_missing = histories[..., self.order - n]
            history_code = history_code + newest_missing * self.vocabulary_size ** (n - 2)
            stored = self.log_prob_tables[n - 2].lookup(
                history_code * self.vocabulary_size + word_ids
            )
            backed_off = self.log_backoff_tables[n - 2].lookup(history_code) + log_prob
            # Stored log probabilities are <= 0; the table's default 1.0 marks a miss.
            log_prob = tf.where(stored > 0.5, backed_off, stored)
        return log_prob
