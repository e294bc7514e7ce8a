"""The embedded demo: `dnn data demo` then `dnn train configs/demo.yaml`, as `make demo` runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, run_dnn


@pytest.mark.slow
def test_demo_data_then_demo_config_trains_well(tmp_path: Path) -> None:
    made = run_dnn("data", "demo", cwd=tmp_path, real=True)
    assert made.returncode == 0, made.stderr
    listed = made.stdout.split()
    assert listed[:2] == ["datasets/demo_train.h5", "datasets/demo_test.h5"]
    assert all((tmp_path / p).exists() for p in listed)
    assert len([p for p in listed if p.endswith(".png")]) == 6

    again = run_dnn("data", "demo", "--out", "copy", cwd=tmp_path)
    assert again.returncode == 0
    assert (tmp_path / "copy/demo_train.h5").stat().st_size == (tmp_path / "datasets/demo_train.h5").stat().st_size

    trained = run_dnn("train", str(CONFIGS / "demo.yaml"), "--json", cwd=tmp_path, real=True)
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads(trained.stdout)
    assert metrics["train_accuracy"] >= 0.95
    assert metrics["test_accuracy"] >= 0.85
    assert (tmp_path / "runs" / "demo" / "model.h5").exists()
