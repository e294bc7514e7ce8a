"""Tables through the training path: a config naming CSV or Parquet files trains a network whose
input width is the encoded width, the encoder learned from the training rows only and stored in
the model file; a regression reported in the target's units; ``dnn predict`` and ``dnn evaluate``
on tables."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from dnncli.config import load_config
from dnncli.data.demo_table import demo_table, write_demo_table
from dnncli.data.encoding import TableEncoder, TableOptions
from dnncli.data.hdf5 import Dataset
from dnncli.data.splits import hold_out
from dnncli.data.tables import open_table, read_table
from dnncli.model.file import load_model
from dnncli.run.prepare import generators
from tests.conftest import one_error_line, run_dnn, write_h5
from tests.conftest import write_table_config as write_config

CLASSIFY = {"target": "sold", "drop": ["id", "note"]}


def train(tmp_path: Path, config: Path, *extra: str) -> tuple[dict, str]:
    result = run_dnn("train", config, "--json", "--run-dir", tmp_path / "run", *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tables")
    return {
        "houses": write_demo_table(folder / "houses.csv", m=400, seed=0),
        "houses_test": write_demo_table(folder / "houses_test.parquet", m=200, seed=1),
        "prices": write_demo_table(folder / "prices.csv", m=400, seed=0, task="regression"),
        "prices_test": write_demo_table(folder / "prices_test.csv", m=200, seed=1, task="regression"),
    }


def test_a_classification_table_trains_with_its_encoder_in_the_model(tmp_path: Path, tables: dict[str, Path]) -> None:
    config = write_config(tmp_path, "houses", {"train": str(tables["houses"]), "test": str(tables["houses_test"]), **CLASSIFY})
    metrics, stderr = train(tmp_path, config)
    assert metrics["task"] == "classification"
    assert "start: 400 examples, classification" in stderr
    assert metrics["test_accuracy"] > 0.8
    bundle = load_model(tmp_path / "run")
    assert bundle.encoder is not None and bundle.encoder.classes == ["no", "yes"]
    # area, rooms (each with gaps: an indicator), age, and district's 4 levels and its gaps
    assert bundle.network.layer_sizes == [3 + 2 + 5, 8, 1]
    assert bundle.network.activations[-1] == "sigmoid"
    assert "id" not in bundle.encoder.features and "note" not in bundle.encoder.features


def test_the_encoder_learns_from_the_training_rows_only(tmp_path: Path, tables: dict[str, Path]) -> None:
    """Ranges and the validation hold-out are taken first: the stored statistics are those of the
    rows trained on, none of the test or validation rows."""
    data = {"train": str(tables["prices"]), "target": "price", "drop": ["id", "note"], "train_range": [0, 300],
            "test_range": [300, 400], "validation_fraction": 0.25}
    config = write_config(tmp_path, "prices", data, epochs=2)
    train(tmp_path, config)
    stored = load_model(tmp_path / "run").encoder
    rows = read_table(open_table(tables["prices"])).slice(0, 300)
    indices = Dataset(np.arange(300).reshape(-1, 1), None, None, "rows")
    kept, _ = hold_out(indices, 0.25, generators(load_config(config))[0])
    expected, _ = TableEncoder.fit(rows.take(kept.X_raw[:, 0]), TableOptions("price", drop=("id", "note")))
    assert stored is not None and stored.to_dict() == expected.to_dict()
    everything, _ = TableEncoder.fit(rows, TableOptions("price", drop=("id", "note")))
    assert stored.to_dict() != everything.to_dict()


def test_a_regression_is_reported_in_the_targets_units(tmp_path: Path, tables: dict[str, Path]) -> None:
    data = {"train": str(tables["prices"]), "test": str(tables["prices_test"]), "target": "price",
            "drop": ["id", "note"], "validation_fraction": 0.2}
    metrics, stderr = train(tmp_path, write_config(tmp_path, "prices", data, record_every=10))
    assert metrics["task"] == "regression" and "regression" in stderr
    prices = np.array(pa_csv.read_csv(tables["prices_test"])["price"].to_pylist(), dtype=float)
    # in dollars: well below the spread of the prices themselves, far above a deviation's 1
    assert 1000 < metrics["test_rmse"] < 0.7 * prices.std()
    assert metrics["test_mae"] < metrics["test_rmse"] and metrics["test_r2"] > 0.5
    assert {"train_rmse", "val_rmse", "val_mae", "train_mae"} <= set(metrics)
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert float(history[-1]["test_rmse"]) == pytest.approx(metrics["test_rmse"])
    assert float(history[0]["val_rmse"]) > float(history[-1]["val_rmse"])

    evaluated = run_dnn("evaluate", "--model", tmp_path / "run", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)
    assert scores["rmse"] == pytest.approx(metrics["test_rmse"], rel=1e-9) and scores["part"] == "test"

    predicted = run_dnn("predict", "--model", tmp_path / "run", tables["prices_test"], "-f", "csv", "--keep", "price")
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert [int(r["row"]) for r in rows] == list(range(1, 201))
    errors = np.array([float(r["prediction"]) - float(r["price"]) for r in rows])
    assert math.sqrt(np.mean(errors**2)) == pytest.approx(scores["rmse"], rel=1e-9)


def test_predict_names_a_bad_value_and_predicts_the_other_rows(tmp_path: Path, tables: dict[str, Path]) -> None:
    config = write_config(tmp_path, "houses", {"train": str(tables["houses"]), **CLASSIFY}, epochs=3)
    train(tmp_path, config)
    rows = "id,area,rooms,age,district,note\nh1,90.5,3,10,hills,x\nh2,lots,3,10,hills,x\nh3,,,40,moon,x\n"
    (tmp_path / "rows.csv").write_text(rows)
    result = run_dnn("predict", "--model", tmp_path / "run", tmp_path / "rows.csv", "-f", "jsonl", "--keep", "id")
    assert result.returncode == 2
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["row"], r["id"]) for r in out] == [(1, "h1"), (3, "h3")]
    assert set(out[0]) == {"row", "id", "class", "probability", "p_no", "p_yes"}
    assert out[0]["p_no"] + out[0]["p_yes"] == pytest.approx(1)
    assert "row 2, column 'area': 'lots' is not a number" in result.stderr
    # an unseen category: zeros and a warning naming the column and the value; gaps: the median
    assert "column 'district' holds 'moon'" in result.stderr

    stdin = run_dnn("predict", "--model", tmp_path / "run", "-", "-f", "csv", input=rows.replace("lots", "80"))
    assert stdin.returncode == 0, stdin.stderr
    assert [line.split(",")[0] for line in stdin.stdout.splitlines()] == ["row", "1", "2", "3"]


def test_predict_and_evaluate_read_a_table_over_the_budget_a_batch_at_a_time(
    tmp_path: Path, tables: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table larger than the memory budget is predicted a batch of rows at a time: the same rows,
    numbers and bad-value lines as the table read whole, the rows numbered as the file counts
    them; evaluate encodes it a batch at a time into one matrix, with the same scores."""
    from dnncli.data import tables as table_reading
    from dnncli.model import table_rows

    config = write_config(tmp_path, "prices", {"train": str(tables["prices"]), "target": "price", "drop": ["id", "note"]}, epochs=2)
    train(tmp_path, config)
    clean = write_demo_table(tmp_path / "clean.csv", m=3000, seed=5, task="regression")
    table = read_table(open_table(clean))
    area = table["area"].cast(pa.string()).to_pylist()
    area[2499] = "lots"  # row 2,500: a bad value
    district = table["district"].to_pylist()
    for row in (9, 1499, 2899):  # a district training never saw, in three batches
        district[row] = "moon"
    rows = tmp_path / "rows.csv"
    table = table.set_column(table.column_names.index("district"), "district", pa.array(district))
    pa_csv.write_csv(table.set_column(table.column_names.index("area"), "area", pa.array(area)), rows)

    def predicted() -> tuple[int, str, str]:
        result = run_dnn("predict", "--model", tmp_path / "run", rows, "-f", "csv", "--keep", "id")
        return result.returncode, result.stdout, result.stderr

    def scores() -> dict:
        result = run_dnn("evaluate", "--model", tmp_path / "run", clean, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    whole, whole_scores = predicted(), scores()
    monkeypatch.setattr(table_rows, "memory_budget_bytes", lambda setting: 1)
    monkeypatch.setattr(table_reading, "BLOCK_BYTES", 16 * 1024)  # about 200 rows a batch
    batched = predicted()
    assert whole[0] == batched[0] == 2 and "row 2500, column 'area': 'lots' is not a number" in whole[2]
    assert batched[:2] == whole[:2]
    # an unseen category: said once read whole (3 rows), read in batches for the first batch with
    # it, the later ones counted in one line at the end, not a line a batch
    assert "column 'district' holds 'moon' (3 rows)" in whole[2]
    assert "column 'district' holds 'moon' (1 row)" in batched[2]
    assert "column 'district': more values not seen in the training rows in 2 later batches" in batched[2]
    assert [line for line in batched[2].splitlines() if "moon" not in line and "more values" not in line] == \
        [line for line in whole[2].splitlines() if "moon" not in line]
    assert [int(line.split(",")[0]) for line in batched[1].splitlines()[1:]] == [n for n in range(1, 3001) if n != 2500]
    assert "rmse" in whole_scores and scores() == whole_scores


def test_keys_that_make_no_sense_for_the_file_are_refused(tmp_path: Path, tables: dict[str, Path]) -> None:
    table_with_x_key = write_config(tmp_path, "a", {"train": str(tables["houses"]), "x_key": "X", **CLASSIFY})
    one_error_line(run_dnn("train", table_with_x_key), 2, "x_key", "table")
    no_target = write_config(tmp_path, "b", {"train": str(tables["houses"])})
    one_error_line(run_dnn("train", no_target), 2, "target")
    h5 = write_h5(tmp_path / "d.h5", train_set_x=np.zeros((4, 2)), train_set_y=np.array([0, 1, 0, 1]))
    hdf5_with_target = write_config(tmp_path, "c", {"train": str(h5), "target": "y"})
    one_error_line(run_dnn("train", hdf5_with_target), 2, "target", "tables")
    mixed = write_config(tmp_path, "d", {"train": str(tables["houses"]), "test": str(h5), **CLASSIFY})
    one_error_line(run_dnn("train", mixed), 2, "test", "table")


def test_a_broken_encoder_in_a_model_file_is_refused(tmp_path: Path, tables: dict[str, Path]) -> None:
    train(tmp_path, write_config(tmp_path, "houses", {"train": str(tables["houses"]), **CLASSIFY}, epochs=1))
    with h5py.File(tmp_path / "run" / "model.h5", "r+") as f:
        stored = json.loads(f.attrs["encoder"])
        stored["numbers"][0]["scale"] = -1
        f.attrs["encoder"] = json.dumps(stored)
    result = run_dnn("info", tmp_path / "run")
    one_error_line(result, result.returncode, "encoder", "numbers.scale")
    assert result.returncode != 0


def test_the_demo_table_keeps_its_columns() -> None:
    assert demo_table(10).column_names == ["id", "area", "rooms", "age", "district", "note", "sold"]


def test_a_bad_row_is_named_as_the_file_counts_it(tmp_path: Path) -> None:
    """The encoder sees the rows a range or a hold-out picked; the message names the file's row."""
    table = demo_table(400)
    sold = table["sold"].to_pylist()
    sold[259] = "maybe"  # data row 260, in the test range
    pa_csv.write_csv(table.set_column(6, "sold", pa.array(sold)), tmp_path / "bad.csv")
    data = {"train": str(tmp_path / "bad.csv"), "train_range": [0, 200], "test_range": [200, 300], **CLASSIFY}
    result = run_dnn("train", write_config(tmp_path, "bad", data), cwd=tmp_path)
    one_error_line(result, 2, "bad.csv: row 260, column 'sold'", "'maybe'")
