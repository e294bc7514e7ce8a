"""Trials on a Dask distributed cluster (``dnn sweep --scheduler tcp://HOST:8786``).

Any Dask deployment works (``dask scheduler`` and ``dask worker`` by hand, dask-jobqueue on
SLURM or PBS, Kubernetes): the driver keeps the study and hands each trial's payload to the
cluster as one task. Workers must see the data and the sweep directory at the driver's paths (a
shared file system); a worker that does not refuses the trial with one line saying so.

A worker that is lost in the middle of a trial (killed, its machine gone) is noticed by the Dask
scheduler, which gives the task to another worker; the trial's run directory is then resumed from
its last checkpoint, or started again (see :mod:`dnncli.sweep.worker`).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from dnncli.errors import DnnError, EXIT_RUNTIME


def dask_trial(payload: dict[str, Any]) -> dict[str, Any]:
    """The task a Dask worker runs: one trial, with BLAS threads = its host's cores / the worker
    threads on that host."""
    from distributed import get_worker

    from dnncli.sweep.worker import run_trial

    worker = get_worker()
    state = getattr(worker, "state", worker)
    host = urlparse(worker.address).hostname
    threads_here = payload.get("host_threads", {}).get(host) or getattr(state, "nthreads", 1)
    return run_trial({**payload, "blas_threads": max(1, (os.cpu_count() or 1) // max(1, threads_here))})


class DaskWorkers:
    """Trials as tasks on a Dask cluster; as many at once as it has worker threads (or ``jobs``)."""

    def __init__(self, address: str, jobs: int | None) -> None:
        from distributed import Client

        try:
            self.client = Client(address, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DnnError(
                f"--scheduler {address}: cannot reach the Dask scheduler ({reason}); start one with: dask scheduler",
                exit_code=EXIT_RUNTIME,
            ) from None
        self.address, self.jobs = address, jobs
        self.futures: dict[int, Any] = {}
        self.tag = uuid.uuid4().hex[:8]
        self.stopping = False

    def start(self, count: int) -> None:
        pass  # the cluster's workers are already there

    def capacity(self) -> int:
        threads = sum(self.client.nthreads().values())
        return min(threads, self.jobs) if self.jobs else threads

    def busy(self) -> int:
        return len(self.futures)

    def _host_threads(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for info in self.client.scheduler_info().get("workers", {}).values():
            host = info.get("host")
            totals[host] = totals.get(host, 0) + int(info.get("nthreads", 1))
        return totals

    def submit(self, payload: dict[str, Any]) -> None:
        payload = {**payload, "host_threads": self._host_threads()}
        key = f"dnn-trial-{payload['number']}-{self.tag}"
        self.futures[payload["number"]] = self.client.submit(dask_trial, payload, key=key, pure=False)

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            done = [number for number, future in self.futures.items() if future.done()]
            if done or not self.futures or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return [self._collect(number, self.futures.pop(number)) for number in done]

    def _collect(self, number: int, future: Any) -> dict[str, Any]:
        failed = {"number": number, "metrics": None, "reports": [], "system_attrs": {}, "seconds": None}
        if future.status == "finished":
            return future.result()
        if future.status == "cancelled" or self.stopping:
            return {**failed, "state": "interrupted", "error": "cancelled", "exit_code": None}
        exc = future.exception()
        name = type(exc).__name__
        if name == "KilledWorker":
            message = f"every worker that took it was lost ({exc})"
        else:
            message = f"{name}: {exc}"
        return {**failed, "state": "failed", "error": message, "exit_code": EXIT_RUNTIME}

    def interrupt(self) -> None:
        """Cancel the running tasks: a worker thread cannot be stopped, so a trial already
        training finishes its run directory, which the next run of the sweep picks up."""
        self.stopping = True
        if self.futures:
            self.client.cancel(list(self.futures.values()))

    def close(self) -> None:
        self.client.close()
