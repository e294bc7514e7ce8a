"""Weight initializers, drawn as the course draws them.

One ``numpy.random.RandomState(seed)`` serves every layer in order, each weight matrix drawn with
``.randn(n[l], n[l-1])`` and then scaled; biases are zero. This is the legacy stream of
``np.random.seed(seed); np.random.randn(...)``, which is what makes the course's published costs
reproduce to the last digit.
"""

from __future__ import annotations

import math

import numpy as np

INITIALIZERS = ("zeros", "random", "xavier", "he")
DEFAULT_RANDOM_SCALE = 0.01


def initialize_parameters(
    layer_sizes: list[int],
    init: str = "xavier",
    seed: int | None = 1,
    random_scale: float = DEFAULT_RANDOM_SCALE,
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Parameters ``{"W1": (n1, n0), "b1": (n1, 1), ...}`` for ``layer_sizes = [n0, ..., nL]``."""
    if init not in INITIALIZERS:
        raise ValueError(f"unknown initializer {init!r}; expected one of {', '.join(INITIALIZERS)}")
    rng = np.random.RandomState(seed)
    params: dict[str, np.ndarray] = {}
    for l in range(1, len(layer_sizes)):
        n, n_prev = layer_sizes[l], layer_sizes[l - 1]
        if init == "zeros":
            W = np.zeros((n, n_prev))
        else:
            W = rng.randn(n, n_prev)
            # Same operations as the course (divide for xavier, multiply otherwise): a multiply by
            # 1/sqrt(n) would differ from randn / sqrt(n) in the last bit.
            if init == "random":
                W *= random_scale
            elif init == "xavier":
                W /= math.sqrt(n_prev)
            else:
                W *= math.sqrt(2.0 / n_prev)
        params[f"W{l}"] = np.ascontiguousarray(W, dtype=dtype)
        params[f"b{l}"] = np.zeros((n, 1), dtype=dtype)
    return params
