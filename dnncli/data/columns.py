"""Training inputs kept as stored (uint8 pixels, in memory or still in the HDF5 file) and scaled
a batch at a time, for data sets whose float columns would not fit a memory budget.

:class:`ScaledColumns` stands where the ``(n_x, m)`` float matrix ``X`` would, for what training
does with it: ``X[:, columns]`` (one mini-batch, scaled into a preallocated buffer),
``W @ X`` and ``dZ @ X.T`` (the first layer's forward and gradient over all examples, computed a
chunk of examples at a time). Peak memory is then one batch in float, whatever ``m`` is.

The returned batch is a view of the reused buffer: valid until the next ``X[:, ...]``, which is
how a training step uses it (forward, backward, update, then the next batch).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from dnncli.data.hdf5 import divide
from dnncli.compute.resources import InputPlacement


class ScaledColumns:
    """``X = raw.reshape(m, -1).T / divisor`` in ``dtype``, never held whole.

    ``raw`` is the examples as stored, ``(m, ...)``: a NumPy array or an ``h5py.Dataset`` read
    on demand. ``chunk`` is the most examples converted at once (the buffer's width).
    """

    # NumPy defers to our __rmatmul__ for ``ndarray @ ScaledColumns`` instead of converting us
    __array_ufunc__ = None

    def __init__(self, raw: Any, divisor: float, dtype: np.dtype | type, chunk: int = 256) -> None:
        self.raw = raw
        self.divisor = float(divisor)
        self.dtype = np.dtype(dtype)
        m = int(raw.shape[0])
        n_x = int(np.prod(raw.shape[1:], dtype=np.int64))
        self.shape = (n_x, m)
        self.ndim = 2
        self.chunk = max(1, min(int(chunk), m))
        self._buffer = np.empty((n_x, self.chunk), dtype=self.dtype)

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def T(self) -> "_TransposedColumns":
        return _TransposedColumns(self)

    def _read(self, rows: slice | np.ndarray) -> np.ndarray:
        """Examples ``rows`` as stored, ``(b, n_x)``; indices need not be sorted."""
        if isinstance(rows, slice) or isinstance(self.raw, np.ndarray):
            return np.asarray(self.raw[rows]).reshape(-1, self.shape[0])
        # h5py reads a list of rows only in increasing order
        order = np.argsort(rows, kind="stable")
        stored = np.asarray(self.raw[rows[order]]).reshape(-1, self.shape[0])
        unsorted = np.empty_like(stored)
        unsorted[order] = stored
        return unsorted

    def _scaled(self, rows: slice | np.ndarray, n: int) -> np.ndarray:
        """Columns ``rows`` scaled into the buffer: a view ``(n_x, n)``."""
        if n > self._buffer.shape[1]:
            self._buffer = np.empty((self.shape[0], n), dtype=self.dtype)
        out = self._buffer[:, :n]
        np.copyto(out, self._read(rows).T, casting="unsafe")
        return divide(out, self.divisor)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise TypeError("ScaledColumns supports X[:, columns] only")
        columns = key[1]
        if isinstance(columns, slice):
            start, stop, step = columns.indices(self.shape[1])
            if step != 1:
                columns = np.arange(start, stop, step)
            else:
                return self._scaled(slice(start, stop), stop - start)
        columns = np.asarray(columns, dtype=np.int64).reshape(-1)
        return self._scaled(columns, columns.size)

    def chunks(self) -> Any:
        """``(start, stop, X[:, start:stop])`` over all examples, one buffer at a time."""
        m = self.shape[1]
        for start in range(0, m, self.chunk):
            stop = min(start + self.chunk, m)
            yield start, stop, self._scaled(slice(start, stop), stop - start)

    def __rmatmul__(self, W: np.ndarray) -> np.ndarray:
        """``W @ X`` a chunk of examples at a time."""
        W = np.asarray(W)
        out = np.empty((W.shape[0], self.shape[1]), dtype=np.result_type(W.dtype, self.dtype))
        for start, stop, block in self.chunks():
            np.matmul(W, block, out=out[:, start:stop])
        return out

    def fingerprint(self) -> bytes:
        """A digest of the stored examples (what a checkpoint checks on resume), read in chunks."""
        digest = hashlib.sha256(f"{self.shape}{self.dtype.str}{self.divisor}".encode())
        m = self.shape[1]
        for start in range(0, m, self.chunk):
            digest.update(np.ascontiguousarray(self._read(slice(start, min(start + self.chunk, m)))).tobytes())
        return digest.digest()


class _TransposedColumns:
    """``X.T``, for ``dZ @ X.T`` (the first layer's weight gradient) over all examples."""

    __array_ufunc__ = None

    def __init__(self, columns: ScaledColumns) -> None:
        self.columns = columns
        self.shape = (columns.shape[1], columns.shape[0])

    def __rmatmul__(self, dZ: np.ndarray) -> np.ndarray:
        dZ = np.asarray(dZ)
        out = np.zeros((dZ.shape[0], self.shape[1]), dtype=np.result_type(dZ.dtype, self.columns.dtype))
        for start, stop, block in self.columns.chunks():
            out += dZ[:, start:stop] @ block.T
        return out


def training_columns(
    dataset: Any, divisor: float, dtype: np.dtype | type, placement: InputPlacement, chunk: int | None
) -> np.ndarray | ScaledColumns:
    """The training inputs where ``placement`` (:func:`dnncli.compute.resources.place_training_inputs`)
    puts them: the float matrix, or kept as stored (in memory or in the file) and scaled a batch
    of ``chunk`` examples at a time.

    The float matrix is column-major, each example's values contiguous, as the file stores them:
    gathering a shuffled batch ``X[:, indices]`` copies whole columns (a quarter of MNIST's training
    step went to the strided gather from a row-major matrix), and the first layer's products
    ``W1 @ X`` and ``dZ1 @ X.T`` are fastest that way (:mod:`dnncli.compute.kernels`)."""
    if placement.floats_in_memory and isinstance(dataset.X_raw, np.ndarray):
        # the transposed view of the examples is already column-major: astype keeps that order
        X = divide(dataset.X_raw.reshape(dataset.m, -1).T.astype(dtype), divisor)
        return np.asfortranarray(X)
    return ScaledColumns(dataset.X_raw, divisor, dtype, chunk or 256)
