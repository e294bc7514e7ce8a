"""CSV and Parquet tables read with pyarrow: typed columns, on every core, whole or in row batches.

Valid CSV is read as written: fields quoted with commas, line breaks and doubled quotes inside, a
UTF-8 byte-order mark, CRLF or LF line ends; an empty field is a missing value; a cell holding a
formula (``=SUM(A1)``) is text like any other. A table is refused in one line naming the file, the
row and the column (:class:`DataError`) when it is ragged (a row with more or fewer fields than the
header), holds bytes that are not UTF-8, a field longer than :data:`MAX_FIELD_BYTES`, more than
:data:`MAX_COLUMNS` columns (counted in the header line before pyarrow sees it), a header name
that is empty or repeated, or no rows at all. The file itself is opened as
:func:`dnncli.files.userfile.open_regular` opens what a user names: never a FIFO, a device, a
directory or an empty file.

Rows are numbered as a reader counts them after the header: row 1 is the first row of data (a
field with a line break inside counts as one row). A table larger than the caller's memory budget
is read in row batches (:func:`iter_batches`: pyarrow's streaming CSV reader, Parquet's row
groups), holding one batch at a time.

Finding the row and column of a broken field is done here, on the raw bytes, and only once
pyarrow has refused the file: a vectorized walk over the bytes that tells quoted commas and line
breaks from real ones (a field's quotes come in pairs, so a separator with an even count of
quotes before it is outside any quoted field).
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Sequence

import numpy as np

from dnncli.data.arrow import pa, pc, pa_csv, pq
from dnncli.errors import DataError
from dnncli.files.userfile import open_regular
from dnncli.terminal.display import printable

WHAT = "a CSV or Parquet table"
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", *PARQUET_SUFFIXES)
PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"
# a table read in batches comes in blocks of this size (pyarrow's default), one at a time
BLOCK_BYTES = 1024**2
# a table read whole is parsed on every core in blocks of this size: on two Zen 4 cores a million
# rows (96 MB) took 0.40-0.45 s of wall time against 0.44-0.55 s in blocks of 1 MiB, and less CPU
# time (16 MiB blocks: 0.45-0.70 s)
READ_BLOCK_BYTES = 4 * 1024**2
# a longer text field is refused (pyarrow grows a block to hold a longer row, so this is checked on
# the values read), and so is a longer header line (before pyarrow reads it)
MAX_FIELD_BYTES = 16 * 1024**2
# the header is looked for in this much of the file first, then in four times more, and so on
HEADER_PROBE_BYTES = 64 * 1024
# files up to this size are searched for a quote character before they are read: without one no
# field can hold a line break, and pyarrow splits the file into blocks at any line end (a third
# faster); larger files, and files with quotes, are split where a quoted field cannot straddle
QUOTE_SCAN_BYTES = 4 * 1024**3
# a million columns is a hostile header, not a table to train on (a 128x128 RGB picture per row
# is 49,152 values)
MAX_COLUMNS = 100_000
# the raw bytes are walked this much at a time when a broken field is looked for
SCAN_BYTES = 8 * 1024**2
QUOTE, COMMA, LF, CR = ord('"'), ord(","), ord("\n"), ord("\r")


@dataclass(frozen=True)
class TableFile:
    """A table on disk, its header checked: ``columns`` in order; ``rows`` when the file says
    (Parquet), None for CSV until it is read; ``data_bytes`` the size its columns take in memory
    (a CSV's size on disk: typed columns take about as much as their text)."""

    path: Path
    kind: str  # "csv" or "parquet"
    columns: tuple[str, ...]
    rows: int | None
    data_bytes: int
    quoted: bool = True  # a CSV file holds a quote character (a field may hold a line break)

    def fits(self, budget_bytes: int) -> bool:
        """Whether the whole table may be read at once within ``budget_bytes``."""
        return self.data_bytes <= budget_bytes


def is_table(path: str | Path) -> bool:
    """Whether ``path`` names a table by its suffix (``.csv``, ``.parquet``, ``.pq``)."""
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def open_table(path: str | Path) -> TableFile:
    """The table at ``path``, its header (or Parquet schema) checked, no row read yet."""
    path = Path(path)
    with open_regular(path, WHAT) as f:
        start = f.read(len(PARQUET_MAGIC))
        f.seek(0)
        if path.suffix.lower() in PARQUET_SUFFIXES or start == PARQUET_MAGIC:
            return _open_parquet(path, f)
        columns, header_end = _csv_header(path, f)
        size = f.seek(0, 2)
        quoted = size > QUOTE_SCAN_BYTES or _holds_quote(f, header_end)
    return TableFile(path, "csv", columns, None, size, quoted)


def _arrow_file(f: BinaryIO) -> Any:
    """The open file for pyarrow to read whole: its own reader of the same open file (through
    ``/proc``) where there is one, which reads without Python's lock and so lets every core parse
    (measured twice as fast as pyarrow reading through the Python file object); the file object
    elsewhere. Batches are read through the file object: pyarrow's own reader runs ahead of the
    batches taken, and held four fifths of a 35 MB table at once."""
    proc = f"/proc/self/fd/{f.fileno()}"
    return pa.OSFile(proc) if os.path.exists(proc) else f


def _holds_quote(f: BinaryIO, start: int) -> bool:
    """Whether a quote comes after the header (a quoted header, as pyarrow and R write, is read on
    its own)."""
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return mapped.find(b'"', start) >= 0


# ---- CSV ------------------------------------------------------------------------------------


def _csv_options(
    use_threads: bool, columns: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None, quoted: bool = True,
    block_bytes: int | None = None,
) -> dict:
    return {
        "read_options": pa_csv.ReadOptions(use_threads=use_threads, block_size=block_bytes or BLOCK_BYTES),
        "parse_options": pa_csv.ParseOptions(newlines_in_values=quoted),
        "convert_options": pa_csv.ConvertOptions(
            include_columns=list(columns) if columns is not None else None,
            column_types=dict(column_types or {}),
            strings_can_be_null=True,  # an empty text field is a missing value, as an empty number is
        ),
    }


def _csv_header(path: Path, f: BinaryIO) -> tuple[tuple[str, ...], int]:
    """The header's names, checked (its field count, UTF-8, no name empty or repeated), and the
    offset where the rows begin."""
    size = HEADER_PROBE_BYTES
    while True:  # most headers are found in the first read
        f.seek(0)
        head = f.read(size)
        skip = len(BOM) if head.startswith(BOM) else 0
        final = len(head) < size
        fields = _Walk(0).chunk(np.frombuffer(head, np.uint8)[skip:], final=final)
        row_ends = np.flatnonzero(fields.row_end)
        if len(row_ends) or final or size > MAX_FIELD_BYTES:
            break
        size *= 4
    if not len(row_ends):
        if final:
            raise DataError(f"{printable(path)}: holds no header line, expected {WHAT}")
        raise DataError(f"{printable(path)}: the header line is longer than {MAX_FIELD_BYTES // 1024**2} MiB")
    n_columns = int(row_ends[0]) + 1
    if n_columns > MAX_COLUMNS:
        raise DataError(
            f"{printable(path)}: the header, column {MAX_COLUMNS + 1:,}: the header names {n_columns:,} "
            f"columns, more than {MAX_COLUMNS:,}"
        )
    header = head[skip : skip + int(fields.end[row_ends[0]])]
    try:
        header.decode("utf-8")
    except UnicodeDecodeError as exc:
        column = int(np.searchsorted(fields.end[:n_columns], exc.start)) + 1
        raise DataError(f"{printable(path)}: the header, column {column}: bytes that are not UTF-8 text") from None
    names = pa_csv.read_csv(pa.py_buffer(header + b"\n"), **_csv_options(False, None, None)).column_names
    check_names(path, names)
    return tuple(names), skip + int(fields.end[row_ends[0]])


def check_names(path: Path, names: Sequence[str]) -> None:
    """Every column named, and no name twice (the encoder and every message use the names)."""
    for index, name in enumerate(names):
        if not name.strip():
            raise DataError(f"{printable(path)}: the header, column {index + 1}: no name (every column needs one)")
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"{printable(path)}: the header, column {index + 1}: '{printable(name)}' names column "
                f"{seen[name] + 1} too (every name must be different)"
            )
        seen[name] = index


