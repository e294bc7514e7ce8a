"""Mini-batches: the columns of ``X (n_x, m)`` and ``Y (n[L], m)`` split into groups of ``batch_size``.

As the course's ``random_mini_batches``: the examples are shuffled (by one permutation drawn from
the run's seeded generator, a new one every epoch), cut into batches of ``batch_size`` in that order,
and the last, smaller batch is kept.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np


def n_batches(m: int, batch_size: int | None) -> int:
    """How many update steps one epoch over ``m`` examples takes."""
    if batch_size is None or batch_size >= m:
        return 1
    return math.ceil(m / batch_size)


def batch_indices(m: int, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """The example indices of each batch: shuffled by ``rng``, in order without it."""
    order = rng.permutation(m) if rng is not None else np.arange(m)
    return [order[start : start + batch_size] for start in range(0, m, batch_size)]


def mini_batches(
    X: np.ndarray, Y: np.ndarray, batch_size: int | None, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(X_batch, Y_batch)`` pairs covering every example once; ``batch_size=None``: all of them."""
    m = X.shape[1]
    if batch_size is None or (batch_size >= m and rng is None):
        yield X, Y
        return
    if rng is None:  # in order: views, no copies
        for start in range(0, m, batch_size):
            yield X[:, start : start + batch_size], Y[:, start : start + batch_size]
        return
    for indices in batch_indices(m, batch_size, rng):
        yield X[:, indices], Y[:, indices]
