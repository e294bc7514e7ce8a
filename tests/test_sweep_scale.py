"""The course's scale picture: ``data.train_size`` (m rows drawn at random from the training
rows) and a sweep over m x the network size drawing ``scale.png``, the test RMSE against m."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import one_error_line, run_dnn
from dnncli.cli.app import app
from dnncli.config import load_config
from dnncli.data.demo_table import write_demo_table
from dnncli.data.encoding import TableEncoder, TableOptions
from dnncli.data.tables import open_table, read_table
from dnncli.model.file import load_model
from dnncli.run.prepare import generators

if importlib.util.find_spec("optuna") is None:
    pytest.skip("dnn sweep needs optuna: pip install 'dnncli[sweep]'", allow_module_level=True)

PRICES = {"target": "price", "drop": ["id", "note"]}


def write_config(directory: Path, table: Path, test: Path, **data: object) -> Path:
    config = {
        "name": "prices",
        "model": {"hidden": [4], "seed": 1},
        "data": {"train": str(table), "test": str(test), **PRICES, **data},
        "training": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 32, "epochs": 3},
        "output": {"dir": str(directory / "runs"), "plot": "none"},
    }
    path = directory / "prices.yaml"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("prices")
    return (write_demo_table(folder / "prices.csv", m=300, seed=0, task="regression"),
            write_demo_table(folder / "prices_test.csv", m=100, seed=1, task="regression"))


def test_train_size_trains_on_that_many_rows_drawn_at_random(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    config = write_config(tmp_path, *prices, train_size=120)
    result = run_dnn("train", config, "--run-dir", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    bundle = load_model(tmp_path / "run")
    assert bundle.data_sources["train"]["trained_on"] == 120
    # the encoder learned from exactly the drawn rows: 120 of the 300, drawn with the run's seed
    chosen = np.sort(generators(load_config(config))[0].permutation(300)[:120])
    assert not np.array_equal(chosen, np.arange(120))  # drawn, not the file's first rows
    rows = read_table(open_table(prices[0])).take(chosen)
    expected, _ = TableEncoder.fit(rows, TableOptions("price", drop=("id", "note")))
    assert bundle.encoder is not None and bundle.encoder.to_dict() == expected.to_dict()


def test_a_train_size_larger_than_the_rows_is_refused(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    config = write_config(tmp_path, *prices, train_size=301)
    result = run_dnn("train", config, "--run-dir", tmp_path / "run")
    one_error_line(result, 2, "data.train_size = 301", "300 training examples")
    assert not (tmp_path / "run").exists()


def write_scale_sweep(directory: Path, config: Path) -> Path:
    path = directory / "scale.yaml"
    path.write_text(
        f"""name: scale
base: {config}
metric: test_rmse
sampler: grid
space:
  data.train_size: {{choice: [60, 240]}}
  model.hidden: {{choice: [[2], [16, 16]]}}
