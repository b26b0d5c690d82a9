"""Scaled dot-product attention, the core of every Transformer layer.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Two functions live here:

- ``scaled_dot_product_attention`` works on ``(..., T, d)`` tensors (any
  number of leading batch or head axes) and returns the output and, by
  default, the attention weights.
- ``multi_head_dot_product_attention`` works in the ``(batch, T, heads, d)``
  layout that ``MultiHeadAttention`` projects into. Without weights it
  dispatches to ``keras.ops.dot_product_attention`` (a fused kernel, flash
  attention on GPU) under JAX and PyTorch, and under TensorFlow (where that
  op is plain composed ops) to a composition that divides by the softmax sum
  after the value product; with weights it computes them explicitly.

Masks are boolean and follow the Keras convention: ``True`` means "may
attend". A query row whose mask hides every key gets all-zero weights on the
explicit path; the fused path (``keras.ops.dot_product_attention``) spreads
such a row uniformly. Such rows are padding either way, and this mirrors
``keras.layers.MultiHeadAttention`` exactly.
"""

import math

import keras
from keras import ops


def _large_negative_number(dtype):
    """The value a masked logit is replaced with (as Keras's Softmax does)."""
    if keras.backend.standardize_dtype(dtype) == "float16":
        return -3e4
    return -1e9


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over ``axis`` that gives masked positions exactly zero weight.

    Args:
        scores: logits.
        mask: boolean tensor broadcastable to ``scores``; ``True`` = keep.
        axis: the axis to normalise over.

    Returns:
        Weights with the shape of ``scores``; rows whose mask is all ``False``
        are all zeros.
    """
    if mask is None:
        return ops.softmax(scores, axis=axis)
    mask = ops.cast(mask, "bool")
    scores = ops.where(mask, scores, _large_negative_number(scores.dtype))
    weights = ops.softmax(scores, axis=axis)
    # A fully masked row would otherwise come out uniform.
    return ops.where(mask, weights, ops.zeros_like(weights))


def _check_feature_sizes(query, key, value):
    if query.shape[-1] is not None and key.shape[-1] is not None:
        if query.shape[-1] != key.shape[-1]:
            raise ValueError(
                "query and key must have the same feature size. Received: "
                f"query.shape={query.shape}, key.shape={key.shape}"
            )
    if key.shape[-2] is not None and value.shape[-2] is not None:
        if key.shape[-2] != value.shape[-2]:
            raise ValueError(
                "key and value must have the same length (axis -2). Received: "
                f"key.shape={key.shape}, value.shape={value.shape}"
            )


def scaled_dot_product_attention(
    query, key, value, mask=None, scale=None, return_weights=True
):
    """Computes ``softmax(Q K^T * scale) V`` over the last two axes.

    Args:
        query: ``(..., T_q, d_k)``.
        key: ``(..., T_k, d_k)``.
        value: ``(..., T_k, d_v)``.
        mask: optional boolean tensor broadcastable to ``(..., T_q, T_k)``;
            ``True`` = the query position may attend to the key position.
        scale: logit scale; defaults to ``1 / sqrt(d_k)``.
        return_weights: if ``False``, return only the output. Rank-3 and
            rank-4 inputs then go through ``keras.ops.dot_product_attention``
            (flash attention on GPU).

    Returns:
        ``(output, weights)`` with shapes ``(..., T_q, d_v)`` and
        ``(..., T_q, T_k)``; only ``output`` when ``return_weights=False``.

    Example:

    >>> q = k = v = np.eye(2, dtype="float32")[None]
    >>> output, weights = scaled_dot_product_attention(q, k, v)
    >>> weights.shape
    (1, 2, 2)
    """
    query = ops.convert_to_tensor(query)
    key = ops.convert_to_tensor(key)
    value = ops.convert_to_tensor(value)
    _check_feature_sizes(query, key, value)
    if scale is None:
        scale = 1.0 / math.sqrt(float(query.shape[-1]))

    rank = len(query.shape)
    # jax.nn.dot_product_attention needs value features as wide as key features.
    fused = rank in (3, 4) and len(key.shape) == rank and value.shape[-1] == query.shape[-1]
    if not return_weights and fused:
        # keras.ops.dot_product_attention wants (batch, T, heads, d).
        if rank == 3:
            # (batch, T, 1, d)
            q, k, v = (ops.expand_dims(x, 2) for x in (query, key, value))
        else:
            # (batch, heads, T, d) -> (batch, T, heads, d)
            q, k, v = (ops.transpose(x, (0, 2, 1, 3)) for x in (query, key, value))
        fused_mask = None
        if mask is not None:
            fused_mask = ops.cast(mask, "bool")
            # Leading axes are added until the mask has the rank of the inputs.
            while len(fused_mask.shape) < rank:
                fused_mask = ops.expand_dims(fused_mask, 0)
            if rank == 3:
                # (batch, T_q, T_k) -> (batch, 1, T_q, T_k)
                fused_mask = ops.expand_dims(fused_mask, 1)
            batch, query_length, heads = ops.shape(q)[0], ops.shape(q)[1], ops.shape(q)[2]
            fused_mask = ops.broadcast_to(
                fused_mask, (batch, heads, query_length, ops.shape(k)[1])
            )
        output = ops.dot_product_attention(q, k, v, mask=fused_mask, scale=scale)
        if rank == 3:
            return ops.squeeze(output, 2)
        return ops.transpose(output, (0, 2, 1, 3))

    # (..., T_q, T_k)
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
    scores = scores * ops.cast(scale, scores.dtype)
    weights = masked_softmax(scores, mask, axis=-1)
    output = ops.matmul(weights, value)  # (..., T_q, d_v)
    if return_weights:
        return output, weights
    return output


def multi_head_dot_product_attention(
    query,
    key,
    value,
    mask=None,
    scale=None,
    is_causal=False,
    return_weights=False,
    dropout_fn=None,
):
    """Attention in the ``(batch, T, heads, d)`` layout of projected heads.

    Args:
        query: ``(batch, T_q, heads, d_k)``.
        key: ``(batch, T_k, heads, d_k)``.
        value: ``(batch, T_k, heads, d_v)``.
        mask: optional boolean tensor broadcastable to
            ``(batch, heads, T_q, T_k)``.
        scale: logit scale; defaults to ``1 / sqrt(d_k)``.
        is_causal: add a causal (lower-triangular, top-left aligned) mask.
        return_weights: compute and return the weights explicitly.
        dropout_fn: optional function applied to the weights before they
            are combined with the values (attention dropout); forces the
            explicit path.

    Returns:
        ``output`` of shape ``(batch, T_q, heads, d_v)``, and the weights
        ``(batch, heads, T_q, T_k)`` (before dropout) when ``return_weights``
        is set, else ``None`` in their place.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(float(query.shape[-1]))
    if mask is not None:
        mask = ops.cast(mask, "bool")

    if not return_weights and dropout_fn is None:
        if keras.backend.backend() == "tensorflow":
            # TensorFlow has no fused kernel behind ops.dot_product_attention;
            # normalising after the product is cheaper than its softmax.
            output = _attention_normalised_after_product(
                query, key, value, mask, scale, is_causal
            )
            return output, None
        # jax.nn.dot_product_attention needs value heads as wide as key heads.
        if value.shape[-1] == query.shape[-1]:
            output = ops.dot_product_attention(
                query, key, value, mask=mask, scale=scale, is_causal=is_causal
            )
            return output, None

    if is_causal:
        causal = causal_mask(ops.shape(query)[1], ops.shape(key)[1])
        mask = causal if mask is None else ops.logical_and(mask, causal)
    # Scaling the query before the product (as Keras does) keeps the logits
    # identical to keras.layers.MultiHeadAttention's explicit path.
    query = ops.multiply(query, ops.cast(scale, query.dtype))
    scores = ops.einsum("bsnh,btnh->bnts", key, query)  # (batch, heads, T_q, T_k)
    weights = masked_softmax(scores, mask, axis=-1)
    used_weights = weights if dropout_fn is None else dropout_fn(weights)
    output = ops.einsum("bnts,bsnh->btnh", used_weights, value)  # (batch, T_q, heads, d_v)
    return output, weights


