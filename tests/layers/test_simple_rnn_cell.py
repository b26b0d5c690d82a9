import keras
import numpy as np
import pytest
from keras import ops

from layers import SimpleRNNCell
from tests.harness import run_layer_test
from tests.layers import recurrent_cell_testing as testing

CELL = "SimpleRNNCell"
KWARGS = {"units": 4}


def test_harness():
    # kernel (5, 4), recurrent_kernel (4, 4), bias (4,)
    testing.check_harness(run_layer_test, CELL, KWARGS, num_weights=3, num_params=20 + 16 + 4)


def test_without_bias_with_relu_matches_keras():
    testing.check_matches_keras(
        CELL, {"units": 3, "activation": "relu", "use_bias": False}, masked=True, return_state=True
    )


@pytest.mark.parametrize("masked, return_state", [(False, False), (True, True)])
def test_matches_keras_simple_rnn(masked, return_state):
    testing.check_matches_keras(CELL, KWARGS, masked, return_state)


def test_matches_keras_going_backwards():
    testing.check_matches_keras(CELL, KWARGS, masked=True, return_state=True, go_backwards=True)


def test_bidirectional():
    testing.check_bidirectional(CELL, KWARGS, masked=True)


def test_stacked():
    testing.check_stacked(CELL, KWARGS, masked=True)


def test_single_step_matches_keras_cell():
    testing.check_single_step(CELL, KWARGS)


def test_equation_by_hand():
    # a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a) with Keras's transposed storage.
    cell = SimpleRNNCell(2)
    x = np.array([[1.0, -2.0, 0.5]], "float32")
    a = np.array([[0.3, -0.1]], "float32")
    cell(x, [a])
    kernel = np.arange(6, dtype="float32").reshape(3, 2) / 10
    recurrent = np.array([[0.5, -0.5], [1.0, 2.0]], "float32")
    bias = np.array([0.1, -0.2], "float32")
    cell.set_weights([kernel, recurrent, bias])
    output, [state] = cell(x, [a])
    expected = np.tanh(x @ kernel + a @ recurrent + bias)
    np.testing.assert_allclose(ops.convert_to_numpy(output), expected, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(state), expected, atol=1e-6)


def test_dropout():
    testing.check_dropout(CELL, {"units": 8})


def test_one_dropout_mask_per_sequence():
    testing.check_one_mask_per_sequence(CELL, {"units": 8})


def test_fit_with_dropout():
    testing.check_fit_with_dropout(CELL, {"units": 8})


def test_one_dropout_mask_per_sequence():
    # With no recurrence and the same input at every step, a<t> = tanh((x * m) W)
    # is the same at every step only if the mask m is.
    x = np.repeat(np.random.RandomState(0).normal(size=(4, 1, 16)), 6, axis=1).astype("float32")
    rnn = keras.layers.RNN(SimpleRNNCell(8, dropout=0.5, use_bias=False, seed=3), return_sequences=True)
    rnn(x)
    kernel = rnn.get_weights()[0]
    rnn.set_weights([kernel, np.zeros((8, 8), "float32")])
    outputs = ops.convert_to_numpy(rnn(x, training=True))
    np.testing.assert_allclose(outputs, np.repeat(outputs[:, :1], 6, axis=1), atol=1e-6)
    assert not np.allclose(outputs, ops.convert_to_numpy(rnn(x, training=False)), atol=1e-4)


def test_config_round_trip_of_the_cell():
    cell = SimpleRNNCell(5, activation="relu", dropout=0.1, recurrent_dropout=0.2, seed=7)
    config = cell.get_config()
    assert SimpleRNNCell.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(revived) is SimpleRNNCell


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units"),
        ({"units": -3}, "units"),
        ({"units": 2.5}, "units"),
        ({"units": 4, "dropout": 1.0}, "dropout"),
        ({"units": 4, "recurrent_dropout": -0.1}, "recurrent_dropout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimpleRNNCell(**kwargs)


def test_unknown_activation():
    with pytest.raises(ValueError):
        SimpleRNNCell(4, activation="no_such_activation")
