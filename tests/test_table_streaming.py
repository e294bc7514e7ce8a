"""A table over ``data.memory_budget_mb`` trains without being held whole: the encoder learns in
row batches from the training rows only, the training rows are encoded a batch at a time into the
run's cache (an HDF5 file read batch by batch while training), test and validation sets are
encoded whole. Its results are those of the same run in memory but for the last bits of sums taken
in another order; its memory grows by a fraction of the table's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from dnncli.compute import resources
from dnncli.config import load_config
from dnncli.data import encoding, tables
from dnncli.data.columns import ScaledColumns
from dnncli.data.demo_table import demo_table, write_demo_table
from dnncli.data.encoding import TableEncoder, TableOptions, fit_streamed
from dnncli.data.hdf5 import Dataset
from dnncli.data.splits import hold_out
from dnncli.data.table_cache import FileRows
from dnncli.data.tables import open_table, read_table
from dnncli.errors import DnnError, Interrupted
from dnncli.model.file import load_model
from dnncli.run.directory import partial_path
from dnncli.run.prepare import generators, prepare
from dnncli.run.training import resume_training, run_training
from dnncli.sweep.shipping import read_for_shipping
from tests.conftest import one_error_line, run_dnn, write_table_config
from tests.test_interrupt_resume import assert_same_params, interrupt_at, same_history

# far below any of these tables: they are read in batches, their training rows cached
STREAMED = "data.memory_budget_mb=0.001"
# the streamed statistics are sums taken batch by batch (Chan's merge) where the in-memory ones
# sum whole columns: the encoder's means and deviations differ in the last bit or two (1e-16
# relative), and a few epochs of Adam leave the metrics within 1e-15 of each other (measured);
# 1e-9 leaves room for other BLAS kernels and still fails at any real difference in the rows used
TOLERANCE = 1e-9
PRICES = {"target": "price", "drop": ["id", "note"], "train_range": [0, 450], "test_range": [450, 600],
          "validation_fraction": 0.2}


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 16 kB: these small tables are read in many batches, as a large one is."""
    monkeypatch.setattr(tables, "BLOCK_BYTES", 16 * 1024)


def write_config(tmp_path: Path, data: dict, name: str = "prices", **training: object) -> Path:
    return write_table_config(tmp_path, name, data, **{"epochs": 8, **training})


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    return write_demo_table(tmp_path / "prices.csv", m=600, seed=0, task="regression")


def cached_files(tmp_path: Path, cache: str = "runs/.cache") -> list[Path]:
    return sorted((tmp_path / cache / "tables").glob("*.h5"))


def test_a_table_over_the_budget_trains_from_its_cache_as_it_trains_in_memory(tmp_path: Path, prices: Path) -> None:
    config = write_config(tmp_path, {"train": str(prices), **PRICES})
    in_memory, _, _ = run_training(load_config(config), run_dir=tmp_path / "memory")
    assert not cached_files(tmp_path)
    streamed, _, _ = run_training(load_config(config, [STREAMED]), run_dir=tmp_path / "streamed")
    [cached] = cached_files(tmp_path)
    for key, value in in_memory.items():
        if isinstance(value, float) and key != "seconds":
            assert streamed[key] == pytest.approx(value, rel=TOLERANCE, abs=1e-12), key
    with h5py.File(cached) as f:  # the rows trained on, encoded: 360 of the 450 in the range
        assert f["X"].shape == (360, 3 + 2 + 5) and f["y"].shape == (360,)
    memory_encoder, streamed_encoder = load_model(tmp_path / "memory").encoder, load_model(tmp_path / "streamed").encoder
    assert memory_encoder is not None and streamed_encoder is not None
    assert [n.median for n in streamed_encoder.numbers] == [n.median for n in memory_encoder.numbers]  # exact
    assert [n.mean for n in streamed_encoder.numbers] == pytest.approx([n.mean for n in memory_encoder.numbers], rel=1e-12)

    # trained from the file a batch at a time; a second run finds the cache, and trains the same
    prepared = prepare(load_config(config, [STREAMED]))
    assert isinstance(prepared.data.X, ScaledColumns) and isinstance(prepared.data.X.raw, FileRows)
    assert prepared.data.X.raw.path == cached
    with h5py.File(cached) as f:  # read from the file as HDF5 reads it, in any order
        rows = np.array([359, 0, 17, 200])
        np.testing.assert_array_equal(prepared.data.X.raw[np.sort(rows)], f["X"][np.sort(rows)])
        np.testing.assert_array_equal(prepared.data.X.raw[10:300], f["X"][10:300])
        np.testing.assert_array_equal(prepared.data.X[:, rows], f["X"][()][rows].T)
    stamp = cached.stat().st_mtime_ns
    run_training(load_config(config, [STREAMED]), run_dir=tmp_path / "again")
    assert cached_files(tmp_path) == [cached] and cached.stat().st_mtime_ns == stamp
    assert_same_params(load_model(tmp_path / "again").network.params, load_model(tmp_path / "streamed").network.params)


