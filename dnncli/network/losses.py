"""Losses, each paired with its output activation.

Every cost is computed from the output layer's pre-activation ``Z[L]`` (the logits), never from
``log(A[L])``: a saturated output therefore gives a large finite cost instead of inf or NaN.
With its paired activation every loss has the same output gradient, ``dZ[L] = A[L] - Y``, which the
backward pass uses directly.

Sums are taken with the arrays' ``.sum`` method: the very same reduction as ``np.sum``, without
its wrapper's few microseconds, which count once a step when the batches are small.

``Y`` is always ``(n[L], m)``: 0/1 targets for binary cross-entropy, one-hot columns for
categorical cross-entropy, real targets for mean squared error.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

# output activation -> loss
LOSS_FOR_OUTPUT = {
    "sigmoid": "binary_crossentropy",
    "softmax": "categorical_crossentropy",
    "linear": "mse",
}


def binary_crossentropy(ZL: np.ndarray, AL: np.ndarray, Y: np.ndarray) -> float:
    # -[y log s(z) + (1-y) log(1-s(z))] = log(1 + e^z) - y z, evaluated without overflow.
    m = Y.shape[1]
    return float((np.logaddexp(0, ZL) - Y * ZL).sum() / m)


def categorical_crossentropy(ZL: np.ndarray, AL: np.ndarray, Y: np.ndarray) -> float:
    # -sum_k y_k log softmax(z)_k = logsumexp(z) - sum_k y_k z_k
    m = Y.shape[1]
    z_max = ZL.max(axis=0, keepdims=True)
    log_sum_exp = np.log(np.exp(ZL - z_max).sum(axis=0)) + z_max[0]
    return float((log_sum_exp.sum() - (Y * ZL).sum()) / m)


def mse(ZL: np.ndarray, AL: np.ndarray, Y: np.ndarray) -> float:
    # Halved, as in scikit-learn's MLPRegressor, so that dZ[L] = A[L] - Y exactly.
    m = Y.shape[1]
    diff = AL - Y
    return float((diff * diff).sum() / (2 * m))


def squared_norms(weights: Iterable[np.ndarray]) -> float:
    """``sum_l ||W[l]||^2`` (each array's ``sum`` method: the same reduction as ``np.sum``
    without the cost of its wrapper, which a small network pays every step)."""
    return sum(float(np.square(W).sum()) for W in weights)


def l2_penalty(sum_of_squares: float, m: int, l2_lambda: float) -> float:
    """The L2 term of the cost, ``lambda / (2 m) * sum_l ||W[l]||^2``, given the sum of squares."""
    return 1 / m * (l2_lambda / 2) * sum_of_squares


LOSSES = {
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "mse": mse,
}
