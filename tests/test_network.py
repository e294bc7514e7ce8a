"""The network engine: activations, initializers, losses, shapes, backpropagation."""

from __future__ import annotations

import numpy as np
import pytest

from dnncli.network.activations import ACTIVATIONS, DERIVATIVES, HIDDEN_ACTIVATIONS, sigmoid
from dnncli.network.gradcheck import gradient_check, relative_difference
from dnncli.network.initializers import initialize_parameters
from dnncli.network.losses import LOSSES
from dnncli.network.model import Network

OUTPUT_LOSS_PAIRS = [("sigmoid", 1), ("softmax", 4), ("linear", 2)]


def random_problem(output: str, n_out: int, m: int = 7, n_x: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_x, m))
    if output == "sigmoid":
        Y = (rng.random((1, m)) > 0.5).astype(float)
    elif output == "softmax":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, m)]
    else:
        Y = rng.normal(size=(n_out, m))
    return X, Y


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,n_out", OUTPUT_LOSS_PAIRS)
def test_gradient_check_every_activation_and_loss(hidden: str, output: str, n_out: int) -> None:
    X, Y = random_problem(output, n_out)
    net = Network.create([5, 4, 3, n_out], [hidden, hidden, output], init="he", seed=3, leaky_slope=0.05)
    result = gradient_check(net, X, Y)
    assert result.difference < 1e-7, result.per_parameter
    assert result.checked == net.n_params
    assert set(result.per_parameter) == set(net.params)


def test_gradient_check_detects_a_wrong_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    X, Y = random_problem("sigmoid", 1)
    net = Network.create([5, 4, 1], ["tanh", "sigmoid"], init="he", seed=3)
    monkeypatch.setitem(DERIVATIVES, "tanh", lambda Z, A, dA, **_: dA * (1 - A))  # wrong: not 1 - A^2
    result = gradient_check(net, X, Y)
    assert not result.passed
    assert result.per_parameter["W1"] > 1e-3


def test_gradient_check_samples_coordinates_of_wide_layers() -> None:
    X, Y = random_problem("sigmoid", 1, n_x=300)
    net = Network.create([300, 3, 1], ["relu", "sigmoid"], init="xavier", seed=1)
    result = gradient_check(net, X, Y, max_coordinates=20)
    assert result.checked == 20 + 3 + 3 + 1
    assert result.passed


def test_gradient_check_leaves_parameters_unchanged() -> None:
    X, Y = random_problem("softmax", 4)
    net = Network.create([5, 3, 4], ["relu", "softmax"], seed=2)
    before = {k: v.copy() for k, v in net.params.items()}
    gradient_check(net, X, Y)
    for key, value in net.params.items():
        np.testing.assert_array_equal(value, before[key])


def test_initializers_draw_the_course_stream() -> None:
    np.random.seed(1)
    expected_W1 = np.random.randn(4, 3) / np.sqrt(3)
    expected_W2 = np.random.randn(2, 4) / np.sqrt(4)
    params = initialize_parameters([3, 4, 2], "xavier", seed=1)
    np.testing.assert_array_equal(params["W1"], expected_W1)
    np.testing.assert_array_equal(params["W2"], expected_W2)
    assert params["b1"].shape == (4, 1) and not params["b1"].any()

    np.random.seed(2)
    expected = np.random.randn(4, 3) * 0.01
    np.testing.assert_array_equal(initialize_parameters([3, 4], "random", seed=2)["W1"], expected)
    np.random.seed(3)
    expected = np.random.randn(4, 3) * np.sqrt(2 / 3)
    np.testing.assert_array_equal(initialize_parameters([3, 4], "he", seed=3)["W1"], expected)
    assert not initialize_parameters([3, 4], "zeros")["W1"].any()


def test_shapes_follow_the_course_table() -> None:
    net = Network.create([6, 5, 3, 1], ["relu", "tanh", "sigmoid"])
    X = np.ones((6, 9))
    AL, caches = net.forward(X)
    assert AL.shape == (1, 9)
    assert [c.Z.shape for c in caches] == [(5, 9), (3, 9), (1, 9)]
    assert caches[0].A_prev is X  # the input is cached, not copied
    grads = net.backward(AL, np.zeros((1, 9)), caches)
    assert sorted(grads) == ["dW1", "dW2", "dW3", "db1", "db2", "db3"]  # no gradient for X
    for key, value in net.params.items():
        assert grads["d" + key].shape == value.shape


def test_sigmoid_is_stable_for_any_z() -> None:
    z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = sigmoid(z)
    np.testing.assert_allclose(a, [[0.0, 1 / (1 + np.exp(40.0)), 0.5, 1 / (1 + np.exp(-40.0)), 1.0]], rtol=1e-12, atol=1e-300)
    assert a[0, 2] == 0.5


@pytest.mark.parametrize("loss,ZL,Y", [
    ("binary_crossentropy", np.array([[1000.0, -1000.0]]), np.array([[0.0, 1.0]])),
    ("categorical_crossentropy", np.array([[1000.0], [-1000.0]]), np.array([[0.0], [1.0]])),
])
def test_saturated_outputs_give_a_finite_cost(loss: str, ZL: np.ndarray, Y: np.ndarray) -> None:
    output = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    AL = ACTIVATIONS[output](ZL)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        cost = LOSSES[loss](ZL, AL, Y)
    assert np.isfinite(cost) and cost == pytest.approx(2000 / Y.shape[1] if loss == "binary_crossentropy" else 2000)


def test_binary_crossentropy_matches_the_course_formula() -> None:
    rng = np.random.default_rng(0)
    ZL = rng.normal(size=(1, 50))
    Y = (rng.random((1, 50)) > 0.5).astype(float)
    AL = sigmoid(ZL)
    course = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / 50
    assert LOSSES["binary_crossentropy"](ZL, AL, Y) == pytest.approx(course, rel=1e-14)


def test_softmax_columns_sum_to_one_and_targets_one_hot() -> None:
    net = Network.create([3, 4], ["softmax"], seed=0)
    Y = net.encode_targets(np.array([0, 3, 1]))
    np.testing.assert_array_equal(Y, np.eye(4)[:, [0, 3, 1]])
    A = net.predict_proba(np.random.default_rng(0).normal(size=(3, 3)) * 100)
    np.testing.assert_allclose(A.sum(axis=0), 1.0)
    assert np.all(np.isfinite(A))


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_derivatives_match_numerical_slopes(name: str) -> None:
    Z = np.linspace(-3, 3, 13).reshape(1, -1) + 0.05  # avoid the kink of relu at exactly 0
    A = ACTIVATIONS[name](Z, slope=0.1)
    h = 1e-6
    numeric = (ACTIVATIONS[name](Z + h, slope=0.1) - ACTIVATIONS[name](Z - h, slope=0.1)) / (2 * h)
    analytic = DERIVATIVES[name](Z, A, np.ones_like(Z), slope=0.1)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_invalid_architectures_are_refused() -> None:
    with pytest.raises(ValueError, match="hidden activation"):
        Network.create([3, 2, 1], ["softmax", "sigmoid"])
    with pytest.raises(ValueError, match="activations"):
        Network.create([3, 2, 1], ["relu"])


def test_relative_difference_of_equal_vectors_is_zero() -> None:
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_difference(np.ones(3), -np.ones(3)) == pytest.approx(1.0)
