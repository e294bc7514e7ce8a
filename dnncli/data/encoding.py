"""A table into the network's columns: an encoder learned from the training rows only.

:meth:`TableEncoder.fit` learns from the training table, and :meth:`TableEncoder.transform`
applies what it learned to any table (the training rows, a test set, rows to predict), so that no
statistic of a test or validation row ever reaches the model:

* a number: a missing value becomes the training median; the column is standardized with the
  training mean and deviation (taken after the gaps are filled, as scikit-learn's
  ``SimpleImputer`` then ``StandardScaler`` take them); a column with gaps in training gets a
  missing-indicator column beside it (1 where the value was missing); a constant column is kept
  at 0, with a warning;
* a category: one column per level seen in training, in sorted order (a missing value is a level
  of its own, last, when training had gaps), 1 in the row's level's column; a level not seen in
  training gives zeros and a warning naming the column and the value;
* the target: a classification's class index (the classes: the target's sorted values, as text),
  or a regression's value standardized with the training mean and deviation, turned back into its
  own units by :meth:`TableEncoder.decode_target`.

``X`` is ``(n_x, m)``, float, column-major (each example's values contiguous), the layout of
dnn's training inputs. Everything runs on whole columns (pyarrow compute, NumPy): no loop over
rows. A table too large for the memory budget is learned from in row batches, from the rows a
mask selects (a pass for the counts, sums and categories, usually one or two more for the exact
medians: a histogram, then the values of the median's bin) and encoded batch by batch: into one
preallocated ``X``, or a batch at a time for a file (:mod:`dnncli.data.table_cache`).

The fitted encoder is a JSON-able dict (:meth:`TableEncoder.to_dict`), stored in the model file;
:meth:`TableEncoder.from_dict` checks every field of one read back.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from dnncli.compute.threads import thread_cap, usable_cores
from dnncli.data.arrow import pa, pc
from dnncli.data.tables import TableFile, iter_batches, read_table
from dnncli.errors import DataError, DnnError
from dnncli.terminal.display import printable

TASKS = ("auto", "classification", "regression")
FORMAT_VERSION = 1
# one-hot columns for one category column: more levels is an id or free text (leave it out with
# data.drop), not a category
MAX_LEVELS = 1000
# task: auto calls whole-number targets with at most this many values a classification
MAX_AUTO_CLASSES = 20
MISSING_NAME = "(missing)"
# a number as text, as a CSV reader would have typed it (pyarrow's cast takes no spaces)
NUMBER_PATTERN = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(inf|Inf|INF|infinity|Infinity)\s*$"
# the exact median of a table read in batches: each pass splits the bin that holds a middle value
# into this many (32 kB of counts a column), until it holds at most MEDIAN_KEPT values, kept and
# sorted, or one value repeated; after MEDIAN_DEPTH splits (below a float's resolution) it is kept
MEDIAN_BINS = 1 << 12
MEDIAN_KEPT = 1 << 15
MEDIAN_DEPTH = 6
MAX_SHOWN = 5
# X is written a block of rows of about this many bytes at a time, through a buffer that stays in
# the cache
ROW_BLOCK_BYTES = 2 * 1024**2
# X is written this many rows at a time (the number columns read out of pyarrow that many at a
# time: a few MB, not a copy of each column)
CHUNK_ROWS = 1 << 16
# the columns are learned, and the categories' codes found, on every core for tables of at least
# this many rows (NumPy and pyarrow let go of Python's lock in their long loops over a column);
# smaller ones on one thread
THREADED_ROWS = 100_000


@dataclass(frozen=True)
class TableOptions:
    """What to learn from: ``target`` (the label column; None for rows to predict), ``features``
    (default: every other column), ``drop`` (columns left out: ids, free text), ``categorical``
    (default: the columns that are not numbers), ``task`` (``auto``: a text target, or whole
    numbers with few values, is a classification)."""

    target: str | None = None
    features: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] | None = None
    task: str = "auto"


@dataclass(frozen=True)
class NumberColumn:
    name: str
    median: float
    mean: float
    scale: float  # the deviation; 1 for a constant column
    indicator: bool  # a missing-indicator column follows


@dataclass(frozen=True)
class CategoryColumn:
    name: str
    levels: tuple[str | None, ...]  # sorted; None (a missing value) last when training had gaps


@dataclass(frozen=True)
class Target:
    name: str
    task: str  # "classification" or "regression"
    classes: tuple[str, ...] = ()
    mean: float = 0.0
    scale: float = 1.0


@dataclass
class EncodedTable:
    """``X`` ``(n_x, m)`` column-major; ``y`` ``(m,)``: class indices (int64) or the standardized
    regression target (float64), None without a target; ``warnings`` one line each."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def m(self) -> int:
        return int(self.X.shape[1])

    @property
    def Y(self) -> np.ndarray | None:
        """``y`` as a ``(1, m)`` row, as the engine takes a regression's targets."""
        return None if self.y is None else self.y.reshape(1, -1)


