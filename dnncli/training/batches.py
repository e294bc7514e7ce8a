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


def epoch_order(m: int, rng: np.random.Generator | None = None) -> np.ndarray | None:
    """The order of one epoch's examples: a permutation drawn from ``rng`` (its only draw for the
    batches), None without it (in order)."""
    return rng.permutation(m) if rng is not None else None


def batch_selectors(m: int, batch_size: int, order: np.ndarray | None, first: int = 0) -> Iterator[slice | np.ndarray]:
    """What selects each batch's columns, from batch number ``first`` on: index arrays cut from
    ``order``, or slices (views, no copies) when ``order`` is None. Starting at ``first`` is how a
    run stopped in the middle of an epoch continues it with the same batches."""
    for start in range(first * batch_size, m, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start : start + batch_size]

