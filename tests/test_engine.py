"""The training engine called from Python (``dnncli.training``): optimizers, schedules,
mini-batches, L2, dropout, early stopping, float32 and resuming, on small generated data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnncli.network.gradcheck import gradient_check, regularization_cases
from dnncli.network.model import Network
from dnncli.training.batches import batch_selectors, epoch_order, n_batches
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.optimizers import Adam, GradientDescent, Momentum, RMSProp, make_optimizer
from dnncli.training.schedules import Schedule
from dnncli.training.state import TrainState
from tests.model_helpers import fit


def batch_indices(m: int, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """One epoch's batches as index arrays, as the training loop draws them."""
    order = epoch_order(m, rng)
    return list(batch_selectors(m, batch_size, order if order is not None else np.arange(m)))

# ---- optimizers against hand-computed steps ----------------------------------------------------


def one_param(w: float = 1.0) -> dict[str, np.ndarray]:
    return {"W1": np.array([[w]])}


def grad(g: float) -> dict[str, np.ndarray]:
    return {"dW1": np.array([[g]])}


def test_gradient_descent_step() -> None:
    params = one_param()
    GradientDescent(0.1).update(params, grad(0.5))
    assert params["W1"][0, 0] == pytest.approx(0.95, abs=1e-15)


def test_momentum_steps() -> None:
    params, opt = one_param(), Momentum(0.1, beta=0.9)
    opt.update(params, grad(0.5))  # v = 0.1 * 0.5 = 0.05;  W = 1 - 0.1 * 0.05
    assert params["W1"][0, 0] == pytest.approx(0.995, abs=1e-15)
    opt.update(params, grad(0.5))  # v = 0.9 * 0.05 + 0.05 = 0.095;  W = 0.995 - 0.0095
    assert params["W1"][0, 0] == pytest.approx(0.9855, abs=1e-15)


def test_rmsprop_step() -> None:
    params, opt = one_param(), RMSProp(0.1, beta2=0.999, epsilon=1e-8)
    opt.update(params, grad(0.5))  # s = 0.001 * 0.25;  W = 1 - 0.1 * 0.5 / (sqrt(s) + 1e-8)
    assert params["W1"][0, 0] == pytest.approx(1 - 0.05 / (math.sqrt(0.00025) + 1e-8), abs=1e-12)


def test_adam_steps_with_bias_correction() -> None:
    params, opt = one_param(), Adam(0.1, beta1=0.9, beta2=0.999, epsilon=1e-8)
    opt.update(params, grad(0.5))
    # v = 0.05, s = 0.00025; corrected 0.5 and 0.25: W = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    w1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    assert params["W1"][0, 0] == pytest.approx(w1, abs=1e-12)
    opt.update(params, grad(-0.25))
    v = 0.9 * 0.05 + 0.1 * -0.25  # 0.02
    s = 0.999 * 0.00025 + 0.001 * 0.0625
    v_hat, s_hat = v / (1 - 0.9**2), s / (1 - 0.999**2)
    assert params["W1"][0, 0] == pytest.approx(w1 - 0.1 * v_hat / (math.sqrt(s_hat) + 1e-8), abs=1e-12)
    assert opt.t == 2


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_optimizer_state_dict_round_trip_continues_identically(name: str) -> None:
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(3, 2)), "b1": np.zeros((3, 1))}
    grads = [{"dW1": rng.normal(size=(3, 2)), "db1": rng.normal(size=(3, 1))} for _ in range(4)]
    a = make_optimizer(name, 0.01)
    pa = {k: v.copy() for k, v in params.items()}
    for g in grads[:2]:
        a.update(pa, g)
    state = a.state_dict()
    assert all(isinstance(v, (np.ndarray, int, float, str)) for v in state.values())
    b = make_optimizer(name, 0.5)  # a different rate: the state brings the saved one back
    b.load_state_dict(state)
    pb = {k: v.copy() for k, v in pa.items()}
    for g in grads[2:]:
        a.update(pa, g)
        b.update(pb, g)
    for key in params:
        np.testing.assert_array_equal(pa[key], pb[key])


def test_optimizer_state_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="adam"):
        Momentum(0.1).load_state_dict(Adam(0.1).state_dict())


# ---- schedules ---------------------------------------------------------------------------------