# ---- values out of pyarrow columns ------------------------------------------------------------

# (a name for annotations only: pyarrow is imported when a table is first read)
Column = "pa.Array | pa.ChunkedArray"


def plain_column(column: Column) -> Column:
    """A dictionary-encoded column as its plain values (pyarrow reads repeated text that way)."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def is_number_type(kind: pa.DataType) -> bool:
    """Whether a column of ``kind`` holds numbers (an all-missing column counts as numbers)."""
    if pa.types.is_dictionary(kind):
        return is_number_type(kind.value_type)
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
        or pa.types.is_decimal(kind) or pa.types.is_null(kind)


def _where(source: str, row: int, column: str) -> str:
    return f"{printable(source)}: row {row}, column '{printable(column)}'"


def _numbers(column: Column, name: str, source: str, first_row: int) -> np.ndarray:
    """The column as float64, NaN where a value is missing; text must read as numbers, and no
    value may be infinite (one line naming the first bad row)."""
    column = plain_column(column)
    if not is_number_type(column.type):
        text = pc.cast(column, pa.string())
        readable = pc.match_substring_regex(text, NUMBER_PATTERN)
        bad = pc.and_(pc.invert(readable), pc.is_valid(text))
        if pc.any(bad).as_py():
            row = pc.index(bad, True).as_py()
            value = text[row].as_py()
            raise DataError(f"{_where(source, first_row + row + 1, name)}: '{printable(value)}' is not a number")
        column = pc.cast(pc.utf8_trim_whitespace(text), pa.float64())
    values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.argmax(infinite))
        raise DataError(f"{_where(source, first_row + row + 1, name)}: {values[row]} is not a finite number")
    return values


def _texts(column: Column) -> Column:
    """A category or class column as text (numbers as pyarrow writes them: 3.0 as "3")."""
    return pc.cast(plain_column(column), pa.string())


_T = TypeVar("_T")
_R = TypeVar("_R")


def _each(work: Callable[[_T], _R], items: Sequence[_T], rows: int) -> list[_R]:
    """``work`` on every item, in order, on every core this process may use when there are
    ``THREADED_ROWS`` rows or more; the first item's error, in order, is the one raised."""
    threads = min(usable_cores(), thread_cap() or len(items), len(items))
    if rows < THREADED_ROWS or threads < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="dnn-encode") as pool:
        return list(pool.map(work, items))


# ---- choosing the columns -------------------------------------------------------------------


def _choose(names: Sequence[str], types: Sequence[pa.DataType], options: TableOptions, source: str) -> tuple[list[str], set[str]]:
    """The feature columns in the table's order, and which of them are categories."""
    known = set(names)
    listed = [(options.target, "data.target")] if options.target is not None else []
    listed += [(name, "data.features") for name in options.features or ()]
    listed += [(name, "data.drop") for name in options.drop]
    listed += [(name, "data.categorical") for name in options.categorical or ()]
    for name, key in listed:
        if name not in known:
            shown = ", ".join(f"'{printable(n)}'" for n in names[:20]) + (", ..." if len(names) > 20 else "")
            raise DataError(f"{printable(source)}: has no column '{printable(name)}' ({key}); its columns: {shown}")
    if options.task not in TASKS:
        raise DataError(f"data.task is '{printable(options.task)}', expected one of {', '.join(TASKS)}")
    left_out = set(options.drop) | ({options.target} if options.target is not None else set())
    clash = sorted(left_out & set(options.features or ()))
    if clash:
        raise DataError(f"column '{printable(clash[0])}' is both a feature (data.features) and the target or dropped")
    chosen = list(options.features) if options.features is not None else [n for n in names if n not in left_out]
    if not chosen:
        raise DataError(f"{printable(source)}: no feature column left (every column is the target or in data.drop)")
    kinds = dict(zip(names, types))
    if options.categorical is not None:
        stray = [n for n in options.categorical if n not in chosen]
        if stray:
            raise DataError(f"column '{printable(stray[0])}' is in data.categorical but is not a feature")
        return chosen, set(options.categorical)
    return chosen, {n for n in chosen if not is_number_type(kinds[n])}


# ---- learning ---------------------------------------------------------------------------------


def _learn_number(name: str, values: np.ndarray, warnings: list[str]) -> NumberColumn:
    present = ~np.isnan(values)
    kept = values[present]  # a copy: the median may reorder it
    gaps = len(values) - len(kept)
    if not len(kept):
        warnings.append(f"column '{printable(name)}' has no value in the training rows: it is kept at 0")
        return NumberColumn(name, 0.0, 0.0, 1.0, False)
    low, high = float(kept.min()), float(kept.max())
    median = float(np.median(kept, overwrite_input=True))
    if low == high:
        warnings.append(f"column '{printable(name)}' has one value ({low:g}) in every training row: it is kept at 0")
        return NumberColumn(name, median, median, 1.0, gaps > 0)
    # the mean and deviation of the column with its gaps filled, without filling a copy of it
    mean = (float(kept.sum()) + gaps * median) / len(values)
    kept -= mean
    # NumPy's pairwise sum of the squares, not a BLAS dot: OpenBLAS's dot sums in another order for
    # another thread count, so the encoder (and every run on the table) differed from machine to machine
    np.square(kept, out=kept)
    variance = (float(kept.sum()) + gaps * (median - mean) ** 2) / len(values)
    return NumberColumn(name, median, mean, math.sqrt(variance), gaps > 0)


