"""How many threads a training run uses, and how: dnn's own threads, each calling BLAS with one.

OpenBLAS's threads wait for work by spinning. With cores to spare that pays on large products
(the cat set's ``W1 @ X``); on small ones (a mini-batch of 64 through 128 units), or when other
processes already occupy the cores, the threads spend their time waiting for each other instead:
on a 2-core machine running other jobs, one such product measured 15 to 30 times slower with two
threads than with one, and the cat set's plain full-batch training 7 times slower. So:

* a step whose largest product is small (under ``SMALL_PRODUCT`` multiply-adds) uses one thread;
* otherwise one more than there are idle cores *now* (the run's own thread, and one per idle
  core): the CPU time the cores this process may run on spent idle over a short window
  (``/proc/stat``, ``IDLE_WINDOW`` seconds, this process's own threads not counted), not the load
  average, which still holds a run that ended a minute ago. ``dnn train`` measures it from the
  moment it began reading the data (:class:`IdleSample`), so a run whose loading took that long
  starts without waiting. The run's own thread counts apart
  because dnn's threads do not spin: on a core half used by another job a second thread still
  gets its share (two cores, another job on about one: the cat set with Adam in float64, 300
  steps, 3.40 s with two threads against 4.0 s with one; with every core busy two threads cost
  about what one does);
* never more than the cores of the process's affinity mask (``taskset``, ``docker --cpuset-cpus``),
  nor than its cgroup CPU quota allows (``docker --cpus``, Kubernetes CPU limits), nor than the
  limit the run's caller gives (:func:`threads_at_most`: ``dnn sweep`` gives each trial cores /
  trials side by side), or else ``DNN_BLAS_THREADS`` when that is set;
* a thread count the user set for the library (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS``) is left alone, and then the library threads the products.

The threads are dnn's own (:func:`parallel`): the network's large products are split by columns
of their result (:mod:`dnncli.compute.kernels`; in float64 that gives the very same numbers as one
product) and the optimizers' large updates by elements, each part calling BLAS with one thread.
Nothing spins between products, and an update does not compete with idle BLAS threads: on the
cat set ×10 (float64, two cores) the split products took 37 ms where OpenBLAS's two threads took
44-46 ms, and Adam's update 1.45 ms instead of 2.7 ms next to spinning BLAS threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

from dnncli.compute import resources

# multiply-adds of a step's largest product under which one thread is faster
SMALL_PRODUCT = 20_000_000
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# at most this many threads for one run (unless its caller gives a limit: threads_at_most)
CAP_VARIABLE = "DNN_BLAS_THREADS"
# parallel() cuts work into this many pieces per thread, taken in turn by whichever thread is free
PIECES_PER_THREAD = 2
# seconds over which idleness is measured at the start of a run (/proc/stat counts in 10 ms ticks)
IDLE_WINDOW = 0.1
# an IdleSample older than this (seconds) says little about now: a fresh window is measured
SAMPLE_MAX_AGE = 10.0

# the threads of the run in progress (see limited_blas_threads); 1 outside a run
_run_threads: contextvars.ContextVar[int] = contextvars.ContextVar("dnn_run_threads", default=1)
# the limit the caller of the run in progress gave (see threads_at_most); None: none given
_caller_cap: contextvars.ContextVar[int | None] = contextvars.ContextVar("dnn_thread_cap", default=None)
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0  # the threads _pool was made with


def largest_product(layer_sizes: Sequence[int], batch: int) -> int:
    return max(n * n_prev for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:])) * int(batch)


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def usable_cores(root: Path = resources.ROOT) -> int:
    """Cores this process may use: its affinity mask, at most its cgroup CPU quota (at least 1)."""
    return resources.cores_from_quota(resources.cpu_quota(root), len(allowed_cpus()))


def thread_cap() -> int | None:
    """The most threads a run may use beyond the machine's limits: the limit its caller gave
    (:func:`threads_at_most`), else ``DNN_BLAS_THREADS`` when it is a positive integer."""
    given = _caller_cap.get()
    if given is not None:
        return given
    text = os.environ.get(CAP_VARIABLE, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@contextlib.contextmanager
def threads_at_most(limit: int | None) -> Iterator[None]:
    """Within the block a run started in this thread uses at most ``limit`` threads, in place of
    ``DNN_BLAS_THREADS`` (None: the limit stays as it was). ``dnn sweep`` gives each trial its
    share of the cores, so that trials running side by side do not fight over them."""
    if limit is None:
        yield
        return
    token = _caller_cap.set(max(1, limit))
    try:
        yield
    finally:
        _caller_cap.reset(token)


def _cpu_ticks(cpus: Sequence[int], root: Path) -> tuple[int, int] | None:
    """``(busy, total)`` clock ticks of ``cpus`` since boot, from ``/proc/stat``."""
    try:
        lines = (root / "proc" / "stat").read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{n}" for n in cpus}
    busy = total = 0
    for line in lines:
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        ticks = [int(v) for v in fields[1:9] if v.isdigit()]
        if len(ticks) < 4:
            continue
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        total += sum(ticks)
        busy += sum(ticks) - idle
    return (busy, total) if total else None


def _own_ticks() -> float:
    """CPU time of this process (all its threads, user and system) in clock ticks."""
    times = os.times()
    return (times.user + times.system) * os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class IdleSample:
    """The ticks of the CPUs and of this process at a moment (``time.monotonic()``): idleness can
    then be measured over the time since, instead of waiting ``IDLE_WINDOW`` for it. ``dnn train``
    takes one before it reads the data, so a run that spent a tenth of a second or more loading
    starts training without waiting (and a quicker one waits for the rest only); this process's
    own ticks (the loading) are not counted."""

    at: float
    cpus: tuple[int, ...]
    ticks: tuple[int, int] | None
    own: float

    @classmethod
    def now(cls, cpus: Sequence[int] | None = None, root: Path = resources.ROOT) -> "IdleSample":
        cpus = tuple(cpus) if cpus is not None else tuple(allowed_cpus())
        return cls(time.monotonic(), cpus, _cpu_ticks(cpus, root), _own_ticks())


def idle_cores(
    window: float = IDLE_WINDOW, cpus: Sequence[int] | None = None, root: Path = resources.ROOT,
    sleep: Callable[[float], None] = time.sleep, since: IdleSample | None = None,
) -> float:
    """How many of ``cpus`` (default: the affinity mask) were idle over the last ``window``
    seconds, not counting the time this process itself used (OpenBLAS threads still spinning
    after a product). ``since``: measured from that sample instead when it is at most
    ``SAMPLE_MAX_AGE`` seconds old and of the same CPUs, waiting only for what the window still
    lacks (nothing once it is ``window`` seconds old). Where ``/proc/stat`` is missing: all of
    them."""
    cpus = list(cpus) if cpus is not None else allowed_cpus()
    age = time.monotonic() - since.at if since is not None else -1.0
    if since is not None and since.ticks is not None and 0 <= age <= SAMPLE_MAX_AGE and list(since.cpus) == cpus:
        if age < window:
            sleep(window - age)
        before, own_before = since.ticks, since.own
    else:
        before, own_before = _cpu_ticks(cpus, root), _own_ticks()
        if before is None:
            return float(len(cpus))
        sleep(window)
    after, own_after = _cpu_ticks(cpus, root), _own_ticks()
    if after is None or after[1] <= before[1]:
        return float(len(cpus))
    busy = max(0.0, (after[0] - before[0]) - (own_after - own_before))
    total = after[1] - before[1]
    return len(cpus) * max(0.0, 1.0 - busy / total)


def blas_threads(product: int, since: IdleSample | None = None) -> int | None:
    """How many threads a run whose step's largest product has ``product`` multiply-adds should
    use (see :func:`limited_blas_threads`): 1 for small steps, else the idle cores now (at least
    1), within the affinity mask, the cgroup quota and :func:`thread_cap`; None: a count set in
    the environment for the library. ``since``: see :func:`idle_cores`."""
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    if product < SMALL_PRODUCT:
        return 1
    limit = usable_cores()
    cap = thread_cap()
    if cap is not None:
        limit = min(limit, cap)
    if limit <= 1:
        return 1
    # the run's own thread, and one more per idle core (a core more than half idle counts):
    # dnn's threads wait without spinning, so a thread that shares a core with another job
    # still gets its share of it and costs that job no more (see the module's docstring)
    return max(1, min(limit, 1 + round(idle_cores(since=since))))


@contextlib.contextmanager
def limited_blas_threads(threads: int | None) -> Iterator[None]:
    """Within the block the run uses ``threads`` threads: dnn's own (:func:`parallel`: the large
    products of :mod:`dnncli.compute.kernels` split by columns, the optimizers' updates), each
    calling BLAS with one thread, so that no OpenBLAS thread spins between products (an update
    run next to spinning BLAS threads measured slower on two threads than on one). None: a
    count set in the environment for the library, which then threads the products itself."""
    token = _run_threads.set(max(1, threads) if threads is not None else 1)
    try:
        if threads is None:
            yield
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # without it, the BLAS default stays: no splitting on top of it
            _run_threads.set(1)
            yield
            return
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        _run_threads.reset(token)


def run_threads() -> int:
    """The threads the run in progress may use (1 outside :func:`limited_blas_threads`)."""
    return _run_threads.get()


def parallel(work: Callable[[int, int], None], n: int, *, minimum: int, align: int = 64) -> None:
    """``work(start, stop)`` over ``range(n)`` cut into contiguous pieces, up to
    ``PIECES_PER_THREAD`` for each thread the run may use (:func:`run_threads`), as many for
    each, each at least ``minimum`` long (but one at least per thread). The calling thread works
    too, and each thread takes the next piece not yet taken, so a thread slowed by another job
    (or a core shared with one) does less of the work instead of keeping the others waiting.
    ``work`` must only touch its own piece (as NumPy element-wise operations on slices do): where
    the pieces fall depends on ``n`` and the thread count alone, never on which thread runs which,
    so the result is the same from run to run."""
    parts = max(1, min(run_threads(), n // max(1, minimum)))
    if parts == 1:
        work(0, n)
        return
    global _pool, _pool_workers
    if _pool is None or _pool_workers < parts - 1:  # grown, never shrunk
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="dnn-update")
        _pool_workers = parts - 1
    # as many pieces for each thread (an uneven count leaves one thread a piece more to do)
    per_thread = max(1, min(PIECES_PER_THREAD, n // (parts * max(1, minimum))))
    size = -(-n // (parts * per_thread))
    size = -(-size // align) * align  # pieces start on cache-line-friendly boundaries
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    taken = itertools.count()  # next() on it is atomic under the GIL

    def take_pieces() -> None:
        for index in taken:
            if index >= len(bounds):
                return
            work(*bounds[index])

    futures = [_pool.submit(take_pieces) for _ in range(parts - 1)]
    try:
        take_pieces()
    finally:
        for future in futures:
            future.result()


JOBS_PER_CORE = 4  # more processes than this per core only add memory and switching


def capped_jobs(jobs: int | None, option: str = "--jobs") -> tuple[int | None, str | None]:
    """``jobs`` at most :data:`JOBS_PER_CORE` times the usable cores, and the note saying so
    (None when it was within): 200 processes on 2 cores took 3.3 GB and ran 4.6 times slower."""
    cores = usable_cores()
    limit = JOBS_PER_CORE * cores
    if jobs is None or jobs <= limit:
        return jobs, None
    return limit, f"{option} {jobs}: capped at {limit} ({JOBS_PER_CORE} per core; {cores} usable here)"
