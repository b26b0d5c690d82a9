"""What the recurrent cells share: arguments, weights, states and dropout masks.

`RecurrentCell` holds the arguments every cell takes (those of Keras's own
cells), creates the `kernel` / `recurrent_kernel` / `bias` weights in Keras's
layout, gives the zero initial state and serialises the shared part of the
config; `SimpleRNNCell`, `GRUCell` and `LSTMCell` add their equations.

Dropout is variational (Gal and Ghahramani, 2016): one input mask and one
recurrent mask per sequence, reused at every step, as Keras's cells do. The
masks are drawn from the cell's `keras.random.SeedGenerator` before the time
loop, when `keras.layers.RNN` asks the cell for its initial state; drawing them
inside the loop would give a new mask every step and, under JAX, would update
the seed generator from inside `lax.scan`, which is not allowed. When the RNN
is given an explicit `initial_state` it does not ask, so call
`cell.reset_dropout_masks()` before each such call: the masks are then drawn
at every step (plain dropout; under TensorFlow only).
"""

import keras
from keras import ops

from layers._validation import fraction, positive_int


class RecurrentCell(keras.layers.Layer):
    """Base class of the cells; see `SimpleRNNCell` for the arguments."""

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
        positive_int("units", units)
        fraction("dropout", dropout)
        fraction("recurrent_dropout", recurrent_dropout)
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
        self.reset_dropout_masks()

    # Weights ----------------------------------------------------------------

    def _add_cell_weights(self, input_dim, gates, bias_shape=None, bias_initializer=None):
        """Creates `kernel` (input_dim, gates * units), `recurrent_kernel` (units, gates * units) and `bias`."""
        self.kernel = self.add_weight(
            shape=(input_dim, gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, gates * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=bias_shape or (gates * self.units,),
                name="bias",
                initializer=bias_initializer or self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    # States and dropout masks -------------------------------------------------

    def get_initial_state(self, batch_size=None):
        """Zero states, and fresh dropout masks for the sequences to come."""
        self._draw_dropout_masks(batch_size)
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def _mask(self, shape, rate):
        ones = ops.ones(shape, dtype=self.compute_dtype)
        return keras.random.dropout(ones, rate=rate, seed=self.seed_generator)

    def _draw_dropout_masks(self, batch_size):
        self.reset_dropout_masks()
        if batch_size is None or not self.built:
            return
        # Input mask first, then the recurrent one: the order Keras's cells draw them in.
        if self.dropout > 0:
            self._dropout_mask = self._mask((batch_size, self.kernel.shape[0]), self.dropout)
        if self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._mask((batch_size, self.units), self.recurrent_dropout)

    def _apply_dropout(self, inputs, previous_output, training):
        """`x<t>` and the state for the recurrent products, with this sequence's masks in training."""
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            previous_output = previous_output * self.get_recurrent_dropout_mask(previous_output)
        return inputs, previous_output

    def reset_dropout_masks(self):
        """Forgets the masks, so that the next steps draw their own."""
        self._dropout_mask = None
        self._recurrent_dropout_mask = None

    def get_dropout_mask(self, step_input):
        """The input mask of this sequence, `(batch, input_dim)`."""
        if self._dropout_mask is not None:
            return self._dropout_mask
        return self._mask(ops.shape(step_input), self.dropout)

    def get_recurrent_dropout_mask(self, step_input):
        """The recurrent mask of this sequence, `(batch, units)`."""
        if self._recurrent_dropout_mask is not None:
            return self._recurrent_dropout_mask
        return self._mask(ops.shape(step_input), self.recurrent_dropout)

    # Config ---------------------------------------------------------------------

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