def _check_level_count(name: str, distinct: int, source: str) -> None:
    if distinct > MAX_LEVELS:
        raise DataError(
            f"{printable(source)}: column '{printable(name)}' has {distinct:,} different values in the training rows, "
            f"more than {MAX_LEVELS:,} one-hot categories: leave it out with data.drop (an id, free text), "
            "or keep it out of data.categorical if it holds numbers"
        )


def _learn_levels(name: str, text: Column, source: str) -> CategoryColumn:
    distinct = pc.unique(text)  # a missing value among them once, when there is one
    _check_level_count(name, len(distinct) - distinct.null_count, source)
    levels = sorted(v for v in distinct.to_pylist() if v is not None)
    return CategoryColumn(name, tuple(levels) + ((None,) if text.null_count else ()))


def _task(column: Column, task: str) -> str:
    if task != "auto":
        return task
    if not is_number_type(column.type) or pa.types.is_boolean(plain_column(column).type):
        return "classification"
    values = pc.cast(plain_column(column), pa.float64())
    whole = pc.all(pc.equal(values, pc.round(values))).as_py()
    few = pc.count_distinct(values).as_py() <= MAX_AUTO_CLASSES
    return "classification" if whole and few else "regression"


def _check_target_present(column: Column, name: str, source: str, first_row: int = 0) -> None:
    if column.null_count == len(column):
        raise DataError(f"{printable(source)}: column '{printable(name)}' (the target) is empty in every row")
    if column.null_count:
        row = pc.index(pc.is_null(column), True).as_py()
        raise DataError(f"{_where(source, first_row + row + 1, name)}: the target is missing")


def _learn_target(column: Column, name: str, task: str, source: str, warnings: list[str]) -> Target:
    _check_target_present(column, name, source)
    task = _task(column, task)
    if task == "regression":
        values = _numbers(column, name, source, 0)
        scale = float(values.std())
        if scale == 0:
            warnings.append(f"the target '{printable(name)}' has one value ({values[0]:g}) in every training row")
        return Target(name, task, mean=float(values.mean()), scale=scale or 1.0)
    return Target(name, task, classes=_classes(column, name, source))


def _classes(column: Column, name: str, source: str) -> tuple[str, ...]:
    distinct = pc.unique(plain_column(column))
    if len(distinct) > MAX_LEVELS:
        raise DataError(f"{printable(source)}: the target '{printable(name)}' has {len(distinct):,} different values, more than {MAX_LEVELS:,} classes")
    if len(distinct) < 2:
        raise DataError(
            f"{printable(source)}: the target '{printable(name)}' has one value ('{printable(_texts(distinct)[0].as_py())}') "
            "in every training row: nothing to classify"
        )
    ordered = pc.take(distinct, pc.sort_indices(distinct))  # numbers in numeric order, text in code-point order
    return tuple(_texts(ordered).to_pylist())


# ---- the encoder ----------------------------------------------------------------------------


