"""Trials on a Dask distributed cluster (``dnn sweep --scheduler tcp://HOST:8786``).

Any Dask deployment works (``dask scheduler`` and ``dask worker`` by hand, dask-jobqueue on
SLURM or PBS, Kubernetes): the driver keeps the study and hands each trial's payload to the
cluster as one task. Workers must see the data and the sweep directory at the driver's paths (a
shared file system); a worker that does not refuses the trial with one line saying so. With
``ship`` (``--ship-data``) they need neither: the driver sends the arrays once and writes the
trial directories the workers send back (:mod:`dnncli.sweep.shipping`).

A worker that is lost in the middle of a trial (killed, its machine gone) is noticed by the Dask
scheduler, which gives the task to another worker; the trial's run directory is then resumed from
its last checkpoint, or started again (see :mod:`dnncli.sweep.worker`).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dnncli.errors import DnnError, EXIT_RUNTIME


def dask_trial(payload: dict[str, Any], loaded: Any = None) -> dict[str, Any]:
    """The task a Dask worker runs: one trial, with BLAS threads = the cores this worker may use
    (affinity, cgroup quota) / the worker threads on its host; ``loaded``: the shipped data."""
    from distributed import get_worker

    from dnncli.sweep.worker import run_trial
    from dnncli.compute.threads import usable_cores

    worker = get_worker()
    state = getattr(worker, "state", worker)
    host = urlparse(worker.address).hostname
    threads_here = payload.get("host_threads", {}).get(host) or getattr(state, "nthreads", 1)
    return run_trial({**payload, "blas_threads": max(1, usable_cores() // max(1, threads_here))}, loaded)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DaskWorkers:
    """Trials as tasks on a Dask cluster; as many at once as it has worker threads (or ``jobs``)."""

    def __init__(self, address: str, jobs: int | None, shipped: Any = None) -> None:
        """``shipped``: the base config's data read for ``--ship-data`` (None: workers read the
        files themselves)."""
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
        self.payloads: dict[int, dict[str, Any]] = {}
        self.ready: list[dict[str, Any]] = []  # outcomes known without a worker
        self.tag = uuid.uuid4().hex[:8]
        self.stopping = False
        self.shipments = None
        if shipped is not None:
            from dnncli.sweep.shipping import DataShipments

            self.shipments = DataShipments(self.client)
            self.shipments.read.update(shipped)

    def start(self, count: int) -> None:
        pass  # the cluster's workers are already there

    def capacity(self) -> int:
        threads = sum(self.client.nthreads().values())
        return min(threads, self.jobs) if self.jobs else threads

    def busy(self) -> int:
        return len(self.futures) + len(self.ready)

    def _host_threads(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for info in self.client.scheduler_info().get("workers", {}).values():
            host = info.get("host")
            totals[host] = totals.get(host, 0) + int(info.get("nthreads", 1))
        return totals

    def submit(self, payload: dict[str, Any]) -> None:
        number = payload["number"]
        payload = {**payload, "host_threads": self._host_threads(), "ship": self.shipments is not None}
        key = f"dnn-trial-{number}-{self.tag}"
        if self.shipments is None:
            self.futures[number] = self.client.submit(dask_trial, payload, key=key, pure=False)
            return
        finished = Path(payload["trial_dir"]) / "metrics.json"
        if finished.is_file():  # written here before a killed driver could record it
            self.ready.append({**_no_outcome(number), "state": "complete", "metrics": json.loads(finished.read_text())})
            return
        from dnncli.config import validate_config
        from dnncli.sweep.shipping import ShipmentRefused

        try:
            config = validate_config(payload["config"], f"trial {number}")
            data = self.shipments.future_for(config)
        except DnnError as exc:
            # its data (a swept data key) cannot be read or is too large: the trial fails, as it
            # would if a worker read it; the cluster refusing the data: the sweep stops
            state = "refused" if isinstance(exc, ShipmentRefused) else "failed"
            self.ready.append({**_no_outcome(number), "state": state, "error": exc.message, "exit_code": exc.exit_code})
            return
        self.payloads[number] = payload
        self.futures[number] = self.client.submit(dask_trial, payload, data, key=key, pure=False)

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            done = [number for number, future in self.futures.items() if future.done()]
            if done or self.ready or not self.futures or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        outcomes, self.ready = self.ready, []
        return outcomes + [self._collect(number, self.futures.pop(number)) for number in done]

    def _collect(self, number: int, future: Any) -> dict[str, Any]:
        payload = self.payloads.pop(number, {})
        failed = _no_outcome(number)
        if future.status == "finished":
            outcome = future.result()
            if "files" in outcome:
                return self._place(payload, outcome)
            return outcome
        if future.status == "cancelled" or self.stopping:
            return {**failed, "state": "interrupted", "error": "cancelled", "exit_code": None}
        exc = future.exception()
        name = type(exc).__name__
        if name == "KilledWorker":
            message = f"every worker that took it was lost ({_first_line(exc)})"
            return {**failed, "state": "failed", "error": message, "exit_code": EXIT_RUNTIME}
        # run_trial never raises: the worker could not run the task at all (it could not
        # deserialize it or its data, say); not the trial's fault, so it stays to be run again
        return {**failed, "state": "refused", "exit_code": EXIT_RUNTIME,
                "error": f"a Dask worker could not run it ({name}: {_first_line(exc)})"}

    def _place(self, payload: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
        """Write the files a worker sent back into the trial's directory, here."""
        from dnncli.sweep.shipping import place_trial_files

        sent = outcome.pop("files")
        try:
            place_trial_files(Path(payload["trial_dir"]), sent)
        except (OSError, DnnError) as exc:
            reason = exc.message if isinstance(exc, DnnError) else f"{exc.strerror or exc}"
            return {**_no_outcome(outcome["number"]), "state": "refused", "exit_code": EXIT_RUNTIME,
                    "error": f"cannot write the files its worker sent into {payload['trial_dir']}: {reason}"}
        return outcome

    def interrupt(self) -> None:
        """Cancel the running tasks: a worker thread cannot be stopped, so a trial already
        training finishes its run directory, which the next run of the sweep picks up."""
        self.stopping = True
        if self.futures:
            self.client.cancel(list(self.futures.values()))

    def close(self) -> None:
        self.client.close()


def _no_outcome(number: int) -> dict[str, Any]:
    return {"number": number, "metrics": None, "reports": [], "system_attrs": {}, "seconds": None,
            "error": None, "exit_code": None}
