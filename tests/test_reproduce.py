"""The course's published results, reproduced from the shipped configs through the installed `dnn`.

Each test skips with a reason where ../shared/datasets is absent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, run_dnn, shared_file


def train_config(tmp_path: Path, config: str, train: Path, test: Path | None = None, *extra: str) -> tuple[dict, list[dict]]:
    # the numbers are what these tests check; pictures are test_pictures.py's (and --no-plot
    # spares each run matplotlib's import)
    args = ["train", str(CONFIGS / config), "--set", f"data.train={train}", "--run-dir", str(tmp_path / "run"),
            "--json", "--quiet", "--no-plot", *extra]
    if test is not None:
        args += ["--set", f"data.test={test}"]
    result = run_dnn(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    return json.loads(result.stdout), history


def cost_at(history: list[dict], iteration: int) -> float:
    return next(float(row["cost"]) for row in history if int(row["iteration"]) == iteration)


@pytest.mark.slow
def test_cat_logistic_regression(tmp_path: Path, cat_files: dict[str, Path]) -> None:
    metrics, history = train_config(tmp_path, "cat_logreg.yaml", cat_files["train"], cat_files["test"])
    assert round(metrics["initial_cost"], 6) == 0.693147
    assert round(cost_at(history, 100), 6) == 0.584508
    assert round(cost_at(history, 1900), 6) == 0.140872
    assert round(metrics["train_accuracy"], 4) == 0.9904
    assert metrics["test_accuracy"] == 0.70


@pytest.mark.slow
def test_cat_two_layer(tmp_path: Path, cat_files: dict[str, Path]) -> None:
    metrics, _ = train_config(tmp_path, "cat_2layer.yaml", cat_files["train"], cat_files["test"])
    assert metrics["initial_cost"] == pytest.approx(0.693049735659989, abs=1e-9)
    assert metrics["train_accuracy"] == 1.0
    assert metrics["test_accuracy"] == 0.72


def test_cat_deep(cat_deep_run: dict) -> None:
    metrics = cat_deep_run["metrics"]
    assert metrics["initial_cost"] == pytest.approx(0.771749, abs=1e-6)
    assert round(metrics["train_accuracy"], 4) == 0.9856
    assert metrics["test_accuracy"] == 0.80
    assert metrics["iterations"] == 2500


@pytest.mark.slow
def test_planar_shallow_network(tmp_path: Path) -> None:
    metrics, _ = train_config(tmp_path, "planar.yaml", shared_file("planar400.h5"))
    assert round(metrics["initial_cost"], 6) == 0.693048
    assert metrics["train_accuracy"] >= 0.90
    assert metrics["test_accuracy"] is None


def test_planar_logistic_regression_is_much_worse(tmp_path: Path) -> None:
    metrics, _ = train_config(tmp_path, "planar.yaml", shared_file("planar400.h5"), None,
                              "--set", "model.layers=[2, 1]", "--set", "model.activations=[sigmoid]",
                              "--set", "training.iterations=2000")
    assert metrics["train_accuracy"] < 0.55


@pytest.mark.slow
def test_football_without_regularization(tmp_path: Path) -> None:
    football = shared_file("football2d.h5")
    metrics, _ = train_config(tmp_path, "football.yaml", football, football)
    assert metrics["initial_cost"] == pytest.approx(0.6557412523, abs=1e-10)
    assert round(metrics["train_accuracy"], 3) == 0.948
    assert round(metrics["test_accuracy"], 3) == 0.915


@pytest.mark.slow
def test_housing_reaches_scikit_learns_rmse(tmp_path: Path) -> None:
    """California housing (configs/housing.yaml, 100 epochs of Adam): a test RMSE at or below the
    worst of scikit-learn's MLPRegressor(64, 64) seeds on the same split (52,552 dollars); the
    values `dnn predict` gives for the test table have `dnn evaluate`'s RMSE."""
    test = shared_file("housing_test.csv")
    metrics, history = train_config(tmp_path, "housing.yaml", shared_file("housing_train.csv"), test)
    assert metrics["task"] == "regression" and metrics["epochs"] == 100
    assert metrics["test_rmse"] <= 52_552
    assert float(history[-1]["test_rmse"]) == pytest.approx(metrics["test_rmse"])
    predicted = run_dnn("predict", "--model", tmp_path / "run", test, "-f", "csv", "--keep", "median_house_value")
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(predicted.stdout.splitlines()))
    assert len(rows) == 4128
    errors = [float(r["prediction"]) - float(r["median_house_value"]) for r in rows]
    rmse = (sum(e * e for e in errors) / len(errors)) ** 0.5
    evaluated = json.loads(run_dnn("evaluate", "--model", tmp_path / "run", "--json").stdout)
    assert rmse == pytest.approx(evaluated["rmse"], rel=1e-9) and evaluated["rmse"] == pytest.approx(metrics["test_rmse"], rel=1e-9)