class TableEncoder:
    """Numbers, categories and the target as learned from training rows (:meth:`fit`), applied to
    any table (:meth:`transform`)."""

    def __init__(self, features: Sequence[str], numbers: Sequence[NumberColumn], categories: Sequence[CategoryColumn], target: Target | None) -> None:
        self.features = tuple(features)  # in the table's order; numbers first in X, then categories
        self.numbers = tuple(numbers)
        self.categories = tuple(categories)
        self.target = target

    # -- what it is

    @property
    def task(self) -> str | None:
        return self.target.task if self.target else None

    @property
    def classes(self) -> list[str] | None:
        return list(self.target.classes) if self.target and self.target.task == "classification" else None

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for number in self.numbers:
            names += [number.name] + ([f"{number.name} {MISSING_NAME}"] if number.indicator else [])
        for category in self.categories:
            names += [f"{category.name}={MISSING_NAME if level is None else level}" for level in category.levels]
        return names

    @property
    def n_x(self) -> int:
        return sum(1 + n.indicator for n in self.numbers) + sum(len(c.levels) for c in self.categories)

    def columns_read(self, with_target: bool = True) -> list[str]:
        """The table's columns the encoder reads."""
        target = [self.target.name] if with_target and self.target else []
        return list(self.features) + target

    # -- learning

    @classmethod
    def fit(cls, data: pa.Table | TableFile, options: TableOptions, budget_bytes: int | None = None) -> tuple["TableEncoder", list[str]]:
        """The encoder learned from ``data`` (a table in memory, or a file, read whole when it fits
        ``budget_bytes`` and in row batches otherwise), and its warnings."""
        if isinstance(data, TableFile) and budget_bytes is not None and not data.fits(budget_bytes):
            return _fit_streamed(data, options)
        source = str(data.path) if isinstance(data, TableFile) else "the table"
        if isinstance(data, TableFile):
            data = read_table(data)
        features, categorical = _choose(data.column_names, data.schema.types, options, source)
        table = data

        def learn(name: str) -> tuple[NumberColumn | CategoryColumn, list[str]]:
            said: list[str] = []
            if name in categorical:
                return _learn_levels(name, _texts(table[name]), source), said
            return _learn_number(name, _numbers(table[name], name, source, 0), said), said

        ordered = [n for n in features if n not in categorical] + [n for n in features if n in categorical]
        learned = _each(learn, ordered, data.num_rows)  # numbers, then categories, as X holds them
        warnings = [line for _, said in learned for line in said]
        numbers = [c for c, _ in learned if isinstance(c, NumberColumn)]
        categories = [c for c, _ in learned if isinstance(c, CategoryColumn)]
        target = None
        if options.target is not None:
            target = _learn_target(data[options.target], options.target, options.task, source, warnings)
        return cls(features, numbers, categories, target), warnings

    # -- applying

    def transform(self, table: pa.Table | pa.RecordBatch, source: str = "the table", first_row: int = 0,
                  with_target: bool = True, dtype: np.dtype | type = np.float64, out: np.ndarray | None = None) -> EncodedTable:
        """``table`` encoded; ``with_target``: the target column too (it must then be there, with
        every value known). ``first_row`` numbers the rows in messages (a batch's offset);
        ``out``: an ``(m, n_x)`` C-ordered array to fill (a slice of a larger ``X``)."""
        missing = [n for n in self.columns_read(with_target) if n not in table.column_names]
        if missing:
            raise DataError(f"{printable(source)}: has no column '{printable(missing[0])}', which the model reads")
        # every value of X is written below (the one-hot zeros too): no pass of zeros first
        rows = np.empty((table.num_rows, self.n_x), dtype=dtype) if out is None else out
        texts = [_texts(table[c.name]) for c in self.categories]
        coded = _each(lambda c: _level_codes(c[0], c[1], source), list(zip(self.categories, texts)), table.num_rows)
        codes = [column_codes for column_codes, _ in coded]
        warnings = [line for _, said in coded for line in said]
        # on one thread: two threads taking turns at Python's lock between the many small NumPy
        # calls of a block took three to four times the CPU time (and longer) on two cores
        for start in range(0, table.num_rows, CHUNK_ROWS):
            self._write_rows(table, rows, codes, start, source, first_row)
        y = self._targets(table, source, first_row) if with_target and self.target else None
        return EncodedTable(rows.T, y, self.feature_names, warnings)

    def _write_rows(self, table: pa.Table | pa.RecordBatch, rows: np.ndarray, codes: list[np.ndarray], start: int,
                    source: str, first_row: int) -> None:
        """Rows ``start`` to ``start + CHUNK_ROWS`` of ``X``, every one of their values: a block of
        rows at a time is written column by column into a column-major buffer (contiguous columns,
        which NumPy writes about three times faster than ``X``'s strided ones), then copied into ``X``."""
        part = table.slice(start, CHUNK_ROWS)
        values = [_numbers(part.column(n.name), n.name, source, first_row + start) for n in self.numbers]
        # an odd count: with a power-of-two stride between the buffer's columns, the copy into
        # rows would read them all through the same few cache sets (measured 2-3 times slower)
        block_rows = max(255, ROW_BLOCK_BYTES // (rows.itemsize * max(1, self.n_x))) | 1
        buffer = np.empty((self.n_x, min(block_rows, part.num_rows)), dtype=rows.dtype)
        for at in range(0, part.num_rows, block_rows):
            end = min(at + block_rows, part.num_rows)
            columns = buffer[:, : end - at]
            offset = _write_numbers(self.numbers, [v[at:end] for v in values], columns)
            for category, column_codes in zip(self.categories, codes):
                levels = len(category.levels)
                # one-hot: 1 in the row's level's column, 0 elsewhere (a value not seen: all 0)
                np.equal(column_codes[start + at : start + end], np.arange(levels)[:, None], out=columns[offset : offset + levels])
                offset += levels
            rows[start + at : start + end] = columns.T

    def _targets(self, table: pa.Table | pa.RecordBatch, source: str, first_row: int) -> np.ndarray:
        target = self.target
        assert target is not None
        column = table[target.name]
        _check_target_present(column, target.name, source, first_row)
        if target.task == "regression":
            return (_numbers(column, target.name, source, first_row) - target.mean) / target.scale
        text = _texts(column)
        codes = pc.index_in(text, value_set=pa.array(target.classes, pa.string()))
        if codes.null_count:
            row = pc.index(pc.is_null(codes), True).as_py()
            value = pc.take(text, [row])[0].as_py()
            raise DataError(
                f"{_where(source, first_row + row + 1, target.name)}: class '{printable(value)}' is not one of the "
                f"training classes ({', '.join(printable(c) for c in target.classes[:MAX_SHOWN])}"
                f"{', ...' if len(target.classes) > MAX_SHOWN else ''})"
            )
        return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)

    def decode_target(self, y: np.ndarray) -> np.ndarray:
        """A regression's standardized outputs back in the target's units (a classification's
        class indices into class names)."""
        assert self.target is not None
        if self.target.task == "regression":
            return np.asarray(y, dtype=np.float64) * self.target.scale + self.target.mean
        return np.asarray(self.target.classes, dtype=object)[np.asarray(y, dtype=np.int64)]

    def encode_file(self, source: TableFile, budget_bytes: int | None = None, with_target: bool = True,
                    dtype: np.dtype | type = np.float64, rows: np.ndarray | None = None, name: str | None = None) -> EncodedTable:
        """A file encoded: read whole when it fits ``budget_bytes``, else batch by batch into one
        preallocated ``X`` (memory: ``X`` and one batch). ``rows``: only the rows a boolean mask
        over the file's rows selects, always read in batches; ``name`` then stands for the file in
        messages, which number the selected rows (see :func:`selected_batches`)."""
        columns = self.columns_read(with_target)
        if rows is None and (budget_bytes is None or source.fits(budget_bytes)):
            return self.transform(read_table(source, columns), str(source.path), with_target=with_target, dtype=dtype)
        m = int(np.count_nonzero(rows)) if rows is not None else count_rows(source, columns[0])
        X_rows = np.empty((m, self.n_x), dtype=dtype)
        ys, warnings = [], []
        for first_row, batch in selected_batches(source, columns, rows):
            part = self.transform(batch, name or str(source.path), first_row, with_target, dtype,
                                  X_rows[first_row : first_row + batch.num_rows])
            ys.append(part.y)
            warnings += part.warnings
        y = np.concatenate(ys) if with_target and self.target else None
        return EncodedTable(X_rows.T, y, self.feature_names, warnings)

    def encoded_batches(self, source: TableFile, rows: np.ndarray | None = None, name: str | None = None,
                        dtype: np.dtype | type = np.float64) -> Iterator[tuple[int, EncodedTable]]:
        """The (selected) rows of ``source`` encoded with their targets a batch at a time, as
        ``(first_row, encoded)``: what is written to a file never holds the whole matrix."""
        for first_row, batch in selected_batches(source, self.columns_read(), rows):
            yield first_row, self.transform(batch, name or str(source.path), first_row, dtype=dtype)

    # -- stored

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, read back by :meth:`from_dict`."""
        target = None
        if self.target is not None:
            target = {"name": self.target.name, "task": self.target.task}
            target.update({"classes": list(self.target.classes)} if self.target.task == "classification"
                          else {"mean": self.target.mean, "scale": self.target.scale})
        return {
            "version": FORMAT_VERSION,
            "features": list(self.features),
            "numbers": [{"name": n.name, "median": n.median, "mean": n.mean, "scale": n.scale, "indicator": n.indicator} for n in self.numbers],
            "categories": [{"name": c.name, "levels": list(c.levels)} for c in self.categories],
            "target": target,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "table encoder", error: type[DnnError] = DataError) -> "TableEncoder":
        """The encoder :meth:`to_dict` described, every field checked (one line naming ``where``
        and the field when one is wrong)."""
        return _from_dict(cls, data, where, error)


def _write_numbers(numbers: Sequence[NumberColumn], values: Sequence[np.ndarray], columns: np.ndarray) -> int:
    """The number columns (and their missing indicators) of a block of rows, ``columns``
    ``(n_x, rows)`` from its first row on; the index of the next row of ``columns``."""
    offset = 0
    for number, column_values in zip(numbers, values):
        gaps = np.isnan(column_values)
        column = columns[offset]  # written in place: no copy of the column
        np.subtract(column_values, number.mean, out=column)
        column /= number.scale
        column[gaps] = (number.median - number.mean) / number.scale
        offset += 1
        if number.indicator:
            columns[offset] = gaps
            offset += 1
    return offset


def _level_codes(category: CategoryColumn, text: Column, source: str) -> tuple[np.ndarray, list[str]]:
    """Each row's index among ``category``'s levels (-1: a value not seen in training), and a
    warning naming the column and those values when there are any."""
    levels = pa.array(category.levels, pa.string())
    codes = pc.fill_null(pc.index_in(text, value_set=levels, skip_nulls=False), -1)
    codes = np.asarray(codes.to_numpy(zero_copy_only=False))
    seen = codes >= 0
    if seen.all():
        return codes, []
    unseen = pc.filter(text, pa.array(~seen))
    values = pc.value_counts(unseen).to_pylist()
    shown = ", ".join(
        ("an empty value" if v["values"] is None else f"'{printable(v['values'])}'") + f" ({v['counts']} row{'s' * (v['counts'] > 1)})"
        for v in values[:MAX_SHOWN]
    )
    more = f" and {len(values) - MAX_SHOWN} more" if len(values) > MAX_SHOWN else ""
    return codes, [
        f"{printable(source)}: column '{printable(category.name)}' holds {shown}{more}, not seen in the training rows: "
        "encoded as no category (zeros)"
    ]


def count_rows(source: TableFile, column: str | None = None) -> int:
    """The table's rows: a Parquet file says; a CSV file is read for them, one column in batches."""
    if source.rows is not None:
        return source.rows
    return sum(batch.num_rows for _, batch in iter_batches(source, [column or source.columns[0]]))


