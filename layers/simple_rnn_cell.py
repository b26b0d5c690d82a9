"""The plain (Elman) recurrent cell, written from its equation."""

import keras
from keras import ops

from layers._dropout_rnn_cell import DropoutRNNCellMixin, validate_cell_arguments


@keras.saving.register_keras_serializable(package="seqmodels")
class SimpleRNNCell(keras.layers.Layer, DropoutRNNCellMixin):
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

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        validate_cell_arguments(units, dropout, recurrent_dropout)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        # keras.layers.RNN reads these to create and thread the states.
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.built = True

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        previous = states[0] if nested else states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            previous = previous * self.get_recurrent_dropout_mask(previous)

        pre_activation = ops.matmul(inputs, self.kernel) + ops.matmul(previous, self.recurrent_kernel)
        if self.use_bias:
            pre_activation = pre_activation + self.bias
        output = self.activation(pre_activation)
        return output, ([output] if nested else output)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.state_size), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed,
            }
        )
        return config
