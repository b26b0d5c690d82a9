import keras
import numpy as np
import pytest
from keras import ops

from layers import GRUCell
from tests.harness import run_layer_test
from tests.layers import recurrent_cell_testing as testing

CELL = "GRUCell"


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


@pytest.mark.parametrize("reset_after", [True, False])
def test_harness(reset_after):
    # kernel (5, 12), recurrent_kernel (4, 12), bias (2, 12) or (12,)
    bias = 24 if reset_after else 12
    testing.check_harness(
        run_layer_test,
        CELL,
        {"units": 4, "reset_after": reset_after},
        num_weights=3,
        num_params=60 + 48 + bias,
    )


@pytest.mark.parametrize(
    "reset_after, masked, return_state",
    [(True, False, False), (True, True, True), (False, False, False), (False, True, True)],
)
def test_matches_keras_gru(reset_after, masked, return_state):
    testing.check_matches_keras(CELL, {"units": 4, "reset_after": reset_after}, masked, return_state)


def test_matches_keras_going_backwards():
    testing.check_matches_keras(CELL, {"units": 4}, masked=True, return_state=True, go_backwards=True)


@pytest.mark.parametrize("reset_after", [True, False])
def test_bidirectional(reset_after):
    testing.check_bidirectional(CELL, {"units": 4, "reset_after": reset_after}, masked=True)


def test_stacked():
    testing.check_stacked(CELL, {"units": 4}, masked=True)


@pytest.mark.parametrize("reset_after", [True, False])
def test_single_step_matches_keras_cell(reset_after):
    testing.check_single_step(CELL, {"units": 4, "reset_after": reset_after})


def test_without_bias_matches_keras():
    testing.check_matches_keras(CELL, {"units": 3, "use_bias": False}, masked=True, return_state=False)


@pytest.mark.parametrize("reset_after", [True, False])
def test_equations_by_hand(reset_after):
    units, rng = 3, np.random.RandomState(5)
    x = rng.normal(size=(2, 4)).astype("float32")
    c = rng.normal(size=(2, units)).astype("float32")
    cell = GRUCell(units, reset_after=reset_after)
    cell(x, [c])
    weights = [rng.uniform(-0.5, 0.5, size=w.shape).astype("float32") for w in cell.get_weights()]
    cell.set_weights(weights)
    kernel, recurrent, bias = weights
    w_u, w_r, w_c = np.split(kernel, 3, axis=1)
    u_u, u_r, u_c = np.split(recurrent, 3, axis=1)
    if reset_after:
        (b_u, b_r, b_c), (bb_u, bb_r, bb_c) = np.split(bias[0], 3), np.split(bias[1], 3)
        update = sigmoid(x @ w_u + b_u + c @ u_u + bb_u)
        reset = sigmoid(x @ w_r + b_r + c @ u_r + bb_r)
        candidate = np.tanh(x @ w_c + b_c + reset * (c @ u_c + bb_c))
    else:
        b_u, b_r, b_c = np.split(bias, 3)
        update = sigmoid(x @ w_u + c @ u_u + b_u)
        reset = sigmoid(x @ w_r + c @ u_r + b_r)
        candidate = np.tanh(x @ w_c + (reset * c) @ u_c + b_c)
    expected = update * c + (1 - update) * candidate
    output, [state] = cell(x, [c])
    np.testing.assert_allclose(ops.convert_to_numpy(output), expected, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(state), expected, atol=1e-5)


def test_bare_state_tensor():
    cell = GRUCell(3)
    x, c = np.ones((2, 4), "float32"), np.zeros((2, 3), "float32")
    output, state = cell(x, c)
    assert not isinstance(state, (list, tuple))
    np.testing.assert_allclose(ops.convert_to_numpy(output), ops.convert_to_numpy(state))


def test_dropout():
    testing.check_dropout(CELL, {"units": 8})


def test_one_dropout_mask_per_sequence():
    testing.check_one_mask_per_sequence(CELL, {"units": 8})


def test_fit_with_dropout():
    testing.check_fit_with_dropout(CELL, {"units": 8})


def test_config_round_trip_of_the_cell():
    cell = GRUCell(5, reset_after=False, dropout=0.1, seed=7)
    config = cell.get_config()
    assert config["reset_after"] is False
    assert GRUCell.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(revived) is GRUCell


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units"),
        ({"units": True}, "units"),
        ({"units": 4, "dropout": 1.5}, "dropout"),
        ({"units": 4, "recurrent_dropout": 1.0}, "recurrent_dropout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRUCell(**kwargs)
