"""Tables in: CSV and Parquet read as written, hostile tables refused in one line naming the file,
row and column, and the encoder learned from the training rows only (data/tables.py,
data/encoding.py, data/demo_table.py). Every file here is written by the test into tmp_path."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dnncli.data import encoding, tables
from dnncli.data.demo_table import demo_table, write_demo_table
from dnncli.data.encoding import MAX_LEVELS, TableEncoder, TableOptions, fit_transform
from dnncli.data.tables import iter_batches, open_table, read_table
from dnncli.errors import DataError
from dnncli.network.scores import regression_scores
from tests.conftest import shared_file


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, **options) -> str:
    """The one-line message a table is refused with (reading it, then learning from it)."""
    with pytest.raises(DataError) as caught:
        source = open_table(path)
        if options:
            TableEncoder.fit(source, TableOptions(**options))
        else:
            read_table(source)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    return message


# ---- valid tables read as written -------------------------------------------------------------


def test_valid_csv_is_read_as_written(tmp_path: Path) -> None:
    data = (
        b'\xef\xbb\xbfid,price,comment\r\n'
        b'1,2.5,"one, two"\r\n'
        b'2,,"a ""quoted"" word"\r\n'
        b'3,4,"two\r\nlines"\r\n'
        b'4,5.25,=SUM(A1:A3)\r\n'
    )
    table = read_table(open_table(write(tmp_path, "t.csv", data)))
    assert table.column_names == ["id", "price", "comment"]  # the byte-order mark is not in a name
    assert table.schema.field("id").type == pa.int64() and table.schema.field("price").type == pa.float64()
    assert table.to_pydict() == {
        "id": [1, 2, 3, 4],
        "price": [2.5, None, 4.0, 5.25],
        "comment": ["one, two", 'a "quoted" word', "two\r\nlines", "=SUM(A1:A3)"],  # a formula is text
    }


def test_quoted_line_breaks_across_block_boundaries_are_read_as_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tables, "BLOCK_BYTES", 4096)  # hundreds of blocks, many split inside a quoted field
    monkeypatch.setattr(tables, "READ_BLOCK_BYTES", 4096)  # and so read whole
    body = b"".join(b'%d,"line %d\nnext, line"\n' % (i, i) for i in range(3000))
    source = open_table(write(tmp_path, "q.csv", b"n,text\n" + body))
    assert source.quoted
    for table in (read_table(source), pa.Table.from_batches([b for _, b in iter_batches(source)])):
        assert table.column("n").to_pylist() == list(range(3000))
        assert table.column("text")[2999].as_py() == "line 2999\nnext, line"
    assert not open_table(write(tmp_path, "plain.csv", b"n,m\n1,2\n")).quoted  # no quote: the faster split


def test_parquet_is_read_with_its_types(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([1.5, None, 3.0]), "city": pa.array(["a", "b", None]).dictionary_encode(), "n": [1, 2, 3]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    source = open_table(path)
    assert source.kind == "parquet" and source.rows == 3 and source.columns == ("x", "city", "n")
    read = read_table(source, ["x", "n"])
    assert read.to_pydict() == {"x": [1.5, None, 3.0], "n": [1, 2, 3]}


def test_parquet_is_known_by_its_bytes_whatever_its_name(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "t.data")
    assert open_table(tmp_path / "t.data").kind == "parquet"


# ---- hostile tables: one line naming the file, the row and the column ------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"a,b\n1,2\n3,4\n5,6,7\n", "row 3, column 3"),  # a row longer than the header
        (b"a,b\n1,2\n\"x\ny\",4\n5\n", "row 3, column 'b' is missing"),  # shorter, after a quoted line break
        (b"a,b\n1,x\n2,\xff\xfe\n", "row 2, column 'b': bytes that are not UTF-8"),
        (b"a,b\n1,x\n\xc3(,y\n", "row 2, column 'a': bytes that are not UTF-8"),
        (b"a,\xffb\n1,2\n", "the header, column 2: bytes that are not UTF-8"),
        (b"a,,c\n1,2,3\n", "the header, column 2: no name"),
        (b"a, ,c\n1,2,3\n", "the header, column 2: no name"),
        (b"a,b,a\n1,2,3\n", "the header, column 3: 'a' names column 1 too"),
        (b"a,b\n", "has a header but no rows"),
        (b"\xef\xbb\xbf\n\n", "holds no header line"),
    ],
    ids=["ragged-long", "ragged-short", "utf8-text", "utf8-number", "utf8-header", "no-name", "blank-name",
         "duplicate-name", "no-rows", "no-header"],
)
def test_a_broken_csv_is_refused_naming_row_and_column(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in refusal(write(tmp_path, "bad.csv", data))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    assert "is empty (0 bytes)" in refusal(write(tmp_path, "empty.csv", b""))


def test_a_field_past_the_limit_is_refused_with_its_row_and_column(tmp_path: Path, monkeypatch) -> None:
    huge = b"x" * (tables.MAX_FIELD_BYTES + 1)
    message = refusal(write(tmp_path, "long.csv", b"a,b\n1,2\n3," + huge + b"\n4,5\n"))
    assert "row 2, column 'b': a field longer than 16 MiB" in message
    monkeypatch.setattr(tables, "MAX_FIELD_BYTES", 1024**2)  # quoted, with separators and line breaks inside
    quoted = b'"' + b"x,\n" * (1024**2 // 3 + 1) + b'"'
    message = refusal(write(tmp_path, "quoted.csv", b"a,b\n1,2\n3," + quoted + b"\n4,5\n"))
    assert "row 2, column 'b': a field longer than 1 MiB" in message


def test_a_million_columns_are_refused_from_the_header_alone(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(1_000_000)).encode()
    message = refusal(write(tmp_path, "wide.csv", header + b"\n" + b"1," * 999_999 + b"1\n"))
    assert "the header, column 100,001" in message and "1,000,000 columns" in message


def test_a_parquet_file_with_too_many_columns_or_nested_values_is_refused(tmp_path: Path, monkeypatch) -> None:
    pq.write_table(pa.table({f"c{i}": [1] for i in range(12)}), tmp_path / "wide.parquet")
    monkeypatch.setattr(tables, "MAX_COLUMNS", 10)
    assert "column 11: the file holds 12 columns" in refusal(tmp_path / "wide.parquet")
    pq.write_table(pa.table({"a": [1], "b": [[1, 2]]}), tmp_path / "nested.parquet")
    assert "column 'b' holds list" in refusal(tmp_path / "nested.parquet")
    write(tmp_path, "fake.parquet", b"PAR1 not really")
    assert "not a Parquet file" in refusal(tmp_path / "fake.parquet")


def test_the_target_column_absent_empty_or_with_a_gap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"a,y,z\n1,,5\n2,,6\n3,,\n")
    assert "has no column 'price' (data.target)" in refusal(path, target="price")
    assert "column 'y' (the target) is empty in every row" in refusal(path, target="y")
    assert "row 3, column 'z': the target is missing" in refusal(path, target="z")


def test_things_that_are_not_files_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    assert "not a regular file" in refusal(fifo)
    assert "is a directory" in refusal(tmp_path)
    (tmp_path / "zero.csv").symlink_to("/dev/zero")  # a link out to a file that never ends
    assert "not a regular file" in refusal(tmp_path / "zero.csv")
    (tmp_path / "nowhere.csv").symlink_to(tmp_path / "missing.csv")
    assert "a symbolic link that leads nowhere" in refusal(tmp_path / "nowhere.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    assert "a loop of symbolic links" in refusal(tmp_path / "loop.csv")
    good = write(tmp_path, "real.csv", b"a\n1\n")
    (tmp_path / "link.csv").symlink_to(good)  # a link to a real table is that table
    assert read_table(open_table(tmp_path / "link.csv")).to_pydict() == {"a": [1]}


# ---- row batches: bounded memory, the same rows --------------------------------------------------


def big_csv(tmp_path: Path, m: int = 60_000) -> Path:
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(50, 10, m), 3).astype(str)
    x[rng.random(m) < 0.1] = ""
    city = np.array(["north", "south", "east", ""])[rng.integers(0, 4, m)]
    y = rng.integers(0, 1000, m).astype(str)
    lines = np.char.add(np.char.add(np.char.add(np.char.add(x, ","), city), ","), y)
    path = tmp_path / "big.csv"
    path.write_text("x,city,y\n" + "\n".join(lines) + "\n")
    return path


def test_a_table_read_in_batches_holds_one_batch_and_gives_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    path = big_csv(tmp_path, 240_000)
    whole = read_table(open_table(path))
    monkeypatch.setattr(tables, "BLOCK_BYTES", 64 * 1024)
    before, peak, parts = pa.total_allocated_bytes(), 0, []
    for first_row, batch in iter_batches(open_table(path)):
        assert first_row == sum(len(p) for p in parts)
        parts.append(np.array(batch.column("x").to_numpy(zero_copy_only=False)))
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert len(parts) > 10
    np.testing.assert_array_equal(np.concatenate(parts), whole.column("x").to_numpy())
    # a few blocks at a time, never the whole table
    assert peak < 12 * tables.BLOCK_BYTES < path.stat().st_size / 4


def test_a_number_column_turning_to_text_late_is_named_by_row(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tables, "BLOCK_BYTES", 4096)
    path = write(tmp_path, "late.csv", b"a,b\n" + b"1,2\n" * 5000 + b"oops,3\n")
    with pytest.raises(DataError, match=r"row 5001, column 'a': 'oops' is not a number"):
        list(iter_batches(open_table(path)))


# ---- the encoder ----------------------------------------------------------------------------------


def houses(**columns) -> pa.Table:
    base = {
        "size": [50.0, None, 70.0, 90.0, 110.0],
        "rooms": [1, 2, 3, 3, 4],
        "flat": [7.0, 7.0, 7.0, 7.0, 7.0],
        "city": ["b", "a", None, "b", "a"],
        "price": [100.5, 150.25, 170.0, 200.75, 260.0],
    }
    base.update(columns)
    return pa.table(base)


def test_numbers_are_filled_with_the_median_standardized_and_flag_their_gaps() -> None:
    encoder, encoded = fit_transform(houses(), TableOptions(target="price"))
    assert encoded.feature_names == [
        "size", "size (missing)", "rooms", "flat", "city=a", "city=b", "city=(missing)",
    ]
    X = encoded.X
    assert X.shape == (7, 5) and X.flags.f_contiguous and X.dtype == np.float64
    filled = np.array([50, 80, 70, 90, 110.0])  # the median of 50, 70, 90, 110 fills the gap
    np.testing.assert_allclose(X[0], (filled - filled.mean()) / filled.std())
    np.testing.assert_array_equal(X[1], [0, 1, 0, 0, 0])
    rooms = np.array([1, 2, 3, 3, 4.0])
    np.testing.assert_allclose(X[2], (rooms - rooms.mean()) / rooms.std())
    np.testing.assert_array_equal(X[3], 0)  # a constant column is kept at 0 ...
    assert any("'flat' has one value (7) in every training row" in w for w in encoded.warnings)  # ... with a warning
    np.testing.assert_array_equal(X[4:], [[0, 1, 0, 0, 1], [1, 0, 0, 1, 0], [0, 0, 1, 0, 0]])
    prices = np.array([100.5, 150.25, 170.0, 200.75, 260.0])
    np.testing.assert_allclose(encoded.y, (prices - prices.mean()) / prices.std())
    np.testing.assert_allclose(encoder.decode_target(encoded.y), prices)
    assert encoder.task == "regression"


def test_nothing_of_a_test_table_reaches_the_fitted_encoder() -> None:
    train = houses()
    encoder, _ = TableEncoder.fit(train, TableOptions(target="price"))
    before = json.dumps(encoder.to_dict())
    train_X = encoder.transform(train).X.copy()
    test = houses(size=[1e6, None, None, -5.0, 3.0], rooms=[40, 50, 60, 70, 80], city=["z", "z", "a", None, "b"],
                  price=[1.0, 2.0, 3.0, 4.0, 5.0])
    encoded = encoder.transform(test, "test.csv")
    assert json.dumps(encoder.to_dict()) == before
    np.testing.assert_array_equal(encoder.transform(train).X, train_X)
    # the test's gaps are filled with the training median (80), standardized with the training statistics
    size = encoder.numbers[0]
    assert size.median == 80.0
    np.testing.assert_allclose(encoded.X[0], (np.array([1e6, 80, 80, -5, 3]) - size.mean) / size.scale)
    # a category unseen in training: zeros, and a warning naming the column and the value
    np.testing.assert_array_equal(encoded.X[4:7, :2], 0)
    assert any("column 'city' holds 'z' (2 rows), not seen in the training rows" in w for w in encoded.warnings)


def test_a_missing_category_never_missing_in_training_gives_zeros_and_a_warning() -> None:
    encoder, _ = TableEncoder.fit(houses(city=["a", "b", "a", "b", "a"]), TableOptions(target="price"))
    assert encoder.categories[0].levels == ("a", "b")
    encoded = encoder.transform(houses(city=[None, "a", "b", "a", "b"]))
    np.testing.assert_array_equal(encoded.X[-2:, 0], 0)
    assert any("holds an empty value (1 row)" in w for w in encoded.warnings)


def test_the_encoder_round_trips_through_json() -> None:
    table = houses(city=["a", "b", "a", "b", "b"])
    encoder, _ = TableEncoder.fit(table, TableOptions(target="city", drop=("price",)))
    stored = json.loads(json.dumps(encoder.to_dict()))
    again = TableEncoder.from_dict(stored)
    assert again.to_dict() == encoder.to_dict()
    first, second = encoder.transform(houses(city=["a", "b", "a", "b", "a"])), again.transform(houses(city=["a", "b", "a", "b", "a"]))
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.y, second.y)


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.update(version=99), "not a table encoder of version 1"),
        (lambda d: d["numbers"][0].update(scale=0), "'numbers.scale' is 0"),
        (lambda d: d["numbers"][0].update(mean=float("nan")), "'numbers.mean' is nan"),
        (lambda d: d["categories"][0].update(levels=["a", 3]), "'categories.levels'"),
        (lambda d: d["features"].append("ghost"), "'features' does not list"),
        (lambda d: d.update(target={"name": "price", "task": "guess"}), "'target' is not a classification"),
    ],
)
def test_a_tampered_encoder_is_refused_naming_the_field(change, expected: str) -> None:
    encoder, _ = TableEncoder.fit(houses(), TableOptions(target="price"))
    stored = encoder.to_dict()
    change(stored)
    with pytest.raises(DataError, match="model.h5: ") as caught:
        TableEncoder.from_dict(stored, "model.h5")
    assert expected in str(caught.value)


def test_task_auto_and_the_class_names_come_from_the_target() -> None:
    def fitted(target: list, task: str = "auto") -> TableEncoder:
        return TableEncoder.fit(houses(price=target), TableOptions(target="price", task=task))[0]

    assert fitted(["yes", "no", "no", "yes", "yes"]).classes == ["no", "yes"]
    assert fitted([3, 1, 2, 1, 3]).classes == ["1", "2", "3"]  # whole numbers, few values
    assert fitted([3.0, 1.0, 10.0, 1.0, 3.0]).classes == ["1", "3", "10"]  # in numeric order
    assert fitted([1.5, 2.0, 3.0, 4.0, 5.0]).task == "regression"
    assert fitted([3, 1, 2, 1, 3], "regression").task == "regression"
    encoder = fitted(["yes", "no", "no", "yes", "yes"])
    np.testing.assert_array_equal(encoder.transform(houses(price=["no", "yes", "no", "no", "yes"])).y, [0, 1, 0, 0, 1])
    with pytest.raises(DataError, match=r"row 2, column 'price': class 'maybe' is not one of the training classes \(no, yes\)"):
        encoder.transform(houses(price=["no", "maybe", "no", "no", "yes"]), "t.csv")
    with pytest.raises(DataError, match="has one value \\('x'\\) in every training row: nothing to classify"):
        fitted(["x"] * 5, "classification")


def test_bad_values_are_named_by_row_column_and_value() -> None:
    encoder, _ = TableEncoder.fit(houses(), TableOptions(target="price"))
    with pytest.raises(DataError, match=r"rows.csv: row 4, column 'rooms': 'three' is not a number"):
        encoder.transform(houses(rooms=["1", " 2 ", "3", "three", "4"]), "rows.csv")
    with pytest.raises(DataError, match=r"row 2, column 'size': inf is not a finite number"):
        encoder.transform(houses(size=[1.0, float("inf"), 2.0, 3.0, 4.0]), "rows.csv")
    with pytest.raises(DataError, match="has no column 'rooms', which the model reads"):
        encoder.transform(houses().drop_columns(["rooms"]), "rows.csv")
    # rows to predict need no target
    assert encoder.transform(houses().drop_columns(["price"]), with_target=False).y is None


def test_the_options_choose_the_columns() -> None:
    table = houses(rooms=["1", "2", "3", "3", "4"])
    encoder, _ = TableEncoder.fit(table, TableOptions(target="price", features=("size", "rooms"), categorical=("rooms",)))
    assert encoder.feature_names == ["size", "size (missing)", "rooms=1", "rooms=2", "rooms=3", "rooms=4"]
    encoder, _ = TableEncoder.fit(table, TableOptions(target="price", drop=("city", "flat"), categorical=()))
    assert encoder.feature_names == ["size", "size (missing)", "rooms"]  # text holding numbers, read as numbers
    with pytest.raises(DataError, match=r"has no column 'ghost' \(data.drop\)"):
        TableEncoder.fit(table, TableOptions(target="price", drop=("ghost",)))
    with pytest.raises(DataError, match="no feature column left"):
        TableEncoder.fit(table, TableOptions(target="price", drop=("size", "rooms", "flat", "city")))


def test_an_id_column_is_too_many_categories(tmp_path: Path) -> None:
    ids = pa.array([f"id{i}" for i in range(MAX_LEVELS + 1)])
    table = pa.table({"id": ids, "y": np.arange(MAX_LEVELS + 1) % 2})
    with pytest.raises(DataError, match="column 'id' has 1,001 different values .* leave it out with data.drop"):
        TableEncoder.fit(table, TableOptions(target="y"))


def test_float32_inputs_and_scores_in_the_targets_units() -> None:
    encoder, _ = TableEncoder.fit(houses(), TableOptions(target="price"))
    encoded = encoder.transform(houses(), dtype=np.float32)
    assert encoded.X.dtype == np.float32 and encoded.X.flags.f_contiguous
    outputs = encoded.Y + 0.1
    in_units = regression_scores(outputs, encoded.Y, scale=encoder.target.scale, mean=encoder.target.mean)
    by_hand = regression_scores(encoder.decode_target(outputs), encoder.decode_target(encoded.Y))
    assert in_units["rmse"] == pytest.approx(0.1 * encoder.target.scale)
    assert in_units == pytest.approx(by_hand)


def many_rows(m: int, seed: int, levels: str = "abc") -> pa.Table:
    """Numbers with gaps, a constant column, a category with gaps and a target, in chunks of
    uneven sizes (as pyarrow reads a CSV file)."""
    rng = np.random.default_rng(seed)
    gaps = rng.random(m) < 0.05
    city = np.array(list(levels))[rng.integers(0, len(levels), m)].astype(object)
    city[rng.random(m) < 0.02] = None
    table = pa.table({
        "size": pa.array(np.round(rng.normal(80, 20, m), 2), mask=gaps),
        "rooms": rng.integers(1, 9, m),
        "flat": np.full(m, 7.0),
        "city": pa.array(city, pa.string()),
        "price": np.round(rng.normal(200, 50, m), 2),
    })
    cuts = [0, 1000, 77_777, m]
    return pa.Table.from_batches([b for a, z in zip(cuts, cuts[1:]) for b in table.slice(a, z - a).to_batches()])


def by_hand(encoder: TableEncoder, table: pa.Table) -> np.ndarray:
    """``X`` computed column by column over whole columns, from the encoder's statistics."""
    rows = []
    for number in encoder.numbers:
        values = table[number.name].to_numpy(zero_copy_only=False).astype(np.float64)
        gaps = np.isnan(values)
        rows.append(np.where(gaps, (number.median - number.mean) / number.scale, (values - number.mean) / number.scale))
        if number.indicator:
            rows.append(gaps.astype(np.float64))
    for category in encoder.categories:
        values = np.array(table[category.name].to_pylist(), dtype=object)
        rows += [np.array([v == level for v in values], dtype=np.float64) for level in category.levels]
    return np.array(rows)


