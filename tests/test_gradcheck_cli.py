"""`dnn gradcheck`: the engine's own cases, a config's architecture, and a wrong derivative caught."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dnncli.network import activations
from dnncli.network.activations import HIDDEN_ACTIVATIONS
from dnncli.network.gradcheck import engine_cases, gradient_check
from tests.conftest import run_dnn


def test_engine_cases_cover_every_activation_with_every_loss() -> None:
    cases = engine_cases()
    plain = [c for c in cases if not (c.options.forward or c.options.cost)]
    pairs = {(c.network.activations[0], c.network.activations[-1], c.network.loss_name) for c in plain}
    assert pairs == {
        (hidden, output, loss)
        for hidden in HIDDEN_ACTIVATIONS
        for output, loss in (("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"), ("linear", "mse"))
    }
    regularized = [c for c in cases if c.options.forward or c.options.cost]
    assert any("masks" in c.options.forward for c in regularized)
    assert any(c.options.cost.get("l2_lambda") for c in regularized)
    for case in cases:
        assert case.Y.shape == (case.network.layer_sizes[-1], case.X.shape[1])


def test_installed_gradcheck_passes_on_the_engine() -> None:
    result = run_dnn("gradcheck", "--json", real=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["epsilon"] == 1e-7 and report["threshold"] == 1e-7
    assert len(report["cases"]) == len(engine_cases())
    for case in report["cases"]:
        assert case["passed"] and 0 <= case["difference"] < 1e-7, case
        assert set(case["parameters"]) == {"W1", "b1", "W2", "b2", "W3", "b3"}

    table = run_dnn("gradcheck")
    assert table.returncode == 0 and table.stderr == ""
    assert "relu -> softmax (cce)" in table.stdout and "FAIL" not in table.stdout


def _wrong_relu_derivative(Z, A, dA, **_):
    dA[Z <= 0] *= 0.5  # as if relu had slope 0.5 below zero
    return dA


def test_a_wrong_derivative_makes_gradcheck_fail_with_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(activations.DERIVATIVES, "relu", _wrong_relu_derivative)
    result = run_dnn("gradcheck", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    verdicts = {c["case"]: c["passed"] for c in report["cases"]}
    failed = {name for name, passed in verdicts.items() if not passed}
    assert failed and all(name.startswith("relu ->") for name in failed)
    assert all(verdicts[name] for name in verdicts if not name.startswith("relu ->"))
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: gradient check failed:") and "relu -> sigmoid (bce)" in line

    table = run_dnn("gradcheck")
    assert table.returncode == 1 and "FAIL" in table.stdout


def test_threshold_and_epsilon_options(tiny_config: Path) -> None:
    strict = run_dnn("gradcheck", "--threshold", "1e-14")
    assert strict.returncode == 1 and "above 1e-14" in strict.stderr
    # a huge step turns the finite differences into a poor approximation
    coarse = run_dnn("gradcheck", "--epsilon", "0.5", "--json")
    assert coarse.returncode == 1
    assert max(c["difference"] for c in json.loads(coarse.stdout)["cases"]) > 1e-4


def test_config_gradcheck_reports_each_layer(tiny_config: Path, tmp_path: Path) -> None:
    result = run_dnn("gradcheck", str(tiny_config), "--examples", "4", "--max-coordinates", "30", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [case] = json.loads(result.stdout)["cases"]
    assert case["case"] == "tiny" and case["passed"]
    params = case["parameters"]
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert params["W1"] == {"difference": params["W1"]["difference"], "checked": 30, "size": 5 * 192}
    assert params["b1"]["checked"] == params["b1"]["size"] == 5
    assert case["checked"] == 30 + 5 + 15 + 3 + 3 + 1
    for value in params.values():
        assert np.isfinite(value["difference"])

    table = run_dnn("gradcheck", str(tiny_config), "--set", "training.l2_lambda=0.5", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "L2 lambda 0.5" in table.stdout and "30 of 960" not in table.stdout and "200 of 960" in table.stdout


def test_config_gradcheck_with_dropout_and_a_wrong_derivative(
    tiny_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["gradcheck", str(tiny_config), "--set", "training.keep_prob=0.7", "--set", "training.l2_lambda=0.3", "--json"]
    result = run_dnn(*args)
    assert result.returncode == 0, result.stderr
    monkeypatch.setitem(activations.DERIVATIVES, "relu", _wrong_relu_derivative)
    broken = run_dnn(*args)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["cases"][0]["difference"] > 1e-3


def test_a_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  train: nowhere.h5\n")
    result = run_dnn("gradcheck", str(config), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "nowhere.h5" in line


def test_library_gradient_check_catches_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    case = engine_cases()[0]
    assert gradient_check(case.network, case.X, case.Y).passed
    monkeypatch.setitem(activations.DERIVATIVES, case.network.activations[0], _wrong_relu_derivative)
    result = gradient_check(case.network, case.X, case.Y)
    assert not result.passed and result.per_parameter["W1"] > result.per_parameter["W3"]