def _at(source: TableFile, row: int, column: str, what: str) -> str:
    return f"{printable(source.path)}: row {row}, column '{printable(column)}': {what}"


def _read_csv(
    source: TableFile, columns: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None
) -> pa.Table:
    with open_regular(source.path, WHAT) as f:
        try:
            table = pa_csv.read_csv(_arrow_file(f), **_csv_options(True, columns, column_types, source.quoted, READ_BLOCK_BYTES))
        except pa.ArrowInvalid as exc:
            raise _csv_problem(source, exc, columns, column_types) from None
    if any(pa.types.is_binary(t) for t in table.schema.types):  # pyarrow's type for bytes not UTF-8
        raise _csv_problem(source, pa.ArrowInvalid("invalid UTF8 data"), columns, column_types)
    # the parse's scratch memory (the raw blocks and more: about twice the table's size) back to the
    # system: pyarrow's allocator keeps what is freed for itself, where NumPy's X cannot reuse it
    pa.default_memory_pool().release_unused()
    return table


def _csv_batches(
    source: TableFile, columns: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None
) -> Iterator[pa.RecordBatch]:
    types = dict(column_types or {})
    with open_regular(source.path, WHAT) as f:
        try:
            with pa_csv.open_csv(f, **_csv_options(True, columns, types, source.quoted)) as first:
                # the streaming reader types every block as the first: whole numbers may be
                # followed by fractions, an empty start by anything
                types.update({c.name: _streamed_type(c.type) for c in first.schema if c.name not in types})
        except pa.ArrowInvalid as exc:
            raise _csv_problem(source, exc, columns, types) from None
    with open_regular(source.path, WHAT) as f:
        try:
            with pa_csv.open_csv(f, **_csv_options(True, columns, types, source.quoted)) as reader:
                yield from reader
        except pa.ArrowInvalid as exc:
            raise _csv_problem(source, exc, columns, types) from None


