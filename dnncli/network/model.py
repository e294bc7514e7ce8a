"""An L-layer network: parameters, forward pass with caches, cost, backward pass.

Notation follows the course: ``X`` is ``(n_x, m)``, ``W[l]`` is ``(n[l], n[l-1])``, ``b[l]`` is
``(n[l], 1)``, each layer's cache is ``(A_prev, W, b, Z)``, ``dZ[L] = A[L] - Y`` and
``dW[l] = dZ[l] A[l-1]^T / m``. Every operation is over all m examples at once.

Regularization, used only while training: L2 adds ``lambda/(2m) * sum_l ||W[l]||^2`` to the cost
and ``lambda/m * W[l]`` to ``dW[l]``; inverted dropout multiplies a hidden layer's ``A[l]`` by a
0/1 mask ``D[l]`` and divides by ``keep_prob``, and the backward pass applies the same to ``dA[l]``.
Prediction never drops anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

from dnncli.network.activations import (
    ACTIVATIONS,
    DEFAULT_LEAKY_SLOPE,
    DERIVATIVES,
    HIDDEN_ACTIVATIONS,
    OUTPUT_ACTIVATIONS,
)
from dnncli.network.initializers import DEFAULT_RANDOM_SCALE, initialize_parameters
from dnncli.network.losses import LOSS_FOR_OUTPUT, LOSSES, l2_penalty, squared_norms
from dnncli.compute.threads import parallel, run_threads


class Cache(NamedTuple):
    A_prev: np.ndarray
    W: np.ndarray
    b: np.ndarray
    Z: np.ndarray
    # inverted-dropout mask of this layer's output A[l], already divided by keep_prob (None: no dropout)
    D: np.ndarray | None = None



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


# the parameters' and gradients' names of layer l: ("W<l>", "b<l>", "dW<l>", "db<l>"), formatted
# once (a step of a small network does little else than look them up)
_NAMES = [(f"W{l}", f"b{l}", f"dW{l}", f"db{l}") for l in range(256)]


def _names(l: int) -> tuple[str, str, str, str]:
    return _NAMES[l] if l < len(_NAMES) else (f"W{l}", f"b{l}", f"dW{l}", f"db{l}")


def _pair(out: dict[str, np.ndarray] | None, l: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out["dW<l>"], out["db<l>"])``, or None."""
    if out is None:
        return None
    _, _, dW, db = _names(l)
    return out[dW], out[db]


