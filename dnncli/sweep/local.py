"""Trials in local worker processes (``dnn sweep --jobs N``).

Each worker is a fresh interpreter (``python -c``: nothing of the driver's state, its SQLite
connection or threads, is inherited) that runs one trial after another from a pipe, each with at
most its share of the cores as threads.

Workers live in a session of their own from their first instruction (started with setsid), so
that a terminal's Ctrl-C reaches the driver only, even while a worker is still importing the
library, and the driver asks each busy worker to stop (SIGINT: the trial stops after its current
update step with a checkpoint, exactly as ``dnn train`` does). On Linux a worker also gets SIGINT
when the driver dies, even by SIGKILL, so no trial goes on unwatched holding its run directory.

SIGINT rather than SIGTERM: in a worker that is not training at that moment (loading the data,
waiting for a trial) it is a KeyboardInterrupt, which ends the trial as interrupted, or the
worker, cleanly.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from dnncli.sweep.trial import TrialRequest, TrialResult
from dnncli.sweep.worker import run_trial

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(0)


def worker_main(fd: int, parent_pid: int, blas_threads: int) -> None:
    """A worker process: trials from the connection on ``fd`` until it closes, each with at most
    ``blas_threads`` threads. (It imported the library, which every trial needs, while the driver
    opened its study.)"""
    conn = Connection(fd)
    _die_with_parent(parent_pid)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError, KeyboardInterrupt):
                return
            if request is None:
                return
            with contextlib.redirect_stderr(io.StringIO()) as said:
                result = run_trial(request, max_threads=blas_threads)
            result.notes = [line for line in said.getvalue().splitlines() if line.strip()]
            try:
                conn.send(result)
            except (OSError, BrokenPipeError):
                return
    except KeyboardInterrupt:
        # the driver's death signal between trials or while a result is sent (a trial's own
        # training turns it into an interrupted result): nobody is left to tell; leave quietly
        return
    finally:
        # leaving: the driver's death signal may still come (it closed the pipe first), and must
        # not print a traceback from the interpreter's exit
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _launch(fd: int, blas_threads: int) -> subprocess.Popen:
    """A worker: a new interpreter with this one's import path, in a session of its own, talking
    over ``fd``."""
    program = (
        f"import sys; sys.path[:] = {sys.path!r}\n"
        f"from dnncli.sweep.local import worker_main; worker_main({fd}, {os.getpid()}, {blas_threads})"
    )
    return subprocess.Popen([sys.executable, "-c", program], pass_fds=(fd,), stdin=subprocess.DEVNULL, start_new_session=True)


def _exit_watch(process: subprocess.Popen) -> int | None:
    """A descriptor readable once ``process`` has ended (Linux's pidfd), or None where there is none:
    the worker's end of the pipe closing then tells."""
    try:
        return os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return None


def _join(process: subprocess.Popen, timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    exit_watch: int | None = None
    number: int | None = None  # the trial it runs
    request: TrialRequest | None = None
    attempts: int = 0


class LocalWorkers:
    """Up to ``jobs`` trials at once, each with ``blas_threads`` BLAS threads at most."""

    RETRIES = 1  # a worker that died (killed, out of memory): its trial is tried once more

    def __init__(self, jobs: int, blas_threads: int) -> None:
        self.jobs, self.blas_threads = jobs, blas_threads
        self.workers: list[_Worker] = []
        self.attempts: dict[int, int] = {}
        self.stopping = False

    def capacity(self) -> int:
        return self.jobs

    def busy(self) -> int:
        return sum(w.number is not None for w in self.workers)

    def _start_worker(self) -> _Worker:
        parent_end, child_end = multiprocessing.Pipe()
        try:
            process = _launch(child_end.fileno(), self.blas_threads)
        finally:
            child_end.close()
        worker = _Worker(process, parent_end, _exit_watch(process))
        self.workers.append(worker)
        return worker

    def start(self, count: int) -> None:
        """Start ``count`` workers now (they import NumPy and the library while the driver
        opens its study), at most ``jobs``."""
        while len(self.workers) < min(count, self.jobs):
            self._start_worker()

    def submit(self, request: TrialRequest) -> None:
        for idle in [w for w in self.workers if w.number is None and w.process.poll() is not None]:
            self._forget(idle)
        worker = next((w for w in self.workers if w.number is None), None) or self._start_worker()
        worker.number, worker.request = request.number, request
        worker.conn.send(request)

    def wait(self, timeout: float) -> list[TrialResult]:
        """Results of the trials that finished within ``timeout`` seconds."""
        busy = [w for w in self.workers if w.number is not None]
        if not busy:
            return []
        ready = wait([w.conn for w in busy] + [w.exit_watch for w in busy if w.exit_watch is not None], timeout)
        results = []
        for worker in busy:
            if worker.conn in ready or worker.exit_watch in ready:
                result = self._collect(worker)
                if result is not None:
                    results.append(result)
        return results

    def _collect(self, worker: _Worker) -> TrialResult | None:
        try:
            if worker.conn.poll():
                result = worker.conn.recv()
                worker.number, worker.request = None, None
                return result
        except (EOFError, OSError):
            pass
        if worker.process.poll() is None:
            if worker.exit_watch is not None:
                return None
            _join(worker.process, 1.0)  # its pipe closed: it is ending
            if worker.process.poll() is None:
                return None
        # the process died in the middle of a trial: give the trial to a new worker, once
        request, number = worker.request, worker.number
        self._forget(worker)
        if self.stopping:  # stopped before its training loop could take the signal
            return TrialResult(number, "interrupted", error="interrupted")
        tries = self.attempts.get(number, 0) + 1
        self.attempts[number] = tries
        if tries <= self.RETRIES:
            self.submit(request)
            return None
        code = worker.process.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return TrialResult(number, "failed", exit_code=3,
                           error=f"its worker process died ({how}), twice; see sweeps' trials/{number}.partial")

    def interrupt(self) -> None:
        """Ask every running trial to stop after its current update step (a second time: at once)."""
        self.stopping = True
        for worker in self.workers:
            if worker.number is not None and worker.process.poll() is None:
                try:
                    os.kill(worker.process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in list(self.workers):
            _join(worker.process, 5)
            if worker.process.poll() is None:
                worker.process.terminate()
                _join(worker.process, 5)
            self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        self.workers.remove(worker)
        worker.conn.close()
        if worker.exit_watch is not None:
            os.close(worker.exit_watch)