def selected_batches(source: TableFile, columns: Sequence[str] | None, rows: np.ndarray | None) -> Iterator[tuple[int, pa.RecordBatch]]:
    """:func:`iter_batches`, keeping only the rows a boolean mask over the file's rows selects
    (None: every row). ``first_row`` then counts the selected rows before the batch, as if the
    selected rows were a table of their own: a caller maps a message's row back to the file's."""
    if rows is None:
        yield from iter_batches(source, columns)
        return
    before = 0
    for first_row, batch in iter_batches(source, columns):
        keep = rows[first_row : first_row + batch.num_rows]
        if len(keep) != batch.num_rows:
            raise DataError(f"{printable(source.path)}: has more than the {len(rows):,} rows it had when first read (changed meanwhile?)")
        if keep.all():
            yield before, batch
        elif keep.any():
            yield before, batch.filter(pa.array(keep))
        before += int(np.count_nonzero(keep))


# ---- learning from a table read in batches ----------------------------------------------------


@dataclass
class _Moments:
    """Count, mean, sum of squared deviations, min and max of the values seen (Chan's merge)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        count, mean = len(values), float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        self.merge(count, mean, m2)
        self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))

    def merge(self, count: int, mean: float, m2: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total


@dataclass
class _TargetStream:
    """What the target's batches tell: its distinct values (up to one more than could be classes),
    whether they are whole numbers, their moments, and the first row where it is missing."""

    values: set = field(default_factory=set)
    is_number: bool = True
    whole: bool = True
    moments: _Moments = field(default_factory=_Moments)
    first_missing: int | None = None

    def add(self, column: Column, name: str, path: str, first_row: int) -> None:
        if column.null_count and self.first_missing is None:
            self.first_missing = first_row + pc.index(pc.is_null(column), True).as_py() + 1
        column = pc.drop_null(plain_column(column))
        self.is_number = self.is_number and is_number_type(column.type) and not pa.types.is_boolean(column.type)
        if self.is_number:
            values = _numbers(column, name, path, first_row)
            self.moments.add(values)
            self.whole = self.whole and bool(np.all(values == np.round(values)))
        if len(self.values) <= MAX_LEVELS:
            self.values.update(pc.unique(column).to_pylist())

    def target(self, name: str, task: str, path: str, warnings: list[str]) -> Target:
        if not self.values:
            raise DataError(f"{printable(path)}: column '{printable(name)}' (the target) is empty in every row")
        if self.first_missing is not None:
            raise DataError(f"{_where(path, self.first_missing, name)}: the target is missing")
        if task == "auto":
            few = len(self.values) <= MAX_AUTO_CLASSES
            task = "regression" if self.is_number and not (self.whole and few) else "classification"
        if task == "classification":
            return Target(name, task, classes=_classes(pa.array(list(self.values)), name, path))
        if not self.is_number:
            raise DataError(f"{printable(path)}: the target '{printable(name)}' holds text, expected numbers for a regression")
        scale = math.sqrt(self.moments.m2 / self.moments.count)
        if scale == 0:
            warnings.append(f"the target '{printable(name)}' has one value ({self.moments.mean:g}) in every training row")
        return Target(name, task, mean=self.moments.mean, scale=scale or 1.0)


def fit_streamed(source: TableFile, options: TableOptions, rows: np.ndarray | None = None,
                 name: str | None = None) -> tuple[TableEncoder, list[str]]:
    """The encoder learned in row batches from the ``rows`` of ``source`` a boolean mask over its
    rows selects (None: all): the statistics :meth:`TableEncoder.fit` takes of those rows (sums
    in another order), one batch in memory. ``name`` stands for the file in messages, which
    number the selected rows (:func:`selected_batches`)."""
    return _fit_streamed(source, options, rows, name)


def _fit_streamed(source: TableFile, options: TableOptions, rows: np.ndarray | None = None,
                  source_name: str | None = None) -> tuple[TableEncoder, list[str]]:
    """:meth:`TableEncoder.fit` over row batches: the same statistics, one batch in memory."""
    path = source_name or str(source.path)
    batches = iter_batches(source)
    _, first = next(batches)  # the types, as every batch will have them
    batches.close()  # its reader, and the blocks it read ahead, go now, not when collected
    features, categorical = _choose(first.schema.names, first.schema.types, options, path)
    del first
    numeric = [n for n in features if n not in categorical]
    moments = {n: _Moments() for n in numeric}
    gaps = {n: 0 for n in numeric}
    levels: dict[str, set] = {n: set() for n in features if n in categorical}
    target = _TargetStream()
    read = features + ([options.target] if options.target is not None else [])
    for first_row, batch in selected_batches(source, read, rows):
        for name in numeric:
            values = _numbers(batch[name], name, path, first_row)
            present = values[~np.isnan(values)]
            gaps[name] += len(values) - len(present)
            moments[name].add(present)
        for name in levels:
            levels[name].update(pc.unique(_texts(batch[name])).to_pylist())
            _check_level_count(name, len(levels[name] - {None}), path)
        if options.target is not None:
            target.add(batch[options.target], options.target, path, first_row)
    medians = _streamed_medians(source, moments, rows, path)
    warnings: list[str] = []
    numbers = [_number_from_moments(n, moments[n], medians.get(n), gaps[n], warnings) for n in numeric]
    categories = [
        CategoryColumn(n, tuple(sorted(v for v in levels[n] if v is not None)) + ((None,) if None in levels[n] else ()))
        for n in levels
    ]
    learned = target.target(options.target, options.task, path, warnings) if options.target is not None else None
    return TableEncoder(features, numbers, categories, learned), warnings


def _number_from_moments(name: str, moments: _Moments, median: float | None, gaps: int, warnings: list[str]) -> NumberColumn:
    if moments.count == 0 or median is None:
        warnings.append(f"column '{printable(name)}' has no value in the training rows: it is kept at 0")
        return NumberColumn(name, 0.0, 0.0, 1.0, False)
    if moments.low == moments.high:
        warnings.append(f"column '{printable(name)}' has one value ({moments.low:g}) in every training row: it is kept at 0")
        return NumberColumn(name, median, median, 1.0, gaps > 0)
    filled = _Moments(moments.count, moments.mean, moments.m2)
    if gaps:
        filled.merge(gaps, median, 0.0)  # the gaps, filled with the median
    return NumberColumn(name, median, filled.mean, math.sqrt(filled.m2 / filled.count), gaps > 0)


def _bin_of(values: np.ndarray, low: float, width: float) -> np.ndarray:
    """Each value's bin of width ``width`` from ``low``, clipped to the bins there are: monotonic
    in the value, so a bin's values all lie between those of the bins before and after it."""
    if not width > 0 or not math.isfinite(width):
        return np.zeros(len(values), np.int64)
    return np.clip(((values - low) / width).astype(np.int64), 0, MEDIAN_BINS - 1)


