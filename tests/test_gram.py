"""The Gram path of the first layer (W1 = a W1_0 - C X^T): the same training as the plain path,
chosen automatically only where it is exact and pays, W1 explicit wherever it is seen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dnncli.config import load_config
from dnncli.errors import ConfigError
from dnncli.model.file import load_model
from dnncli.network.model import Network
from dnncli.training.first_layer import GramFirstLayer, choose_first_layer
from dnncli.training.settings import Hooks
from dnncli.training.state import TrainState
from tests.conftest import run_dnn
from tests.model_helpers import fit

N_X, M = 300, 48


def _problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((N_X, M))
    y = (X[:40].mean(axis=0) > 0.5).astype(np.int64)
    return X, y


def _train(first_layer: str, optimizer: str, **options: object):
    X, y = _problem()
    network = Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1)
    Y = network.encode_targets(y)
    result = fit(
        network, X, Y, learning_rate=0.05, epochs=40, record_every=7, optimizer=optimizer,
        rng=np.random.default_rng(3), first_layer=first_layer, **options,
    )
    return result


@pytest.mark.parametrize(
    "optimizer, options",
    [
        ("gd", {}),
        ("gd", {"l2_lambda": 0.7}),
        ("momentum", {"l2_lambda": 0.3, "batch_size": 16}),
        ("gd", {"batch_size": 10, "shuffle": False}),
        ("momentum", {"batch_size": 16, "keep_prob": (0.8, 1.0)}),
    ],
    ids=["gd", "gd-l2", "momentum-l2-minibatch", "gd-minibatch-in-order", "momentum-hidden-dropout"],
)
def test_gram_path_ends_with_the_plain_paths_parameters(optimizer: str, options: dict) -> None:
    plain = _train("plain", optimizer, **options)
    gram = _train("gram", optimizer, **options)
    assert (plain.first_layer, gram.first_layer) == ("plain", "gram")
    for key, value in plain.network.params.items():
        np.testing.assert_allclose(gram.network.params[key], value, rtol=0, atol=1e-9, err_msg=key)
    assert gram.final_cost == pytest.approx(plain.final_cost, rel=1e-9)
    # every history row (costs and accuracies seen with W1 formed at that moment) agrees too
    assert len(gram.history.rows) == len(plain.history.rows)
    for row_plain, row_gram in zip(plain.history.rows, gram.history.rows):
        assert row_gram["cost"] == pytest.approx(row_plain["cost"], rel=1e-9)
        assert row_gram["train_accuracy"] == row_plain["train_accuracy"]


def test_forward_cost_and_gradients_are_the_plain_ones_in_coefficient_form() -> None:
    X, y = _problem(1)
    network = Network.create([N_X, 5, 1], ["relu", "sigmoid"], init="xavier", seed=2)
    Y = network.encode_targets(y)
    gram = GramFirstLayer(network, X)
    # move away from the start so that a != 1 and C != 0
    gram.params["W1_a"][...] = 0.9
    gram.params["W1_C"][...] = np.random.default_rng(0).normal(scale=1e-3, size=gram.params["W1_C"].shape)
    gram.sync()
    columns = np.array([3, 17, 5, 40])
    AL, caches = gram.forward(columns)
    AL_plain, caches_plain = network.forward(X[:, columns])
    np.testing.assert_allclose(AL, AL_plain, rtol=1e-12)
    assert gram.cost(AL, caches, Y[:, columns], 0.4) == pytest.approx(
        network.cost(AL_plain, caches_plain, Y[:, columns], 0.4), rel=1e-12
    )
    grads = gram.backward(AL, Y[:, columns], caches, 0.4)
    grads_plain = network.backward(AL_plain, Y[:, columns], caches_plain, 0.4)
    dW1 = gram.explicit(float(grads["dW1_a"][0, 0]), grads["dW1_C"])
    np.testing.assert_allclose(dW1, grads_plain["dW1"], rtol=0, atol=1e-13)
    for key in ("db1", "dW2", "db2"):
        np.testing.assert_allclose(grads[key], grads_plain[key], rtol=1e-12, atol=1e-15)
    # columns outside the batch get no data gradient, only the L2 shrinkage
    outside = np.setdiff1d(np.arange(M), columns)
    np.testing.assert_allclose(grads["dW1_C"][:, outside], 0.4 / 4 * gram.params["W1_C"][:, outside])


def test_the_epoch_hook_sees_w1_and_the_momentum_velocity_in_explicit_form() -> None:
    """What a checkpoint saves mid-run on the Gram path is what the plain path would save."""
    seen: dict[str, list] = {"plain": [], "gram": []}
    for path in seen:
        X, y = _problem()
        network = Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1)

        class Hook(Hooks):
            def on_epoch_end(self, state, optimizer_state, network=network, path=path) -> None:
                state_dict = optimizer_state()
                assert "v_W1" in state_dict and "v_W1_C" not in state_dict
                seen[path].append((state.epoch, network.params["W1"].copy(), state_dict["v_W1"].copy()))

        fit(network, X, network.encode_targets(y), learning_rate=0.05, epochs=30, record_every=10,
            optimizer="momentum", first_layer=path, hooks=Hook())
    gram_epochs = [epoch for epoch, _, _ in seen["gram"]]
    assert 10 in gram_epochs and 30 in gram_epochs
    plain_by_epoch = {epoch: (W1, v) for epoch, W1, v in seen["plain"]}
    for epoch, W1, v in seen["gram"]:
        np.testing.assert_allclose(W1, plain_by_epoch[epoch][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(v, plain_by_epoch[epoch][1], rtol=0, atol=1e-12)


def test_auto_takes_the_gram_path_only_where_it_is_exact_and_pays() -> None:
    cat = {"layer_sizes": [12288, 20, 7, 5, 1], "m": 209, "epochs": 2500}
    assert choose_first_layer("auto", optimizer="gd", **cat)[0] == "gram"
    assert choose_first_layer("auto", optimizer="momentum", **cat)[0] == "gram"
    path, why = choose_first_layer("auto", optimizer="adam", **cat)
    assert path == "plain" and "adam" in why
    assert choose_first_layer("auto", optimizer="rmsprop", **cat)[0] == "plain"
    # more examples than inputs: G costs more than it saves
    assert choose_first_layer("auto", optimizer="gd", layer_sizes=[784, 128, 10], m=8000, epochs=20)[0] == "plain"
    # G over the memory budget
    path, why = choose_first_layer("auto", optimizer="gd", budget_mb=0.1, **cat)
    assert path == "plain" and "budget" in why
    # logistic regression on the cat set: one row, but W1 @ X still streams all of X every step
    assert choose_first_layer("auto", optimizer="gd", layer_sizes=[12288, 1], m=209, epochs=2000)[0] == "gram"
    # planar / football: two inputs, nothing to win
    assert choose_first_layer("auto", optimizer="gd", layer_sizes=[2, 20, 3, 1], m=211, epochs=30000)[0] == "plain"
    # a tiny problem: nothing to win
    assert choose_first_layer("auto", optimizer="gd", layer_sizes=[192, 5, 1], m=40, epochs=100)[0] == "plain"
    # a resumed momentum run (its velocity is explicit) stays plain
    assert choose_first_layer("auto", optimizer="momentum", has_state=True, **cat)[0] == "plain"
    assert choose_first_layer("plain", optimizer="gd", **cat)[0] == "plain"
    assert choose_first_layer("gram", optimizer="gd", budget_mb=0.1, **cat)[0] == "gram"
    with pytest.raises(ValueError, match="adam"):
        choose_first_layer("gram", optimizer="adam", **cat)


def test_config_switch_is_validated(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data: {train: x.h5}\ntraining: {optimizer: adam, first_layer: gram}\n")
    with pytest.raises(ConfigError, match="first_layer = gram.*gd or momentum"):
        load_config(config)
    config.write_text("data: {train: x.h5}\ntraining: {first_layer: fast}\n")
    with pytest.raises(ConfigError, match="training.first_layer"):
        load_config(config)
    config.write_text("data: {train: x.h5}\ntraining: {gram_budget_mb: 0}\n")
    with pytest.raises(ConfigError, match="gram_budget_mb"):
        load_config(config)


def test_dnn_train_saves_the_same_model_on_either_path(tmp_path, tiny_config) -> None:
    models = {}
    for path in ("plain", "gram"):
        result = run_dnn(
            "train", str(tiny_config), "--set", f"training.first_layer={path}", "--set", "training.l2_lambda=0.1",
            "--run-dir", str(tmp_path / path), "--json", "--quiet",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["first_layer"] == path
        models[path] = load_model(tmp_path / path / "model.h5").network.params
        assert json.loads((tmp_path / path / "metrics.json").read_text())["first_layer"] == path
    for key, value in models["plain"].items():
        np.testing.assert_allclose(models["gram"][key], value, rtol=0, atol=1e-9, err_msg=key)


def test_float32_network_stays_float32_and_follows_the_plain_path() -> None:
    """G, P and C are kept in float64 (Z1 = a P - C G cancels); the network stays float32."""
    results = {}
    for path in ("plain", "gram"):
        X, y = _problem()
        network = Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1, dtype=np.float32)
        X = X.astype(np.float32)
        results[path] = fit(network, X, network.encode_targets(y), learning_rate=0.05, iterations=60,
                            record_every=20, first_layer=path, l2_lambda=0.2)
    for key, value in results["plain"].network.params.items():
        assert results["gram"].network.params[key].dtype == np.float32
        np.testing.assert_allclose(results["gram"].network.params[key], value, rtol=0, atol=2e-5, err_msg=key)
    assert results["gram"].final_cost == pytest.approx(results["plain"].final_cost, rel=1e-5)


def test_a_gram_momentum_run_hands_on_its_state_in_explicit_form() -> None:
    """After train() on the Gram path (whose optimizer steps packed coefficients), the state it
    leaves continues on the plain path as an uninterrupted plain run would."""
    X, y = _problem()

    def network() -> Network:
        return Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1)

    plain = network()
    Y = plain.encode_targets(y)
    fit(plain, X, Y, learning_rate=0.05, epochs=30, record_every=10, optimizer="momentum", first_layer="plain")
    halves = network()
    state = TrainState()
    first = fit(halves, X, Y, learning_rate=0.05, epochs=15, record_every=5, optimizer="momentum",
                first_layer="gram", state=state)
    assert first.first_layer == "gram"
    assert {"v_W1", "v_b1", "v_W2", "v_b3"} <= set(state.optimizer.state_dict())
    second = fit(halves, X, Y, learning_rate=0.05, epochs=30, record_every=5, optimizer="momentum", state=state)
    assert second.first_layer == "plain"  # the optimizer resumes with a velocity
    for key, value in plain.params.items():
        np.testing.assert_allclose(halves.params[key], value, rtol=0, atol=1e-9, err_msg=key)


def _problem_with_held_out_sets() -> dict[str, np.ndarray]:
    X, y = _problem()
    X_test, y_test = _problem(5)
    X_val, y_val = _problem(6)
    return {"X": X, "y": y, "X_test": X_test[:, :20], "y_test": y_test[:20], "X_val": X_val[:, :16], "y_val": y_val[:16]}


@pytest.mark.parametrize(
    "options",
    [{}, {"optimizer": "momentum", "batch_size": 16, "l2_lambda": 0.3}, {"keep_best": True, "dtype": np.float32}],
    ids=["gd", "momentum-minibatch", "keep-best-float32"],
)
def test_history_rows_score_the_test_and_validation_sets_as_the_plain_path_does(monkeypatch, options) -> None:
    """A history row on the Gram path runs the held-out sets through layer 1 in coefficient form
    (no W1 formed): the same costs and accuracies as the plain path's explicit W1. W1 itself is
    formed only where it is read: at the end, and at every row when early stopping keeps the
    best parameters."""
    monkeypatch.setattr("dnncli.training.first_layer.SYNC_SECONDS", float("inf"))
    formed = []
    explicit = GramFirstLayer.explicit
    monkeypatch.setattr(GramFirstLayer, "explicit", lambda self, *a, **k: formed.append(1) or explicit(self, *a, **k))
    options = dict(options)
    dtype = options.pop("dtype", np.float64)
    results = {}
    for path in ("plain", "gram"):
        sets = _problem_with_held_out_sets()
        network = Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1, dtype=dtype)
        Xs = {key: sets[key].astype(dtype) for key in ("X", "X_test", "X_val")}
        Ys = {key: network.encode_targets(sets[key]) for key in ("y", "y_test", "y_val")}
        formed.clear()
        results[path] = fit(
            network, Xs["X"], Ys["y"], X_test=Xs["X_test"], Y_test=Ys["y_test"], X_val=Xs["X_val"], Y_val=Ys["y_val"],
            learning_rate=0.05, epochs=40, record_every=7, rng=np.random.default_rng(3), first_layer=path, **options,
        )
    gram_rows, plain_rows = results["gram"].history.rows, results["plain"].history.rows
    assert len(gram_rows) == len(plain_rows) >= 6
    tolerance = 1e-9 if dtype == np.float64 else 1e-5
    for row_plain, row_gram in zip(plain_rows, gram_rows):
        for key in ("test_cost", "val_cost"):
            assert row_gram[key] == pytest.approx(row_plain[key], rel=tolerance), (key, row_plain["iteration"])
        for key in ("train_accuracy", "test_accuracy", "val_accuracy"):
            assert row_gram[key] == row_plain[key], (key, row_plain["iteration"])
    if options.get("keep_best"):
        assert results["gram"].best_epoch == results["plain"].best_epoch
        assert len(formed) >= len(gram_rows) - 1  # W1 handed to early stopping at every row
    else:
        momentum = options.get("optimizer") == "momentum"
        assert len(formed) == (2 if momentum else 1)  # at the end (and the velocity in explicit form)


def test_the_epoch_hook_runs_on_the_gram_path_when_a_hook_says_it_is_due(monkeypatch) -> None:
    """Hooks.epoch_end_due: a checkpoint every 4 epochs is seen every 4 epochs, with W1 formed
    as the plain path has it; a hook with no on_epoch_end of its own asks for nothing."""
    monkeypatch.setattr("dnncli.training.first_layer.SYNC_SECONDS", float("inf"))
    seen: dict[str, list] = {"plain": [], "gram": []}
    assert not Hooks().epoch_end_due(TrainState(), recorded=True)
    for path in seen:
        X, y = _problem()
        network = Network.create([N_X, 6, 4, 1], ["relu", "tanh", "sigmoid"], init="xavier", seed=1)

        class EveryFour(Hooks):
            def epoch_end_due(self, state, recorded) -> bool:
                return state.epoch % 4 == 0

            def on_epoch_end(self, state, optimizer_state, network=network, path=path) -> None:
                seen[path].append((state.epoch, network.params["W1"].copy()))

        fit(network, X, network.encode_targets(y), learning_rate=0.05, epochs=13, record_every=5,
            first_layer=path, hooks=EveryFour())
    assert [epoch for epoch, _ in seen["gram"]] == [4, 8, 12, 13]
    plain = dict(seen["plain"])
    for epoch, W1 in seen["gram"]:
        np.testing.assert_allclose(W1, plain[epoch], rtol=0, atol=1e-12)
