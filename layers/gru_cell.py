"""The gated recurrent unit cell, written from its gate equations."""

import keras
from keras import ops

from layers._recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="seqmodels")
class GRUCell(RecurrentCell):
    """One step of a gated recurrent unit (GRU).

    With `c<t-1>` (= `a<t-1>`) the previous state and `x<t>` the step input, in
    the course notation, with `reset_after=False` (the course's and Cho et al.'s
    form, where the relevance gate Γr scales the state before the product):

    ```
    Γu   = σ(W_u [c<t-1>, x<t>] + b_u)               update gate
    Γr   = σ(W_r [c<t-1>, x<t>] + b_r)               relevance (reset) gate
    c̃<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)        candidate
    c<t> = Γu * c<t-1> + (1 - Γu) * c̃<t>
    a<t> = c<t>
    ```

    and with `reset_after=True` (Keras's default, the cuDNN form) the candidate
    applies Γr after the recurrent product, with separate input and recurrent
    biases:

    ```
    c̃<t> = tanh(W_cx x<t> + b_cx + Γr * (W_cc c<t-1> + b_cc))
    ```

    Note the update gate: Keras (and this cell) let Γu weight the *previous*
    state; the course writes `c<t> = Γu * c̃<t> + (1 - Γu) * c<t-1>`. The two are
    the same model with Γu replaced by 1 - Γu; we follow Keras so that weights
    transfer. `σ` is `recurrent_activation`, `tanh` is `activation`.

    Weights as in `keras.layers.GRU` (gate order z = Γu, r = Γr, h = c̃):
    `kernel` `(input_dim, 3 * units)`, `recurrent_kernel` `(units, 3 * units)`,
    `bias` `(3 * units,)` or, with `reset_after=True`, `(2, 3 * units)` (row 0
    the input biases, row 1 the recurrent biases). Each step does one matrix
    product with `kernel` for the three gates, and with `reset_after=True` one
    with `recurrent_kernel` (two with `reset_after=False`, since the candidate
    needs Γr first).

    Args:
        units: positive integer, dimensionality of `c<t>`.
        activation: activation of the candidate, default `"tanh"`.
        recurrent_activation: activation of the gates, default `"sigmoid"`.
        use_bias: whether to add `bias`, default `True`.
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: the
            weights' initializers, regularizers and constraints, with the
            defaults of `SimpleRNNCell` (Keras's).
        dropout: fraction of the inputs `x<t>` to drop, in `[0, 1)`, default 0.
        recurrent_dropout: fraction of `c<t-1>` to drop in the recurrent
            products, in `[0, 1)`, default 0. One mask per sequence, shared by
            the gates (Keras samples one mask per gate).
        reset_after: where Γr is applied, see above; default `True`.
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `x<t>`, shape `(batch, input_dim)`.
        states: `c<t-1>`, `(batch, units)`, alone or in a one-element list.
        training: whether dropout is active.

    Returns:
        `(c<t>, [c<t>])` (or `(c<t>, c<t>)` when `states` was a bare tensor).

    Example:

    >>> rnn = keras.layers.RNN(GRUCell(8))
    >>> rnn(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)

    Reference:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", 2014.
    """

    def __init__(self, units, *, recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        # reset_after keeps the recurrent biases apart: Γr multiplies them.
        bias_shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_cell_weights(input_shape[-1], gates=3, bias_shape=bias_shape)
        self.built = True

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        previous = states[0] if nested else states
        # The update still mixes the undropped c<t-1> in.
        inputs, recurrent_input = self._apply_dropout(inputs, previous, training)

        # The input side of all three gates in one product: (batch, 3 * units).
        projected_inputs = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected_inputs = projected_inputs + (
                self.bias[0] if self.reset_after else self.bias
            )
        x_update, x_reset, x_candidate = ops.split(projected_inputs, 3, axis=-1)

        if self.reset_after:
            # The state side of all three gates in one product.
            projected_state = ops.matmul(recurrent_input, self.recurrent_kernel)
            if self.use_bias:
                projected_state = projected_state + self.bias[1]
            s_update, s_reset, s_candidate = ops.split(projected_state, 3, axis=-1)
            update_gate = self.recurrent_activation(x_update + s_update)
            reset_gate = self.recurrent_activation(x_reset + s_reset)
            candidate = self.activation(x_candidate + reset_gate * s_candidate)
        else:
            # The gates first; the candidate needs Γr * c<t-1> before its product.
            projected_state = ops.matmul(recurrent_input, self.recurrent_kernel[:, : 2 * self.units])
            s_update, s_reset = ops.split(projected_state, 2, axis=-1)
            update_gate = self.recurrent_activation(x_update + s_update)
            reset_gate = self.recurrent_activation(x_reset + s_reset)
            candidate = self.activation(
                x_candidate
                + ops.matmul(reset_gate * recurrent_input, self.recurrent_kernel[:, 2 * self.units :])
            )

        state = update_gate * previous + (1 - update_gate) * candidate
        return state, ([state] if nested else state)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after,
            }
        )
        return config
