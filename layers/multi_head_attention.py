"""Multi-head attention with an optional key/value cache for decoding."""

import keras
from keras import ops

from layers._validation import fraction, positive_int
from layers.scaled_dot_product_attention import causal_mask
from layers.scaled_dot_product_attention import multi_head_dot_product_attention


def pack_attention_results(output, cache=None, scores=None):
    """`output`, or `(output[, cache][, scores])` of those given: what the attention layers return."""
    extras = tuple(value for value in (cache, scores) if value is not None)
    return (output,) + extras if extras else output


def split_attention_results(results, with_cache, with_scores):
    """`(output, cache or None, scores or None)` from what `pack_attention_results` returned."""
    if not with_cache and not with_scores:
        return results, None, None
    output, *rest = results
    cache = rest.pop(0) if with_cache else None
    scores = rest.pop(0) if with_scores else None
    return output, cache, scores


def _clone_initializer(initializer):
    # A fresh instance per sublayer, so that seeded initializers do not give
    # the query, key and value kernels the same values.
    return initializer.__class__.from_config(initializer.get_config())


@keras.saving.register_keras_serializable(package="seqmodels")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017).

    For each head ``i``, with ``d_k = key_dim``:

        head_i = softmax(Q W_i^Q (K W_i^K)^T / sqrt(d_k)) V W_i^V
        MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O

    The weights are laid out exactly as in ``keras.layers.MultiHeadAttention``
    (query kernel ``(dim, heads, key_dim)`` and bias ``(heads, key_dim)``,
    then key, value, and the output kernel ``(heads, value_dim, out)`` and
    bias ``(out,)``), so ``ours.set_weights(theirs.get_weights())`` moves a
    trained Keras layer over and gives the same outputs.

    Incremental decoding follows KerasHub's ``CachedMultiHeadAttention``:
    ``cache`` has shape ``(batch, 2, max_length, num_heads, key_dim)`` and
    holds the projected keys (``cache[:, 0]``) and values (``cache[:, 1]``).
    With ``cache_update_index``, this call's keys and values are projected
    and written at that position (``ops.slice_update``) and the query attends
    over the whole cache; without it, the cache is used as it is (for
    example precomputed encoder keys for cross-attention). Positions of the
    cache that are not written yet must be hidden: ``use_causal_mask=True``
    does so by letting query ``i`` see cache positions
    ``<= cache_update_index + i``; otherwise pass an ``attention_mask`` of
    shape ``(batch, T_q, max_length)``. With a cache, ``value_mask`` (and a
    Keras mask on ``value``) is ignored because it describes the new entries
    only, not the cache; use ``attention_mask`` for padding in the cache.

    Rows of the attention matrix whose mask hides every key (padded query
    positions) behave as in ``keras.layers.MultiHeadAttention``: all-zero
    scores when scores are computed explicitly (``return_attention_scores``
    or ``dropout > 0``), a uniform average of the values otherwise (as
    ``keras.ops.dot_product_attention`` gives).

    Self-attention can be asked for by leaving ``value`` out (``layer(x)``):
    query, key and value are then projected from ``query`` in a single
    product with the three kernels side by side (the weights stay the three
    separate variables), and ``value_mask`` defaults to ``query_mask``. The
    outputs equal those of ``layer(x, x)``, which projects three times.

    Args:
        num_heads: number of attention heads ``h``.
        key_dim: size of each query and key head ``d_k``.
        value_dim: size of each value head; defaults to ``key_dim``.
        dropout: dropout rate on the attention weights, in ``[0, 1)``.
        use_bias: whether the four projections have biases.
        output_shape: size (int or tuple) of the output features; defaults
            to the query's feature size.
        kernel_initializer: initializer for the projection kernels.
        bias_initializer: initializer for the projection biases.

    Call arguments:
        query: ``(batch, T_q, dim_q)``.
        value: ``(batch, T_v, dim_v)``; ``None`` (the default) for
            self-attention over ``query``, see above.
        key: optional ``(batch, T_v, dim_k)``; defaults to ``value``.
        query_mask: optional boolean ``(batch, T_q)``; ``False`` marks padded
            query positions. Filled from the Keras mask of ``query``.
        value_mask: optional boolean ``(batch, T_v)``; ``False`` marks padded
            keys/values. Filled from the Keras mask of ``value``.
        attention_mask: optional boolean ``(batch, T_q, T_v)`` (``True`` =
            attend), combined with the other masks by logical AND.
        use_causal_mask: mask out keys after each query position.
        return_attention_scores: also return the ``(batch, heads, T_q, T_v)``
            attention weights.
        training: whether attention dropout is active.
        cache: optional ``(batch, 2, max_length, num_heads, key_dim)`` cache.
        cache_update_index: int or scalar tensor, where this call's keys and
            values are written into ``cache``.

    Returns:
        ``output`` ``(batch, T_q, out)``; ``(output, scores)`` with
        ``return_attention_scores``; ``(output, cache)`` with a cache, and
        ``(output, cache, scores)`` with both.

    Example:

    >>> layer = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.normal(size=(3, 5, 8)).astype("float32")
    >>> layer(x, x, use_causal_mask=True).shape
    (3, 5, 8)

    Reference: Vaswani et al., "Attention Is All You Need", 2017.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        positive_int("num_heads", num_heads)
        positive_int("key_dim", key_dim)
        positive_int("value_dim", value_dim, allow_none=True)
        fraction("dropout", dropout)
        if output_shape is not None and not isinstance(output_shape, int):
            if not isinstance(output_shape, (list, tuple)) or not output_shape:
                raise ValueError(
                    "Invalid value for argument output_shape. Expected a positive integer "
                    f"or a tuple of them. Received: output_shape={output_shape!r}"
                )
            output_shape = tuple(output_shape)
            for size in output_shape:
                positive_int("output_shape", size)
        elif output_shape is not None:
            positive_int("output_shape", output_shape)
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.dropout = float(dropout)
        self.use_bias = use_bias
        # Stored privately: `output_shape` is a read-only property name that
        # Keras models use when they summarise their layers.
        self._output_shape = output_shape
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    # Build ----------------------------------------------------------------

    def _projection(self, equation, output_shape, bias_axes, name):
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes if self.use_bias else None,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            name=name,
            dtype=self.dtype_policy,
        )

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3:
                raise ValueError(
                    f"Expected {name} of shape (batch, length, features). "
                    f"Received: {name}.shape={shape}"
                )
            if shape[-1] is None:
                raise ValueError(
                    f"The feature size of {name} must be known. Received: "
                    f"{name}.shape={shape}"
                )
        if key_shape[1] is not None and value_shape[1] is not None:
            if key_shape[1] != value_shape[1]:
                raise ValueError(
                    "key and value must have the same length. Received: "
                    f"key.shape={key_shape}, value.shape={value_shape}"
                )
        value_dim = self.value_dim or self.key_dim
        self._query_dim = query_shape[-1]
        self._key_feature_dim = key_shape[-1]
        self._value_feature_dim = value_shape[-1]

        # (batch, T, dim) -> (batch, T, heads, head_dim)
        self.query_dense = self._projection(
            "abc,cde->abde", (None, self.num_heads, self.key_dim), "de", "query"
        )
        self.query_dense.build(query_shape)
        self.key_dense = self._projection(
            "abc,cde->abde", (None, self.num_heads, self.key_dim), "de", "key"
        )
        self.key_dense.build(key_shape)
        self.value_dense = self._projection(
            "abc,cde->abde", (None, self.num_heads, value_dim), "de", "value"
        )
        self.value_dense.build(value_shape)
        # The inputs may carry Keras masks, which this layer reads through
        # query_mask/value_mask. Letting the projections pass them along
        # (instead of warning that they drop them) changes no value.
        for projection in (self.query_dense, self.key_dense, self.value_dense):
            projection.supports_masking = True

        # (batch, T, heads, value_dim) -> (batch, T, *output_shape)
        output_shape = self._output_features(query_shape)
        letters = "efghij"[: len(output_shape)]
        self.output_dense = self._projection(
            f"abcd,cd{letters}->ab{letters}", (None, *output_shape), letters, "attention_output"
        )
        self.output_dense.build((query_shape[0], query_shape[1], self.num_heads, value_dim))
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    # Call -----------------------------------------------------------------

    def _check_features(self, name, tensor, expected):
        if tensor.shape[-1] is not None and tensor.shape[-1] != expected:
            raise ValueError(
                f"The feature size of {name} does not match the one the layer "
                f"was built with ({expected}). Received: {name}.shape={tensor.shape}"
            )

    def _check_call_arguments(self, query, value, key, use_causal_mask, cache, cache_update_index):
        self._check_features("query", query, self._query_dim)
        self._check_features("value", value, self._value_feature_dim)
        self._check_features("key", key, self._key_feature_dim)
        if cache_update_index is not None and cache is None:
            raise ValueError("cache_update_index was given without a cache.")
        if cache is None:
            return
        if (self.value_dim or self.key_dim) != self.key_dim:
            raise ValueError(
                "A cache holds keys and values in one tensor, so it needs "
                f"value_dim == key_dim. Received: key_dim={self.key_dim}, "
                f"value_dim={self.value_dim}"
            )
        expected = (2, None, self.num_heads, self.key_dim)
        if len(cache.shape) != 5 or any(
            e is not None and c is not None and c != e for c, e in zip(cache.shape[1:], expected)
        ):
            raise ValueError(
                "Expected a cache of shape (batch, 2, max_length, "
                f"num_heads={self.num_heads}, key_dim={self.key_dim}). "
                f"Received: cache.shape={cache.shape}"
            )
        if use_causal_mask and cache_update_index is None:
            raise ValueError(
                "use_causal_mask with a cache needs cache_update_index (the "
                "position of the first query)."
            )

    def _project_self_attention(self, inputs):
        """Query, key and value heads of one input in a single product.

        For self-attention this reads the input once instead of three times;
        the kernels are laid side by side along the heads axis.
        """
        kernel = ops.concatenate(
            [self.query_dense.kernel, self.key_dense.kernel, self.value_dense.kernel], axis=1
        )  # (dim, 3 * heads, key_dim)
        projected = ops.einsum("abc,cde->abde", inputs, kernel)  # (batch, T, 3 * heads, key_dim)
        if self.use_bias:
            projected = projected + ops.concatenate(
                [self.query_dense.bias, self.key_dense.bias, self.value_dense.bias], axis=0
            )
        return ops.split(projected, 3, axis=2)  # 3 x (batch, T, heads, key_dim)

    def _project(self, query, value, key, self_attention, cache, cache_update_index):
        """Projects to heads, (batch, T, dim) -> (batch, T, heads, head_dim).

        With a cache, this call's keys and values are written into it at
        `cache_update_index`, or, without an index, the cache replaces them
        (for example the encoder's keys and values in cross-attention).
        Returns the query, key and value heads and the (updated) cache.
        """
        use_cache_as_is = cache is not None and cache_update_index is None
        if use_cache_as_is:
            query_heads = self.query_dense(query)
            cache = ops.cast(cache, self.compute_dtype)
            key_heads = cache[:, 0, ...]  # (batch, max_length, heads, key_dim)
            value_heads = cache[:, 1, ...]
            return query_heads, key_heads, value_heads, cache

        # One product needs the value heads to be as wide as the key heads.
        if self_attention and (self.value_dim or self.key_dim) == self.key_dim:
            query_heads, key_heads, value_heads = self._project_self_attention(query)
        else:
            query_heads = self.query_dense(query)
            key_heads = self.key_dense(key)
            value_heads = self.value_dense(value)
        if cache is not None:
            cache = ops.cast(cache, self.compute_dtype)
            start = [0, cache_update_index, 0, 0]
            key_heads = ops.slice_update(cache[:, 0, ...], start, key_heads)
            value_heads = ops.slice_update(cache[:, 1, ...], start, value_heads)
            cache = ops.stack((key_heads, value_heads), axis=1)
        return query_heads, key_heads, value_heads, cache

    def _attention_mask(
        self, query_heads, key_heads, query_mask, value_mask, attention_mask,
        use_causal_mask, cache, cache_update_index,
    ):
        """Combines the masks by logical AND into `(batch, 1, T_q, T_k)`.

        Returns the mask (or `None`) and whether the backend's own causal
        kernel can stand in for an explicit causal mask.
        """
        mask = None
        if query_mask is not None:
            mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (batch, T_q, 1)
        if value_mask is not None:
            value_part = ops.expand_dims(ops.cast(value_mask, "bool"), -2)  # (batch, 1, T_k)
            mask = value_part if mask is None else ops.logical_and(mask, value_part)
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
        if mask is not None:
            # (batch, T_q, T_k) -> (batch, 1, T_q, T_k), broadcast over heads.
            while len(mask.shape) < 4:
                mask = ops.expand_dims(mask, -3)
        if not use_causal_mask:
            return mask, False
        if mask is None and cache is None:
            # The backend's own causal kernel, without a (T_q, T_k) tensor.
            return None, True
        offset = 0 if cache is None else cache_update_index
        causal = causal_mask(
            ops.shape(query_heads)[1], ops.shape(key_heads)[1], offset
        )  # (1, 1, T_q, T_k)
        return (causal if mask is None else ops.logical_and(mask, causal)), False

    def _attend(self, query_heads, key_heads, value_heads, mask, is_causal, return_scores, training):
        """Scaled dot-product attention per head, (batch, T_q, heads, value_dim).

        The weights are computed explicitly when they are returned or dropped
        out, as keras.layers.MultiHeadAttention decides.
        """
        dropout_fn = None
        if self.dropout > 0.0:
            def dropout_fn(weights):
                return self.dropout_layer(weights, training=training)

        return multi_head_dot_product_attention(
            query_heads,
            key_heads,
            value_heads,
            mask=mask,
            scale=1.0 / float(self.key_dim) ** 0.5,
            is_causal=is_causal,
            return_weights=return_scores,
            dropout_fn=dropout_fn,
        )

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_update_index=None,
    ):
        self_attention = value is None
        if self_attention:
            if key is not None:
                raise ValueError("key was given without value; pass both or neither.")
            value, value_mask = query, query_mask if value_mask is None else value_mask
        key = value if key is None else key
        self._check_call_arguments(query, value, key, use_causal_mask, cache, cache_update_index)

        query_heads, key_heads, value_heads, cache = self._project(
            query, value, key, self_attention, cache, cache_update_index
        )
        if cache is not None:
            # The new entries' padding says nothing about the rest of the cache.
            value_mask = None
        mask, is_causal = self._attention_mask(
            query_heads, key_heads, query_mask, value_mask, attention_mask,
            use_causal_mask, cache, cache_update_index,
        )
        attended, scores = self._attend(
            query_heads, key_heads, value_heads, mask, is_causal, return_attention_scores, training
        )
        output = self.output_dense(attended)  # (batch, T_q, *output_shape)

        return pack_attention_results(output, cache, scores if return_attention_scores else None)

    def _output_features(self, query_shape):
        if self._output_shape is None:
            return (query_shape[-1],)
        if isinstance(self._output_shape, int):
            return (self._output_shape,)
        return tuple(self._output_shape)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """The shape of the attention output, as keras.layers.MultiHeadAttention gives it."""
        return (query_shape[0], query_shape[1], *self._output_features(query_shape))

    def compute_output_spec(
        self, query, value=None, key=None, return_attention_scores=False, cache=None, **kwargs
    ):
        output = keras.KerasTensor(self.compute_output_shape(query.shape), dtype=self.compute_dtype)
        results = [output]
        if cache is not None:
            results.append(keras.KerasTensor(cache.shape, dtype=self.compute_dtype))
        if return_attention_scores:
            if cache is not None:
                key_length = cache.shape[2]
            else:
                key_length = next(t for t in (key, value, query) if t is not None).shape[1]
            scores_shape = (query.shape[0], self.num_heads, query.shape[1], key_length)
            results.append(keras.KerasTensor(scores_shape, dtype=self.compute_dtype))
        return results[0] if len(results) == 1 else tuple(results)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": self._output_shape,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