def test_schedules_by_hand() -> None:
    assert Schedule("constant", 0.1)(1000) == 0.1
    exponential = Schedule("exponential", 0.1, decay_rate=0.5, decay_steps=2)
    assert exponential(0) == 0.1
    assert exponential(1) == pytest.approx(0.1 * math.sqrt(0.5))
    assert exponential(2) == pytest.approx(0.05)
    inverse = Schedule("inverse_time", 0.1, decay_rate=1.0, decay_steps=2)
    assert [inverse(e) for e in (0, 1, 2, 3, 4)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.1 / 3])
    step = Schedule("step", 0.1, decay_rate=0.5, decay_steps=10)
    assert [step(e) for e in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_schedule_sets_the_learning_rate_of_each_epoch() -> None:
    X, Y, net = binary_problem()
    result = fit(net, X, Y, learning_rate=0.1, iterations=30, record_every=10,
                 schedule="step", decay_rate=0.5, decay_steps=10)
    rates = {row["iteration"]: row["learning_rate"] for row in result.history.rows}
    assert rates[0] == 0.1 and rates[10] == 0.05 and rates[20] == 0.025


# ---- mini-batches ------------------------------------------------------------------------------


def test_batches_sizes_and_last_smaller_batch() -> None:
    batches = batch_indices(10, 3, np.random.default_rng(0))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert n_batches(10, 3) == 4 and n_batches(10, None) == 1 and n_batches(10, 64) == 1


def test_batches_shuffle_deterministically_per_seed() -> None:
    first = np.concatenate(batch_indices(50, 8, np.random.default_rng(7)))
    again = np.concatenate(batch_indices(50, 8, np.random.default_rng(7)))
    other = np.concatenate(batch_indices(50, 8, np.random.default_rng(8)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, np.arange(50))
    rng = np.random.default_rng(7)
    epoch1, epoch2 = batch_indices(50, 8, rng), batch_indices(50, 8, rng)
    assert not np.array_equal(np.concatenate(epoch1), np.concatenate(epoch2))  # a new order each epoch


def test_mini_batches_keep_examples_and_targets_together() -> None:
    X = np.arange(20, dtype=float).reshape(2, 10)
    Y = np.arange(10, dtype=float).reshape(1, 10)
    seen = []
    for columns in batch_selectors(10, 4, epoch_order(10, np.random.default_rng(1))):
        Xb, Yb = X[:, columns], Y[:, columns]
        np.testing.assert_array_equal(Xb[0], Yb[0])  # column j of X holds example j
        seen += Yb[0].tolist()
    assert sorted(seen) == list(range(10))
    in_order = [Y[0, columns].tolist() for columns in batch_selectors(10, 4, None)]
    assert in_order == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def binary_problem(m: int = 60, seed: int = 0, dtype: type = np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3, m))
    y = (X[0] + 0.5 * X[1] > 0).astype(np.int64)
    net = Network.create([3, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="he", seed=1, dtype=dtype)
    return X.astype(dtype), net.encode_targets(y), net


def test_mini_batch_budget_in_epochs_and_iterations() -> None:
    X, Y, net = binary_problem(m=50)
    result = fit(net, X, Y, learning_rate=0.05, epochs=3, batch_size=16, record_every=1)
    assert result.iterations == 3 * 4 and result.epochs == 3
    assert [row["epoch"] for row in result.history.rows] == [0, 1, 2, 3]
    assert [row["iteration"] for row in result.history.rows] == [0, 4, 8, 12]
    X, Y, net = binary_problem(m=50)
    result = fit(net, X, Y, learning_rate=0.05, iterations=6, batch_size=16, record_every=1)
    assert result.iterations == 6 and result.epochs == 2


@pytest.mark.parametrize("l2_lambda", [0.0, 0.3])
def test_a_mini_batch_run_passes_over_the_training_set_once_for_its_last_row_and_metrics(
    monkeypatch: pytest.MonkeyPatch, l2_lambda: float
) -> None:
    """The last row's pass (its training accuracy) is the one the final metrics come from: the
    same parameters, the same numbers, one pass over the whole set fewer at the end of a run."""
    X, Y, net = binary_problem(m=50)
    passes = []
    forward = Network.forward

    def counted(self: Network, A: np.ndarray, *args: object, **kwargs: object) -> tuple:
        passes.append(A is X)
        return forward(self, A, *args, **kwargs)

    monkeypatch.setattr(Network, "forward", counted)
    result = fit(net, X, Y, learning_rate=0.05, epochs=3, batch_size=16, optimizer="adam", l2_lambda=l2_lambda)
    assert passes.count(True) == 2  # row 0 and the last row; none more for the final metrics
    AL, caches = forward(net, X)
    assert result.final_cost == net.cost(AL, caches, Y, l2_lambda)
    assert result.train_accuracy == net.accuracy(AL, Y) == result.history.rows[-1]["train_accuracy"]


def test_a_restored_best_epoch_is_passed_over_again_for_the_final_metrics() -> None:
    X, Y, net = binary_problem(m=60)
    result = fit(net, X[:, :40], Y[:, :40], X_val=X[:, 40:], Y_val=Y[:, 40:], learning_rate=2.0, epochs=6,
                 batch_size=8, keep_best=True, record_every=1)
    AL, caches = net.forward(X[:, :40])
    assert result.final_cost == net.cost(AL, caches, Y[:, :40])
    assert result.train_accuracy == net.accuracy(AL, Y[:, :40])


def test_full_batch_given_as_batch_size_is_the_full_batch_loop() -> None:
    X, Y, net = binary_problem()
    a = fit(net, X, Y, learning_rate=0.1, iterations=20)
    X, Y, net2 = binary_problem()
    b = fit(net2, X, Y, learning_rate=0.1, iterations=20, batch_size=1000)
    assert a.final_cost == b.final_cost


def test_adam_beats_gradient_descent_on_mini_batches() -> None:
    costs = {}
    for name in ("gd", "adam"):
        X, Y, net = binary_problem(m=200)
        result = fit(net, X, Y, learning_rate=0.01, epochs=20, batch_size=32,
                     optimizer=name, rng=np.random.default_rng(0))
        costs[name] = result.final_cost
    assert costs["adam"] < costs["gd"]


# ---- L2 and dropout ----------------------------------------------------------------------------


def test_l2_adds_the_course_terms_to_cost_and_gradients() -> None:
    X, Y, net = binary_problem(m=10)
    AL, caches = net.forward(X)
    lam, m = 0.7, 10
    squares = sum(float(np.sum(net.params[f"W{l}"] ** 2)) for l in (1, 2, 3))
    assert net.cost(AL, caches, Y, lam) == pytest.approx(net.cost(AL, caches, Y) + lam / (2 * m) * squares, rel=1e-14)
    plain, regularized = net.backward(AL, Y, caches), net.backward(AL, Y, caches, lam)
    for l in (1, 2, 3):
        np.testing.assert_allclose(regularized[f"dW{l}"], plain[f"dW{l}"] + lam / m * net.params[f"W{l}"], rtol=1e-13)
        np.testing.assert_array_equal(regularized[f"db{l}"], plain[f"db{l}"])


def test_dropout_masks_hidden_layers_only_and_is_off_for_prediction() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 20000))
    net = Network.create([3, 50, 40, 1], ["relu", "relu", "sigmoid"], init="he", seed=1)
    AL, caches = net.forward(X, keep_probs=[0.5, 0.8], rng=np.random.default_rng(1))
    D1, D2, D3 = (c.D for c in caches)
    assert D3 is None
    assert set(np.unique(D1)) == {0.0, 2.0} and set(np.unique(D2)) == {0.0, 1.25}
    assert abs(np.mean(D1 > 0) - 0.5) < 0.01 and abs(np.mean(D2 > 0) - 0.8) < 0.01
    # inverted dropout keeps the expected activation: the next layer's input is unbiased
    plain_A1 = np.maximum(caches[0].Z, 0)
    assert np.mean(caches[1].A_prev) == pytest.approx(np.mean(plain_A1), rel=0.02)
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(net.predict_proba(X), net.forward(X)[0])


