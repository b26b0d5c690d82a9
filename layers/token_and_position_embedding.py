"""Token embedding plus a positional signal, the input stage of a Transformer."""

import math

import keras
from keras import ops

from layers._validation import one_of, positive_int, positive_number
from layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding

_POSITION_MODES = ("sinusoidal", "learned")


@keras.saving.register_keras_serializable(package="seqmodels")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and adds a position signal.

    For token ids `x<1>, ..., x<T>` the output at step `t` is

    ```
    e<t> = E[x<t>] * s + P[start_index + t - 1]
    ```

    where `E` is a `(vocabulary_size, embedding_dim)` embedding matrix, `s` is
    `sqrt(embedding_dim)` when `scale_embeddings=True` (the paper's section
    3.4) and `1` otherwise, and `P` is either the fixed sinusoidal encoding
    of `SinusoidalPositionalEncoding` (`position="sinusoidal"`) or a trained
    `(sequence_length, embedding_dim)` matrix (`position="learned"`, as in
    BERT and GPT).

    With `mask_zero=True`, id `0` is padding: the layer emits the mask
    `x != 0`, which Keras hands on to the following layers (the Transformer
    blocks read it as their padding mask).

    Args:
        vocabulary_size: int, number of token ids, padding included.
        sequence_length: int, the longest sequence (including `start_index`
            offsets) the layer accepts; the size of the learned position table.
        embedding_dim: int, the width of the embeddings.
        mask_zero: bool, whether id `0` is padding and a mask is emitted.
            Defaults to `True`.
        position: `"sinusoidal"` (default) or `"learned"`.
        max_wavelength: float, the base of the sinusoidal wavelengths.
            Defaults to `10000`. Unused for learned positions.
        scale_embeddings: bool, multiply the token embeddings by
            `sqrt(embedding_dim)` before adding positions. Defaults to `False`.
        embeddings_initializer: initializer of the token embeddings and of
            the learned position table. Defaults to `"uniform"` (Keras's
            `Embedding` default).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int tensor of token ids, shape `(batch, length)`.
        start_index: int or scalar int tensor, the position of the first id in
            `inputs`; incremental decoding passes the index of the step being
            generated. Defaults to `0`.

    Returns:
        A float tensor of shape `(batch, length, embedding_dim)`, with the
        mask `inputs != 0` attached when `mask_zero=True`.

    Example:

    >>> import numpy as np
    >>> layer = TokenAndPositionEmbedding(100, 16, 8)
    >>> outputs = layer(np.array([[5, 7, 0, 0]]))
    >>> tuple(outputs.shape)
    (1, 4, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, sections
        3.4 and 3.5.
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        mask_zero=True,
        position="sinusoidal",
        max_wavelength=10000,
        scale_embeddings=False,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        positive_int("vocabulary_size", vocabulary_size)
        positive_int("sequence_length", sequence_length)
        positive_int("embedding_dim", embedding_dim)
        one_of("position", position, _POSITION_MODES)
        positive_number("max_wavelength", max_wavelength)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.mask_zero = bool(mask_zero)
        self.position = position
        self.max_wavelength = max_wavelength
        self.scale_embeddings = bool(scale_embeddings)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        length = inputs_shape[-1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"Input sequences have length {length}, longer than "
                f"sequence_length={self.sequence_length}."
            )
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build(inputs_shape)
        if self.position == "learned":
            self.position_embeddings = self.add_weight(
                name="position_embeddings",
                shape=(self.sequence_length, self.embedding_dim),
                initializer=self.embeddings_initializer,
            )
        else:
            self.position_encoding = SinusoidalPositionalEncoding(
                max_wavelength=self.max_wavelength,
                dtype=self.dtype_policy,
                name="position_encoding",
            )
            self.position_encoding.build(tuple(inputs_shape) + (self.embedding_dim,))

    def call(self, inputs, start_index=0):
        # (batch, length, embedding_dim)
        embeddings = self.token_embedding(inputs)
        if self.scale_embeddings:
            embeddings = embeddings * ops.cast(
                math.sqrt(self.embedding_dim), embeddings.dtype
            )
        if self.position == "learned":
            length = ops.shape(inputs)[-1]
            # Rows start_index .. start_index + length - 1 of the table.
            # (length, embedding_dim)
            positions = ops.slice(
                ops.convert_to_tensor(self.position_embeddings),
                (start_index, 0),
                (length, self.embedding_dim),
            )
            positions = ops.cast(positions, embeddings.dtype)
        else:
            positions = self.position_encoding(embeddings, start_index=start_index)
        return embeddings + positions

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "mask_zero": self.mask_zero,
                "position": self.position,
                "max_wavelength": self.max_wavelength,
                "scale_embeddings": self.scale_embeddings,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
