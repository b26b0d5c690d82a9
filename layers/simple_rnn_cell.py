"""The plain (Elman) recurrent cell, written from its equation."""

import keras
from keras import ops

from layers._recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="seqmodels")
class SimpleRNNCell(RecurrentCell):
    """One step of a fully connected recurrent network.

    In the course notation, with `a<t-1>` the previous output and `x<t>` the
    step input:

    ```
    a<t> = g(W_a [a<t-1>, x<t>] + b_a) = g(W_aa a<t-1> + W_ax x<t> + b_a)
    ```

    `g` is `activation`. The weights are stored as Keras stores them, so
    `set_weights(keras_cell.get_weights())` reproduces `keras.layers.SimpleRNN`:
    `kernel` `(input_dim, units)` is `W_ax` transposed, `recurrent_kernel`
    `(units, units)` is `W_aa` transposed and `bias` `(units,)` is `b_a`.

    Args:
        units: positive integer, dimensionality of `a<t>`.
        activation: `g`, default `"tanh"`.
        use_bias: whether to add `b_a`, default `True`.
        kernel_initializer: default `"glorot_uniform"`.
        recurrent_initializer: default `"orthogonal"`.
        bias_initializer: default `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: default
            `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: default
            `None`.
        dropout: fraction of the inputs `x<t>` to drop, in `[0, 1)`, default 0.
        recurrent_dropout: fraction of `a<t-1>` to drop in the recurrent
            product, in `[0, 1)`, default 0. One mask per sequence.
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `x<t>`, shape `(batch, input_dim)`.
        states: `a<t-1>`, `(batch, units)`, alone or in a one-element list.
        training: whether dropout is active.

    Returns:
        `(a<t>, [a<t>])` (or `(a<t>, a<t>)` when `states` was a bare tensor).

    Example:

    >>> rnn = keras.layers.RNN(SimpleRNNCell(8))
    >>> rnn(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)

    Reference:
        Elman, "Finding Structure in Time", 1990.
    """

    def build(self, input_shape):
        self._add_cell_weights(input_shape[-1], gates=1)
        self.built = True

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        previous = states[0] if nested else states
        inputs, previous = self._apply_dropout(inputs, previous, training)

        pre_activation = ops.matmul(inputs, self.kernel) + ops.matmul(previous, self.recurrent_kernel)
        if self.use_bias:
            pre_activation = pre_activation + self.bias
        output = self.activation(pre_activation)
        return output, ([output] if nested else output)