def test_dropout_masks_repeat_with_the_seed() -> None:
    X, _, net = binary_problem()
    a = net.forward(X, [0.7, 0.7], np.random.default_rng(3))[0]
    b = net.forward(X, [0.7, 0.7], np.random.default_rng(3))[0]
    c = net.forward(X, [0.7, 0.7], np.random.default_rng(4))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_gradient_check_with_l2_dropout_softmax_and_mse() -> None:
    cases = regularization_cases()
    names = " ".join(c.name for c in cases)
    assert "softmax" in names and "mse" in names and "L2" in names and "dropout" in names
    for case in cases:
        result = gradient_check(case.network, case.X, case.Y, options=case.options)
        assert result.difference < 1e-7, (case.name, result.per_parameter)


def test_gradient_check_catches_a_backward_pass_that_ignores_the_dropout_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in regularization_cases() if "dropout" in c.name and "L2" not in c.name)
    original = Network.backward

    def backward_without_masks(self, AL, Y, caches, l2_lambda=0.0):
        return original(self, AL, Y, [c._replace(D=None) for c in caches], l2_lambda)

    monkeypatch.setattr(Network, "backward", backward_without_masks)
    result = gradient_check(case.network, case.X, case.Y, options=case.options)
    assert result.difference > 1e-3


def test_dropout_training_uses_the_generator_and_repeats() -> None:
    results = []
    for seed in (5, 5, 6):
        X, Y, net = binary_problem()
        results.append(fit(net, X, Y, learning_rate=0.1, iterations=40, keep_prob=0.8,
                           rng=np.random.default_rng(seed)).final_cost)
    assert results[0] == results[1] and results[0] != results[2]


# ---- early stopping ----------------------------------------------------------------------------