def _attention_normalised_after_product(query, key, value, mask, scale, is_causal):
    """``softmax(Q K^T * scale) V`` with the softmax division moved last.

    ``(exp(S - max) V) / sum(exp(S - max))`` equals ``softmax(S) V`` but
    divides the ``(T_q, d_v)`` output instead of the ``(T_q, T_k)`` weights,
    which saves one pass over the largest tensor. A row whose keys are all
    masked comes out as the plain average of the values, as from
    ``keras.ops.dot_product_attention``.
    """
    # Logits and their softmax in float32 at least, as Keras does.
    logits_dtype = keras.backend.result_type(query.dtype, "float32")
    # (batch, heads, T_q, T_k)
    logits = ops.einsum("btnh,bsnh->bnts", query, key)
    logits = ops.cast(logits, logits_dtype) * ops.cast(scale, logits_dtype)
    if is_causal:
        causal = causal_mask(ops.shape(query)[1], ops.shape(key)[1])
        mask = causal if mask is None else ops.logical_and(mask, causal)
    if mask is not None:
        logits = ops.where(mask, logits, _large_negative_number(logits_dtype))
    # The maximum only keeps exp() in range; its gradient cancels out.
    logits = logits - ops.stop_gradient(ops.max(logits, axis=-1, keepdims=True))
    unnormalised = ops.exp(logits)
    total = ops.sum(unnormalised, axis=-1)  # (batch, heads, T_q)
    output = ops.einsum(
        "bnts,bsnh->btnh", ops.cast(unnormalised, value.dtype), value
    )  # (batch, T_q, heads, d_v)
    total = ops.expand_dims(ops.transpose(total, (0, 2, 1)), -1)  # (batch, T_q, heads, 1)
    return ops.cast(ops.cast(output, logits_dtype) / total, value.dtype)


def causal_mask(query_length, key_length, offset=0):
    """Boolean ``(1, 1, T_q, T_k)`` mask: query ``i`` sees keys ``<= i + offset``.

    ``offset`` is the absolute position of the first query (the cache index
    during incremental decoding); it may be a tensor.
    """
    rows = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(offset, "int32")
    columns = ops.arange(key_length, dtype="int32")[None, :]
    return ops.greater_equal(rows, columns)[None, None]