def _streamed_type(first: pa.DataType) -> pa.DataType:
    if pa.types.is_integer(first):
        return pa.float64()
    if pa.types.is_null(first) or pa.types.is_binary(first):
        return pa.string()
    return first


_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to (\w+): invalid value '(.*)'", re.S)


def _csv_problem(
    source: TableFile, exc: Exception, columns: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None
) -> DataError:
    """One line for pyarrow's refusal of a CSV file, naming the row and the column."""
    message = str(exc)
    found = _CONVERSION.search(message)
    if found and not found.group(2):  # read on several threads, pyarrow does not know the row
        found = _CONVERSION.search(_serial_refusal(source, columns, column_types) or "")
    if found and found.group(2):
        index, row, kind, value = int(found.group(1)), int(found.group(2)) - 1, found.group(3), found.group(4)
        names = list(source.columns)  # pyarrow numbers the file's columns, whichever are read
        expected = "a number" if kind in ("double", "float", "int64") else f"a value of type {kind}"
        return DataError(_at(source, row, names[index], f"'{printable(value)}' is not {expected}, as the column's values are"))
    with open_regular(source.path, WHAT) as f:
        located = _locate_problem(f, source.columns)
    if located:
        return DataError(f"{printable(source.path)}: {located}")
    return DataError(f"{printable(source.path)}: cannot read the CSV table: {_first_line(exc)}")


def _serial_refusal(
    source: TableFile, columns: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None
) -> str | None:
    """pyarrow's message for the file read on one thread, which names the row."""
    with open_regular(source.path, WHAT) as f:
        try:
            with pa_csv.open_csv(f, **_csv_options(False, columns, column_types, source.quoted)) as reader:
                for _ in reader:
                    pass
        except pa.ArrowInvalid as exc:
            return str(exc)
    return None


# ---- Parquet -------------------------------------------------------------------------------


def _open_parquet(path: Path, f: BinaryIO) -> TableFile:
    try:
        meta = pq.ParquetFile(f).metadata
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{printable(path)}: not a Parquet file pyarrow can read ({_first_line(exc)})") from None
    if meta.num_columns > MAX_COLUMNS:
        raise DataError(
            f"{printable(path)}: column {MAX_COLUMNS + 1:,}: the file holds {meta.num_columns:,} columns, more than {MAX_COLUMNS:,}"
        )
    schema = meta.schema.to_arrow_schema()
    check_names(path, schema.names)
    for field in schema:
        if not _is_flat(field.type):
            raise DataError(
                f"{printable(path)}: column '{printable(field.name)}' holds {field.type}, expected numbers or text"
            )
    data_bytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return TableFile(path, "parquet", tuple(schema.names), meta.num_rows, data_bytes)