def test_early_stopping_counts_checks_and_keeps_the_best() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    params = {"W1": np.array([1.0])}
    assert not stopper.check(0, 1.0, params)
    params["W1"][0] = 2.0
    assert not stopper.check(1, 0.995, params)  # not better by more than min_delta
    assert stopper.check(2, 0.999, params)  # second check without improvement: stop
    assert stopper.best_epoch == 0 and stopper.best_cost == 1.0
    assert stopper.restore(params) and params["W1"][0] == 1.0
    copy = EarlyStopping()
    copy.load_state_dict(stopper.state_dict())
    assert copy.best_epoch == 0 and copy.best_params["W1"][0] == 1.0 and copy.checks_without_improvement == 2


def overfitting_problem():
    """A third of 30 training labels flipped, clean validation labels: the validation cost falls
    while the rule is learnt, then rises while the noise is memorized."""
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(5, 30)), rng.normal(size=(5, 300))
    y, yv = (X[0] > 0).astype(np.int64), (Xv[0] > 0).astype(np.int64)
    flipped = rng.random(30) < 0.3
    y[flipped] = 1 - y[flipped]
    net = Network.create([5, 100, 1], ["relu", "sigmoid"], init="he", seed=2)
    return X, net.encode_targets(y), Xv, net.encode_targets(yv), net


def test_early_stopping_stops_and_restores_the_best_parameters() -> None:
    X, Y, Xv, Yv, net = overfitting_problem()
    result = fit(net, X, Y, learning_rate=0.01, iterations=3000, record_every=10, X_val=Xv, Y_val=Yv,
                 optimizer="adam", early_stopping=True, patience=5)
    assert result.stopped_early and result.iterations < 3000
    val_costs = [row["val_cost"] for row in result.history.rows]
    assert 0 < int(np.argmin(val_costs)) < len(val_costs) - 1
    best_row = result.history.rows[int(np.argmin(val_costs))]
    assert result.best_epoch == best_row["iteration"]
    assert val_costs[-1] > min(val_costs)  # it rose after the best
    assert result.val_cost == pytest.approx(min(val_costs), rel=1e-12)  # the network holds the best
    assert result.restored_best


def test_early_stopping_needs_validation_data() -> None:
    X, Y, net = binary_problem()
    with pytest.raises(ValueError, match="validation"):
        fit(net, X, Y, learning_rate=0.1, iterations=5, early_stopping=True)


# ---- float32 ------------------------------------------------------------------------------------


class DtypeCheckingAdam(Adam):
    """Adam that fails the test if any gradient or parameter is not float32."""

    def update(self, params, grads):
        assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
        super().update(params, grads)
        assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}
        assert {v.dtype for v in self.v.values()} | {s.dtype for s in self.s.values()} == {np.dtype(np.float32)}


def test_float32_training_never_upcasts() -> None:
    X, Y, net = binary_problem(dtype=np.float32)
    assert X.dtype == Y.dtype == np.float32
    result = fit(net, X, Y, learning_rate=0.01, epochs=5, batch_size=16, l2_lambda=0.1, keep_prob=0.9,
                 optimizer="adam", state=TrainState(optimizer=DtypeCheckingAdam(0.01)), rng=np.random.default_rng(0))
    assert net.dtype == np.float32 and math.isfinite(result.final_cost)


def test_float32_matches_float64_closely() -> None:
    finals = []
    for dtype in (np.float64, np.float32):
        X, Y, net = binary_problem(dtype=dtype)
        finals.append(fit(net, X, Y, learning_rate=0.1, iterations=100).final_cost)
    assert finals[1] == pytest.approx(finals[0], rel=1e-4)


# ---- resuming ----------------------------------------------------------------------------------


def test_resuming_from_a_saved_state_gives_the_same_parameters() -> None:
    """What a checkpoint holds (parameters, optimizer state, generator state, TrainState) is
    enough to continue with exactly the same steps: Adam, shuffled mini-batches, dropout."""
    settings = dict(learning_rate=0.01, batch_size=16, keep_prob=0.8, record_every=1, optimizer="adam")

    X, Y, net = binary_problem()
    straight = fit(net, X, Y, epochs=6, rng=np.random.default_rng(9), **settings)

    X, Y, net = binary_problem()
    rng, state = np.random.default_rng(9), TrainState()
    fit(net, X, Y, epochs=3, rng=rng, state=state, **settings)
    saved_params = {k: v.copy() for k, v in net.params.items()}
    saved_optimizer, saved_rng = state.optimizer.state_dict(), rng.bit_generator.state

    X, Y, fresh = binary_problem()
    fresh.params = saved_params
    state.optimizer = Adam(0.01)
    state.optimizer.load_state_dict(saved_optimizer)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = saved_rng
    resumed = fit(fresh, X, Y, epochs=6, rng=rng2, state=state, **settings)

    for key in net.params:
        np.testing.assert_array_equal(straight.network.params[key], resumed.network.params[key])
    assert [r["cost"] for r in resumed.history.rows] == [r["cost"] for r in straight.history.rows]
