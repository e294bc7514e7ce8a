"""The training rows of a table too large for the memory budget, encoded once into an HDF5 file
that training reads a batch at a time.

A CSV or Parquet training table that does not fit ``data.memory_budget_mb`` is never held whole,
nor is its encoded matrix: the encoder is learned from the training rows in row batches
(:func:`dnncli.data.encoding.fit_streamed`: the rows a boolean mask over the file selects, so no
test or validation row reaches it), then those rows are encoded a batch at a time into
``<cache dir>/tables/<key>.h5`` (``X`` ``(m, n_x)`` float64 and ``y``, with the encoder and the
warnings it gave as attributes). Training reads that file as it reads an HDF5 file over the budget
(:class:`dnncli.data.columns.ScaledColumns`): one batch in float at a time.

The key is the SHA-256 of what decides the file's content: the table's own SHA-256, the rows
selected, the encoder's options, the row batches' size and the versions of dnn and pyarrow. A
resumed run and a sweep's trials on the same rows find the file and skip the four passes over the
table that learning and encoding take. It is written under a temporary name and renamed; one that
cannot be read back is written anew. Nothing removes old ones: delete the folder to reclaim the space.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli import __version__
from dnncli.data import tables
from dnncli.data.arrow import pa
from dnncli.data.encoding import TableEncoder, TableOptions, fit_streamed
from dnncli.data.hdf5 import Dataset, load_dataset
from dnncli.data.tables import TableFile
from dnncli.errors import DataError
from dnncli.files.atomic import write_with
from dnncli.files.hdf5safe import open_hdf5
from dnncli.terminal.display import printable

CACHE_VERSION = 1
X_KEY, Y_KEY = "X", "y"


@dataclass
class EncodedRows:
    """The selected rows as training reads them (``dataset.X_raw``: the cache file's open
    ``h5py.Dataset``; ``dataset.y`` in memory), the encoder learned from them and its warnings."""

    dataset: Dataset
    encoder: TableEncoder
    warnings: list[str]
    path: Path


def cache_key(digest: str, rows: np.ndarray, options: TableOptions) -> str:
    """SHA-256 of what the encoded rows depend on: the table's SHA-256 ``digest``, the rows the
    boolean mask ``rows`` selects, the options, and how the table is read and summed (the batch
    size orders the sums; dnn's and pyarrow's versions)."""
    header = {
        "cache": CACHE_VERSION, "dnn": __version__, "pyarrow": pa.__version__, "table": digest,
        "options": dataclasses.asdict(options), "block_bytes": tables.BLOCK_BYTES,
        "file_rows": len(rows),
    }
    key = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    key.update(np.packbits(rows.astype(bool)).tobytes())
    return key.hexdigest()


def encoded_rows(
    source: TableFile, digest: str, rows: np.ndarray, options: TableOptions, cache_dir: str | Path, source_name: str
) -> EncodedRows:
    """The rows of ``source`` that ``rows`` (a boolean mask over the file's rows) selects, learned
    from and encoded into the cache under ``cache_dir``, or found there. Messages name
    ``source_name`` and number the selected rows, as for a table of their own."""
    folder = Path(cache_dir) / "tables"
    m = int(np.count_nonzero(rows))
    # a resumed run's config names the task auto found: the file its first start wrote is the same
    for tried in [options] + ([dataclasses.replace(options, task="auto")] if options.task != "auto" else []):
        cached = folder / f"{cache_key(digest, rows, tried)}.h5"
        found = _read(cached, m) if cached.exists() else None
        if found is not None and options.task in ("auto", found.encoder.task):
            return found
    cached = folder / f"{cache_key(digest, rows, options)}.h5"
    encoder, warnings = fit_streamed(source, options, rows, source_name)
    write_with(cached, lambda tmp: _write(tmp, source, rows, encoder, warnings, source_name), suffix=".h5")
    found = _read(cached, m)
    if found is None:
        raise DataError(f"{printable(cached)}: the encoded table written there cannot be read back")
    return found


def _write(target: Path, source: TableFile, rows: np.ndarray, encoder: TableEncoder, warnings: list[str], source_name: str) -> None:
    """The selected rows encoded a batch at a time into ``target``: memory holds one batch."""
    import h5py  # imported here: h5py is slow to import and most commands never need it

    m = int(np.count_nonzero(rows))
    y_type = np.float64 if encoder.task == "regression" else np.int64
    written, warnings = 0, list(warnings)
    with h5py.File(target, "w") as f:
        X = f.create_dataset(X_KEY, shape=(m, encoder.n_x), dtype=np.float64)  # contiguous: batches read fastest
        y = f.create_dataset(Y_KEY, shape=(m,), dtype=y_type)
        for first_row, part in encoder.encoded_batches(source, rows, source_name):
            X[first_row : first_row + part.m] = part.X.T
            y[first_row : first_row + part.m] = part.y
            warnings += part.warnings
            written = first_row + part.m
        if written != m:
            raise DataError(f"{printable(source.path)}: has fewer than the {len(rows):,} rows it had when first read (changed meanwhile?)")
        f.attrs["encoder"] = json.dumps(encoder.to_dict())
        f.attrs["warnings"] = json.dumps(warnings)
        f.attrs["source"] = str(source.path)


def _read(cached: Path, m: int) -> EncodedRows | None:
    """The cache file, or None when it is not one of ``m`` rows that reads back whole."""
    try:
        dataset = load_dataset(cached, X_KEY, Y_KEY, None, stream_over_bytes=0)  # X stays in the file
        with open_hdf5(cached, DataError, what="cache file") as f:
            encoder = TableEncoder.from_dict(json.loads(f.attrs["encoder"]), f"{cached}: encoder")
            warnings = json.loads(f.attrs["warnings"])
    except (DataError, KeyError, ValueError, TypeError):
        return None
    if dataset.X_raw.shape != (m, encoder.n_x) or not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return None
    dataset.X_raw = FileRows.of(cached, dataset.X_raw) or dataset.X_raw
    dataset.classes = encoder.classes
    return EncodedRows(dataset, encoder, warnings, cached)


class FileRows:
    """The cache file's ``X`` read a few rows at a time straight from the file, where training
    would ask ``h5py`` for each batch: the dataset is contiguous and unfiltered (as written here,
    checked), so row ``i`` is ``n_x`` floats at a known offset, and a batch of 64 rows read with
    one ``os.preadv`` a row takes a fifth of the time of an ``h5py`` selection of them (118 vs
    538 µs measured), the most of a training step on a table. Nothing of the file is mapped."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int], dtype: np.dtype) -> None:
        self.path, self.offset, self.shape, self.dtype, self.ndim = path, offset, shape, dtype, 2
        self.row_bytes = shape[1] * dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)

    @classmethod
    def of(cls, path: Path, X: Any) -> "FileRows | None":
        """``X`` (an open ``h5py.Dataset``) read this way, or None when its layout does not allow."""
        if not hasattr(os, "preadv"):  # not on every system (Windows)
            return None
        contiguous = X.chunks is None and X.id.get_create_plist().get_nfilters() == 0
        offset = X.id.get_offset() if contiguous else None
        if offset is None or X.dtype != np.dtype(np.float64) or len(X.shape) != 2:
            return None
        return cls(path, int(offset), (int(X.shape[0]), int(X.shape[1])), np.dtype(np.float64))

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step == 1:
                out = np.empty((max(0, stop - start), self.shape[1]), self.dtype)
                self._read_into(out, start)
                return out
            rows = np.arange(start, stop, step)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"rows out of range for {self.shape[0]} rows")
        out = np.empty((rows.size, self.shape[1]), self.dtype)
        for position, row in enumerate(rows.tolist()):  # a read a row: rows are not contiguous
            self._read_into(out[position : position + 1], row)
        return out

    def __reduce__(self) -> tuple:  # another process opens the file itself
        return (FileRows, (self.path, self.offset, self.shape, self.dtype))

    def _read_into(self, out: np.ndarray, first_row: int) -> None:
        if out.nbytes and os.preadv(self._fd, [memoryview(out).cast("B")], self.offset + first_row * self.row_bytes) != out.nbytes:
            raise DataError(f"{printable(self.path)}: shorter than its rows (changed while training?)")

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
