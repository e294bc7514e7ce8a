"""The matrix products of a layer, in the forms OpenBLAS runs fastest, and packed parameters.

``affine`` (``Z = W A + b``), ``weight_gradients`` (``dW = dZ A_prev^T / m``, ``db``) and
``back_through`` (``dA_prev = W^T dZ``) choose a form by the layer's shape, type and number of
examples, and split large products over the run's threads (:mod:`dnncli.compute.threads`);
``pack`` puts arrays into one vector so that an update of them all is one operation.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dnncli.compute.threads import parallel, run_threads


# float32 layers narrower than this over at least as many inputs compute (A^T W^T)^T, the others
# W @ A (see affine)
WIDE_LAYER = 64
# float64 products over more column-major examples than twice this go a block of this many
# examples at a time (see affine)
EXAMPLE_BLOCK = 256
# a product of at least twice this many multiply-adds is split by columns of its result over the
# run's threads (dnncli.compute.threads); a smaller part would cost more to hand over than it saves
SPLIT_PRODUCT = 2_000_000


def examples_contiguous(A: np.ndarray) -> bool:
    """Whether ``A (n, m)`` holds each example's values together (column-major), as the training
    inputs do (:func:`dnncli.data.columns.training_columns`)."""
    return isinstance(A, np.ndarray) and A.ndim == 2 and A.flags.f_contiguous and not A.flags.c_contiguous


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def pack(arrays: dict[str, np.ndarray], dtype: Any = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One vector holding ``arrays`` one after the other, in their order and with their values
    (in ``dtype``, default their common type), and each as a view of its part, of its own shape:
    an update of every array is then one operation on the vector."""
    dtype = np.result_type(*arrays.values()) if dtype is None else dtype
    vector = np.empty(sum(int(a.size) for a in arrays.values()), dtype)
    views, start = {}, 0
    for key, value in arrays.items():
        views[key] = vector[start : start + value.size].reshape(value.shape)
        views[key][...] = value
        start += value.size
    return vector, views


