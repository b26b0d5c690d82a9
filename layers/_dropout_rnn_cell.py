"""Dropout-mask bookkeeping shared by the recurrent cells.

``keras.layers.RNN`` samples a cell's dropout masks once, before its time loop,
but only for cells that derive from Keras's ``DropoutRNNCell`` mixin; inside the
loop the cell then reuses the cached masks (variational dropout: one mask per
sequence, Gal and Ghahramani 2016). Sampling inside the loop instead would give
a new mask every step and, under JAX, would update the seed generator from
inside ``lax.scan``, which is not allowed.

Keras does not export the mixin, and we do not import from ``keras.src``, so we
take it from the bases of the public ``keras.layers.LSTMCell``. Should a future
Keras rename it, the local copy below keeps the same methods; the masks are then
sampled lazily at the first step (correct under TensorFlow, and the dropout
tests would tell us about JAX).
"""

import numbers

import keras
from keras import ops


class _LocalDropoutRNNCell:
    """Fallback with the same interface as Keras's ``DropoutRNNCell``."""

    def _create_dropout_mask(self, step_input, dropout_rate):
        ones = ops.ones_like(step_input)
        return keras.random.dropout(ones, rate=dropout_rate, seed=self.seed_generator)

    def get_dropout_mask(self, step_input):
        if getattr(self, "_dropout_mask", None) is None and self.dropout > 0:
            self._dropout_mask = self._create_dropout_mask(step_input, self.dropout)
        return getattr(self, "_dropout_mask", None)

    def get_recurrent_dropout_mask(self, step_input):
        if getattr(self, "_recurrent_dropout_mask", None) is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._create_dropout_mask(
                step_input, self.recurrent_dropout
            )
        return getattr(self, "_recurrent_dropout_mask", None)

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


def _find_keras_mixin():
    for base in keras.layers.LSTMCell.__mro__:
        if base.__name__ == "DropoutRNNCell":
            return base
    return _LocalDropoutRNNCell


DropoutRNNCellMixin = _find_keras_mixin()


def validate_cell_arguments(units, dropout, recurrent_dropout):
    """Raises the ValueErrors common to every cell."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(
            "Invalid value for argument units. Expected a positive integer. "
            f"Received: units={units!r}"
        )
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(
                f"Invalid value for argument {name}. Expected a float in [0, 1). "
                f"Received: {name}={rate!r}"
            )