@dataclass
class _RankSearch:
    """The value of rank ``rank`` (0-based) among a column's present values, found a pass over
    the batches at a time: the bin holding it is split into :data:`MEDIAN_BINS` narrower ones
    until it holds few enough values to keep and sort, or a single value repeated. Memory: one
    histogram and at most :data:`MEDIAN_KEPT` values, whatever the rows and however they cluster."""

    rank: int
    low: float
    width: float
    count: int  # the values in the current bin
    below: int = 0  # the values before it
    chosen: list[tuple[float, float, int]] = field(default_factory=list)  # (low, width, bin) of each split
    counts: np.ndarray | None = None
    kept: list[np.ndarray] = field(default_factory=list)
    lowest: float = math.inf
    highest: float = -math.inf
    value: float | None = None

    @property
    def keeping(self) -> bool:
        return self.count <= MEDIAN_KEPT or len(self.chosen) >= MEDIAN_DEPTH

    def add(self, values: np.ndarray) -> None:
        for low, width, chosen in self.chosen:
            values = values[_bin_of(values, low, width) == chosen]
        if not len(values):
            return
        if self.keeping:
            self.kept.append(values)
            return
        if self.counts is None:
            self.counts = np.zeros(MEDIAN_BINS, np.int64)
        self.counts += np.bincount(_bin_of(values, self.low, self.width), minlength=MEDIAN_BINS)
        self.lowest, self.highest = min(self.lowest, float(values.min())), max(self.highest, float(values.max()))

    def end_pass(self) -> None:
        if self.keeping:
            self.value = float(np.sort(np.concatenate(self.kept))[self.rank - self.below])
            return
        if self.lowest == self.highest:  # one value repeated fills the bin
            self.value = self.lowest
            return
        assert self.counts is not None
        cumulative = np.cumsum(self.counts)
        chosen = int(np.searchsorted(cumulative, self.rank - self.below, side="right"))
        self.below += int(cumulative[chosen] - self.counts[chosen])
        self.count = int(self.counts[chosen])
        self.chosen.append((self.low, self.width, chosen))
        self.low, self.width = self.low + chosen * self.width, self.width / MEDIAN_BINS
        self.counts, self.lowest, self.highest = None, math.inf, -math.inf