def packed_vector(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The vector ``arrays`` fill one after the other from its start, as C-contiguous views of it
    (what :func:`pack` made), up to their total size; None if they do not."""
    base = arrays[0].base if arrays else None
    if not isinstance(base, np.ndarray) or base.ndim != 1:
        return None
    at = _address(base)
    for a in arrays:
        if a.base is not base or a.dtype != base.dtype or not a.flags.c_contiguous or _address(a) != at:
            return None
        at += a.nbytes
    size = sum(a.size for a in arrays)
    return base if size == base.size else base[:size]


def _small(n_out: int, k: int, m: int) -> bool:
    """A product ``(n_out, k) @ (k, m)`` that ``affine`` and ``back_through`` compute as it is,
    ``W @ A``: few inputs, few examples, too little work to split. Told apart first, because a
    small layer's product costs a few microseconds and so does every check made before it."""
    return k < WIDE_LAYER and m <= 2 * EXAMPLE_BLOCK and n_out * k * m < 2 * SPLIT_PRODUCT


def _columns_per_part(per_column: int) -> int:
    """The fewest result columns a thread is given, each costing ``per_column`` multiply-adds."""
    return max(1, -(-SPLIT_PRODUCT // max(1, per_column)))


def _split(product: int) -> bool:
    return product >= 2 * SPLIT_PRODUCT and run_threads() > 1


def affine(W: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Z = W A + b``, in the form OpenBLAS runs fastest (measured with ``bench/micro.py``, one
    core, the cat set's first layer: 20 units over 12,288 inputs):

    * a narrow float32 layer over many inputs (under ``WIDE_LAYER`` units, at least as many
      inputs) as ``(A^T W^T)^T``: 3.3 ms against 4.2-4.4 ms for ``W @ A`` with 209 examples;
    * float64 over many column-major examples a block of ``EXAMPLE_BLOCK`` examples at a time,
      each block's inputs staying in the cache: 76 ms against 86-90 ms for 2,090 examples at once;
    * otherwise ``W @ A``.

    In a run with several threads a large product is split by examples over them. With
    OpenBLAS's Haswell kernels float64 blocks and parts give the very same numbers as one
    product; its AVX-512 kernels (SkylakeX) may round them differently in the last bit, which is
    one reason a run keeps its thread count in its checkpoint. The form depends on the layer, the
    type and the number of examples only, and every source hands the inputs over in one layout,
    column-major (training columns, an HDF5 set, image files: ``Dataset.columns``,
    ``Network.predict_proba``), since the AVX-512 kernels also round a small product differently
    for another layout: the same inputs give the same outputs to the last bit."""
    if not isinstance(A, np.ndarray) or A.ndim != 2:  # inputs scaled a batch at a time
        Z = W @ A
        Z += b
        return Z
    n_out, k = W.shape
    m = A.shape[1]
    if _small(n_out, k, m):  # none of the forms below applies: W @ A (np.dot: the same BLAS
        Z = np.dot(W, A)  # call as matmul's, a microsecond less to make)
        Z += b
        return Z
    transposed = n_out < WIDE_LAYER <= k and W.dtype == np.float32
    blocked = W.dtype == np.float64 and A.dtype == np.float64 and examples_contiguous(A) and m > 2 * EXAMPLE_BLOCK
    if not blocked and not _split(n_out * k * m):
        Z = np.matmul(A.T, W.T).T if transposed else W @ A
    else:
        Z = np.empty((n_out, m), dtype=np.result_type(W, A), order="F" if transposed else "C")
        step = EXAMPLE_BLOCK if blocked else m

        def work(start: int, stop: int) -> None:
            for first in range(start, stop, step):
                last = min(first + step, stop)
                if transposed:
                    np.matmul(A[:, first:last].T, W.T, out=Z[:, first:last].T)
                else:
                    np.matmul(W, A[:, first:last], out=Z[:, first:last])

        minimum = max(_columns_per_part(n_out * k), EXAMPLE_BLOCK if blocked else 1)
        parallel(work, m, minimum=minimum, align=EXAMPLE_BLOCK if blocked else 8)
    Z += b
    return Z


def weight_gradients(
    dZ: np.ndarray,
    A_prev: np.ndarray,
    W: np.ndarray,
    m: int,
    l2_lambda: float = 0.0,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    divide: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``dW = dZ A_prev^T / m (+ lambda/m W)`` and ``db = sum(dZ) / m``, both C-contiguous (the
    optimizers update them through flat views), divided in place. In a run with several threads
    a large ``dW`` is computed a block of its columns per thread (in float64, the same numbers).

    ``out``: the arrays ``(dW, db)`` to write them into (C-contiguous, of their shapes and type):
    the optimizer's own gradient vector (:meth:`~dnncli.training.optimizers.Optimizer.gradient_buffers`),
    which then need not gather them. The same products and sums, so the same numbers.
    ``divide=False``: ``dZ A_prev^T`` and ``sum(dZ)`` only; the caller divides them by m (several
    layers' at once) and adds the L2 term (:func:`divide_and_regularize`)."""
    n_out, columns = dZ.shape
    dW, db = out if out is not None else (None, None)
    divided = False
    if isinstance(A_prev, np.ndarray) and _split(n_out * columns * A_prev.shape[0]):
        k = A_prev.shape[0]
        if dW is None:
            dW = np.empty((n_out, k), dtype=np.result_type(dZ, A_prev))
        AT = A_prev.T

        def piece(start: int, stop: int) -> None:
            np.matmul(dZ, AT[:, start:stop], out=dW[:, start:stop])
            if divide:  # by the thread that made it, while it is in the cache
                np.divide(dW[:, start:stop], m, out=dW[:, start:stop])

        parallel(piece, k, minimum=_columns_per_part(n_out * columns), align=64)
        divided = divide
    elif dW is None:
        dW = dZ @ A_prev.T
    elif isinstance(A_prev, np.ndarray) and _small(n_out, A_prev.shape[0], columns):
        np.dot(dZ, A_prev.T, out=dW)  # a small layer's: matmul's BLAS call, a microsecond less to make
    elif isinstance(A_prev, np.ndarray):
        np.matmul(dZ, A_prev.T, out=dW)
    else:  # inputs scaled a batch at a time: their product has no out=
        np.copyto(dW, dZ @ A_prev.T)
    db = dZ.sum(axis=1, keepdims=True, out=db)  # the method: np.sum's wrapper costs more than a small sum
    if divide:
        divide_and_regularize([db] if divided else [dW, db], [(dW, W)], m, l2_lambda)
    return dW, db


def divide_and_regularize(
    gradients: Sequence[np.ndarray], weights: Sequence[tuple[np.ndarray, np.ndarray]], m: int, l2_lambda: float
) -> None:
    """Divide each of ``gradients`` by m in place, then add ``lambda/m W`` to each ``dW`` of the
    pairs ``(dW, W)``. Given one vector holding several layers' gradients (the Gram path's), one
    division instead of two per layer (each costs a few microseconds, whatever its size): every
    element goes through the same two operations in the same order, so the same numbers."""
    for gradient in gradients:
        gradient /= m
    if l2_lambda:
        for dW, W in weights:
            dW += (l2_lambda / m) * W


def back_through(W: np.ndarray, dZ: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``dA_prev = W^T dZ``, in the layout of ``like`` (A_prev), so that ``g'(Z)`` is applied to
    arrays of one layout; split by examples over the run's threads when large."""
    n, n_prev = W.shape
    m = dZ.shape[1]
    if n_prev < WIDE_LAYER and n * n_prev * m < 2 * SPLIT_PRODUCT and not like.flags.f_contiguous:
        return np.dot(W.T, dZ)  # a small layer's A_prev is not column-major (only inputs are)
    transposed = examples_contiguous(like)
    if not _split(n * n_prev * m):
        return np.matmul(dZ.T, W).T if transposed else W.T @ dZ
    out = np.empty((n_prev, m), dtype=np.result_type(W, dZ), order="F" if transposed else "C")

    def work(start: int, stop: int) -> None:
        if transposed:
            np.matmul(dZ[:, start:stop].T, W, out=out[:, start:stop].T)
        else:
            np.matmul(W.T, dZ[:, start:stop], out=out[:, start:stop])

    parallel(work, m, minimum=_columns_per_part(n * n_prev), align=8)
    return out
