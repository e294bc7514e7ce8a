"""`dnn data inspect` and `dnn data split` of CSV and Parquet tables, and the demo table that
`dnn data demo` writes (data/inspection.py, data/table_split.py). Every file is written by the test
into tmp_path, except the shared housing tables (read only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from dnncli.data import inspection, tables
from dnncli.data.demo_table import demo_table, write_demo_table
from dnncli.data.encoding import TableEncoder, TableOptions
from dnncli.data.tables import open_table, read_table
from tests.conftest import one_error_line, run_dnn, shared_file


def inspect_json(*args: str | Path) -> dict:
    result = run_dnn("data", "inspect", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---- inspect ----------------------------------------------------------------------------------


def test_inspect_describes_every_column_of_the_demo_table(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=300, seed=3)
    table = demo_table(300, 3)
    described = inspect_json(path, "--target", "sold")
    assert described["kind"] == "table" and described["format"] == "csv" and described["rows"] == 300
    columns = {c["name"]: c for c in described["columns"]}
    assert list(columns) == table.column_names
    for name in ("area", "rooms", "age"):
        values = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        present = values[~np.isnan(values)]
        assert columns[name]["type"] == "number"
        assert columns[name]["missing"] == table.column(name).null_count
        assert columns[name]["min"] == present.min() and columns[name]["max"] == present.max()
        assert columns[name]["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert columns["rooms"]["dtype"] == "int64" and isinstance(columns["rooms"]["min"], int)
    district = columns["district"]
    assert district["type"] == "text" and district["missing"] == table.column("district").null_count
    counted = {v["value"]: v["count"] for v in district["values"]}
    expected = {k: v for k, v in zip(*np.unique([d for d in table.column("district").to_pylist() if d], return_counts=True))}
    assert counted == expected and district["distinct"] == 4 and district["other"] == 0
    assert [v["count"] for v in district["values"]] == sorted(counted.values(), reverse=True)
    ids = columns["id"]  # every value once: ten shown, the rest counted in "other"
    assert ids["distinct"] == 300 and len(ids["values"]) == inspection.TOP_VALUES and ids["other"] == 290
    sold = table.column("sold").to_pylist()
    assert described["target"] == {
        "name": "sold", "task": "classification", "missing": 0,
        "classes": [{"name": "no", "count": sold.count("no")}, {"name": "yes", "count": sold.count("yes")}],
    }
    assert any("'id'" in note and "data.drop" in note for note in described["notes"])


def test_inspect_shows_tables_and_notes_for_people(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=200, seed=1)
    shown = run_dnn("data", "inspect", path, "--target", "sold")
    assert shown.returncode == 0, shown.stderr
    assert "200 rows, 7 columns" in shown.stdout and "target sold: classification" in shown.stdout
    assert "district" in shown.stdout and "int64" in shown.stdout and r"two rooms\nupstairs" not in shown.stdout
    assert shown.stderr.startswith("warning: column 'id' holds a different value in every row")


def test_inspect_reads_parquet_and_batches_as_it_reads_a_whole_csv(tmp_path: Path, monkeypatch) -> None:
    csv_path = write_demo_table(tmp_path / "prices.csv", m=3000, seed=2, task="regression")
    parquet_path = write_demo_table(tmp_path / "prices.parquet", m=3000, seed=2, task="regression")
    whole = inspection.describe(csv_path, target="price")
    from_parquet = inspection.describe(parquet_path, target="price")
    assert from_parquet["format"] == "parquet"
    assert {**from_parquet, "path": None, "format": None} == {**whole, "path": None, "format": None}
    monkeypatch.setattr(inspection, "memory_budget_bytes", lambda setting: 1)
    monkeypatch.setattr(tables, "BLOCK_BYTES", 16 * 1024)  # many batches
    batched = inspection.describe(csv_path, target="price")
    for kept, read_whole in zip(batched["columns"], whole["columns"]):
        # in batches a CSV's whole numbers are read as floats: same values, another dtype
        assert {**kept, "dtype": None, "mean": None} == {**read_whole, "dtype": None, "mean": None}
        assert kept.get("mean", 0) == pytest.approx(read_whole.get("mean", 0), rel=1e-12)
    prices = demo_table(3000, 2, "regression").column("price").to_numpy().astype(float)
    target = batched["target"]
    assert target["task"] == "regression" and target.keys() == whole["target"].keys()
    assert all(target[k] == pytest.approx(whole["target"][k], rel=1e-12) for k in ("min", "q1", "median", "q3", "max", "mean", "std"))
    assert target["median"] == np.median(prices) and target["q1"] == np.quantile(prices, 0.25)
    assert target["std"] == pytest.approx(prices.std(), rel=1e-12)


def test_inspect_of_the_housing_table(tmp_path: Path) -> None:
    described = inspect_json(shared_file("housing_train.csv"), "--target", "median_house_value")
    columns = {c["name"]: c for c in described["columns"]}
    rows = csv_rows(shared_file("housing_train.csv"))
    assert described["rows"] == len(rows) == 16_512
    assert columns["total_bedrooms"]["missing"] == sum(1 for r in rows if not r["total_bedrooms"])
    assert {v["value"] for v in columns["ocean_proximity"]["values"]} == {"<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"}
    prices = np.array([float(r["median_house_value"]) for r in rows])
    assert described["target"]["task"] == "regression" and described["target"]["max"] == prices.max()
    assert described["target"]["mean"] == pytest.approx(prices.mean(), rel=1e-12)


def test_a_whole_number_target_with_few_values_is_a_classification_unless_told(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=200, seed=1)
    rooms = inspect_json(path, "--target", "rooms")["target"]
    assert rooms["task"] == "classification" and [c["name"] for c in rooms["classes"]] == [str(k) for k in range(1, 10)]
    assert rooms["missing"] == demo_table(200, 1).column("rooms").null_count > 0
    assert inspect_json(path, "--target", "rooms", "--task", "regression")["target"]["task"] == "regression"


def test_a_column_of_many_values_is_not_counted_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    rows = [f"u{k},{k % 3},{'' if k % 7 == 0 else 'abc'[k % 3]}" for k in range(1_500)]
    path.write_text("user,n,letter\n" + "\n".join(rows) + "\n")
    described = inspect_json(path, "--target", "letter")
    user, n, letter = described["columns"]
    assert user["distinct"] is None and user["values"] == [] and user["other"] == 1_500
    assert n == {"name": "n", "type": "number", "dtype": "int64", "missing": 0, "min": 0, "mean": 1.0, "max": 2}
    assert letter["missing"] == len(range(0, 1_500, 7)) == described["target"]["missing"]
    assert [c["name"] for c in described["target"]["classes"]] == ["a", "b", "c"]
    notes = " ".join(described["notes"])
    assert "column 'user' has more than 1,000 different values" in notes and "missing in 215 rows" in notes


def test_inspect_refuses_in_one_line(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=50)
    one_error_line(run_dnn("data", "inspect", path, "--target", "price"), 2, "has no column 'price'", "'sold'")
    one_error_line(run_dnn("data", "inspect", path, "--target", "district", "--task", "regression"), 2, "holds text")
    one_error_line(run_dnn("data", "inspect", path, "--grid", tmp_path / "g.png"), 2, "is a table")
    assert not (tmp_path / "g.png").exists()
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    one_error_line(run_dnn("data", "inspect", ragged), 2, "row 2")
    h5 = tmp_path / "x.h5"
    one_error_line(run_dnn("data", "inspect", h5, "--target", "y"), 2, "--target applies to a CSV or Parquet table")


# ---- split ------------------------------------------------------------------------------------


def test_split_draws_each_class_and_keeps_every_row_as_written(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=400, seed=4)
    result = run_dnn("data", "split", path, "--target", "sold", "--test-fraction", "0.25", "--seed", "1",
                     "-o", tmp_path / "out" / "houses.csv", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    train_path, test_path = tmp_path / "out" / "houses_train.csv", tmp_path / "out" / "houses_test.csv"
    assert summary["train"] == str(train_path) and summary["test"] == str(test_path)
    original, train, test = csv_rows(path), csv_rows(train_path), csv_rows(test_path)
    assert (summary["train_rows"], summary["test_rows"]) == (len(train), len(test))
    # every row in exactly one part, each part in the table's order, values as written
    assert sorted(map(tuple, (r.values() for r in train + test))) == sorted(map(tuple, (r.values() for r in original)))
    order = {row["id"]: k for k, row in enumerate(original)}
    for part in (train, test):
        assert [order[r["id"]] for r in part] == sorted(order[r["id"]] for r in part)
    for k, name in enumerate(["no", "yes"]):
        n = sum(r["sold"] == name for r in original)
        assert sum(r["sold"] == name for r in test) == round(0.25 * n) == summary["test_counts"][k]
    assert summary["classes"] == ["no", "yes"] and summary["task"] == "classification"
    again = run_dnn("data", "split", path, "--target", "sold", "--test-fraction", "0.25", "--seed", "1",
                    "-o", tmp_path / "again.csv")
    assert again.returncode == 0 and (tmp_path / "again_test.csv").read_bytes() == test_path.read_bytes()
    other = run_dnn("data", "split", path, "--target", "sold", "--test-fraction", "0.25", "--seed", "2", "-o", tmp_path / "other.csv")
    assert other.returncode == 0 and (tmp_path / "other_test.csv").read_bytes() != test_path.read_bytes()


def test_a_csv_split_keeps_leading_zeros_and_the_exact_text(tmp_path: Path) -> None:
    path = tmp_path / "zips.csv"
    path.write_text('zip,price,note\n' + '01234,1.50,"a, b"\n00042,2.0,\n10001,3e2,"=1+2"\n' * 5, encoding="utf-8")
    result = run_dnn("data", "split", path, "--test-fraction", "0.4", "-o", tmp_path / "z.csv")
    assert result.returncode == 0, result.stderr
    rows = csv_rows(tmp_path / "z_train.csv") + csv_rows(tmp_path / "z_test.csv")
    assert len(rows) == 15 and len(csv_rows(tmp_path / "z_test.csv")) == 6
    assert {r["zip"] for r in rows} == {"01234", "00042", "10001"} and {r["price"] for r in rows} == {"1.50", "2.0", "3e2"}
    assert {r["note"] for r in rows} == {"a, b", "", "=1+2"}
    assert "drawn at random" in run_dnn("data", "split", path, "-o", tmp_path / "y.csv").stdout


def test_split_a_parquet_table_into_parquet_or_csv(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "prices.parquet", m=200, seed=6, task="regression")
    result = run_dnn("data", "split", path, "--target", "price", "-o", tmp_path / "p.parquet", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["task"] == "regression" and summary["classes"] is None and summary["test_rows"] == 40
    train, test = read_table(open_table(tmp_path / "p_train.parquet")), read_table(open_table(tmp_path / "p_test.parquet"))
    original = read_table(open_table(path))
    assert train.schema == test.schema == original.schema
    assert pa.concat_tables([train, test]).sort_by("id").equals(original.sort_by("id"))
    as_csv = run_dnn("data", "split", path, "-o", tmp_path / "c.csv")
    assert as_csv.returncode == 0 and len(csv_rows(tmp_path / "c_test.csv")) == 40


def test_split_writes_nothing_it_should_not(tmp_path: Path) -> None:
    path = write_demo_table(tmp_path / "all_train.csv", m=100)
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "all.csv", "--force"), 2, "is the table being split")
    out = tmp_path / "houses_train.csv"
    out.write_text("kept\n")
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "houses.csv"), 2, "already exists", "--force")
    assert out.read_text() == "kept\n" and not (tmp_path / "houses_test.csv").exists()
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "x.h5"), 2, "expected a name ending in .csv")
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "x.csv", "--target", "nope"), 2, "no column 'nope'")
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "x.csv", "--x-key", "a"), 2, "--x-key")
    one_error_line(run_dnn("data", "split", path, "-o", tmp_path / "x.csv", "--test-fraction", "0.001"), 2, "leaves no test row")
    # a table broken far from its start: found while writing, and neither file is left
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n" + "1,2\n" * 50_000 + "3\n")
    one_error_line(run_dnn("data", "split", broken, "-o", tmp_path / "b.csv"), 2, "row 50001")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all_train.csv", "broken.csv", "houses_train.csv"]


def test_a_split_streams_in_batches_and_gives_the_same_files(tmp_path: Path, monkeypatch) -> None:
    path = write_demo_table(tmp_path / "houses.csv", m=2000, seed=8)
    run_dnn("data", "split", path, "--target", "district", "-o", tmp_path / "whole.csv")
    monkeypatch.setattr(tables, "BLOCK_BYTES", 8 * 1024)
    batched = run_dnn("data", "split", path, "--target", "district", "-o", tmp_path / "batched.csv")
    assert batched.returncode == 0, batched.stderr
    for part in ("train", "test"):
        assert csv_rows(tmp_path / f"batched_{part}.csv") == csv_rows(tmp_path / f"whole_{part}.csv")
    # a missing district is a group of its own, drawn like the others
    summary = json.loads(run_dnn("data", "split", path, "--target", "district", "-o", tmp_path / "j.csv", "--json").stdout)
    assert summary["classes"][-1] == "(missing)" and summary["test_counts"][-1] > 0


# ---- the demo table ----------------------------------------------------------------------------


def test_data_demo_writes_the_demo_table(tmp_path: Path) -> None:
    made = run_dnn("data", "demo", "--out", tmp_path, "--train", "4", "--test", "2", "--samples", "0", "--table-rows", "120")
    assert made.returncode == 0, made.stderr
    assert made.stdout.split()[-1] == str(tmp_path / "demo_table.csv")
    assert (tmp_path / "demo_table.csv").read_bytes() == write_demo_table(tmp_path / "again.csv", m=120, seed=0).read_bytes()
    source = open_table(tmp_path / "demo_table.csv")
    encoder, _ = TableEncoder.fit(source, TableOptions(target="sold", drop=("id", "note")))
    assert encoder.classes == ["no", "yes"] and encoder.encode_file(source).X.shape == (encoder.n_x, 120)
    with open(tmp_path / "demo_table.csv", "rb") as f:
        assert pa_csv.read_csv(f).num_rows == 120