def test_a_large_table_encodes_exactly_as_whole_columns_would(monkeypatch) -> None:
    # past THREADED_ROWS (columns learned on every core) and two of transform's chunks of rows,
    # the last one short: every value of X written once, none by a neighbouring chunk or block
    train = many_rows(encoding.THREADED_ROWS + 2 * encoding.CHUNK_ROWS // 3 + 1_001, seed=3)
    encoder, encoded = fit_transform(train, TableOptions(target="price"))
    np.testing.assert_array_equal(encoded.X, by_hand(encoder, train))
    size = train["size"].to_numpy(zero_copy_only=False)
    assert encoder.numbers[0].median == np.median(size[~np.isnan(size)]) and encoder.numbers[0].indicator
    assert encoder.categories[0].levels == ("a", "b", "c", None)
    assert any("'flat' has one value (7)" in w for w in encoded.warnings)
    monkeypatch.setenv("DNN_BLAS_THREADS", "1")  # on one thread: the very same statistics
    alone, _ = TableEncoder.fit(train, TableOptions(target="price"))
    assert alone.to_dict() == encoder.to_dict()
    # another table: a level unseen in training gives zeros and one warning for all its rows
    test = many_rows(encoding.CHUNK_ROWS + 5, seed=4, levels="abz")
    encoded = encoder.transform(test, "test.csv")
    np.testing.assert_array_equal(encoded.X, by_hand(encoder, test))
    unseen = sum(v == "z" for v in test["city"].to_pylist())
    assert [w for w in encoded.warnings if "'z'" in w] == [
        f"test.csv: column 'city' holds 'z' ({unseen} rows), not seen in the training rows: encoded as no category (zeros)"
    ]
    as_float32 = encoder.transform(test, dtype=np.float32).X
    assert as_float32.dtype == np.float32 and as_float32.flags.f_contiguous
    np.testing.assert_allclose(as_float32, encoded.X, rtol=1e-6, atol=1e-6)


def test_learning_in_batches_gives_the_encoder_learned_whole(tmp_path: Path, monkeypatch) -> None:
    path = big_csv(tmp_path)
    options = TableOptions(target="y", task="regression")
    whole, _ = TableEncoder.fit(open_table(path), options)
    expected = whole.encode_file(open_table(path))
    monkeypatch.setattr(tables, "BLOCK_BYTES", 64 * 1024)
    streamed, _ = TableEncoder.fit(open_table(path), options, budget_bytes=100_000)
    assert streamed.numbers[0].median == whole.numbers[0].median  # exact, from the median's bin
    assert _close(streamed.to_dict(), whole.to_dict())
    encoded = streamed.encode_file(open_table(path), budget_bytes=100_000)
    np.testing.assert_allclose(encoded.X, expected.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(encoded.y, expected.y, rtol=1e-12, atol=1e-12)


def _close(a: dict, b: dict) -> bool:
    """Two encoder dicts equal but for the rounding of sums taken in another order."""
    assert a["features"] == b["features"] and a["categories"] == b["categories"]
    for x, y in zip(a["numbers"], b["numbers"]):
        assert x["median"] == y["median"] and x["indicator"] == y["indicator"]
        assert x["mean"] == pytest.approx(y["mean"], rel=1e-12) and x["scale"] == pytest.approx(y["scale"], rel=1e-12)
    assert a["target"]["mean"] == pytest.approx(b["target"]["mean"], rel=1e-12)
    return True


# ---- the demo table -----------------------------------------------------------------------------


@pytest.mark.parametrize("task, target", [("classification", "sold"), ("regression", "price")])
def test_the_demo_table_is_the_same_for_a_seed_and_encodes(tmp_path: Path, task: str, target: str) -> None:
    first = write_demo_table(tmp_path / "a.csv", m=300, seed=5, task=task).read_bytes()
    assert write_demo_table(tmp_path / "b.csv", m=300, seed=5, task=task).read_bytes() == first
    assert write_demo_table(tmp_path / "c.csv", m=300, seed=6, task=task).read_bytes() != first
    source = open_table(tmp_path / "a.csv")
    table = read_table(source)
    assert table.num_rows == 300 and table.column("area").null_count > 0 and table.column("district").null_count > 0
    assert "=1+2" in table.column("note").to_pylist() and "two rooms\nupstairs" in table.column("note").to_pylist()
    encoder, _ = TableEncoder.fit(source, TableOptions(target=target, drop=("id", "note")))
    assert encoder.task == task
    assert "district=(missing)" in encoder.feature_names and "area (missing)" in encoder.feature_names
    parquet = write_demo_table(tmp_path / "a.parquet", m=300, seed=5, task=task)
    np.testing.assert_array_equal(encoder.encode_file(open_table(parquet)).X, encoder.encode_file(source).X)
    assert demo_table(300, 5, task).to_pydict() == table.to_pydict()


# ---- California housing, as scikit-learn's ColumnTransformer encodes it -------------------------


def _reference_housing(train_path: Path, test_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Median fill, standardization and one-hot by hand, on rows read by Python's csv module."""
    def rows(path: Path) -> list[dict]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    train, test = rows(train_path), rows(test_path)
    numbers = [c for c in train[0] if c not in ("median_house_value", "ocean_proximity")]
    levels = sorted({r["ocean_proximity"] for r in train})

    def numeric(table: list[dict], name: str) -> np.ndarray:
        return np.array([float(r[name]) if r[name] else np.nan for r in table])

    out_train, out_test = [], []
    for name in numbers:
        values = numeric(train, name)
        median = np.nanmedian(values)
        filled = np.where(np.isnan(values), median, values)
        mean, std = filled.mean(), filled.std()
        for part, out in ((values, out_train), (numeric(test, name), out_test)):
            out.append((np.where(np.isnan(part), median, part) - mean) / std)
            if np.isnan(values).any():
                out.append(np.isnan(part).astype(float))
    for level in levels:
        out_train.append(np.array([r["ocean_proximity"] == level for r in train], float))
        out_test.append(np.array([r["ocean_proximity"] == level for r in test], float))
    return np.array(out_train), np.array(out_test)


def test_housing_encodes_as_a_column_transformer_would() -> None:
    train_path, test_path = shared_file("housing_train.csv"), shared_file("housing_test.csv")
    encoder, warnings = TableEncoder.fit(open_table(train_path), TableOptions(target="median_house_value"))
    train, test = encoder.encode_file(open_table(train_path)), encoder.encode_file(open_table(test_path))
    assert warnings == [] and encoder.task == "regression"
    # 8 numbers, total_bedrooms' missing indicator, 5 levels of ocean_proximity
    assert train.X.shape == (14, 16_512) and test.X.shape == (14, 4_128)
    assert "total_bedrooms (missing)" in encoder.feature_names and "ocean_proximity=INLAND" in encoder.feature_names
    assert int(train.X[encoder.feature_names.index("total_bedrooms (missing)")].sum()) + int(
        test.X[encoder.feature_names.index("total_bedrooms (missing)")].sum()) == 207
    expected_train, expected_test = _reference_housing(train_path, test_path)
    np.testing.assert_allclose(train.X, expected_train, rtol=0, atol=1e-12)
    np.testing.assert_allclose(test.X, expected_test, rtol=0, atol=1e-12)
    prices = np.array([float(r["median_house_value"]) for r in csv.DictReader(open(test_path, newline=""))])
    np.testing.assert_allclose(encoder.decode_target(test.y), prices, rtol=1e-12)
    # predicting the training mean scores the README's RMSE of the mean predictor, in dollars
    mean_only = regression_scores(np.zeros((1, test.m)), test.Y, scale=encoder.target.scale, mean=encoder.target.mean)
    assert round(mean_only["rmse"]) == 113_945


def test_the_encoder_is_the_same_whatever_the_blas_threads(tmp_path: Path) -> None:
    """A column's deviation is NumPy's pairwise sum, not a BLAS dot, whose sum order follows the
    thread count: learned with one BLAS thread or two, the encoder is the same to the last bit
    (it was not for 5 of housing's 8 number columns)."""
    import subprocess
    import sys

    path = write_demo_table(tmp_path / "t.csv", m=40_000, seed=3, task="regression")
    code = (
        "import json, sys\n"
        "from dnncli.data.encoding import TableEncoder, TableOptions\n"
        "from dnncli.data.tables import open_table, read_table\n"
        f"encoder, _ = TableEncoder.fit(read_table(open_table({str(path)!r})), TableOptions(target='price', drop=('id', 'note')))\n"
        "print(json.dumps([(n.mean.hex(), n.scale.hex()) for n in encoder.numbers]))"
    )
    found = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        found.add(result.stdout)
    assert len(found) == 1, found
