"""A SavedModel that maps raw words to their vectors and nearest neighbours.

    loaded = tf.saved_model.load("runs/word_embeddings/saved_model")
    out = loaded.signatures["serving_default"](words=tf.constant(["king", "france"]))
    out["neighbours"]    # (2, 10) strings, most similar first ("" for unknown words)
    out["similarities"]  # (2, 10) cosine similarities
    out["vectors"]       # (2, d) the word vectors (zeros for unknown words)
"""

import numpy as np
import tensorflow as tf

NEIGHBOURS = 10


class NeighbourModule(tf.Module):
    """Word lookup, unit-normalised matrix and a top-k search, all inside the graph."""

    def __init__(self, vectors, k=NEIGHBOURS):
        super().__init__()
        self.k = int(min(k, len(vectors) - 1))
        self.words = tf.Variable(np.array(vectors.words, dtype=object), trainable=False, dtype=tf.string)
        self.matrix = tf.Variable(vectors.vectors, trainable=False)
        self.unit = tf.Variable(vectors.unit_vectors.astype(np.float32), trainable=False)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vectors.words), tf.range(len(vectors), dtype=tf.int64)
            ),
            default_value=-1,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
    def serve(self, words):
        rows = self.table.lookup(tf.strings.lower(words))  # (n,), -1 when unknown
        known = rows >= 0
        safe = tf.maximum(rows, 0)
        scores = tf.matmul(tf.gather(self.unit, safe), self.unit, transpose_b=True)  # (n, V)
        # The word itself is not its own neighbour.
        scores = scores - 10.0 * tf.one_hot(safe, tf.shape(self.unit)[0])
        similarities, neighbours = tf.math.top_k(scores, k=self.k)  # (n, k)
        neighbour_words = tf.gather(self.words, neighbours)
        known_2d = tf.broadcast_to(known[:, None], tf.shape(neighbour_words))
        return {
            "neighbours": tf.where(known_2d, neighbour_words, tf.zeros_like(neighbour_words)),
            "similarities": tf.where(known_2d, similarities, tf.zeros_like(similarities)),
            "vectors": tf.where(known[:, None], tf.gather(self.matrix, safe), 0.0),
        }


def export_neighbours(vectors, export_dir, k=NEIGHBOURS):
    module = NeighbourModule(vectors, k)
    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
    return export_dir


def query_neighbours(loaded, words, k=5):
    """Nearest neighbours from a loaded SavedModel: one list of words per input word."""
    out = loaded.signatures["serving_default"](words=tf.constant(list(words)))
    return [[w.decode() for w in row[:k] if w] for row in out["neighbours"].numpy()]
