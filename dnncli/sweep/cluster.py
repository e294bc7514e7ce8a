"""Trials on a Dask distributed cluster (``dnn sweep --scheduler tcp://HOST:8786``).

Any Dask deployment works (``dask scheduler`` and ``dask worker`` by hand, dask-jobqueue on
SLURM or PBS, Kubernetes): the driver keeps the study and hands each trial's request to the
cluster as one task. Workers must see the data and the sweep directory at the driver's paths (a
shared file system); a worker that does not refuses the trial with one line saying so. With
``ship`` (``--ship-data``) they need neither: the driver sends the arrays once and writes the
trial directories the workers send back (:mod:`dnncli.sweep.shipping`).

A worker that is lost in the middle of a trial (killed, its machine gone) is noticed by the Dask
scheduler, which gives the task to another worker; the trial's run directory is then resumed from
its last checkpoint, or started again (see :mod:`dnncli.sweep.worker`).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from dnncli.compute.threads import usable_cores
from dnncli.config import validate_config
from dnncli.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, DnnError
from dnncli.run.prepare import LoadedData
from dnncli.sweep.shipping import DataShipments, ShipmentRefused, place_trial_files
from dnncli.sweep.trial import TrialRequest, TrialResult
from dnncli.sweep.worker import run_trial
from dnncli.terminal.streams import write_stderr

# A Dask scheduler greets a new connection at once with its handshake (a few hundred bytes, framed
# by an 8-byte length): anything that stays silent this long, or greets otherwise, is not one.
GREETING_SECONDS = 10.0
MAX_GREETING_BYTES = 1 << 20
DASK_PORT = 8786
SCHEMES = ("tcp",)  # tls:// needs certificates dnn has no options for; ucx:// an extra package


def dask_trial(request: TrialRequest, loaded: LoadedData | None = None) -> TrialResult:
    """The task a Dask worker runs: one trial, with at most the cores this worker may use
    (affinity, cgroup quota) / the worker threads on its host as threads; ``loaded``: the
    shipped data."""
    from distributed import get_worker

    worker = get_worker()
    state = getattr(worker, "state", worker)
    host = urlparse(worker.address).hostname
    threads_here = request.host_threads.get(host) or getattr(state, "nthreads", 1)
    return run_trial(request, loaded, max_threads=max(1, usable_cores() // max(1, threads_here)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _host_and_port(address: str) -> tuple[str, int]:
    scheme, separator, rest = address.rpartition("://")
    if separator and scheme not in SCHEMES:
        raise DnnError(
            f"--scheduler {address}: the {scheme}:// protocol is not supported; give a tcp://HOST:PORT address",
            exit_code=EXIT_BAD_INPUT,
        )
    try:
        parsed = urlparse(f"tcp://{rest}")
        host, port = parsed.hostname, parsed.port or DASK_PORT
    except ValueError:
        host, port = None, 0
    if not host:
        raise DnnError(f"--scheduler {address}: expected an address such as tcp://HOST:8786", exit_code=EXIT_BAD_INPUT)
    return host, port


def check_scheduler(address: str, timeout: float = GREETING_SECONDS) -> None:
    """Refuse, in one line within ``timeout``, an address where no Dask scheduler answers: nothing
    listening, a listener that stays silent, a server of another protocol (HTTP, SSH). Nothing is
    sent: a server that answers our bytes with its own (an HTTP error page) is never read as a
    Dask message of 3 EiB."""
    host, port = _host_and_port(address)
    where = f"--scheduler {address}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            header = b""
            while len(header) < 8:
                block = connection.recv(8 - len(header))
                if not block:
                    break
                header += block
    except socket.timeout:
        raise DnnError(f"{where}: no Dask scheduler answered within {timeout:g} s (something accepts connections "
                       "there but does not speak Dask's protocol)", exit_code=EXIT_RUNTIME) from None
    except OSError as exc:
        raise DnnError(f"{where}: cannot reach the Dask scheduler ({exc.strerror or _first_line(exc)}); start one "
                       "with: dask scheduler", exit_code=EXIT_RUNTIME) from None
    length = struct.unpack("Q", header)[0] if len(header) == 8 else 0
    if not 0 < length <= MAX_GREETING_BYTES:
        raise DnnError(f"{where}: what answers there is not a Dask scheduler (it greeted with {header[:8]!r})",
                       exit_code=EXIT_RUNTIME)


class DaskWorkers:
    """Trials as tasks on a Dask cluster; as many at once as it has worker threads (or ``jobs``)."""

    def __init__(self, address: str, jobs: int | None, shipped: Any = None) -> None:
        """``shipped``: the base config's data read for ``--ship-data`` (None: workers read the
        files themselves)."""
        from distributed import Client

        check_scheduler(address)
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
        self.requests: dict[int, TrialRequest] = {}
        self.ready: list[TrialResult] = []  # results known without a worker
        self.tag = uuid.uuid4().hex[:8]
        self.stopping = False
        self.shipments = None
        if shipped is not None:
            self.shipments = DataShipments(self.client)
            self.shipments.read.update(shipped)
        if not self.client.nthreads():
            write_stderr(f"warning: the Dask scheduler at {address} has no workers yet; waiting for one "
                         f"(start one with: dask worker {address}; Ctrl-C stops)")

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

    def submit(self, request: TrialRequest) -> None:
        number = request.number
        request = dataclasses.replace(request, host_threads=self._host_threads(), ship=self.shipments is not None)
        key = f"dnn-trial-{number}-{self.tag}"
        if self.shipments is None:
            self.futures[number] = self.client.submit(dask_trial, request, key=key, pure=False)
            return
        finished = request.trial_dir / "metrics.json"
        if finished.is_file():  # written here before a killed driver could record it
            self.ready.append(TrialResult(number, "complete", metrics=json.loads(finished.read_text())))
            return
        try:
            config = validate_config(request.config, f"trial {number}")
            data = self.shipments.future_for(config)
        except DnnError as exc:
            # its data (a swept data key) cannot be read or is too large: the trial fails, as it
            # would if a worker read it; the cluster refusing the data: the sweep stops
            state = "refused" if isinstance(exc, ShipmentRefused) else "failed"
            self.ready.append(TrialResult(number, state, error=exc.message, exit_code=exc.exit_code))
            return
        self.requests[number] = request
        self.futures[number] = self.client.submit(dask_trial, request, data, key=key, pure=False)

    def wait(self, timeout: float) -> list[TrialResult]:
        deadline = time.monotonic() + timeout
        while True:
            done = [number for number, future in self.futures.items() if future.done()]
            if done or self.ready or not self.futures or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        results, self.ready = self.ready, []
        return results + [self._collect(number, self.futures.pop(number)) for number in done]

    def _collect(self, number: int, future: Any) -> TrialResult:
        request = self.requests.pop(number, None)
        if future.status == "finished":
            result: TrialResult = future.result()
            return self._place(request, result) if request is not None and result.files is not None else result
        if future.status == "cancelled" or self.stopping:
            return TrialResult(number, "interrupted", error="cancelled")
        exc = future.exception()
        name = type(exc).__name__
        if name == "KilledWorker":
            message = f"every worker that took it was lost ({_first_line(exc)})"
            return TrialResult(number, "failed", error=message, exit_code=EXIT_RUNTIME)
        # run_trial never raises: the worker could not run the task at all (it could not
        # deserialize it or its data, say); not the trial's fault, so it stays to be run again
        return TrialResult(number, "refused", exit_code=EXIT_RUNTIME,
                           error=f"a Dask worker could not run it ({name}: {_first_line(exc)})")

    def _place(self, request: TrialRequest, result: TrialResult) -> TrialResult:
        """Write the files a worker sent back into the trial's directory, here."""
        try:
            place_trial_files(request.trial_dir, result.files)
        except (OSError, DnnError) as exc:
            reason = exc.message if isinstance(exc, DnnError) else f"{exc.strerror or exc}"
            return TrialResult(result.number, "refused", exit_code=EXIT_RUNTIME,
                               error=f"cannot write the files its worker sent into {request.trial_dir}: {reason}")
        return dataclasses.replace(result, files=None)  # written: the driver keeps no copy

    def interrupt(self) -> None:
        """Cancel the running tasks: a worker thread cannot be stopped, so a trial already
        training finishes its run directory, which the next run of the sweep picks up."""
        self.stopping = True
        if self.futures:
            self.client.cancel(list(self.futures.values()))

    def close(self) -> None:
        self.client.close()
