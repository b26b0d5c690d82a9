"""Additive (Bahdanau) attention, the attention of the course's translation model."""

import keras
from keras import ops

from layers._validation import one_of, positive_int
from layers.scaled_dot_product_attention import masked_softmax

SCORE_MODES = ("additive", "concat")


@keras.saving.register_keras_serializable(package="seqmodels")
class AdditiveAttention(keras.layers.Layer):
    """Additive attention (Bahdanau et al., 2015).

    For a decoder state ``s<t-1>`` (the query) and encoder annotations
    ``a<t'>`` (the values), ``t' = 1..T_x``:

        e<t,t'> = g(v^T f(W_q s<t-1> + W_k a<t'> + b) + b_v)
        alpha<t,t'> = softmax_t'(e<t,t'>)
        c<t> = sum_t' alpha<t,t'> a<t'>

    With the defaults (``f = tanh``, ``g`` linear, no biases) this is
    Bahdanau's ``e = v^T tanh(W_q s + W_k a)``.

    ``score_mode="concat"`` keeps one kernel over the concatenation
    ``[a<t'>; s<t-1>]`` (annotation first, as in the course), which is the
    same function with ``W_k`` and ``W_q`` stacked: the course's
    ``one_step_attention`` (RepeatVector, Concatenate, ``Dense(10, "tanh")``,
    ``Dense(1, "relu")``, softmax over time, Dot) is

        AdditiveAttention(10, score_mode="concat", score_activation="relu",
                          use_bias=True, use_score_bias=True)

    and takes ``densor1.get_weights() + densor2.get_weights()`` as its
    weights. The concatenation is never materialised: the kernel is split
    and each part applied once.

    Step-by-step decoding. ``W_k a<t'> + b`` does not depend on the query,
    so a decoder that calls the layer once per output step computes it once
    per input sequence with ``project_keys(values)`` and passes it as
    ``projected_keys`` to every step; the result is the same as without.

    Args:
        units: size of the hidden layer ``f`` (the course uses 10).
        score_mode: ``"additive"`` (separate ``query_kernel`` and
            ``values_kernel``) or ``"concat"`` (one ``kernel`` over
            ``[values; query]``).
        activation: hidden activation ``f``; default ``"tanh"``.
        score_activation: activation ``g`` of the energies; default
            ``None`` (linear); the course uses ``"relu"``.
        use_bias: whether the hidden layer has the bias ``b``.
        use_score_bias: whether the energy has the bias ``b_v``.
        kernel_initializer: initializer for the kernels.
        bias_initializer: initializer for the biases.

    Call arguments:
        query: ``(batch, d_q)`` for one decoder step, or
            ``(batch, T_q, d_q)`` for a sequence of steps.
        values: ``(batch, T_x, d_a)``.
        mask: optional boolean ``(batch, T_x)`` (``False`` = padded value),
            or ``(batch, T_q, T_x)``.
        projected_keys: optional ``(batch, T_x, units)``, what
            ``project_keys(values)`` returns; when given, the values are not
            projected again.

    Returns:
        ``(context, weights)``: ``(batch, d_a)`` and ``(batch, T_x)`` for one
        step; ``(batch, T_q, d_a)`` and ``(batch, T_q, T_x)`` for a sequence.

    Example:

    >>> layer = AdditiveAttention(units=10)
    >>> s = np.zeros((2, 64), "float32"); a = np.ones((2, 30, 64), "float32")
    >>> context, weights = layer(s, a)
    >>> context.shape, weights.shape
    ((2, 64), (2, 30))
    >>> keys = layer.project_keys(a)  # once per input sequence
    >>> context, weights = layer(s, a, projected_keys=keys)

    Reference: Bahdanau, Cho and Bengio, "Neural Machine Translation by
    Jointly Learning to Align and Translate", 2015.
    """

    def __init__(
        self,
        units,
        score_mode="additive",
        activation="tanh",
        score_activation=None,
        use_bias=False,
        use_score_bias=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        positive_int("units", units)
        one_of("score_mode", score_mode, SCORE_MODES)
        super().__init__(**kwargs)
        self.units = units
        self.score_mode = score_mode
        self.activation = keras.activations.get(activation)
        self.score_activation = keras.activations.get(score_activation)
        self.use_bias = use_bias
        self.use_score_bias = use_score_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # `mask` is consumed here (it hides padded values); the outputs are
        # indexed by query steps, so no mask is passed on (see compute_mask).
        self.supports_masking = True

    def build(self, query_shape, values_shape):
        if len(query_shape) not in (2, 3):
            raise ValueError(
                "Expected query of shape (batch, d_q) or (batch, T_q, d_q). "
                f"Received: query.shape={query_shape}"
            )
        if len(values_shape) != 3:
            raise ValueError(
                "Expected values of shape (batch, T_x, d_a). Received: "
                f"values.shape={values_shape}"
            )
        if query_shape[-1] is None or values_shape[-1] is None:
            raise ValueError(
                "The feature sizes of query and values must be known. "
                f"Received: query.shape={query_shape}, values.shape={values_shape}"
            )
        self._query_dim = query_shape[-1]
        self._values_dim = values_shape[-1]
        if self.score_mode == "concat":
            # Rows: values features first, then query features (the course
            # concatenates [a, s_prev]).
            self.kernel = self.add_weight(
                shape=(self._values_dim + self._query_dim, self.units),
                initializer=self.kernel_initializer,
                name="kernel",
            )
        else:
            self.query_kernel = self.add_weight(
                shape=(self._query_dim, self.units),
                initializer=self.kernel_initializer,
                name="query_kernel",
            )
            self.values_kernel = self.add_weight(
                shape=(self._values_dim, self.units),
                initializer=self.kernel_initializer,
                name="values_kernel",
            )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer=self.bias_initializer, name="bias"
            )
        self.score_kernel = self.add_weight(
            shape=(self.units, 1), initializer=self.kernel_initializer, name="score_kernel"
        )
        self.score_bias = None
        if self.use_score_bias:
            self.score_bias = self.add_weight(
                shape=(1,), initializer=self.bias_initializer, name="score_bias"
            )

    def _kernels(self):
        """``(W_k, W_q)``, the two halves of the kernel in ``"concat"`` mode."""
        if self.score_mode == "concat":
            return self.kernel[: self._values_dim], self.kernel[self._values_dim :]
        return self.values_kernel, self.query_kernel

    def project_keys(self, values):
        """``W_k a<t'> + b`` of every value: ``(batch, T_x, units)``, for ``projected_keys``."""
        if not self.built:
            raise ValueError(
                "project_keys needs the layer's weights: call or build the layer first "
                "(build(query_shape, values_shape))."
            )
        values_kernel, _ = self._kernels()
        projected_values = ops.matmul(values, values_kernel)  # (batch, T_x, units)
        if self.bias is not None:
            projected_values = projected_values + self.bias
        return projected_values

    def call(self, query, values, mask=None, projected_keys=None):
        for name, tensor, expected in (
            ("query", query, self._query_dim),
            ("values", values, self._values_dim),
            ("projected_keys", projected_keys, self.units),
        ):
            if tensor is None:
                continue
            if tensor.shape[-1] is not None and tensor.shape[-1] != expected:
                raise ValueError(
                    f"The feature size of {name} does not match the one the "
                    f"layer was built with ({expected}). Received: "
                    f"{name}.shape={tensor.shape}"
                )
        one_step = len(query.shape) == 2
        if one_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, d_q)

        # Hidden layer: f(W_q s + W_k a + b), each projection computed once.
        _, query_kernel = self._kernels()
        projected_query = ops.matmul(query, query_kernel)  # (batch, T_q, units)
        if projected_keys is None:
            projected_keys = self.project_keys(values)  # (batch, T_x, units)
        hidden = self.activation(
            ops.expand_dims(projected_query, 2) + ops.expand_dims(projected_keys, 1)
        )  # (batch, T_q, T_x, units)

        # Energies e<t,t'> and weights alpha<t,t'>.
        energies = ops.squeeze(ops.matmul(hidden, self.score_kernel), -1)  # (batch, T_q, T_x)
        if self.score_bias is not None:
            energies = energies + self.score_bias
        energies = self.score_activation(energies)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            if len(mask.shape) == 2:
                mask = ops.expand_dims(mask, 1)  # (batch, 1, T_x)
        weights = masked_softmax(energies, mask, axis=-1)

        context = ops.matmul(weights, values)  # (batch, T_q, d_a)
        if one_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_output_shape(self, query_shape, values_shape, mask_shape=None, projected_keys_shape=None):
        if len(query_shape) == 2:
            return (query_shape[0], values_shape[-1]), (query_shape[0], values_shape[1])
        return (
            (query_shape[0], query_shape[1], values_shape[-1]),
            (query_shape[0], query_shape[1], values_shape[1]),
        )

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "score_mode": self.score_mode,
                "activation": keras.activations.serialize(self.activation),
                "score_activation": keras.activations.serialize(self.score_activation),
                "use_bias": self.use_bias,
                "use_score_bias": self.use_score_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
