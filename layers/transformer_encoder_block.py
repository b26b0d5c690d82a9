"""One Transformer encoder block: self-attention and a feed-forward network."""

import keras
from keras import ops

from layers._validation import fraction, positive_int, positive_number
from layers.multi_head_attention import MultiHeadAttention


def _check_block_arguments(num_heads, intermediate_dim, dropout, layer_norm_epsilon):
    """Validates the constructor arguments shared by the encoder and decoder."""
    positive_int("num_heads", num_heads)
    positive_int("intermediate_dim", intermediate_dim)
    fraction("dropout", dropout)
    positive_number("layer_norm_epsilon", layer_norm_epsilon)


def _head_size(hidden_dim, num_heads):
    """Splits the model width over the heads, as the paper does (d_k = d / h)."""
    if hidden_dim is None:
        raise ValueError("The feature size of the inputs must be known.")
    if hidden_dim % num_heads != 0:
        raise ValueError(
            f"The feature size of the inputs ({hidden_dim}) must be divisible "
            f"by num_heads ({num_heads})."
        )
    return hidden_dim // num_heads


def _merge_padding_and_attention_mask(padding_mask, attention_mask):
    """Combines a `(batch, S)` key padding mask and a `(batch, T, S)` mask.

    Returns a boolean mask broadcastable to `(batch, T, S)` (`True` = may
    attend), or `None` when neither is given.
    """
    mask = None
    if padding_mask is not None:
        # (batch, S) -> (batch, 1, S): every query sees the same keys.
        mask = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
    if attention_mask is not None:
        attention_mask = ops.cast(attention_mask, "bool")
        mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
    return mask


@keras.saving.register_keras_serializable(package="seqmodels")
class TransformerEncoderBlock(keras.layers.Layer):
    """A Transformer encoder block (Vaswani et al., 2017).

    With `norm_first=False` (post-norm, the paper's arrangement):

    ```
    h = LayerNorm(x + Dropout(MultiHeadAttention(x, x, x)))
    y = LayerNorm(h + Dropout(W_2 g(W_1 h + b_1) + b_2))
    ```

    With `norm_first=True` (pre-norm, as in GPT-2 and most recent models,
    which trains more stably when many blocks are stacked):

    ```
    h = x + Dropout(MultiHeadAttention(LN(x), LN(x), LN(x)))
    y = h + Dropout(W_2 g(W_1 LN(h) + b_1) + b_2)
    ```

    The width `d` of the inputs is kept; the attention has `num_heads` heads
    of size `d / num_heads` (which must be a whole number) and the same
    `dropout` on its weights.

    Args:
        num_heads: int, number of attention heads.
        intermediate_dim: int, width of the feed-forward network's hidden
            layer (`d_ff`, 2048 for `d = 512` in the paper).
        dropout: float in `[0, 1)`, dropout on the attention weights and on
            each sub-layer's output before the residual sum. Defaults to `0`.
        activation: activation `g` of the feed-forward hidden layer.
            Defaults to `"relu"`.
        norm_first: bool, pre-norm instead of post-norm. Defaults to `False`.
        layer_norm_epsilon: float, the epsilon of the layer normalisations.
            Defaults to `1e-5`.
        kernel_initializer: initializer of the dense and attention kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of their biases. Defaults to `"zeros"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, length, d)`.
        padding_mask: optional boolean `(batch, length)`, `False` at padded
            positions, which no position attends to. When absent, the Keras
            mask attached to `inputs` (for example by
            `TokenAndPositionEmbedding(mask_zero=True)`) is used.
        attention_mask: optional boolean `(batch, length, length)`, `True`
            where query `i` may attend to key `j`; combined with the padding
            mask by logical AND.
        training: bool, whether dropout is active.
        mask: the implicit Keras mask of `inputs`, filled in by Keras when
            `inputs` is the only tensor argument. With a tensor
            `attention_mask`, pass `padding_mask` explicitly.

    Returns:
        `(batch, length, d)`; the input mask is passed on.

    Example:

    >>> import numpy as np
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    >>> tuple(block(np.zeros((3, 5, 8), "float32")).shape)
    (3, 5, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section
        3.1; Xiong et al., "On Layer Normalization in the Transformer
        Architecture", ICML 2020 (pre-norm).
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        norm_first=False,
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_block_arguments(num_heads, intermediate_dim, dropout, layer_norm_epsilon)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.activation = keras.activations.get(activation)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _clone(self, initializer):
        # A fresh instance per sublayer, so seeded initializers differ.
        return initializer.__class__.from_config(initializer.get_config())

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        head_size = _head_size(hidden_dim, self.num_heads)

        # Self-attention sub-layer.
        self.self_attention_layer = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=head_size,
            dropout=self.dropout,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self.self_attention_layer.build(inputs_shape)
        self.self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="self_attention_layer_norm",
        )
        self.self_attention_layer_norm.build(inputs_shape)
        self.self_attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="self_attention_dropout"
        )

        # Feed-forward sub-layer.
        self.feedforward_intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward_intermediate_dense",
        )
        self.feedforward_intermediate_dense.build(inputs_shape)
        self.feedforward_output_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward_output_dense",
        )
        self.feedforward_output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        )
        self.feedforward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="feedforward_layer_norm",
        )
        self.feedforward_layer_norm.build(inputs_shape)
        self.feedforward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feedforward_dropout"
        )

    def call(
        self, inputs, padding_mask=None, attention_mask=None, training=None, mask=None
    ):
        if padding_mask is None:
            padding_mask = mask
        # (batch, 1 or length, length)
        self_attention_mask = _merge_padding_and_attention_mask(padding_mask, attention_mask)

        # Self-attention sub-layer.
        residual = inputs
        x = self.self_attention_layer_norm(inputs) if self.norm_first else inputs
        # No value: self-attention, projected in one product.
        x = self.self_attention_layer(
            query=x, attention_mask=self_attention_mask, training=training
        )
        x = self.self_attention_dropout(x, training=training)
        x = x + residual
        if not self.norm_first:
            x = self.self_attention_layer_norm(x)

        # Feed-forward sub-layer.
        residual = x
        if self.norm_first:
            x = self.feedforward_layer_norm(x)
        x = self.feedforward_intermediate_dense(x)
        x = self.feedforward_output_dense(x)
        x = self.feedforward_dropout(x, training=training)
        x = x + residual
        if not self.norm_first:
            x = self.feedforward_layer_norm(x)
        return x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
