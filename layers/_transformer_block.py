"""What the Transformer encoder and decoder blocks share.

`TransformerBlock` holds the arguments both blocks take, builds their
sub-layers the same way (attention, layer normalisation, dropout and the
feed-forward network, each with its own copy of the initializers) and runs
the residual wrapping `z + F(LN(z))` (pre-norm) or `LN(z + F(z))` (post-norm)
around each sub-layer; `TransformerEncoderBlock` and `TransformerDecoderBlock`
add their attention sub-layers and masks.
"""

import keras
from keras import ops

from layers._validation import fraction, positive_int, positive_number
from layers.multi_head_attention import MultiHeadAttention


def head_size_of(hidden_dim, num_heads):
    """Splits the model width over the heads, as the paper does (d_k = d / h)."""
    if hidden_dim is None:
        raise ValueError("The feature size of the inputs must be known.")
    if hidden_dim % num_heads != 0:
        raise ValueError(
            f"The feature size of the inputs ({hidden_dim}) must be divisible "
            f"by num_heads ({num_heads})."
        )
    return hidden_dim // num_heads


def merge_padding_and_attention_mask(padding_mask, attention_mask):
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


class TransformerBlock(keras.layers.Layer):
    """Base class of the blocks; see `TransformerEncoderBlock` for the arguments."""

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
        positive_int("num_heads", num_heads)
        positive_int("intermediate_dim", intermediate_dim)
        fraction("dropout", dropout)
        positive_number("layer_norm_epsilon", layer_norm_epsilon)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.activation = keras.activations.get(activation)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    # Sub-layers -------------------------------------------------------------

    def _clone(self, initializer):
        # A fresh instance per sublayer, so seeded initializers differ.
        return initializer.__class__.from_config(initializer.get_config())

    def _attention(self, head_size, name):
        return MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=head_size,
            dropout=self.dropout,
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def _layer_norm(self, inputs_shape, name):
        layer = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        layer.build(inputs_shape)
        return layer

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _build_feedforward(self, inputs_shape):
        """The position-wise network `W_2 g(W_1 z + b_1) + b_2`, its layer norm and dropout."""
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
            inputs_shape[-1],
            kernel_initializer=self._clone(self.kernel_initializer),
            bias_initializer=self._clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward_output_dense",
        )
        self.feedforward_output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.feedforward_layer_norm = self._layer_norm(inputs_shape, "feedforward_layer_norm")
        self.feedforward_dropout = self._dropout("feedforward_dropout")

    # The residual wrapping ----------------------------------------------------

    def _sublayer_inputs(self, x, layer_norm):
        """What a sub-layer reads: `LN(z)` in pre-norm, `z` itself in post-norm."""
        return layer_norm(x) if self.norm_first else x

    def _add_and_norm(self, outputs, residual, dropout, layer_norm, training):
        """`z + Dropout(F)` in pre-norm, `LN(z + Dropout(F))` in post-norm."""
        x = dropout(outputs, training=training) + residual
        return x if self.norm_first else layer_norm(x)

    def _feedforward(self, x, training):
        """The feed-forward sub-layer with its residual wrapping."""
        outputs = self._sublayer_inputs(x, self.feedforward_layer_norm)
        outputs = self.feedforward_output_dense(self.feedforward_intermediate_dense(outputs))
        return self._add_and_norm(
            outputs, x, self.feedforward_dropout, self.feedforward_layer_norm, training
        )

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
