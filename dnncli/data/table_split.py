"""``dnn data split`` of a CSV or Parquet table: a test set drawn from its rows, into two files.

``-o OUT.csv`` names both: ``OUT_train.csv`` and ``OUT_test.csv`` beside each other (``.parquet``
or ``.pq``: Parquet files), as the shared ``housing_train.csv`` / ``housing_test.csv`` are named.
Of every class of a classification target, ``round(fraction * n)`` rows are drawn for the test set
with the seed (:func:`dnncli.data.splits.stratified_split`, as for an HDF5 file; rows whose target
is missing are a group of their own); without a target, or for a regression, the rows are drawn
as one group. Both files keep the table's columns and its order of rows.

A CSV table written as CSV keeps its values as written: every column is read as text, so a zip
code ``01234`` stays ``01234`` and ``1.50`` stays ``1.50`` (pyarrow quotes every text field; an
empty field stays empty). Written as Parquet (or from Parquet) the columns keep the types dnn
reads them with. The rows are streamed in batches: memory holds the target column and one batch.
Both files are written beside their names and renamed into place once both are complete: an
error or Ctrl-C leaves neither, and an existing file is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli.data.arrow import pa, pc, pa_csv, pq
from dnncli.data.encoding import MAX_AUTO_CLASSES, MAX_LEVELS, TASKS
from dnncli.data.splits import same_file, stratified_split
from dnncli.data.tables import PARQUET_SUFFIXES, TABLE_SUFFIXES, TableFile, iter_batches, open_table, read_table
from dnncli.errors import DataError
from dnncli.files.atomic import atomic_path
from dnncli.terminal.display import printable

MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class Groups:
    """The rows' groups for the draw: ``labels`` ``(m,)`` indices into ``names`` (None: one
    group), and the task the target was taken for."""

    m: int
    labels: np.ndarray | None
    names: list[str] | None
    task: str | None


def split_paths(out: str | Path) -> tuple[Path, Path]:
    """``OUT_train.suffix`` and ``OUT_test.suffix`` beside ``out``."""
    out = Path(out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"-o {printable(out)}: expected a name ending in {', '.join(TABLE_SUFFIXES)} (OUT_train and OUT_test are written)")
    return out.with_name(f"{out.stem}_train{out.suffix}"), out.with_name(f"{out.stem}_test{out.suffix}")


def _check_outputs(source: Path, outputs: tuple[Path, Path], force: bool) -> None:
    for path in outputs:
        if path.is_dir():
            raise DataError(f"{printable(path)}: is a folder; -o names the tables to write")
        if path.exists() and same_file(path, source):
            raise DataError(f"{printable(path)}: is the table being split; choose another -o")
        if (path.exists() or path.is_symlink()) and not force:
            raise DataError(f"{printable(path)}: already exists; choose another -o or pass --force to replace it")


def _number_groups(values: np.ndarray, task: str) -> tuple[np.ndarray | None, list[str] | None, str]:
    present = ~np.isnan(values)
    distinct = np.unique(values[present])
    if task == "auto":
        few = len(distinct) <= MAX_AUTO_CLASSES and np.array_equal(distinct, np.round(distinct))
        task = "classification" if few else "regression"
    if task == "regression":
        return None, None, task
    if len(distinct) > MAX_LEVELS:
        raise DataError(f"the target has {len(distinct):,} different values, more than {MAX_LEVELS:,} classes")
    names = pa.array(distinct).cast(pa.string()).to_pylist()  # as training names the classes
    labels = np.full(len(values), len(names), dtype=np.int64)  # a missing target: a group of its own
    labels[present] = np.searchsorted(distinct, values[present])
    return labels, names + ([MISSING_GROUP] if not present.all() else []), task


def _text_groups(column: pa.ChunkedArray, target: str) -> tuple[np.ndarray, list[str]]:
    text = pc.cast(column, pa.string())
    names = sorted(v for v in pc.unique(text).to_pylist() if v is not None)
    if len(names) > MAX_LEVELS:
        raise DataError(f"the target '{printable(target)}' has {len(names):,} different values, more than {MAX_LEVELS:,} classes")
    codes = pc.fill_null(pc.index_in(text, value_set=pa.array(names, pa.string())), len(names))
    labels = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
    return labels, names + ([MISSING_GROUP] if text.null_count else [])


def target_groups(source: TableFile, target: str | None, task: str = "auto") -> Groups:
    """The groups the test rows are drawn from: a classification target's classes, else one."""
    if task not in TASKS:
        raise DataError(f"--task '{printable(task)}': expected one of {', '.join(TASKS)}")
    if target is None:
        return Groups(read_table(source, [source.columns[0]]).num_rows, None, None, None)
    column = read_table(source, [target])[target]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    kind = column.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if numeric:
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        labels, names, task = _number_groups(values, task)
        return Groups(len(column), labels, names, task)
    if task == "regression":
        raise DataError(f"{printable(source.path)}: the target '{printable(target)}' holds text, expected numbers for a regression")
    labels, names = _text_groups(column, target)
    return Groups(len(column), labels, names, "classification")