def _is_flat(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_flat(kind.value_type) and not pa.types.is_binary(kind.value_type)
    return (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
        or pa.types.is_decimal(kind) or pa.types.is_temporal(kind)
    )


def _parquet_batches(source: TableFile, columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
    with open_regular(source.path, WHAT) as f:
        try:
            reader = pq.ParquetFile(f)
            rows = max(1, BLOCK_BYTES * max(1, reader.metadata.num_rows) // max(1, source.data_bytes))
            yield from reader.iter_batches(batch_size=min(rows, 1 << 20), columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{printable(source.path)}: cannot read the Parquet table ({_first_line(exc)})") from None


def _read_parquet(source: TableFile, columns: Sequence[str] | None) -> pa.Table:
    with open_regular(source.path, WHAT) as f:
        try:
            return pq.read_table(_arrow_file(f), columns=columns, use_threads=True)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{printable(source.path)}: cannot read the Parquet table ({_first_line(exc)})") from None


def _check_text(source: TableFile, data: pa.Table | pa.RecordBatch, first_row: int) -> None:
    """A text value longer than :data:`MAX_FIELD_BYTES`, or (in Parquet, which pyarrow does not
    check) bytes that are not UTF-8, refused with its row."""
    for name, column in zip(data.column_names, data.columns):
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        values = column.cast(kind) if pa.types.is_dictionary(column.type) else column
        long = pc.greater(pc.binary_length(values), MAX_FIELD_BYTES)
        if pc.any(long).as_py():
            row = first_row + pc.index(long, True).as_py() + 1
            raise DataError(_at(source, row, name, f"a field longer than {MAX_FIELD_BYTES // 1024**2} MiB"))
        bad = _first_invalid_text(values) if source.kind == "parquet" else None
        if bad is not None:
            raise DataError(_at(source, first_row + bad + 1, name, "bytes that are not UTF-8 text"))


def _first_invalid_text(values: pa.Array | pa.ChunkedArray) -> int | None:
    """The index of the first value that is not valid UTF-8, found by halving (no loop over rows)."""
    def valid(part: pa.Array | pa.ChunkedArray) -> bool:
        try:
            part.validate(full=True)
            return True
        except pa.ArrowInvalid:
            return False

    if valid(values):
        return None
    low, high = 0, len(values)  # the first invalid value is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if valid(values.slice(low, middle - low)):
            low = middle
        else:
            high = middle
    return low


# ---- reading --------------------------------------------------------------------------------


def read_table(
    source: TableFile, columns: Sequence[str] | None = None, column_types: Mapping[str, pa.DataType] | None = None
) -> pa.Table:
    """The whole table (or ``columns`` of it), read on every core; refused in one line when broken
    or when it has no rows. ``column_types`` fixes a CSV column's type (a column the model reads
    as numbers); Parquet columns have theirs."""
    _check_columns(source, columns)
    table = _read_parquet(source, columns) if source.kind == "parquet" else _read_csv(source, columns, column_types)
    if table.num_rows == 0:
        raise DataError(f"{printable(source.path)}: has a header but no rows")
    _check_text(source, table, 0)
    return table


def iter_batches(
    source: TableFile, columns: Sequence[str] | None = None, column_types: Mapping[str, pa.DataType] | None = None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The table in row batches of about :data:`BLOCK_BYTES` each, as ``(first_row, batch)``
    (``first_row`` counts the rows before the batch): memory holds one batch at a time, whatever
    the table's size. A CSV's types are those of its first block, whole numbers read as floats."""
    _check_columns(source, columns)
    batches = _parquet_batches(source, columns) if source.kind == "parquet" else _csv_batches(source, columns, column_types)
    first_row = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        _check_text(source, batch, first_row)
        yield first_row, batch
        first_row += batch.num_rows
    if first_row == 0:
        raise DataError(f"{printable(source.path)}: has a header but no rows")


def _check_columns(source: TableFile, columns: Sequence[str] | None) -> None:
    missing = [name for name in columns or () if name not in source.columns]
    if missing:
        raise DataError(
            f"{printable(source.path)}: has no column '{printable(missing[0])}' (its columns: "
            f"{', '.join(printable(name) for name in source.columns[:20])}{', ...' if len(source.columns) > 20 else ''})"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return printable(text.splitlines()[0]) if text else type(exc).__name__


# ---- where a CSV file breaks: a walk over its bytes ------------------------------------------


@dataclass
class _Fields:
    """The fields of a stretch of CSV bytes: each one's end (the offset of its separator or row
    end), whether it ends a row, its row (0: the header) and its column (0-based)."""

    end: np.ndarray
    row_end: np.ndarray  # blank lines are not row ends
    row: np.ndarray
    column: np.ndarray
    length: np.ndarray  # without a row's closing CR


class _Walk:
    """Fields found chunk after chunk: the quote parity, the row, the column and the start of the
    field open at a chunk's end carry over to the next chunk. Blank lines are passed over, as
    pyarrow passes them over, so rows are counted as a reader counts them."""

    def __init__(self, base: int) -> None:
        self.base = base  # the file offset of the next chunk's first byte
        self.quotes = 0
        self.row = 0
        self.column = 0
        self.start = base

    def chunk(self, data: np.ndarray, final: bool) -> _Fields:
        quotes = np.cumsum(data == QUOTE, dtype=np.int64) + self.quotes
        outside = (quotes & 1) == 0
        next_byte = np.append(data[1:], np.uint8(0))
        row_end = outside & ((data == LF) | ((data == CR) & (next_byte != LF)))
        ends = np.flatnonzero(outside & ((data == COMMA) | row_end))
        is_row_end = row_end[ends]
        if final and (not len(ends) or ends[-1] != len(data) - 1 or not is_row_end[-1]):
            ends, is_row_end = np.append(ends, len(data)), np.append(is_row_end, True)
        before_cr = (np.concatenate([[0], data])[ends] == CR) & is_row_end  # the byte before each end
        end = ends + self.base
        starts = np.concatenate([[self.start], end[:-1] + 1]).astype(np.int64)[: len(end)]
        length = end - starts - before_cr
        index = np.arange(len(end))
        last_end = np.maximum.accumulate(np.where(is_row_end, index, -1))
        previous = np.concatenate([[-1], last_end[:-1]]).astype(np.int64)[: len(end)]
        column = np.where(previous >= 0, index - previous - 1, self.column + index)
        blank = is_row_end & (column == 0) & (length == 0)
        counted = is_row_end & ~blank
        row = self.row + np.cumsum(counted) - counted
        fields = _Fields(end, is_row_end & ~blank, row, column, length)
        self.quotes = int(quotes[-1]) if len(quotes) else self.quotes
        if len(end):
            self.row += int(counted.sum())
            self.column = 0 if is_row_end[-1] else int(column[-1]) + 1
            self.start = int(end[-1]) + 1
        self.base += len(data)
        return fields


def _chunks(f: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """``(offset, bytes, is_last)`` of the file after its byte-order mark, a CR never cut from its LF."""
    f.seek(0)
    offset = len(BOM) if f.read(len(BOM)) == BOM else 0
    f.seek(offset)
    data = f.read(SCAN_BYTES)
    while data:
        if data.endswith(b"\r"):
            data += f.read(1)
        following = f.read(SCAN_BYTES)
        yield offset, data, not following
        offset += len(data)
        data = following


def _column(names: Sequence[str], index: int) -> str:
    return f"column '{printable(names[index])}'" if index < len(names) else f"column {index + 1}"


def _locate_problem(f: BinaryIO, names: Sequence[str]) -> str | None:
    """Where the first ragged row, overlong field or bytes that are not UTF-8 are, as
    ``row R, column C: what``; None when none is found."""
    walk: _Walk | None = None
    pending = b""  # the start of a UTF-8 sequence cut by the chunk's end
    n = len(names)
    for offset, data, last in _chunks(f):
        walk = walk or _Walk(offset)
        fields = walk.chunk(np.frombuffer(data, np.uint8), last)
        ragged = fields.row_end & (fields.column + 1 != n)
        long = fields.length > MAX_FIELD_BYTES
        bad_utf8 = _invalid_utf8_offset(pending + data, offset - len(pending), last)
        pending = b"" if bad_utf8 is not None else _cut_sequence(data)
        firsts = []
        if ragged.any():
            i = int(np.argmax(ragged))
            count = int(fields.column[i]) + 1
            which = f"column {n + 1} (the header names {n})" if count > n else f"{_column(names, count)} is missing"
            firsts.append((int(fields.end[i]), f"row {fields.row[i]}, {which}: {count} field{'s' * (count > 1)} where the header has {n}"))
        if long.any():
            i = int(np.argmax(long))
            where = f"row {fields.row[i]}, {_column(names, int(fields.column[i]))}"
            firsts.append((int(fields.end[i] - fields.length[i]), f"{where}: a field longer than {MAX_FIELD_BYTES // 1024**2} MiB"))
        if bad_utf8 is not None and len(fields.end):
            i = min(int(np.searchsorted(fields.end, bad_utf8)), len(fields.end) - 1)
            firsts.append((bad_utf8, f"row {fields.row[i]}, {_column(names, int(fields.column[i]))}: bytes that are not UTF-8 text"))
        if firsts:
            return min(firsts)[1]
    return None


def _invalid_utf8_offset(data: bytes, offset: int, last: bool) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_at_end = exc.reason == "unexpected end of data" and exc.start >= len(data) - 3 and not last
        return None if cut_at_end else offset + exc.start
    return None


def _cut_sequence(data: bytes) -> bytes:
    """The bytes of a UTF-8 sequence begun but not ended at the end of ``data``."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the first byte of a sequence, or ASCII
            return data[-back:] if byte >= 0xC0 else b""
    return b""