def test_the_streamed_encoder_learns_from_the_training_rows_only(tmp_path: Path, prices: Path) -> None:
    """The hold-out and the test range are taken before anything is learned: what is stored is
    what the training rows alone give."""
    config = write_config(tmp_path, {"train": str(prices), **PRICES}, epochs=1)
    run_training(load_config(config, [STREAMED]), run_dir=tmp_path / "run")
    stored = load_model(tmp_path / "run").encoder
    rows = read_table(open_table(prices)).slice(0, 450)
    kept, _ = hold_out(Dataset(np.arange(450).reshape(-1, 1), None, None, "rows"), 0.2, generators(load_config(config))[0])
    options = TableOptions("price", drop=("id", "note"))
    expected, _ = TableEncoder.fit(rows.take(kept.X_raw[:, 0]), options)
    everything, _ = TableEncoder.fit(rows, options)
    assert stored is not None
    assert [n.median for n in stored.numbers] == [n.median for n in expected.numbers]
    assert [n.mean for n in stored.numbers] == pytest.approx([n.mean for n in expected.numbers], rel=1e-12)
    assert stored.target.mean == pytest.approx(expected.target.mean, rel=1e-12)
    assert stored.target.mean != pytest.approx(everything.target.mean, rel=1e-6)


def test_rows_left_out_of_the_mask_reach_no_statistic(tmp_path: Path) -> None:
    """Rows not selected may hold anything, even a missing target or a new level: none of it is
    learned, and the selected rows give what the same rows give read whole."""
    table = demo_table(300, task="regression")
    selected = np.arange(300) % 3 != 0
    area = np.array(table["area"].to_pylist(), dtype=object)
    area[~selected] = 1e9
    district = np.array(table["district"].to_pylist(), dtype=object)
    district[~selected] = "moon"
    price = np.array(table["price"].to_pylist(), dtype=object)
    price[~selected] = None
    hostile = table.set_column(1, "area", pa.array(area.tolist(), pa.float64()))
    hostile = hostile.set_column(4, "district", pa.array(district.tolist())).set_column(6, "price", pa.array(price.tolist(), pa.int64()))
    pa_csv.write_csv(hostile, tmp_path / "t.csv")
    options = TableOptions("price", drop=("id", "note"))
    streamed, _ = fit_streamed(open_table(tmp_path / "t.csv"), options, selected)
    whole, _ = TableEncoder.fit(table.filter(pa.array(selected)), options)
    assert streamed.categories == whole.categories and "moon" not in streamed.categories[0].levels
    assert [n.median for n in streamed.numbers] == [n.median for n in whole.numbers]
    assert [n.mean for n in streamed.numbers] == pytest.approx([n.mean for n in whole.numbers], rel=1e-12)
    assert streamed.target.scale == pytest.approx(whole.target.scale, rel=1e-12)


def test_a_streamed_encode_grows_memory_by_a_fraction_of_the_table(tmp_path: Path) -> None:
    """Measured in a child process (its peak resident memory, after a first encode of a smaller
    table has paid for the imports and what pyarrow reads ahead): the streamed learn-and-encode of
    a 12 MB table grows by a quarter of that at most; the same table read and encoded whole grows
    by more than its size (the test can tell them apart). The child allocates through the C
    library, large blocks mapped and unmapped (pyarrow's mimalloc and glibc's moving threshold keep
    freed memory per thread, a few MB more or less from one run to the next): what is measured is
    what the code holds."""
    if not Path("/proc/self/status").exists():
        pytest.skip("the peak memory is read from /proc/self/status (Linux)")
    rng = np.random.default_rng(0)
    m = 120_000
    columns = {f"x{i}": np.round(rng.normal(0, 1, m), 6) for i in range(10)}
    columns["kind"] = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, m)]
    columns["y"] = np.round(rng.normal(0, 1, m), 6)
    pa_csv.write_csv(pa.table(columns), tmp_path / "big.csv")
    # the first table is larger than what pyarrow reads ahead (32 batches): only rows add after it
    pa_csv.write_csv(pa.table(columns).slice(0, 30_000), tmp_path / "small.csv")
    size = (tmp_path / "big.csv").stat().st_size
    assert size > 10e6
    growth = {}
    for how in ("streamed", "whole"):
        child = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path), how], capture_output=True, text=True,
                               timeout=120, env={**os.environ, **EXACT_ALLOCATION})
        assert child.returncode == 0, child.stderr
        growth[how] = int(child.stdout)
    # what grows with the rows: the targets (8 bytes a row) and the mask of rows (1 byte), a tenth
    assert growth["streamed"] < size / 4, (growth, size)
    assert growth["whole"] > size, (growth, size)


