"""One Transformer decoder block: causal self-attention, cross-attention, FFN."""

import keras
from keras import ops

from layers._transformer_block import TransformerBlock, head_size_of, merge_padding_and_attention_mask
from layers.multi_head_attention import pack_attention_results, split_attention_results


@keras.saving.register_keras_serializable(package="seqmodels")
class TransformerDecoderBlock(TransformerBlock):
    """A Transformer decoder block (Vaswani et al., 2017).

    With `norm_first=False` (post-norm, the paper's arrangement), for decoder
    inputs `x` and encoder outputs `m`:

    ```
    h = LayerNorm(x + Dropout(MaskedMultiHeadAttention(x, x, x)))
    c = LayerNorm(h + Dropout(MultiHeadAttention(h, m, m)))
    y = LayerNorm(c + Dropout(W_2 g(W_1 c + b_1) + b_2))
    ```

    With `norm_first=True` each sub-layer instead computes `z + F(LN(z))`.
    The self-attention is causal by default: step `t` sees steps `<= t`
    only. The cross-attention sub-layer exists when the block is first
    called with `encoder_outputs`; without them the block is a decoder-only
    (GPT-style) block. The attention layers have `num_heads` heads of size
    `d / num_heads`, where `d` is the width of `x`.

    Incremental decoding. Pass a `cache` of shape
    `(batch, 2, max_length, num_heads, d / num_heads)` (zeros to start; the
    layout of KerasHub's `TransformerDecoder` and `CachedMultiHeadAttention`:
    `cache[:, 0]` keys, `cache[:, 1]` values) and `cache_update_index`, the
    position of the first step of `inputs`. The block writes the keys and
    values of `inputs` at that position, attends over the cache (causally)
    and returns `(outputs, cache)`. Feeding a sequence one step at a time
    this way gives the same outputs as the whole sequence at once.

    The cross-attention's keys and values depend on the encoder outputs
    only, so a decoder that runs one step at a time computes them once per
    input with `compute_cross_attention_cache(encoder_outputs)` and passes
    the result as `cross_attention_cache` to every step (same layout,
    `(batch, 2, encoder_length, num_heads, d / num_heads)`) along with
    `encoder_outputs` (as KerasHub's `TransformerDecoder` takes them); the
    block then does not project `encoder_outputs` again.

    Args:
        num_heads: int, number of attention heads.
        intermediate_dim: int, width of the feed-forward hidden layer.
        dropout: float in `[0, 1)`, dropout on the attention weights and on
            each sub-layer's output before the residual sum. Defaults to `0`.
        activation: activation `g` of the feed-forward hidden layer.
            Defaults to `"relu"`.
        norm_first: bool, pre-norm instead of post-norm. Defaults to `False`.
        layer_norm_epsilon: float, epsilon of the layer normalisations.
            Defaults to `1e-5`.
        kernel_initializer: initializer of the dense and attention kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of their biases. Defaults to `"zeros"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: decoder sequence `(batch, length, d)`.
        encoder_outputs: optional `(batch, encoder_length, d_enc)`.
        decoder_padding_mask: optional boolean mask of the keys of the
            self-attention, `False` at padded steps: `(batch, length)`, or
            with a cache `(batch, max_length)` over cache positions. When
            absent (and there is no cache), the Keras mask of `inputs` is used.
        encoder_padding_mask: optional boolean `(batch, encoder_length)`;
            when absent, the Keras mask of `encoder_outputs` is used.
        use_causal_mask: bool, whether the self-attention is causal.
            Defaults to `True`.
        cache: optional self-attention key/value cache, see above.
        cache_update_index: int or scalar int tensor, where `inputs` is
            written into `cache`.
        cross_attention_cache: optional precomputed cross-attention keys and
            values, see above; read, never written.
        return_attention_scores: bool, also return the attention weights:
            the cross-attention's `(batch, num_heads, length, encoder_length)`
            in an encoder-decoder block, the self-attention's
            `(batch, num_heads, length, length or max_length)` in a
            decoder-only block. Defaults to `False`.
        training: bool, whether dropout is active.
        mask, inputs_mask, encoder_outputs_mask: the implicit Keras masks,
            filled in by Keras; not meant to be passed by hand.

    Returns:
        `(batch, length, d)`; `(outputs, cache)` when a cache is given;
        `(outputs, scores)` with `return_attention_scores`, and
        `(outputs, cache, scores)` with both.

    Example:

    >>> import numpy as np
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> x = np.zeros((3, 5, 8), "float32")
    >>> tuple(block(x, encoder_outputs=np.zeros((3, 7, 8), "float32")).shape)
    (3, 5, 8)
    >>> cache = np.zeros((3, 2, 5, 2, 4), "float32")
    >>> memory = np.zeros((3, 7, 8), "float32")
    >>> cross_cache = block.compute_cross_attention_cache(memory)  # once per input
    >>> step, cache = block(x[:, :1], memory, cache=cache, cache_update_index=0,
    ...                     cross_attention_cache=cross_cache)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.1.
    """

    # Built only when the block is first called with encoder outputs (an encoder-decoder model).
    cross_attention_layer = None

    def build(self, inputs_shape, encoder_outputs_shape=None):
        head_size = head_size_of(inputs_shape[-1], self.num_heads)
        self.head_size = head_size

        # Causal self-attention sub-layer.
        self.self_attention_layer = self._attention(head_size, "self_attention")
        self.self_attention_layer.build(inputs_shape, inputs_shape)
        self.self_attention_layer_norm = self._layer_norm(inputs_shape, "self_attention_layer_norm")
        self.self_attention_dropout = self._dropout("self_attention_dropout")

        # Cross-attention sub-layer, only for encoder-decoder models.
        if encoder_outputs_shape is not None:
            self.cross_attention_layer = self._attention(head_size, "cross_attention")
            self.cross_attention_layer.build(inputs_shape, encoder_outputs_shape)
            self.cross_attention_layer_norm = self._layer_norm(
                inputs_shape, "cross_attention_layer_norm"
            )
            self.cross_attention_dropout = self._dropout("cross_attention_dropout")

        # Feed-forward sub-layer.
        self._build_feedforward(inputs_shape)

    def call(
        self,
        inputs,
        encoder_outputs=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        use_causal_mask=True,
        cache=None,
        cache_update_index=None,
        cross_attention_cache=None,
        return_attention_scores=False,
        training=None,
        mask=None,
        inputs_mask=None,
        encoder_outputs_mask=None,
    ):
        has_cross_attention = self.cross_attention_layer is not None
        if (encoder_outputs is not None or cross_attention_cache is not None) and not has_cross_attention:
            raise ValueError(
                "This TransformerDecoderBlock was built without cross-attention "
                "(first called without encoder_outputs), so it cannot take "
                "encoder_outputs or a cross_attention_cache now."
            )
        if encoder_outputs is None and has_cross_attention:
            raise ValueError(
                "This TransformerDecoderBlock has a cross-attention sub-layer "
                "(first called with encoder_outputs) and needs encoder_outputs."
            )
        if cache is not None and cache_update_index is None:
            raise ValueError("A cache needs cache_update_index (the position of inputs).")

        # Masks. Keras fills `mask` when `inputs` is the only tensor argument
        # and `inputs_mask` / `encoder_outputs_mask` when there are several.
        if decoder_padding_mask is None and cache is None:
            decoder_padding_mask = inputs_mask if inputs_mask is not None else mask
        if encoder_padding_mask is None:
            encoder_padding_mask = encoder_outputs_mask
        # (batch, 1, length or max_length); the causal part is added by the
        # attention layer, which knows the cache offset.
        self_attention_mask = merge_padding_and_attention_mask(decoder_padding_mask, None)

        # Scores come from the cross-attention when there is one.
        return_self_scores = return_attention_scores and not has_cross_attention

        # Causal self-attention sub-layer; no value: projected in one product.
        x = self._sublayer_inputs(inputs, self.self_attention_layer_norm)
        results = self.self_attention_layer(
            query=x,
            attention_mask=self_attention_mask,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_self_scores,
            training=training,
            cache=cache,
            cache_update_index=cache_update_index,
        )
        x, cache, scores = split_attention_results(results, cache is not None, return_self_scores)
        x = self._add_and_norm(
            x, inputs, self.self_attention_dropout, self.self_attention_layer_norm, training
        )

        # Cross-attention sub-layer.
        if has_cross_attention:
            residual = x
            x = self._sublayer_inputs(x, self.cross_attention_layer_norm)
            # (batch, 1, encoder_length)
            cross_attention_mask = merge_padding_and_attention_mask(encoder_padding_mask, None)
            results = self.cross_attention_layer(
                query=x,
                value=encoder_outputs,
                attention_mask=cross_attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                cache=cross_attention_cache,
            )
            x, _, scores = split_attention_results(
                results, cross_attention_cache is not None, return_attention_scores
            )
            x = self._add_and_norm(
                x, residual, self.cross_attention_dropout, self.cross_attention_layer_norm, training
            )

        # Feed-forward sub-layer.
        x = self._feedforward(x, training)

        return pack_attention_results(x, cache, scores if return_attention_scores else None)

    def compute_cross_attention_cache(self, encoder_outputs):
        """The cross-attention's keys and values of `encoder_outputs`, for `cross_attention_cache`.

        Returns `(batch, 2, encoder_length, num_heads, d / num_heads)`:
        `[:, 0]` the projected keys, `[:, 1]` the projected values.
        """
        if self.cross_attention_layer is None:
            raise ValueError(
                "This TransformerDecoderBlock was built without cross-attention "
                "(first called without encoder_outputs), so it has no cross-attention cache."
            )
        attention = self.cross_attention_layer
        keys = attention.key_dense(encoder_outputs)  # (batch, encoder_length, heads, head_size)
        values = attention.value_dense(encoder_outputs)
        return ops.stack((keys, values), axis=1)

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None, cache_shape=None,
                             cross_attention_cache_shape=None):
        # The first output only, as Keras's attention layers do: whether a cache and scores follow
        # depends on call arguments that shapes do not carry; `compute_output_spec` gives them all.
        return inputs_shape

    def compute_output_spec(self, inputs, encoder_outputs=None, decoder_padding_mask=None,
                            encoder_padding_mask=None, use_causal_mask=True, cache=None,
                            cache_update_index=None, cross_attention_cache=None,
                            return_attention_scores=False, **kwargs):
        outputs = [keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)]
        if cache is not None:
            outputs.append(keras.KerasTensor(cache.shape, dtype=self.compute_dtype))
        if return_attention_scores:
            # (batch, heads, length, keys): encoder positions, or the decoder's own.
            if encoder_outputs is not None:
                key_length = encoder_outputs.shape[1]
            elif cache is not None:
                key_length = cache.shape[2]
            else:
                key_length = inputs.shape[1]
            scores_shape = (inputs.shape[0], self.num_heads, inputs.shape[1], key_length)
            outputs.append(keras.KerasTensor(scores_shape, dtype=self.compute_dtype))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