output: {{dir: {directory / 'sweeps'}}}
"""
    )
    return path


def test_a_sweep_over_m_and_the_network_draws_the_scale_picture(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    from dnncli.sweep.results import TrialRecord
    from dnncli.sweep.scale import write_scale
    from dnncli.sweep.spec import load_sweep

    sweep_file = write_scale_sweep(tmp_path, write_config(tmp_path, *prices))
    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "sweeps" / "scale"
    picture = sweep_dir / "scale.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the lines drawn, read back from the picture's axes, are the trials' test RMSEs
    trials = json.loads(result.stdout)["trials"]
    records = [TrialRecord(**{k: v for k, v in t.items() if k != "metric"}) for t in trials]
    drawn = write_scale(load_sweep(sweep_file), records, tmp_path / "again.png")
    assert drawn is not None and (tmp_path / "again.png").read_bytes() == picture.read_bytes()
    rows = list(csv.DictReader((sweep_dir / "results.csv").open()))
    assert len(rows) == 4 and all(row["state"] == "complete" for row in rows)
    expected = {
        ", ".join(map(str, json.loads(hidden))): sorted(
            (float(r["data.train_size"]), float(r["test_rmse"])) for r in rows if r["model.hidden"] == hidden
        )
        for hidden in ("[2]", "[16, 16]")
    }
    assert drawn[1] == expected
    assert list(drawn[1]) == ["2", "16, 16"]  # the space's order
    assert all(len(points) == 2 for points in expected.values())


def test_train_range_gives_m_and_other_keys_keep_the_best_trial(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    """m is a range's stop - start; with another key swept, a point is the best of its trials."""
    from dnncli.sweep.results import TrialRecord
    from dnncli.sweep.scale import has_scale, scale_lines
    from dnncli.sweep.spec import load_sweep

    path = tmp_path / "ranges.yaml"
    path.write_text(
        f"""base: {write_config(tmp_path, *prices)}
metric: test_rmse
sampler: grid
space:
  data.train_range: {{choice: [[0, 100], [50, 250]]}}
  model.hidden: {{choice: [[2], [16, 16]]}}
  training.learning_rate: {{choice: [0.01, 0.1]}}
"""
    )
    sweep = load_sweep(path)
    assert has_scale(sweep)
    points = [(a, h, r) for a in ([0, 100], [50, 250]) for h in ([2], [16, 16]) for r in (0.01, 0.1)]
    rmses = [1000.0, 1500.0, 3000.0, 2500.0, 5000.0, 5500.0, 7000.0, 6500.0]
    records = []
    for number, ((start_stop, hidden, rate), rmse) in enumerate(zip(points, rmses)):
        params = {"data.train_range": start_stop, "model.hidden": hidden, "training.learning_rate": rate}
        records.append(TrialRecord(number, "complete", params, "", rmse, {"test_rmse": rmse}))
    records.append(TrialRecord(99, "failed", records[0].params, "", None, None, error="diverged"))
    score, lines = scale_lines(sweep, records)
    assert score == "test_rmse"
    # each point is the lower RMSE of its two learning rates; the failed trial is left out
    assert lines == {"2": [(100.0, 1000.0), (200.0, 5000.0)], "16, 16": [(100.0, 2500.0), (200.0, 6500.0)]}


def test_rmse_metrics_are_a_tables(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    from dnncli.errors import ConfigError
    from dnncli.sweep.spec import load_sweep

    h5 = tmp_path / "prices.h5"
    h5.write_bytes(b"")
    config = tmp_path / "h5.yaml"
    config.write_text(json.dumps({"model": {"hidden": [2], "output_activation": "linear"},
                                  "data": {"train": str(h5), "test": str(h5)}}))
    path = tmp_path / "rmse.yaml"
    path.write_text(f"base: {config}\nmetric: test_rmse\nsampler: grid\nspace:\n  model.hidden: {{choice: [[2], [3]]}}\n")
    with pytest.raises(ConfigError, match="test_rmse is a table's regression score.*test_mae or test_r2"):
        load_sweep(path)


def test_a_warning_every_trial_gives_is_shown_once(tmp_path: Path, prices: tuple[Path, Path]) -> None:
    """Each trial's run warns that the test table holds a category the training rows never had; the
    local workers hand those lines to the driver, which shows each different one once (not a line a
    trial, written over its live table), and none with --quiet."""
    table = read_table(open_table(prices[1]))
    district = table["district"].to_pylist()
    district[5] = "moon"
    test = tmp_path / "test.csv"
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    pa_csv.write_csv(table.set_column(table.column_names.index("district"), "district", pa.array(district)), test)
    sweep_file = write_scale_sweep(tmp_path, write_config(tmp_path, prices[0], test))
    shown = run_dnn("sweep", sweep_file, "--jobs", "2")
    assert shown.returncode == 0, shown.stderr
    warned = [line for line in shown.stderr.splitlines() if "'moon'" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "column 'district'" in warned[0], shown.stderr
    assert sum(line.startswith("trial ") for line in shown.stderr.splitlines()) == 4
    (tmp_path / "sweeps").rename(tmp_path / "first")
    quiet = run_dnn("sweep", sweep_file, "--jobs", "2", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