EXACT_ALLOCATION = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_MMAP_THRESHOLD_": "65536"}
MEASURE = r"""
import sys
from pathlib import Path
import numpy as np
from dnncli.data import encoding, tables
from dnncli.data.encoding import TableEncoder, TableOptions, count_rows
from dnncli.data.table_cache import encoded_rows
from dnncli.data.table_cache import FileRows
from dnncli.data.tables import open_table, read_table

def peak():  # this process's own high-water mark (getrusage's ru_maxrss starts at the parent's)
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024

folder, how = Path(sys.argv[1]), sys.argv[2]
if how == "streamed":
    tables.BLOCK_BYTES = 16 * 1024  # pyarrow reads 32 batches ahead: 512 kB
options = TableOptions("y")

def encode(name):
    source = open_table(folder / name)
    if how == "streamed":
        rows = np.ones(count_rows(source), bool)
        return encoded_rows(source, name, rows, options, folder / "cache", "the table").dataset.m
    table = read_table(source)
    encoder, _ = TableEncoder.fit(table, options)
    return encoder.transform(table).m

encode("small.csv")
before = peak()
assert encode("big.csv") == 120_000
print(peak() - before)
"""


@pytest.mark.parametrize(
    "row, column, value, expected",
    [
        (900, 1, "lots", "row 900, column 'area': 'lots' is not a number"),
        (801, 5, "x,extra", "row 801, column 8 (the header names 7)"),
        (700, 4, "h\udcffills", "row 700, column 'district': bytes that are not UTF-8 text"),
    ],
    ids=["a bad number", "a ragged row", "bytes not UTF-8"],
)
def test_a_hostile_table_over_the_budget_is_refused_in_one_line(tmp_path: Path, row: int, column: int, value: str, expected: str) -> None:
    """Broken late in the file, past the first batches: found while the batches are read."""
    lines = _plain_rows(1000)
    fields = lines[row].split(",")
    fields[column] = value
    lines[row] = ",".join(fields)
    (tmp_path / "bad.csv").write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    config = write_config(tmp_path, {"train": str(tmp_path / "bad.csv"), "target": "price", "drop": ["id"]})
    one_error_line(run_dnn("train", config, "--set", STREAMED, cwd=tmp_path), 2, f"{tmp_path / 'bad.csv'}: {expected}")
    assert not cached_files(tmp_path)


def _plain_rows(m: int) -> list[str]:
    """A table without quoted fields: one line a row, so that a row is easy to break."""
    rng = np.random.default_rng(0)
    rows = ["id,area,rooms,age,district,note,price"]
    for i in range(m):
        rows.append(f"h{i + 1:05d},{rng.uniform(40, 150):.1f},{rng.integers(1, 6)},{rng.integers(0, 90)},"
                    f"{rng.choice(['hills', 'harbour'])},x,{rng.integers(100, 900) * 1000}")
    return rows


def test_a_bad_target_in_a_training_row_is_named_as_the_file_counts_it(tmp_path: Path) -> None:
    """The encoder reads the rows a range picked, numbered as selected: the message names the
    file's own row."""
    lines = _plain_rows(400)
    lines[301] = lines[301].rsplit(",", 1)[0] + ","  # data row 301: no price
    (tmp_path / "gap.csv").write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, {"train": str(tmp_path / "gap.csv"), "target": "price", "drop": ["id", "note"],
                                     "train_range": [200, 400], "test_range": [0, 200]})
    one_error_line(run_dnn("train", config, "--set", STREAMED, cwd=tmp_path), 2, "gap.csv: row 301, column 'price': the target is missing")


