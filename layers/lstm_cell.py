"""The long short-term memory cell, written from its gate equations."""

import keras
from keras import ops

from layers._recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="seqmodels")
class LSTMCell(RecurrentCell):
    """One step of a long short-term memory (LSTM) network.

    With `a<t-1>` the previous output (hidden state), `c<t-1>` the previous
    memory cell and `x<t>` the step input, in the course notation:

    ```
    Γu   = σ(W_u [a<t-1>, x<t>] + b_u)          update (input) gate
    Γf   = σ(W_f [a<t-1>, x<t>] + b_f)          forget gate
    c̃<t> = tanh(W_c [a<t-1>, x<t>] + b_c)        candidate memory
    Γo   = σ(W_o [a<t-1>, x<t>] + b_o)          output gate
    c<t> = Γu * c̃<t> + Γf * c<t-1>
    a<t> = Γo * tanh(c<t>)
    ```

    `σ` is `recurrent_activation` and `tanh` is `activation`. The weights are
    stored as Keras stores them, so `set_weights(keras_cell.get_weights())`
    reproduces `keras.layers.LSTM`: `kernel` `(input_dim, 4 * units)` holds the
    `x<t>` halves of `W_u, W_f, W_c, W_o` side by side (Keras's gate order
    i, f, c, o), `recurrent_kernel` `(units, 4 * units)` the `a<t-1>` halves and
    `bias` `(4 * units,)` the four biases. Each step does one matrix product
    with `kernel` and one with `recurrent_kernel` for all four gates at once.

    Args:
        units: positive integer, dimensionality of `a<t>` and `c<t>`.
        activation: activation of the candidate and of the output, default
            `"tanh"`.
        recurrent_activation: activation of the gates, default `"sigmoid"`.
        use_bias: whether to add `bias`, default `True`.
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: the
            weights' initializers, regularizers and constraints, with the
            defaults of `SimpleRNNCell` (Keras's).
        unit_forget_bias: if `True` (default), the forget-gate bias starts at 1
            (Jozefowicz et al., 2015), as in Keras.
        dropout: fraction of the inputs `x<t>` to drop, in `[0, 1)`, default 0.
        recurrent_dropout: fraction of `a<t-1>` to drop in the recurrent
            product, in `[0, 1)`, default 0. One mask per sequence, shared by
            the four gates (Keras samples one mask per gate).
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `x<t>`, shape `(batch, input_dim)`.
        states: `[a<t-1>, c<t-1>]`, each `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `(a<t>, [a<t>, c<t>])`.

    Example:

    >>> rnn = keras.layers.RNN(LSTMCell(8), return_sequences=True)
    >>> rnn(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)

    Reference:
        Hochreiter and Schmidhuber, "Long Short-Term Memory", 1997; Gers,
        Schmidhuber and Cummins, "Learning to Forget", 2000.
    """

    def __init__(self, units, *, recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [self.units, self.units]

    def build(self, input_shape):
        bias_initializer = self.bias_initializer
        if self.unit_forget_bias:
            base_initializer = self.bias_initializer
            units = self.units

            def bias_initializer(shape, dtype=None):
                # Gate order u (i), f, c, o: ones for the forget gate only.
                return ops.concatenate(
                    [
                        base_initializer((units,), dtype=dtype),
                        ops.ones((units,), dtype=dtype),
                        base_initializer((2 * units,), dtype=dtype),
                    ]
                )

        self._add_cell_weights(input_shape[-1], gates=4, bias_initializer=bias_initializer)
        self.built = True

    def call(self, inputs, states, training=False):
        previous_output, previous_memory = states[0], states[1]
        inputs, previous_output = self._apply_dropout(inputs, previous_output, training)

        # All four gate pre-activations from two matrix products.
        z = ops.matmul(inputs, self.kernel) + ops.matmul(previous_output, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        # (batch, units) each, in Keras's gate order i, f, c, o.
        z_update, z_forget, z_candidate, z_output = ops.split(z, 4, axis=-1)
        update_gate = self.recurrent_activation(z_update)
        forget_gate = self.recurrent_activation(z_forget)
        candidate = self.activation(z_candidate)
        output_gate = self.recurrent_activation(z_output)

        memory = update_gate * candidate + forget_gate * previous_memory
        output = output_gate * self.activation(memory)
        return output, [output, memory]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias,
            }
        )
        return config
