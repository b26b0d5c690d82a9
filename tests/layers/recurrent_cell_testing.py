"""Helpers shared by the recurrent-cell tests.

The shared harness calls a layer with tensors only, while a cell takes
``(inputs, states)`` and loops nowhere; so the harness runs on ``RNNOverCell``,
a test layer that wraps one of our cells in ``keras.layers.RNN``. That exercises
everything the harness checks on the cell itself: its config inside the RNN's,
weight creation, gradients through the time loop, mixed precision, ``.keras``
and SavedModel reload.
"""

import keras
import numpy as np
from keras import ops

from layers import GRUCell, LSTMCell, SimpleRNNCell

CELLS = {"SimpleRNNCell": SimpleRNNCell, "GRUCell": GRUCell, "LSTMCell": LSTMCell}
KERAS_LAYERS = {
    "SimpleRNNCell": keras.layers.SimpleRNN,
    "GRUCell": keras.layers.GRU,
    "LSTMCell": keras.layers.LSTM,
}


@keras.saving.register_keras_serializable(package="seqmodels_tests")
class RNNOverCell(keras.layers.Layer):
    """``keras.layers.RNN(cell_class(**cell_kwargs))`` as one test layer."""

    def __init__(self, cell_class, cell_kwargs, return_sequences=True, **kwargs):
        super().__init__(**kwargs)
        self.cell_class = cell_class
        self.cell_kwargs = dict(cell_kwargs)
        self.return_sequences = return_sequences
        self.supports_masking = True

    def build(self, input_shape):
        cell = CELLS[self.cell_class](**self.cell_kwargs, dtype=self.dtype_policy, name="cell")
        self.rnn = keras.layers.RNN(
            cell, return_sequences=self.return_sequences, dtype=self.dtype_policy, name="rnn"
        )
        self.rnn.build(input_shape)

    def call(self, inputs, mask=None, training=None):
        return self.rnn(inputs, mask=mask, training=training)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        return self.rnn.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "cell_class": self.cell_class,
                "cell_kwargs": self.cell_kwargs,
                "return_sequences": self.return_sequences,
            }
        )
        return config


def random_inputs(batch=3, timesteps=6, features=5, seed=0):
    return np.random.RandomState(seed).normal(size=(batch, timesteps, features)).astype("float32")


def padding_mask(batch=3, timesteps=6):
    """Row 0 full length, the others right-padded to lengths 4 and 2 (and so on)."""
    lengths = [timesteps] + [max(1, timesteps - 2 * i) for i in range(1, batch)]
    return np.arange(timesteps)[None, :] < np.asarray(lengths)[:, None]


def assert_all_close(actual, expected, atol=1e-5):
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected), (len(actual), len(expected))
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(e), atol=atol, rtol=1e-5)


def randomise_weights(layer, seed=1):
    """Non-trivial weights (non-zero biases too) so every term of the equations counts."""
    rng = np.random.RandomState(seed)
    layer.set_weights([rng.uniform(-0.5, 0.5, size=w.shape).astype("float32") for w in layer.get_weights()])


def check_harness(run_layer_test, cell_class, cell_kwargs, num_weights, num_params, **harness_kwargs):
    x = random_inputs()
    units = cell_kwargs["units"]
    run_layer_test(
        RNNOverCell,
        {"cell_class": cell_class, "cell_kwargs": cell_kwargs},
        x,
        expected_output_shape=(x.shape[0], x.shape[1], units),
        expected_output_dtype="float32",
        expected_num_trainable_weights=num_weights,
        expected_num_non_trainable_weights=0,
        expected_num_trainable_params=num_params,
        **harness_kwargs,
    )


def check_matches_keras(cell_class, cell_kwargs, masked, return_state, go_backwards=False):
    """``RNN(our cell)`` with the weights of the Keras layer gives its outputs and states."""
    x = random_inputs()
    mask = padding_mask() if masked else None
    flags = dict(return_sequences=True, return_state=return_state, go_backwards=go_backwards)
    theirs = KERAS_LAYERS[cell_class](**cell_kwargs, **flags)
    ours = keras.layers.RNN(CELLS[cell_class](**cell_kwargs), **flags)
    theirs(x, mask=mask)
    ours(x, mask=mask)
    randomise_weights(theirs)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in theirs.weights
    ]
    ours.set_weights(theirs.get_weights())
    expected = theirs(x, mask=mask)
    actual = ours(x, mask=mask)
    if return_state:
        state_count = len(keras.tree.flatten(ours.cell.state_size))
        assert len(actual) == 1 + state_count
    assert_all_close(actual, expected)
    if masked and not go_backwards:
        # A padded step carries the previous output: the masks really reached the loop.
        sequence = ops.convert_to_numpy(keras.tree.flatten(actual)[0])
        np.testing.assert_allclose(sequence[2, -1], sequence[2, 1], atol=1e-6)


def check_bidirectional(cell_class, cell_kwargs, masked):
    x = random_inputs()
    mask = padding_mask() if masked else None
    theirs = keras.layers.Bidirectional(KERAS_LAYERS[cell_class](**cell_kwargs, return_sequences=True))
    ours = keras.layers.Bidirectional(
        keras.layers.RNN(CELLS[cell_class](**cell_kwargs), return_sequences=True)
    )
    theirs(x, mask=mask)
    ours(x, mask=mask)
    randomise_weights(theirs)
    ours.set_weights(theirs.get_weights())
    assert isinstance(ours.backward_layer.cell, CELLS[cell_class])
    assert_all_close(ours(x, mask=mask), theirs(x, mask=mask))