def test_train_evaluate_predict_and_resume_a_streamed_table_from_the_command_line(
    tmp_path: Path, prices: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the runs started here: data.cache_dir is relative to it
    test_file = write_demo_table(tmp_path / "prices_test.parquet", m=200, seed=1, task="regression")
    data = {"train": str(prices), "test": str(test_file), "target": "price", "drop": ["id", "note"], "validation_fraction": 0.2,
            "cache_dir": "cache"}
    config = write_config(tmp_path, data, batch_size=64)
    result = run_dnn("train", config, "--set", STREAMED, "--set", "data.memory_budget_mb=0.01", "--json",
                     "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["task"] == "regression" and metrics["test_r2"] > 0.5
    evaluated = run_dnn("evaluate", "--model", tmp_path / "run", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["rmse"] == pytest.approx(metrics["test_rmse"], rel=1e-9)
    predicted = run_dnn("predict", "--model", tmp_path / "run", test_file, "-f", "csv")
    assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 201

    # auto came to 10 kB when the run started, then the machine has gigabytes: resumed with the
    # budget its checkpoint kept, still streamed, it ends as the run never interrupted
    with monkeypatch.context() as scarce:
        scarce.setattr(resources, "memory_budget_bytes", lambda setting: 10_000)
        with pytest.raises(Interrupted):
            run_training(load_config(config), run_dir=tmp_path / "cut", progress=interrupt_at(17))
    assert resources.memory_budget_bytes("auto") > 10**8
    resume_training(partial_path(tmp_path / "cut"))
    assert_same_params(load_model(tmp_path / "cut").network.params, load_model(tmp_path / "run").network.params)
    assert same_history(tmp_path / "cut", tmp_path / "run")
    # in data.cache_dir (relative: to where the run started), where the second run and the resumed one found it
    assert len(cached_files(tmp_path, "cache")) == 1 and not cached_files(tmp_path)


def test_ship_data_refuses_a_table_over_the_budget_in_one_line(tmp_path: Path, prices: Path) -> None:
    config = load_config(write_config(tmp_path, {"train": str(prices), **PRICES}), [STREAMED])
    with pytest.raises(DnnError) as refused:
        read_for_shipping(config)
    assert refused.value.exit_code == 2 and "\n" not in refused.value.message
    assert f"the examples of data.train {prices} take " in refused.value.message
    assert "more than the memory budget (1,000 bytes, data.memory_budget_mb)" in refused.value.message
    assert read_for_shipping(load_config(write_config(tmp_path, {"train": str(prices), **PRICES}))).tables is not None


@pytest.mark.parametrize("bins, kept", [(4, 8), (4096, 1 << 15)], ids=["many splits", "as shipped"])
def test_streamed_medians_are_numpys_however_the_values_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bins: int, kept: int) -> None:
    """A bin holding a middle value is split until it holds few values or one repeated: exact
    medians, and never more than a few values kept, even for values that pile up on one spot."""
    monkeypatch.setattr(encoding, "MEDIAN_BINS", bins)
    monkeypatch.setattr(encoding, "MEDIAN_KEPT", kept)
    rng = np.random.default_rng(3)
    m = 3001
    clustered = np.where(rng.random(m) < 0.9, 0.0, rng.lognormal(10, 3, m))  # mostly zeros, far outliers
    columns = {
        "spread": rng.normal(5, 2, m), "clustered": clustered, "halves": (np.arange(m) % 2).astype(float),
        "ties": rng.integers(1, 6, m).astype(float), "ulps": 1.0 + rng.integers(0, 7, m) * np.finfo(float).eps,
        "y": rng.normal(0, 1, m),
    }
    pa_csv.write_csv(pa.table(columns), tmp_path / "t.csv")
    source = open_table(tmp_path / "t.csv")
    for selected in (np.ones(m, bool), np.arange(m) != 17):  # an odd and an even count
        encoder, _ = fit_streamed(source, TableOptions("y"), selected)
        for number in encoder.numbers:
            assert number.median == np.median(columns[number.name][selected]), number.name


def test_a_test_table_over_the_budget_is_encoded_in_batches_to_the_same_bits(tmp_path: Path) -> None:
    """A training table that fits and a test table that does not: the test rows are read in
    batches into their matrix, with the encoder learned in memory, so every number is the same."""
    train_file = write_demo_table(tmp_path / "train.csv", m=150, seed=0, task="regression")
    test_file = write_demo_table(tmp_path / "test.csv", m=1200, seed=1, task="regression")
    # the training table and its float matrix fit, the test table does not
    budget = f"data.memory_budget_mb={max(train_file.stat().st_size, 150 * 10 * 8) / 1e6}"
    assert test_file.stat().st_size > 2 * 150 * 10 * 8
    config = write_config(tmp_path, {"train": str(train_file), "test": str(test_file), "target": "price", "drop": ["id", "note"]}, epochs=2)
    in_memory, _, _ = run_training(load_config(config), run_dir=tmp_path / "memory")
    prepared = prepare(load_config(config, [budget]))
    assert isinstance(prepared.data.X, np.ndarray)  # trained in memory
    test_in_batches, _, _ = run_training(load_config(config, [budget]), run_dir=tmp_path / "batches")
    assert not cached_files(tmp_path)
    assert {k: v for k, v in test_in_batches.items() if k.startswith("test_")} == {k: v for k, v in in_memory.items() if k.startswith("test_")}
