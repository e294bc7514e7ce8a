"""A table model (trained on CSV or Parquet) on new rows: ``dnn predict rows.csv`` and the rows
``dnn evaluate`` scores, encoded with the encoder stored in the model file.

Every row gets one result, in the file's order: a regression's value in the target's units, or a
classifier's class, probability and ``p_<class>`` of each class. A row with a bad value (text in a
number column, an infinite number) is a :class:`~dnncli.model.predict.Failure` naming its row,
column and value; the other rows are still predicted. A target column in the file is ignored;
an unseen category or a missing value is encoded as the encoder says (zeros and a warning; the
training median and the missing indicator). A table larger than the memory budget (``auto``: half
of the memory available) is read, predicted and written a batch of rows at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence, TextIO

import numpy as np
from rich.table import Table

from dnncli.compute.resources import memory_budget_bytes
from dnncli.data.arrow import pa, pc
from dnncli.data.encoding import NUMBER_PATTERN, TableEncoder, is_number_type, plain_column
from dnncli.data.hdf5 import Dataset
from dnncli.data.tables import TableFile, is_table, iter_batches, open_table, read_table
from dnncli.errors import ConfigError, DataError
from dnncli.model.file import ModelBundle
from dnncli.model.records import stream_records
from dnncli.network.model import OUTPUT_BLOCK
from dnncli.terminal.display import csv_text, printable, shown

# at most this many bad cells are named one by one; the rest are counted
MAX_NAMED = 1000


@dataclass
class RowPrediction:
    """One row's prediction: ``row`` counts from 1 after the header; ``kept`` the --keep columns."""

    row: int
    kept: dict[str, Any]
    value: float | None = None  # a regression's, in the target's units
    class_name: str | None = None
    probability: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, **self.kept}
        if self.class_name is None:
            out["prediction"] = self.value
        else:
            out.update({"class": self.class_name, "probability": self.probability})
            out.update({f"p_{name}": p for name, p in self.probabilities.items()})
        return out


@dataclass
class RowFailure:
    row: int
    message: str


def is_table_model(bundle: ModelBundle) -> bool:
    return bundle.encoder is not None


def _encoder(bundle: ModelBundle) -> TableEncoder:
    if bundle.encoder is None:
        raise DataError(f"{bundle.path or 'the model'} was not trained on a table: give it images or an HDF5 file")
    return bundle.encoder


# ---- reading ----------------------------------------------------------------------------------


@contextlib.contextmanager
def opened_rows(argument: str, stdin: BinaryIO | None = None) -> Iterator[tuple[TableFile, str]]:
    """The table ``argument`` names (``-``: CSV on ``stdin``, kept in a temporary file while it is
    read), its header checked, and its name in messages."""
    if argument != "-":
        if not is_table(argument):
            raise DataError(f"{argument}: the model was trained on a table: give a .csv or .parquet file (or - for CSV on stdin)")
        yield open_table(argument), argument
        return
    if stdin is None:
        raise DataError("'-' given but there is no standard input to read CSV from")
    with tempfile.TemporaryDirectory(prefix="dnn-stdin-") as directory:
        copy = Path(directory) / "stdin.csv"
        with copy.open("wb") as f:
            shutil.copyfileobj(stdin, f)
        if copy.stat().st_size == 0:
            raise DataError("standard input is empty: expected CSV with a header line")
        try:
            yield open_table(copy), "stdin"
        except DataError as exc:  # the copy's name is no news to the user
            raise DataError(exc.message.replace(str(copy), "stdin")) from None


def row_batches(source: TableFile, number_columns: Sequence[str] = ()) -> Iterator[tuple[int, pa.Table]]:
    """``(rows before it, rows)``: the whole table when it fits the memory budget, else one batch
    of rows after another (:func:`dnncli.data.tables.iter_batches`), ``number_columns`` read as
    text there: a batch is typed as the first one was, and a text value after numbers must be a
    bad cell of its row (as in a table read whole), not a refusal of the file."""
    if source.fits(memory_budget_bytes("auto")):
        yield 0, read_table(source)
        return
    as_text = {name: pa.string() for name in number_columns if name in source.columns and source.kind == "csv"}
    for first_row, batch in iter_batches(source, column_types=as_text):
        yield first_row, pa.Table.from_batches([batch])