@dataclass
class Network:
    """Layer sizes ``[n0, ..., nL]``, one activation per layer, and the parameters."""

    layer_sizes: list[int]
    activations: list[str]
    params: dict[str, np.ndarray]
    leaky_slope: float = DEFAULT_LEAKY_SLOPE
    loss_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.layer_sizes = [int(n) for n in self.layer_sizes]
        self.activations = list(self.activations)
        if len(self.layer_sizes) < 2:
            raise ValueError("a network needs at least an input and an output size")
        if len(self.activations) != self.L:
            raise ValueError(
                f"{self.L} layers need {self.L} activations, got {len(self.activations)}"
            )
        for l, name in enumerate(self.activations[:-1], start=1):
            if name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"layer {l}: {name!r} cannot be a hidden activation")
        if self.activations[-1] not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"{self.activations[-1]!r} cannot be the output activation")
        self.loss_name = LOSS_FOR_OUTPUT[self.activations[-1]]

    @classmethod
    def create(
        cls,
        layer_sizes: list[int],
        activations: list[str],
        init: str = "xavier",
        seed: int | None = 1,
        random_scale: float = DEFAULT_RANDOM_SCALE,
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dtype: np.dtype | type = np.float64,
    ) -> "Network":
        params = initialize_parameters(layer_sizes, init, seed, random_scale, dtype)
        return cls(layer_sizes, activations, params, leaky_slope)

    @property
    def L(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def dtype(self) -> np.dtype:
        return self.params["W1"].dtype

    @property
    def n_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    @property
    def output_activation(self) -> str:
        return self.activations[-1]

    # ---- what kind of model: the one place that decides ------------------------------------

    @property
    def is_regression(self) -> bool:
        return self.output_activation == "linear"

    @property
    def is_binary(self) -> bool:
        """One sigmoid unit: the probability of class 1 (a threshold decides)."""
        return self.output_activation == "sigmoid" and self.layer_sizes[-1] == 1

    @property
    def n_classes(self) -> int | None:
        """How many classes a classifier tells apart (None for a regression)."""
        if self.is_regression:
            return None
        return 2 if self.is_binary else self.layer_sizes[-1]

    def pack_parameters(self) -> np.ndarray | None:
        """Keep every parameter in one contiguous vector, ``W1``, ``b1``, ``W2``... in this order,
        each a view into it of its own shape, with the same values; return that vector (None when
        the parameters differ in type). Adam and RMSProp keep their moments in vectors laid out
        the same way (:mod:`dnncli.training.optimizers`): they then step every parameter with one
        operation instead of one per parameter. Idempotent: packed parameters stay as they are."""
        arrays = list(self.params.values())
        if len({a.dtype for a in arrays}) != 1:
            return None
        vector = packed_vector(arrays)
        if vector is not None and vector.size == self.n_params:
            return vector
        vector, views = pack(self.params)
        self.params.update(views)
        return vector

    def astype(self, dtype: np.dtype | type) -> "Network":
        params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in self.params.items()}
        return Network(self.layer_sizes, self.activations, params, self.leaky_slope)

    # ---- targets ---------------------------------------------------------------------------

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets ``(n[L], m)`` in the network's dtype; integer labels one-hot for softmax."""
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape(1, -1)
        if self.output_activation == "softmax" and y.shape[0] == 1:
            labels = y[0].astype(np.int64)
            Y = np.zeros((self.layer_sizes[-1], labels.size), dtype=self.dtype)
            Y[labels, np.arange(labels.size)] = 1
            return Y
        return np.ascontiguousarray(y, dtype=self.dtype)

    # ---- forward, cost, backward -----------------------------------------------------------

    def forward(
        self,
        X: np.ndarray,
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` and the caches ``(A_prev, W, b, Z, D)`` of layers 1..L.

        ``keep_probs`` (one per hidden layer, 1.0 for none) turns on inverted dropout while
        training; each mask ``D[l]`` is drawn from ``rng``, or taken from ``masks`` (0/1 arrays of
        the hidden layers' shapes) so that a gradient check sees the same network every time.
        """
        if keep_probs is not None and len(keep_probs) != self.L - 1:
            raise ValueError(f"{self.L - 1} hidden layers need {self.L - 1} keep_probs, got {len(keep_probs)}")
        return self.forward_from(1, X, [], keep_probs, rng, masks)

    def forward_from(
        self,
        first: int,
        A: np.ndarray,
        caches: list[Cache],
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, list[Cache]]:
        """Layers ``first..L`` on ``A = A[first-1]``, appending their caches to ``caches``."""
        params, dropout = self.params, keep_probs is not None
        for l in range(first, self.L + 1):
            W_name, b_name, _, _ = _names(l)
            W, b = params[W_name], params[b_name]
            Z = affine(W, A, b)
            A_prev = A
            if dropout:
                A, D = self.activate(l, Z, keep_probs, rng, masks)
            else:  # activate's work without dropout, without its call (a small layer costs little more)
                A, D = ACTIVATIONS[self.activations[l - 1]](Z, slope=self.leaky_slope), None
            caches.append(Cache(A_prev, W, b, Z, D))
        return A, caches

    def activate(
        self,
        l: int,
        Z: np.ndarray,
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``A[l] = g(Z[l])``, times the dropout mask ``D[l]`` of a hidden layer while training."""
        A = ACTIVATIONS[self.activations[l - 1]](Z, slope=self.leaky_slope)
        D = None
        if keep_probs is not None and l < self.L and keep_probs[l - 1] < 1:
            D = self._dropout_mask(l, A, keep_probs[l - 1], rng, masks)
            A *= D
        return A, D

    @staticmethod
    def _dropout_mask(
        l: int,
        A: np.ndarray,
        keep_prob: float,
        rng: np.random.Generator | None,
        masks: Sequence[np.ndarray | None] | None,
    ) -> np.ndarray:
        """``D[l] / keep_prob``: a 0/1 mask (kept with probability ``keep_prob``), pre-divided."""
        if masks is not None and masks[l - 1] is not None:
            mask = np.asarray(masks[l - 1])
            if mask.shape != A.shape:
                raise ValueError(f"dropout mask {l} has shape {mask.shape}, expected {A.shape}")
        elif rng is not None:
            draw_dtype = A.dtype if A.dtype in (np.float32, np.float64) else np.float64
            mask = rng.random(A.shape, dtype=draw_dtype) < keep_prob
        else:
            raise ValueError("dropout needs a random generator (rng) or fixed masks")
        D = mask.astype(A.dtype)
        D /= keep_prob
        return D

    def cost(
        self, AL: np.ndarray, caches: list[Cache], Y: np.ndarray, l2_lambda: float = 0.0
    ) -> float:
        """The loss of ``A[L]`` (computed from the logits ``Z[L]``) against ``Y``, plus the L2 term."""
        cost = LOSSES[self.loss_name](caches[-1].Z, AL, Y)
        if l2_lambda:
            squares = squared_norms(cache.W for cache in caches)
            cost += l2_penalty(squares, Y.shape[1], l2_lambda)
        return cost

    def backward(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        caches: list[Cache],
        l2_lambda: float = 0.0,
        out: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Gradients ``dW[l]`` and ``db[l]`` for every layer (none for the input X); written into
        the arrays of ``out`` (``out["dW1"]``...) when given (see :func:`weight_gradients`)."""
        grads, dZ1 = self.backward_to_first_layer(AL, Y, caches, l2_lambda, out)
        first = caches[0]
        grads["dW1"], grads["db1"] = weight_gradients(
            dZ1, first.A_prev, first.W, Y.shape[1], l2_lambda, _pair(out, 1)
        )
        return grads

    def backward_to_first_layer(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        caches: list[Cache],
        l2_lambda: float = 0.0,
        out: dict[str, np.ndarray] | None = None,
        divide: bool = True,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Gradients of layers L..2 and ``dZ[1]``: all of backpropagation but layer 1's product
        with X, which the Gram path (:mod:`dnncli.training.first_layer`) replaces. ``divide=False``:
        the sums ``dZ A_prev^T`` and ``sum(dZ)`` only, which the caller divides by m and
        regularizes (:func:`divide_and_regularize`, over the vector they are parts of)."""
        m = Y.shape[1]
        grads: dict[str, np.ndarray] = {}
        weights: list[tuple[np.ndarray, np.ndarray]] = []  # (dW[l], W[l]) for the L2 term
        dZ = AL - Y
        for l in range(self.L, 1, -1):
            A_prev, W = caches[l - 1].A_prev, caches[l - 1].W
            _, _, dW_name, db_name = _names(l)
            dW, db = weight_gradients(dZ, A_prev, W, m, l2_lambda, _pair(out, l), divide=False)
            grads[dW_name], grads[db_name] = dW, db
            weights.append((dW, W))
            dA_prev = back_through(W, dZ, like=A_prev)
            previous = caches[l - 2]
            name = self.activations[l - 2]
            if previous.D is not None:
                dA_prev *= previous.D
                # the cached A[l-1] is the dropped-out one; g'(Z) wants g(Z) itself
                A_prev = ACTIVATIONS[name](previous.Z, slope=self.leaky_slope)
            dZ = DERIVATIVES[name](previous.Z, A_prev, dA_prev, slope=self.leaky_slope)
        if divide:
            divide_and_regularize(list(grads.values()), weights, m, l2_lambda)
        return grads, dZ

    def compute_cost(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        l2_lambda: float = 0.0,
        keep_probs: Sequence[float] | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> float:
        AL, caches = self.forward(X, keep_probs, masks=masks)
        return self.cost(AL, caches, Y, l2_lambda)

    # ---- prediction ------------------------------------------------------------------------

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The output layer's activations ``A[L]``, shape ``(n[L], m)``. ``X`` is handed to the
        first layer column-major, the training inputs' layout, whatever its own: some BLAS kernels
        (OpenBLAS's AVX-512 small-matrix ones) round a small product differently for another
        layout, and a prediction must be the training-time output to the last bit."""
        if isinstance(X, np.ndarray) and X.ndim == 2 and not X.flags.f_contiguous:
            X = np.asfortranarray(X)
        return self.forward(X)[0]

    def predict(self, X: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class labels ``(m,)`` for a classifier; the outputs themselves for regression."""
        return self.labels(self.predict_proba(X), threshold)

    def labels(self, AL: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class labels ``(m,)`` from the output layer's activations (binary: ``A > threshold``);
        the outputs themselves for regression."""
        if self.is_regression:
            return AL
        if self.is_binary:
            return (AL[0] > threshold).astype(np.int64)
        return np.argmax(AL, axis=0)

    def accuracy(self, AL: np.ndarray, y: np.ndarray) -> float | None:
        """Fraction of examples whose predicted class is ``y`` (labels ``(m,)`` or ``(1, m)``)."""
        if self.is_regression:
            return None
        y = np.asarray(y)
        labels = np.argmax(y, axis=0) if (y.ndim == 2 and y.shape[0] > 1) else y.reshape(-1)
        return float(np.mean(self.labels(AL) == labels))
