"""`dnn evaluate`: the metrics, the quality gates, and data that does not fit the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dnncli.cli.app import app
from dnncli.model.evaluate import confusion_matrix, per_class_scores, regression_scores
from dnncli.model.file import load_model
from tests.conftest import make_images, one_error_line, run_dnn, write_h5
from tests.model_helpers import make_model


# ---- the metrics -----------------------------------------------------------------------------


def test_confusion_matrix_and_scores_by_hand() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    y_pred = np.array([0, 1, 0, 1, 1, 2, 0, 2, 1, 1])  # class 3 never predicted
    C = confusion_matrix(y_true, y_pred, 4)
    assert C.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 1, 2, 0], [0, 1, 0, 0]]
    s = per_class_scores(C)
    np.testing.assert_allclose(s["precision"], [2 / 3, 2 / 5, 1, 0])
    np.testing.assert_allclose(s["recall"], [2 / 3, 1, 1 / 2, 0])
    np.testing.assert_allclose(s["f1"], [2 / 3, 2 * 0.4 / 1.4, 2 * 0.5 / 1.5, 0])
    assert s["support"].tolist() == [3, 2, 4, 1]


def test_regression_scores_by_hand() -> None:
    out = np.array([[1.0, 2.0, 4.0]])
    target = np.array([[1.0, 3.0, 2.0]])
    scores = regression_scores(out, target)
    assert scores["mse"] == pytest.approx(5 / 3) and scores["mae"] == pytest.approx(1.0)
    assert scores["r2"] == pytest.approx(1 - 5 / 2)


def test_multiclass_report_matches_the_network_outputs(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5", (8, 8), n_classes=3, classes=["a", "b", "c"])
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(60, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 3, size=60)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    result = run_dnn("evaluate", str(data), "--model", str(model), "--json", real=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    net = load_model(model).network
    AL = net.predict_proba(X.reshape(60, -1).T / 255.0)
    predicted = np.argmax(AL, axis=0)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == y))
    expected_loss = -np.mean(np.log(AL[y, np.arange(60)]))
    assert report["log_loss"] == pytest.approx(expected_loss, rel=1e-9)
    assert report["average"] == "macro" and report["classes"] == ["a", "b", "c"]
    assert report["f1"] == pytest.approx(np.mean([row["f1"] for row in report["per_class"]]))
    C = np.array(report["confusion_matrix"])
    assert C.sum() == 60 and C.sum(axis=1).tolist() == np.bincount(y, minlength=3).tolist()
    assert C.sum(axis=0).tolist() == np.bincount(predicted, minlength=3).tolist()


# ---- the cat set: accuracy 0.80, gates ---------------------------------------------------------


def test_cat_test_set_accuracy_and_quality_gates(cat_deep_run: dict, cat_files: dict) -> None:
    run_dir, test = str(cat_deep_run["run_dir"]), str(cat_files["test"])
    report = json.loads(run_dnn("evaluate", test, "--model", run_dir, "--json").stdout)
    assert report["accuracy"] == pytest.approx(0.80) and report["examples"] == 50
    assert report["log_loss"] == pytest.approx(cat_deep_run["metrics"]["test_cost"], rel=1e-12)
    assert sum(row["support"] for row in report["per_class"]) == 50

    passed = run_dnn("evaluate", test, "--model", run_dir, "--min-accuracy", "0.75", "--min-f1", "0.8", real=True)
    assert passed.returncode == 0 and passed.stderr == ""
    assert "confusion matrix" in passed.stdout and "non-cat" in passed.stdout

    failed = run_dnn("evaluate", test, "--model", run_dir, "--min-accuracy", "0.9", "--json")
    one_error_line(failed, 1, "accuracy 0.8000 is below --min-accuracy 0.9")
    assert json.loads(failed.stdout)["accuracy"] == pytest.approx(0.80)  # the report is still printed
    f1 = run_dnn("evaluate", test, "--model", run_dir, "--min-f1", "0.99", "--json")
    one_error_line(f1, 1, "F1 0.8571 is below --min-f1 0.99")


def test_a_64x64x3_model_refuses_a_28x28_grayscale_set(cat_deep_run: dict, tmp_path: Path) -> None:
    digits = write_h5(tmp_path / "digits.h5", images=np.zeros((20, 28, 28), np.uint8), labels=np.arange(20) % 2)
    result = run_dnn("evaluate", str(digits), "--model", str(cat_deep_run["run_dir"]), "--x-key", "images", "--y-key", "labels")
    one_error_line(result, 2, str(digits), "(28, 28)", "(64, 64, 3)")
    assert result.stdout == ""


# ---- bad input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("bin") / "model.h5", (8, 8, 3), classes=["dark", "bright"])


def test_an_hdf5_file_with_other_keys(tmp_path: Path, binary_model: Path) -> None:
    X, y = make_images(10)
    data = write_h5(tmp_path / "other.h5", pixels=X, answers=y)
    result = run_dnn("evaluate", str(data), "--model", str(binary_model))
    one_error_line(result, 2, str(data), "keys there: answers, pixels", "--x-key")
    assert result.stdout == ""
    named = run_dnn("evaluate", str(data), "--model", str(binary_model), "--x-key", "pixels", "--y-key", "answers", "--json")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["examples"] == 10
    wrong = run_dnn("evaluate", str(data), "--model", str(binary_model), "--x-key", "pixels", "--y-key", "labels")
    one_error_line(wrong, 2, "no dataset 'labels'")


def test_training_keys_are_used_when_there_are_no_test_keys(tmp_path: Path, binary_model: Path) -> None:
    X, y = make_images(10)
    data = write_h5(tmp_path / "train.h5", train_set_x=X, train_set_y=y)
    result = run_dnn("evaluate", str(data), "--model", str(binary_model), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["examples"] == 10


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: p.write_text("not hdf5"), "not an HDF5 file"),
        (lambda p: None, "no such data file"),
        (lambda p: write_h5(p, test_set_x=make_images(4)[0], test_set_y=np.array([0, 1, 5, 0])), "label 5"),
        (lambda p: write_h5(p, test_set_x=make_images(4)[0], test_set_y=np.array([0, 1, 0])), "must match"),
    ],
    ids=["text-file", "missing", "label-out-of-range", "label-count"],
)
def test_bad_data_files_are_one_line_exit_2(tmp_path: Path, binary_model: Path, make, fragment: str) -> None:
    data = tmp_path / "data.h5"
    make(data)
    result = run_dnn("evaluate", str(data), "--model", str(binary_model))
    one_error_line(result, 2, str(data), fragment)


def test_a_corrupt_model_file_is_one_line_exit_2(tmp_path: Path) -> None:
    X, y = make_images(4)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    model = tmp_path / "model.h5"
    model.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # the HDF5 signature, then nothing
    one_error_line(run_dnn("evaluate", str(data), "--model", str(model)), 2, str(model))


def test_in_process_tables_and_gate_exit_code(tmp_path: Path, binary_model: Path) -> None:
    X, y = make_images(30, seed=2)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    result = CliRunner().invoke(app, ["evaluate", str(data), "--model", str(binary_model), "--min-accuracy", "1.0"])
    report = load_model(binary_model).network.predict(X.reshape(30, -1).T / 255.0)
    accuracy = np.mean(report == y)
    assert accuracy < 1.0
    assert result.exit_code == 1
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    assert result.stderr == f"error: quality gate failed: accuracy {accuracy:.4f} is below --min-accuracy 1 ({data})\n"


def test_threshold_moves_the_binary_decision_and_is_refused_otherwise(tmp_path: Path, binary_model: Path) -> None:
    X, y = make_images(20, seed=3)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    everything_positive = run_dnn("evaluate", str(data), "--model", str(binary_model), "--threshold", "0", "--json")
    assert np.sum(json.loads(everything_positive.stdout)["confusion_matrix"], axis=0).tolist() == [0, 20]
    multiclass = make_model(tmp_path / "m.h5", (8, 8, 3), n_classes=3)
    refused = run_dnn("evaluate", str(data), "--model", str(multiclass), "--threshold", "0.3")
    one_error_line(refused, 2, "--threshold")
