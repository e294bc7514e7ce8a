"""The `dnn train` command itself: the run directory it writes, --json, --quiet, --set,
--print-config, --force, numbered runs, bad input and divergence (in-process, and once through
the installed command)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dnncli import __version__
from dnncli.cli.app import app
from dnncli.model.file import load_model
from tests.conftest import make_images, one_error_line, run_dnn, write_h5

METRIC_KEYS = {"initial_cost", "final_cost", "train_accuracy", "test_accuracy", "iterations", "seconds"}


def run_entries(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def test_train_writes_a_complete_run_directory(tmp_path: Path, tiny_config: Path) -> None:
    tiny_config.write_text(tiny_config.read_text().replace("  plot: none\n", ""))  # the default: loss.png
    result = run_dnn("train", str(tiny_config), cwd=tmp_path, real=True)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "tiny"
    assert run_entries(tmp_path / "runs") == ["latest", "tiny"]
    assert (tmp_path / "runs" / "latest").resolve() == run_dir.resolve()
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.yaml", "history.csv", "loss.png", "metrics.json", "model.h5"]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["iterations"] == 60 and metrics["final_cost"] < metrics["initial_cost"]
    assert metrics["train_accuracy"] >= 0.9  # the tiny set is easy: brightness decides the class
    assert metrics["first_layer"] == "plain" and "small" in metrics["first_layer_reason"]

    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [0, 10, 20, 30, 40, 50, 60]
    assert float(rows[0]["cost"]) == pytest.approx(metrics["initial_cost"])
    assert float(rows[-1]["cost"]) == pytest.approx(metrics["final_cost"])
    assert rows[0]["test_accuracy"] != ""

    assert (run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bundle = load_model(run_dir)
    assert bundle.network.layer_sizes == [192, 5, 3, 1]
    assert bundle.network.activations == ["relu", "relu", "sigmoid"]
    assert bundle.input_shape == (8, 8, 3) and bundle.input_divisor == 255
    assert bundle.classes == ["dark", "bright"] and bundle.tool_version == __version__
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["model"]["layers"] == [192, 5, 3, 1]
    assert yaml.safe_load(bundle.config) == resolved

    # the summary table is on stdout; no progress bar when stderr is not a terminal
    assert "train accuracy" in result.stdout and str(run_dir.relative_to(tmp_path)) in result.stdout


def test_the_resolved_config_reproduces_the_run(tmp_path: Path, tiny_config: Path) -> None:
    first = run_dnn("train", str(tiny_config), "--json", cwd=tmp_path)
    resolved = tmp_path / "runs" / "tiny" / "config.yaml"
    second = run_dnn("train", str(resolved), "--json", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["final_cost"] == b["final_cost"] and b["run_dir"].endswith("tiny-2")
    wa, wb = load_model(a["run_dir"]).network.params, load_model(b["run_dir"]).network.params
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key])


def test_json_prints_only_the_metrics(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--json", "--verbose", cwd=tmp_path)
    assert result.returncode == 0
    metrics = json.loads(result.stdout)
    assert METRIC_KEYS <= set(metrics)
    assert "Cost after iteration 0: " in result.stderr
    assert "Cost after iteration 50: " in result.stderr and "Cost after iteration 60" not in result.stderr


def test_quiet_prints_nothing_on_stderr(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--quiet", "--verbose", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""


def test_earlier_runs_are_never_overwritten(tmp_path: Path, tiny_config: Path) -> None:
    runs = tmp_path / "runs"
    for _ in range(2):
        assert run_dnn("train", str(tiny_config), "--quiet", cwd=tmp_path).returncode == 0
    assert run_entries(runs) == ["latest", "tiny", "tiny-2"]
    assert (runs / "latest").resolve() == (runs / "tiny-2").resolve()

    marker = runs / "tiny" / "mine.txt"
    marker.write_text("keep me")
    refused = run_dnn("train", str(tiny_config), "--run-dir", str(runs / "tiny"), cwd=tmp_path)
    one_error_line(refused, 2, "already exists", "--force")
    assert refused.stdout == ""
    assert marker.read_text() == "keep me"

    # --force replaces only what a run wrote: a file of the user's in it is never deleted
    kept = run_dnn("train", str(tiny_config), "--run-dir", str(runs / "tiny"), "--force", cwd=tmp_path)
    one_error_line(kept, 2, "is not a dnn run directory", "mine.txt")
    assert kept.stdout == ""
    assert marker.read_text() == "keep me"
    marker.unlink()
    forced = run_dnn("train", str(tiny_config), "--run-dir", str(runs / "tiny"), "--force", "--quiet", cwd=tmp_path)
    assert forced.returncode == 0
    assert (runs / "tiny" / "model.h5").exists()
    assert run_entries(runs) == ["latest", "tiny", "tiny-2"]  # no staging or backup directory left


def test_overrides_and_print_config(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--set", "training.iterations=7", "--set", "model.hidden=[4]",
                     "--print-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["training"]["iterations"] == 7 and printed["model"]["hidden"] == [4]
    assert not (tmp_path / "runs").exists()

    trained = run_dnn("train", str(tiny_config), "--set", "training.iterations=7", "--set", "model.hidden=[4]",
                      "--json", cwd=tmp_path)
    metrics = json.loads(trained.stdout)
    assert metrics["iterations"] == 7
    assert load_model(metrics["run_dir"]).network.layer_sizes == [192, 4, 1]


def test_in_process_train_and_version(tmp_path: Path, tiny_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(tiny_config), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iterations"] == 60
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"dnn {__version__}"
    bad = runner.invoke(app, ["train", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "no such config file" in bad.stderr


def test_python_dash_m_behaves_like_dnn(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dnncli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"dnn {__version__}"


# ---- bad input: one line, a non-zero exit, nothing left behind ------------------------------


def _config(tmp_path: Path, file: str, **sections: str) -> Path:
    text = {"name": "bad", "output": f"{{dir: {tmp_path / 'runs'}}}", "training": "{iterations: 5}", **sections}
    path = tmp_path / f"{file}.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in text.items()))
    return path


@pytest.fixture
def bad_inputs(tmp_path: Path, tiny_data: dict[str, Path]) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    d = tmp_path / "data"
    (d / "notes.h5").write_text("not hdf5 at all")
    X, y = make_images(6, shape=(2, 2, 1))
    write_h5(d / "mismatch.h5", train_set_x=X, train_set_y=y[:5])
    write_h5(d / "labels.h5", train_set_x=X, train_set_y=np.array([0, 1, 2, 0, 1, 1]), list_classes=np.array([b"a", b"b"]))
    write_h5(d / "keys.h5", images=X, labels=y)
    write_h5(d / "ten.h5", train_set_x=X, train_set_y=np.arange(6) % 10,
             list_classes=np.array([str(i).encode() for i in range(10)]))
    train = tiny_data["train"]
    return {
        "missing config": ([str(tmp_path / "nope.yaml")], ("nope.yaml", "no such config file")),
        "not yaml": ([str(_config(tmp_path, "notyaml", model="[1"))], ("notyaml.yaml", "not valid YAML")),
        "unknown key": ([str(_config(tmp_path, "unknown", data=f"{{train: {train}, tset: x}}"))], ("unknown key 'data.tset'", "did you mean 'test'")),
        "missing data": ([str(_config(tmp_path, "missingdata", data="{train: nowhere.h5}"))], ("nowhere.h5", "no such data file")),
        "not hdf5": ([str(_config(tmp_path, "nothdf5", data=f"{{train: {d / 'notes.h5'}}}"))], ("notes.h5", "not an HDF5 file")),
        "missing key": ([str(_config(tmp_path, "missingkey", data=f"{{train: {d / 'keys.h5'}}}"))], ("keys.h5", "no dataset 'train_set_x' (keys there: images, labels)")),
        "m mismatch": ([str(_config(tmp_path, "mismatch", data=f"{{train: {d / 'mismatch.h5'}}}"))], ("6 examples", "has 5")),
        "labels not 0/1": ([str(_config(tmp_path, "labels", data=f"{{train: {d / 'labels.h5'}}}"))], ("labels.h5", "label 2, expected 0 or 1")),
        "input size": ([str(_config(tmp_path, "inputsize", data=f"{{train: {train}}}", model="{layers: [12288, 4, 1]}"))], ("model.layers[0] = 12288", "n_x = 192")),
        "sigmoid for 10 classes": ([str(_config(tmp_path, "sigmoid10", data=f"{{train: {d / 'ten.h5'}}}", model="{output_activation: sigmoid}"))], ("10 classes", "use softmax")),
        "negative learning rate": ([str(_config(tmp_path, "neglr", data=f"{{train: {train}}}")), "--set", "training.learning_rate=-1"], ("training.learning_rate: must be > 0",)),
        "bad override": ([str(_config(tmp_path, "badoverride", data=f"{{train: {train}}}")), "--set", "training"], ("expected KEY=VALUE",)),
    }


@pytest.mark.parametrize("case", [
    "missing config", "not yaml", "unknown key", "missing data", "not hdf5", "missing key", "m mismatch",
    "labels not 0/1", "input size", "sigmoid for 10 classes", "negative learning rate", "bad override",
])
def test_bad_input_gives_one_line_and_leaves_nothing(tmp_path: Path, bad_inputs: dict, case: str) -> None:
    args, fragments = bad_inputs[case]
    result = run_dnn("train", *args, cwd=tmp_path)
    one_error_line(result, 2, *fragments)
    assert result.stdout == ""
    assert run_entries(tmp_path / "runs") == []


def test_a_diverging_run_stops_with_exit_code_3(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--set", "model.output_activation=linear", "--set", "model.hidden=[]",
                     "--set", "training.learning_rate=100", "--quiet", cwd=tmp_path)
    one_error_line(result, 3, "diverged", "lower learning rate")
    assert result.stdout == ""
    assert not (tmp_path / "runs" / "tiny" / "model.h5").exists()
