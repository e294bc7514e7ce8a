"""`dnn info`, and the conventions every command shares (help examples, stdout/stderr, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_dnn
from tests.model_helpers import make_model


def test_info_describes_the_cat_run(cat_deep_run: dict) -> None:
    run_dir = cat_deep_run["run_dir"]
    result = run_dnn("info", str(run_dir), "--json", real=True)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["layer_sizes"] == [12288, 20, 7, 5, 1]
    assert [layer["activation"] for layer in info["layers"]] == ["relu", "relu", "relu", "sigmoid"]
    assert [layer["parameters"] for layer in info["layers"]] == [245780, 147, 40, 6]
    assert info["parameters"] == 245973
    assert info["input_shape"] == [64, 64, 3] and info["input_dtype"] == "uint8" and info["input_divisor"] == 255
    assert info["classes"] == ["non-cat", "cat"]
    assert info["metrics"]["test_accuracy"] == pytest.approx(0.80)
    assert info["metrics"] == cat_deep_run["metrics"]
    assert "name: cat_deep" in info["config"] and "learning_rate: 0.0075" in info["config"]

    table = run_dnn("info", str(run_dir / "model.h5"))
    assert table.returncode == 0 and table.stderr == ""
    for text in ("245,973", "20 x 12288", "(64, 64, 3), uint8 values divided by 255", "non-cat, cat", "name: cat_deep"):
        assert text in table.stdout


def test_info_uses_the_latest_run_then_dnn_model(tmp_path: Path, tiny_config: Path) -> None:
    missing = run_dnn("info", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("error: no model given and runs/latest does not exist")
    assert len(missing.stderr.strip().splitlines()) == 1

    assert run_dnn("train", str(tiny_config), "--quiet", cwd=tmp_path).returncode == 0
    latest = json.loads(run_dnn("info", "--json", cwd=tmp_path).stdout)
    assert latest["path"].endswith("runs/tiny/model.h5") and latest["layer_sizes"] == [192, 5, 3, 1]

    other = make_model(tmp_path / "other.h5", (4, 4), n_classes=3)
    from_env = json.loads(run_dnn("info", "--json", cwd=tmp_path, env={"DNN_MODEL": str(other)}).stdout)
    assert from_env["layer_sizes"] == [16, 6, 3] and from_env["classes"] == ["c0", "c1", "c2"]


@pytest.mark.parametrize("content", [b"", b"plain text\n", b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_info_on_a_corrupt_model_is_one_line_exit_2(tmp_path: Path, content: bytes) -> None:
    model = tmp_path / "model.h5"
    model.write_bytes(content)
    result = run_dnn("info", str(model), real=True)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {model}") and "Traceback" not in result.stderr


def test_an_hdf5_file_that_is_not_a_model(tmp_path: Path) -> None:
    from tests.conftest import make_images, write_h5

    data = write_h5(tmp_path / "data.h5", train_set_x=make_images(3)[0])
    result = run_dnn("info", str(data))
    assert result.returncode == 2
    assert result.stderr == f"error: {data}: not a dnn model file (no 'format = dnn-model' attribute)\n"


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "gradcheck", "info", "data demo", "data import", "data inspect", "data split"])
def test_every_command_help_has_an_example(command: str) -> None:
    result = run_dnn(*command.split(), "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout


def test_help_lists_the_exit_codes_and_completion() -> None:
    result = run_dnn("--help")
    assert result.returncode == 0
    assert "--install-completion" in result.stdout
    assert "1 check or gate failed" in result.stdout and "2 bad usage or input" in result.stdout
    assert "141 closed pipe" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert run_dnn("predict").returncode == 2  # no paths
    assert run_dnn("evaluate", "x.h5", "--min-accuracy", "1.5").returncode == 2
    assert run_dnn("predict", "x.png", "--format", "xml").returncode == 2
    assert run_dnn("no-such-command").returncode == 2
