import keras
import numpy as np
import pytest
from keras import ops

from layers import LSTMCell
from tests.harness import run_layer_test
from tests.layers import recurrent_cell_testing as testing

CELL = "LSTMCell"
KWARGS = {"units": 4}


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_harness():
    # kernel (5, 16), recurrent_kernel (4, 16), bias (16,)
    testing.check_harness(run_layer_test, CELL, KWARGS, num_weights=3, num_params=80 + 64 + 16)


def test_harness_with_dropout():
    # The fit step trains with both dropouts on, inside the backend's loop.
    testing.check_harness(
        run_layer_test,
        CELL,
        {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.2, "seed": 1},
        num_weights=3,
        num_params=60 + 36 + 12,
        run_saved_model_check=False,
        run_mixed_precision_check=False,
    )


@pytest.mark.parametrize("masked, return_state", [(False, False), (True, True)])
def test_matches_keras_lstm(masked, return_state):
    testing.check_matches_keras(CELL, KWARGS, masked, return_state)


def test_matches_keras_going_backwards():
    testing.check_matches_keras(CELL, KWARGS, masked=True, return_state=True, go_backwards=True)


def test_bidirectional():
    testing.check_bidirectional(CELL, KWARGS, masked=True)


def test_stacked():
    testing.check_stacked(CELL, KWARGS, masked=True)


def test_single_step_matches_keras_cell():
    testing.check_single_step(CELL, KWARGS)


def test_forget_bias_starts_at_one():
    cell = LSTMCell(3)
    cell.build((None, 2))
    bias = ops.convert_to_numpy(cell.bias)
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    cell = LSTMCell(3, unit_forget_bias=False)
    cell.build((None, 2))
    np.testing.assert_array_equal(ops.convert_to_numpy(cell.bias), np.zeros(12))


def test_equations_by_hand():
    # c<t> = Γu * c̃<t> + Γf * c<t-1>, a<t> = Γo * tanh(c<t>), gates in order u, f, c, o.
    units, rng = 3, np.random.RandomState(5)
    x = rng.normal(size=(2, 4)).astype("float32")
    a = rng.normal(size=(2, units)).astype("float32")
    c = rng.normal(size=(2, units)).astype("float32")
    cell = LSTMCell(units)
    cell(x, [a, c])
    weights = [rng.uniform(-0.5, 0.5, size=w.shape).astype("float32") for w in cell.get_weights()]
    cell.set_weights(weights)
    kernel, recurrent, bias = weights
    z = x @ kernel + a @ recurrent + bias
    z_u, z_f, z_c, z_o = np.split(z, 4, axis=1)
    memory = sigmoid(z_u) * np.tanh(z_c) + sigmoid(z_f) * c
    expected = sigmoid(z_o) * np.tanh(memory)
    output, [state_a, state_c] = cell(x, [a, c])
    np.testing.assert_allclose(ops.convert_to_numpy(output), expected, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(state_a), expected, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(state_c), memory, atol=1e-5)


def test_initial_state_argument():
    x = testing.random_inputs()
    rng = np.random.RandomState(2)
    initial = [rng.normal(size=(3, 4)).astype("float32") for _ in range(2)]
    theirs = keras.layers.LSTM(4, return_state=True)
    ours = keras.layers.RNN(LSTMCell(4), return_state=True)
    theirs(x, initial_state=initial)
    ours(x, initial_state=initial)
    testing.randomise_weights(theirs)
    ours.set_weights(theirs.get_weights())
    testing.assert_all_close(ours(x, initial_state=initial), theirs(x, initial_state=initial))


def test_dropout():
    testing.check_dropout(CELL, {"units": 8})


def test_one_dropout_mask_per_sequence():
    testing.check_one_mask_per_sequence(CELL, {"units": 8})


def test_fit_with_dropout():
    testing.check_fit_with_dropout(CELL, {"units": 8})


def test_config_round_trip_of_the_cell():
    cell = LSTMCell(5, unit_forget_bias=False, recurrent_dropout=0.3, seed=7)
    config = cell.get_config()
    assert LSTMCell.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(revived) is LSTMCell


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units"),
        ({"units": "8"}, "units"),
        ({"units": 4, "dropout": -0.5}, "dropout"),
        ({"units": 4, "recurrent_dropout": 2}, "recurrent_dropout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMCell(**kwargs)