def _writer(path: Path, schema: pa.Schema, parquet: bool) -> Any:
    return pq.ParquetWriter(path, schema) if parquet else pa_csv.CSVWriter(path, schema)


def _write_parts(source: TableFile, outputs: tuple[Path, Path], is_test: np.ndarray) -> None:
    """The rows into the two files, batch by batch, each renamed into place once both are whole."""
    parquet = outputs[0].suffix.lower() in PARQUET_SUFFIXES
    types = {name: pa.string() for name in source.columns} if source.kind == "csv" and not parquet else None
    suffix = outputs[0].suffix
    with atomic_path(outputs[0], suffix) as train_tmp, atomic_path(outputs[1], suffix) as test_tmp:
        with contextlib.ExitStack() as writers:
            opened: list[Any] = []
            rows = 0
            for first_row, batch in iter_batches(source, None, types):
                if not opened:
                    opened = [writers.enter_context(_writer(tmp, batch.schema, parquet)) for tmp in (train_tmp, test_tmp)]
                rows = first_row + batch.num_rows
                chosen = pa.array(is_test[first_row:rows]) if rows <= len(is_test) else None
                if chosen is None:
                    break
                opened[0].write_batch(batch.filter(pc.invert(chosen)))
                opened[1].write_batch(batch.filter(chosen))
            if rows != len(is_test):  # the file changed between the two reads: nothing is kept
                raise DataError(f"{printable(source.path)}: held {len(is_test):,} rows, then {rows:,} when read again; was it being written?")


def split_table(
    path: str | Path, out: str | Path, fraction: float, seed: int = 0, target: str | None = None,
    task: str = "auto", force: bool = False,
) -> dict[str, Any]:
    """Write ``OUT_train`` and ``OUT_test`` from the table at ``path``; a summary for the
    command line (the files, rows and rows per class)."""
    path = Path(path)
    outputs = split_paths(out)
    _check_outputs(path, outputs, force)
    source = open_table(path)
    if target is not None and target not in source.columns:
        shown = ", ".join(f"'{printable(n)}'" for n in source.columns[:20]) + (", ..." if len(source.columns) > 20 else "")
        raise DataError(f"{printable(path)}: has no column '{printable(target)}' (--target); its columns: {shown}")
    groups = target_groups(source, target, task)
    train_idx, test_idx = stratified_split(groups.labels, groups.m, fraction, seed)
    if test_idx.size == 0:
        raise DataError(f"--test-fraction {fraction} of {groups.m} rows leaves no test row; raise it")
    is_test = np.zeros(groups.m, dtype=bool)
    is_test[test_idx] = True
    _write_parts(source, outputs, is_test)
    n_groups = len(groups.names or [None])
    labels = groups.labels if groups.labels is not None else np.zeros(groups.m, dtype=np.int64)
    return {
        "source": str(path), "train": str(outputs[0]), "test": str(outputs[1]),
        "train_rows": int(train_idx.size), "test_rows": int(test_idx.size),
        "target": target, "task": groups.task, "classes": groups.names,
        "train_counts": np.bincount(labels[train_idx], minlength=n_groups).tolist() if groups.names else None,
        "test_counts": np.bincount(labels[test_idx], minlength=n_groups).tolist() if groups.names else None,
    }
