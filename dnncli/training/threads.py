"""How many BLAS threads a training run uses.

OpenBLAS's threads wait for work by spinning. With cores to spare that pays on large products
(the cat set's ``W1 @ X``); on small ones (a mini-batch of 64 through 128 units), or when other
processes already occupy the cores, the threads spend their time waiting for each other instead:
on a 2-core machine running other jobs, one such product measured 15 to 30 times slower with two
threads than with one, and the cat set's plain full-batch training 7 times slower. So training
uses one BLAS thread when a step's largest product is small, as many as the last minute's load
left idle otherwise (at least one, at most ``DNN_BLAS_THREADS`` when set: ``dnn sweep`` sets it),
and the library's default (all cores) on an idle machine. A thread count the user
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
# at most this many threads for one run: dnn sweep sets it to cores / parallel trials, so that
# trials running side by side do not fight over the cores
CAP_VARIABLE = "DNN_BLAS_THREADS"


def largest_product(layer_sizes: Sequence[int], batch: int) -> int:
    return max(n * n_prev for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:])) * int(batch)


def idle_cores() -> int:
    """Cores the last minute's load left idle (all of them where the platform does not say)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return cores
    return max(0, cores - round(load))


def blas_threads(product: int) -> int | None:
    """How many BLAS threads a step whose largest product has ``product`` multiply-adds should use:
    1 for small steps, else as many as there are idle cores (at least 1); None: the library's
    default (every core idle, or a thread count set in the environment)."""
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    if product < SMALL_PRODUCT:
        return 1
    idle, cap = idle_cores(), thread_cap()
    if cap is not None:
        return max(1, min(idle, cap))
    return None if idle >= (os.cpu_count() or 1) else max(1, idle)


def thread_cap() -> int | None:
    """``DNN_BLAS_THREADS`` when it is a positive integer."""
    text = os.environ.get(CAP_VARIABLE, "")
    return int(text) if text.isdigit() and int(text) > 0 else None


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