def _bad_cells(encoder: TableEncoder, table: pa.Table, source: str, first_row: int = 0) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Rows whose number columns hold something that is not a finite number: a mask of them, and
    ``(row index, message)`` for each bad cell, in row order (``first_row``: the rows before
    ``table`` in its file, for the messages)."""
    bad_rows = np.zeros(table.num_rows, dtype=bool)
    found: list[tuple[int, int, str]] = []
    for position, number in enumerate(encoder.numbers):
        column = plain_column(table[number.name])
        if is_number_type(column.type):
            values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
            bad = np.isinf(values)
            texts = [str(v) for v in values[bad]]
        else:
            text = pc.cast(column, pa.string())
            mask = pc.fill_null(pc.and_(pc.invert(pc.match_substring_regex(text, NUMBER_PATTERN)), pc.is_valid(text)), False)
            bad = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
            texts = pc.filter(text, mask).to_pylist() if bad.any() else []
        bad_rows |= bad
        for row, value in zip(np.flatnonzero(bad)[:MAX_NAMED], texts):
            found.append((int(row), position, f"{printable(source)}: row {first_row + row + 1}, column '{printable(number.name)}': "
                                               f"'{printable(value)}' is not a number"))
    found.sort()
    return bad_rows, [(row, message) for row, _, message in found]


# ---- predicting -------------------------------------------------------------------------------


def _kept(table: pa.Table, keep: Sequence[str], source: str) -> dict[str, list[Any]]:
    missing = [name for name in keep if name not in table.column_names]
    if missing:
        raise DataError(f"{printable(source)}: has no column '{printable(missing[0])}' (--keep)")
    return {name: table[name].to_pylist() for name in keep}


def _predicted(bundle: ModelBundle, encoder: TableEncoder, rows: pa.Table, source: str, threshold: float,
               on_note: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """The predictions of ``rows`` (every one readable), one dict of fields each, made as they are
    taken (the outputs are computed at once; a dict a row for 800,000 rows held 2 GB)."""
    encoded = encoder.transform(rows, source, with_target=False)  # no row is named: every value reads
    for warning in encoded.warnings:
        on_note(warning)
    net = bundle.network
    X = np.asfortranarray(encoded.X, dtype=net.dtype)  # the training inputs' layout, as predict_proba hands it
    with np.errstate(all="ignore"):  # a block of rows at a time: every layer's activations of all rows are never held
        AL = net.scoring_forward(X, OUTPUT_BLOCK)[0].astype(np.float64)
    if not np.all(np.isfinite(AL)):
        raise DataError(f"{bundle.path or 'the model'}: gives non-finite outputs on {printable(source)}: retrain it")
    if net.is_regression:
        return ({"value": float(v)} for v in encoder.decode_target(AL[0]))
    names = bundle.class_names
    proba = np.vstack([1 - AL[0], AL[0]]) if bundle.is_binary else AL
    labels = bundle.labels(AL, threshold)
    return (
        {"class_name": names[k], "probability": float(column[k]), "probabilities": dict(zip(names, map(float, column)))}
        for k, column in zip(labels, proba.T)
    )


def predict_rows(bundle: ModelBundle, source: TableFile, name: str, keep: Sequence[str] = (), threshold: float = 0.5,
                 on_note: Callable[[str], None] = lambda note: None) -> Iterator[RowPrediction | RowFailure]:
    """One record per row of ``source`` (``name`` in messages), in order, a batch of rows at a
    time when the table is over the memory budget."""
    encoder = _encoder(bundle)
    notes = _OncePerColumn(on_note)
    for first_row, table in row_batches(source, [number.name for number in encoder.numbers]):
        yield from _batch_records(bundle, encoder, table, first_row, name, keep, threshold, notes)
    notes.close()


class _OncePerColumn:
    """The encoder's warnings of a table predicted batch by batch: a column's unseen categories
    said for the first batch that has them, the later batches that have some counted in one line
    at the end (not a line a batch: a large table has thousands)."""

    def __init__(self, on_note: Callable[[str], None]) -> None:
        self.on_note = on_note
        self.again: dict[str, int] = {}

    def __call__(self, note: str) -> None:
        found = re.match(r"(.*?: column '.*?') holds ", note, re.S)
        if found is None:
            self.on_note(note)
        elif found.group(1) in self.again:
            self.again[found.group(1)] += 1
        else:
            self.again[found.group(1)] = 0
            self.on_note(note)

    def close(self) -> None:
        for column, batches in self.again.items():
            if batches:
                self.on_note(f"{column}: more values not seen in the training rows in {batches} later batch"
                             f"{'es' * (batches > 1)} of rows, encoded as no category (zeros) too")


def _batch_records(bundle: ModelBundle, encoder: TableEncoder, table: pa.Table, first_row: int, source: str,
                   keep: Sequence[str], threshold: float, on_note: Callable[[str], None]) -> Iterator[RowPrediction | RowFailure]:
    kept = _kept(table, keep, source)
    bad_rows, messages = _bad_cells(encoder, table, source, first_row)
    good = np.flatnonzero(~bad_rows)
    predictions = _predicted(bundle, encoder, table.take(good), source, threshold, on_note) if len(good) else iter(())
    failures = iter(messages)
    failure = next(failures, None)
    for row in range(table.num_rows):
        number = first_row + row + 1  # as the file counts its rows
        if not bad_rows[row]:
            yield RowPrediction(number, {name: values[row] for name, values in kept.items()}, **next(predictions))
            continue
        named = False
        while failure is not None and failure[0] == row:
            yield RowFailure(number, failure[1])
            named, failure = True, next(failures, None)
        if not named:  # beyond the cells named one by one
            yield RowFailure(number, f"{printable(source)}: row {number}: a value is not a number")


# ---- output -----------------------------------------------------------------------------------


def csv_header(bundle: ModelBundle, keep: Sequence[str]) -> list[str]:
    kept = [csv_text(name) for name in keep]
    if bundle.network.is_regression:
        return ["row", *kept, "prediction"]
    return ["row", *kept, "class", "probability", *(csv_text(f"p_{name}") for name in bundle.class_names)]


def csv_fields(prediction: RowPrediction) -> list[Any]:
    kept = [csv_text("" if v is None else v) if isinstance(v, str) or v is None else v for v in prediction.kept.values()]
    if prediction.class_name is None:
        return [prediction.row, *kept, repr(prediction.value)]
    return [prediction.row, *kept, csv_text(prediction.class_name), repr(prediction.probability),
            *map(repr, prediction.probabilities.values())]


def rows_table(predictions: list[RowPrediction]) -> Table:
    table = Table(show_edge=False)
    table.add_column("row", justify="right")
    first = predictions[0] if predictions else None
    for name in first.kept if first else []:
        table.add_column(shown(name))
    regression = first is not None and first.class_name is None
    for name, justify in ((("prediction", "right"),) if regression else (("class", "left"), ("probability", "right"))):
        table.add_column(name, justify=justify)
    for p in predictions:
        cells = [str(p.row), *(shown("" if v is None else v) for v in p.kept.values())]
        cells += [f"{p.value:,.6g}" if abs(p.value or 0) < 1e6 else f"{p.value:,.0f}"] if regression else \
            [shown(p.class_name or ""), f"{p.probability:.4f}"]
        table.add_row(*cells)
    return table


def csv_line(fields: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def write_row_predictions(
    bundle: ModelBundle, records: Iterator[RowPrediction | RowFailure], output_format: str, keep: Sequence[str],
    out: TextIO, on_failure: Callable[[str], None],
) -> tuple[int, int, list[RowPrediction]]:
    """csv and jsonl rows written as they come, json at the end, table rows returned; each
    failure to ``on_failure``. ``(rows, failures, table rows)``."""
    return stream_records(
        records, output_format, out, on_failure, failure=RowFailure,
        csv_header=csv_line(csv_header(bundle, keep)), csv_row=lambda record: csv_line(csv_fields(record)),
    )


# ---- evaluating -------------------------------------------------------------------------------


def labelled_rows(bundle: ModelBundle, path: Path) -> tuple[Dataset, list[str]]:
    """The rows of ``path`` encoded with their targets, as a data set ``evaluate`` scores; the
    encoding's warnings."""
    encoder = _encoder(bundle)
    assert encoder.target is not None
    if not is_table(path):
        raise DataError(f"{path}: the model was trained on a table: give a .csv or .parquet file to evaluate on")
    source = open_table(path)
    if encoder.target.name not in source.columns:
        raise ConfigError(f"{path}: has no column '{printable(encoder.target.name)}' (the target): nothing to score against")
    encoded = encoder.encode_file(source, memory_budget_bytes("auto"), with_target=True)  # over it: a batch at a time
    return Dataset(encoded.X.T, encoded.y, encoder.classes, str(path)), encoded.warnings
