"""One Transformer encoder block: self-attention and a feed-forward network."""

import keras

from layers._transformer_block import TransformerBlock, head_size_of, merge_padding_and_attention_mask


@keras.saving.register_keras_serializable(package="seqmodels")
class TransformerEncoderBlock(TransformerBlock):
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

    def build(self, inputs_shape):
        head_size = head_size_of(inputs_shape[-1], self.num_heads)

        # Self-attention sub-layer.
        self.self_attention_layer = self._attention(head_size, "self_attention")
        self.self_attention_layer.build(inputs_shape)
        self.self_attention_layer_norm = self._layer_norm(inputs_shape, "self_attention_layer_norm")
        self.self_attention_dropout = self._dropout("self_attention_dropout")

        # Feed-forward sub-layer.
        self._build_feedforward(inputs_shape)

    def call(
        self, inputs, padding_mask=None, attention_mask=None, training=None, mask=None
    ):
        if padding_mask is None:
            padding_mask = mask
        # (batch, 1 or length, length)
        self_attention_mask = merge_padding_and_attention_mask(padding_mask, attention_mask)

        # Self-attention sub-layer.
        x = self._sublayer_inputs(inputs, self.self_attention_layer_norm)
        # No value: self-attention, projected in one product.
        x = self.self_attention_layer(
            query=x, attention_mask=self_attention_mask, training=training
        )
        x = self._add_and_norm(
            x, inputs, self.self_attention_dropout, self.self_attention_layer_norm, training
        )

        # Feed-forward sub-layer.
        return self._feedforward(x, training)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape
