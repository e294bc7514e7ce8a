"""How many BLAS threads a training run uses.

OpenBLAS's threads wait for work by spinning. With cores to spare that pays on large products
(the cat set's ``W1 @ X``); on small ones (a mini-batch of 64 through 128 units), or when other
processes already occupy the cores, the threads spend their time waiting for each other instead:
on a 2-core machine running other jobs, one such product measured 15 to 30 times slower with two
threads than with one. So training uses one BLAS thread when a step's largest product is small
or the machine is busy, and the library's default (all cores) otherwise. A thread count the user
set in the environment (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) is
always left alone.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Sequence

# multiply-adds of a step's largest product under which one thread is faster
SMALL_PRODUCT = 20_000_000
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def largest_product(layer_sizes: Sequence[int], batch: int) -> int:
    return max(n * n_prev for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:])) * int(batch)


def machine_busy() -> bool:
    """True when the last minute's load already fills every core."""
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except (OSError, AttributeError):
        return False


def blas_threads(product: int) -> int | None:
    """1 when a step's largest product (multiply-adds) is small or the machine is busy; None:
    the BLAS library's default."""
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    if product < SMALL_PRODUCT or machine_busy():
        return 1
    return None


@contextlib.contextmanager
def limited_blas_threads(threads: int | None) -> Iterator[None]:
    """Within the block, BLAS uses at most ``threads`` threads (None: unchanged)."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it, the BLAS default stays
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield
