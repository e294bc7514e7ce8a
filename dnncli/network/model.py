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
from typing import Iterable, NamedTuple, Sequence

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
from dnncli.compute.kernels import affine, back_through, divide_and_regularize, pack, packed_vector, weight_gradients


# examples a command's pass over a whole set takes at once (dnn evaluate, a table's dnn predict):
# the activations of 825,600 table rows through two layers of 64 units took 1.7 GB in one pass;
# a set of at most this many goes in one pass, as it always did
OUTPUT_BLOCK = 65_536


class Cache(NamedTuple):
    A_prev: np.ndarray
    W: np.ndarray
    b: np.ndarray
    Z: np.ndarray
    # inverted-dropout mask of this layer's output A[l], already divided by keep_prob (None: no dropout)
    D: np.ndarray | None = None



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

    def scoring_forward(self, X: np.ndarray, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
        """``forward(X)`` without dropout, for outputs and a cost only; with ``block`` and more
        examples than that, a block of examples at a time (:meth:`forward_in_blocks`: the outputs
        kept, not every layer's activations of every example)."""
        m = int(X.shape[1])
        if block is None or m <= block:
            return self.forward(X)
        return self.forward_in_blocks(((start, min(start + block, m), X[:, start : start + block]) for start in range(0, m, block)), m)

    def forward_in_blocks(self, blocks: Iterable[tuple[int, int, np.ndarray]], m: int) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` of ``m`` examples handed over a block of columns at a time, ``(start, stop,
        X[:, start:stop])``, without dropout; and the caches the cost needs: each layer's ``W``
        and ``b``, and the last layer's ``Z`` (no other layer's activations are kept beyond a
        block's, so memory holds the outputs whatever ``m``; there is nothing to go backward from)."""
        AL = np.empty((self.layer_sizes[-1], m), dtype=self.dtype)
        ZL = np.empty_like(AL)
        for start, stop, block in blocks:
            A, caches = self.forward(block)
            AL[:, start:stop], ZL[:, start:stop] = A, caches[-1].Z
        caches = []
        for l in range(1, self.L + 1):
            W_name, b_name, _, _ = _names(l)
            caches.append(Cache(None, self.params[W_name], self.params[b_name], ZL if l == self.L else None))
        return AL, caches

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
