"""Sinusoidal positional encoding (Vaswani et al., 2017)."""

import keras
from keras import ops

from layers._validation import positive_number


@keras.saving.register_keras_serializable(package="seqmodels")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Fixed sine/cosine position signal, interleaved as in the paper.

    For a position `p` and a feature index `j` of a width-`d` sequence, with
    `i = floor(j / 2)`:

    ```
    PE[p, 2i]   = sin(p / max_wavelength^(2i / d))
    PE[p, 2i+1] = cos(p / max_wavelength^(2i / d))
    ```

    Even features carry the sines and odd features the cosines of the same
    frequency, so each (sin, cos) pair is a rotation by a fixed angle per
    step and `PE[p + k]` is a linear function of `PE[p]`. An odd `d` is
    allowed: the last feature is then a sine without its cosine partner.

    The layer has no weights. It returns only the encoding, with the shape of
    `inputs`; add it to the embeddings yourself (`x + layer(x)`), or use
    `TokenAndPositionEmbedding`, which does that.

    Args:
        max_wavelength: float, the base of the geometric progression of
            wavelengths, which run from `2 pi` to `2 pi * max_wavelength`.
            Defaults to `10000`, the paper's value.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of shape `(..., sequence_length, d)`; only its shape
            and dtype are used.
        start_index: int or scalar int tensor, the position of the first step
            of `inputs`. Incremental decoding passes the index of the step
            being generated, so one step at a time gets the same encoding as
            the whole sequence at once. Defaults to `0`.

    Returns:
        A tensor of the shape of `inputs`, in the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> embeddings = np.zeros((2, 5, 8), "float32")
    >>> encoding = SinusoidalPositionalEncoding()(embeddings)
    >>> tuple(encoding.shape)
    (2, 5, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        positive_number("max_wavelength", max_wavelength)
        self.max_wavelength = max_wavelength
        # The encoding does not depend on the mask, so a mask passes through.
        self.supports_masking = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        sequence_length, width = shape[-2], shape[-1]

        # Angles are computed in float32 even under mixed precision: float16
        # cannot resolve p / wavelength for p in the thousands.
        positions = ops.cast(ops.arange(sequence_length), "float32")
        positions = positions + ops.cast(start_index, "float32")
        features = ops.arange(width)
        # 2i for both members of the pair (2i, 2i+1).
        even_index = ops.cast((features // 2) * 2, "float32")
        # (width,)
        inverse_wavelengths = ops.power(
            ops.cast(self.max_wavelength, "float32"),
            -even_index / ops.cast(width, "float32"),
        )
        # (sequence_length, width)
        angles = ops.expand_dims(positions, -1) * ops.expand_dims(inverse_wavelengths, 0)
        is_even = ops.equal(features % 2, 0)
        encoding = ops.where(is_even, ops.sin(angles), ops.cos(angles))

        # (..., sequence_length, width)
        encoding = ops.broadcast_to(encoding, shape)
        return ops.cast(encoding, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