def _middle_searches(moments: _Moments) -> list[_RankSearch]:
    """The searches for a column's middle value (two for an even count)."""
    ranks = sorted({(moments.count - 1) // 2, moments.count // 2})
    width = (moments.high - moments.low) / MEDIAN_BINS
    searches = [_RankSearch(rank, moments.low, width, moments.count) for rank in ranks]
    for search in searches:
        if moments.low == moments.high:
            search.value = moments.low
    return searches


def _streamed_medians(source: TableFile, moments: dict[str, _Moments], rows: np.ndarray | None = None,
                      path: str | None = None) -> dict[str, float]:
    """Exact medians (``np.median``'s) in passes over the ``rows`` selected: usually one (a
    column's bin of its middle values found) or two (those values kept and sorted)."""
    path = path or str(source.path)
    searches = {n: _middle_searches(found) for n, found in moments.items() if found.count}
    while True:
        open_names = [n for n, found in searches.items() if any(s.value is None for s in found)]
        if not open_names:
            break
        for first_row, batch in selected_batches(source, open_names, rows):
            for name in open_names:
                values = _numbers(batch[name], name, path, first_row)
                values = values[~np.isnan(values)]
                for search in searches[name]:
                    if search.value is None:
                        search.add(values)
        for name in open_names:
            for search in searches[name]:
                if search.value is None:
                    search.end_pass()
    return {n: float(np.mean([s.value for s in found])) for n, found in searches.items()}


# ---- read back ----------------------------------------------------------------------------------


def _from_dict(cls: type[TableEncoder], data: Any, where: str, error: type[DnnError]) -> TableEncoder:
    def fail(what: str) -> DnnError:
        return error(f"{where}: {what}")

    def text(value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise fail(f"'{key}' is {type(value).__name__}, expected text")
        return value

    def number(value: Any, key: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (positive and value <= 0):
            raise fail(f"'{key}' is {value!r}, expected a finite {'positive ' if positive else ''}number")
        return float(value)

    def items(value: Any, key: str) -> list:
        if not isinstance(value, list):
            raise fail(f"'{key}' is {type(value).__name__}, expected a list")
        return value

    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise fail(f"not a table encoder of version {FORMAT_VERSION}")
    features = [text(v, "features") for v in items(data.get("features"), "features")]
    numbers, categories = [], []
    for entry in items(data.get("numbers"), "numbers"):
        if not isinstance(entry, dict) or not isinstance(entry.get("indicator"), bool):
            raise fail("'numbers' holds an entry without its fields")
        numbers.append(NumberColumn(text(entry.get("name"), "numbers.name"), number(entry.get("median"), "numbers.median"),
                                    number(entry.get("mean"), "numbers.mean"), number(entry.get("scale"), "numbers.scale", True), entry["indicator"]))
    for entry in items(data.get("categories"), "categories"):
        if not isinstance(entry, dict):
            raise fail("'categories' holds an entry without its fields")
        levels = items(entry.get("levels"), "categories.levels")
        if len(levels) > MAX_LEVELS + 1 or not all(v is None or isinstance(v, str) for v in levels):
            raise fail("'categories.levels' must be at most a list of text (and null)")
        categories.append(CategoryColumn(text(entry.get("name"), "categories.name"), tuple(levels)))
    if sorted(features) != sorted([n.name for n in numbers] + [c.name for c in categories]):
        raise fail("'features' does not list the numbers and categories")
    return cls(features, numbers, categories, _target_from_dict(data.get("target"), fail, text, number, items))


def _target_from_dict(entry: Any, fail: Callable[[str], DnnError], text: Callable, number: Callable, items: Callable) -> Target | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or entry.get("task") not in ("classification", "regression"):
        raise fail("'target' is not a classification or a regression")
    name = text(entry.get("name"), "target.name")
    if entry["task"] == "regression":
        return Target(name, "regression", mean=number(entry.get("mean"), "target.mean"), scale=number(entry.get("scale"), "target.scale", True))
    classes = [text(c, "target.classes") for c in items(entry.get("classes"), "target.classes")]
    if not 2 <= len(classes) <= MAX_LEVELS or len(set(classes)) != len(classes):
        raise fail("'target.classes' must be 2 or more different names")
    return Target(name, "classification", classes=tuple(classes))


def fit_transform(table: pa.Table, options: TableOptions, source: str = "the table") -> tuple[TableEncoder, EncodedTable]:
    """Learn from ``table`` and encode it (its warnings: the fit's, then the encoding's)."""
    encoder, warnings = TableEncoder.fit(table, options)
    encoded = encoder.transform(table, source)
    encoded.warnings[:0] = warnings
    return encoder, encoded