def check_stacked(cell_class, cell_kwargs, masked):
    """A deep RNN, both as a list of our cells and as stacked RNN layers."""
    x = random_inputs()
    mask = padding_mask() if masked else None
    lower = KERAS_LAYERS[cell_class](**cell_kwargs, return_sequences=True)
    upper = KERAS_LAYERS[cell_class](**cell_kwargs, return_sequences=True, return_state=True)
    upper(lower(x, mask=mask), mask=mask)
    randomise_weights(lower, seed=1)
    randomise_weights(upper, seed=2)
    expected = upper(lower(x, mask=mask), mask=mask)
    keras_weights = lower.get_weights() + upper.get_weights()

    cells = [CELLS[cell_class](**cell_kwargs) for _ in range(2)]
    stacked_cells = keras.layers.RNN(cells, return_sequences=True, return_state=True)
    stacked_cells(x, mask=mask)
    stacked_cells.set_weights(keras_weights)
    outputs, *states = stacked_cells(x, mask=mask)
    # The stacked cells return the states of both layers; the top layer's come last.
    top_states = states[len(states) // 2 :]
    assert_all_close([outputs, *top_states], expected)

    first = keras.layers.RNN(CELLS[cell_class](**cell_kwargs), return_sequences=True)
    second = keras.layers.RNN(CELLS[cell_class](**cell_kwargs), return_sequences=True, return_state=True)
    sequence = first(x, mask=mask)
    second(sequence, mask=mask)
    first.set_weights(lower.get_weights())
    second.set_weights(upper.get_weights())
    assert_all_close(second(first(x, mask=mask), mask=mask), expected)


def check_single_step(cell_class, cell_kwargs):
    """One direct cell call, ``(inputs, states) -> (output, new_states)``, as Keras's cell."""
    x = random_inputs()[:, 0, :]
    theirs = getattr(keras.layers, cell_class)(**cell_kwargs)
    ours = CELLS[cell_class](**cell_kwargs)
    assert ours.state_size == theirs.state_size
    assert ours.output_size == theirs.output_size
    initial = ours.get_initial_state(batch_size=x.shape[0])
    assert_all_close(initial, theirs.get_initial_state(batch_size=x.shape[0]))
    rng = np.random.RandomState(3)
    states = [rng.normal(size=ops.shape(s)).astype("float32") for s in initial]
    theirs(x, states)
    ours(x, states)
    randomise_weights(theirs)
    ours.set_weights(theirs.get_weights())
    assert_all_close(ours(x, states), theirs(x, states))


def check_dropout(cell_class, cell_kwargs):
    """Dropout acts in training only, with new masks for every batch."""
    x = random_inputs(batch=4, timesteps=5, features=16)
    rnn = keras.layers.RNN(
        CELLS[cell_class](**cell_kwargs, dropout=0.5, recurrent_dropout=0.5, seed=1),
        return_sequences=True,
    )
    plain = keras.layers.RNN(CELLS[cell_class](**cell_kwargs), return_sequences=True)
    inference = rnn(x, training=False)
    plain(x)
    plain.set_weights(rnn.get_weights())
    assert_all_close(inference, plain(x))
    first = ops.convert_to_numpy(rnn(x, training=True))
    second = ops.convert_to_numpy(rnn(x, training=True))
    assert np.all(np.isfinite(first))
    assert not np.allclose(first, ops.convert_to_numpy(inference), atol=1e-4)
    assert not np.allclose(first, second, atol=1e-4), "the masks should change between batches"


def check_one_mask_per_sequence(cell_class, cell_kwargs):
    """Variational dropout: every step of a sequence uses the same two masks.

    After the RNN's call the cell still holds the masks it drew for it, so the
    same steps taken one by one with those masks must give the RNN's outputs;
    masks drawn afresh at every step would not.
    """
    x = random_inputs(batch=4, timesteps=5, features=16)
    cell = CELLS[cell_class](**cell_kwargs, dropout=0.5, recurrent_dropout=0.5, seed=2)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    outputs = ops.convert_to_numpy(rnn(x, training=True))
    states = [ops.zeros((4, size)) for size in keras.tree.flatten(cell.state_size)]
    for t in range(x.shape[1]):
        step_output, states = cell(x[:, t], states, training=True)
        assert_all_close(step_output, outputs[:, t])
    # The masks are real: about half of the entries are dropped.
    dropped = float(np.mean(ops.convert_to_numpy(cell.get_dropout_mask(x[:, 0])) == 0))
    assert 0.3 < dropped < 0.7, dropped


def check_fit_with_dropout(cell_class, cell_kwargs):
    """A compiled training step with both dropouts runs (under JAX the masks
    must be drawn outside the scanned time loop) and changes every weight."""
    x = random_inputs(batch=4, timesteps=5, features=6)
    model = keras.Sequential([
        keras.Input((5, 6)),
        keras.layers.RNN(CELLS[cell_class](**cell_kwargs, dropout=0.3, recurrent_dropout=0.3, seed=3)),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.fit(x, np.ones((4, 1), "float32"), batch_size=4, epochs=2, verbose=0)
    after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))
