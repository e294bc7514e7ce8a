"""One trial of a sweep: an ordinary run directory, trained through the library.

:func:`run_trial` is the whole of a worker's job, the same in a local worker process and on a Dask
worker: it takes a :class:`~dnncli.sweep.trial.TrialRequest` (the trial's config, its directory, the
metric, the pruner's view of the finished trials) and returns a
:class:`~dnncli.sweep.trial.TrialResult`, never raising. It is idempotent, so a
trial can be handed out again after its worker or the driver died:

* ``trials/<n>/`` complete: its ``metrics.json`` is the result (it finished, but nobody heard);
* ``trials/<n>.partial/`` left by an interrupted or killed attempt: resumed from its checkpoint
  (``dnn train --resume``), or started again from iteration 0 when it has none;
* nothing yet: trained from the start.

Results are always read back from the run's ``metrics.json``.

With ``dnn sweep --ship-data`` (a Dask worker that shares no disk with the driver) the request says
``ship`` and the task is given the data the driver read (:class:`dnncli.run.prepare.LoadedData`):
the trial trains from the start in a private temporary directory, and the result carries the run
directory's files (``files``), which the driver writes into ``trials/<n>/``. Nothing of the
driver's paths is opened on the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from dnncli import __version__
from dnncli.config import Config, validate_config
from dnncli.errors import DnnError, Interrupted, TrainingDiverged
from dnncli.files.lock import held_elsewhere
from dnncli.run import resume_training, run_training
from dnncli.run.directory import partial_path
from dnncli.run.prepare import LoadedData
from dnncli.sweep.pruning import PruningWatch, TrialPruned
from dnncli.sweep.trial import TrialFiles, TrialRequest, TrialResult, TrialState
from dnncli.training.settings import Hooks

SWEEP_ID_FILE = ".sweep-id"
LOCK_WAIT_SECONDS = 60.0


class TrialBusy(Exception):
    """Another live process holds the trial's run directory."""


class _Refused(Exception):
    """The worker cannot run this sweep's trials at all."""


def _partial_status(partial: Path) -> str | None:
    try:
        return json.loads((partial / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def run_or_resume(
    config: Config, trial_dir: Path, progress: Hooks | None, overrides: list[str], max_threads: int | None = None
) -> dict[str, Any]:
    """Finish the trial's run directory however far an earlier attempt got; its metrics.
    ``overrides``: the --set items the trial amounts to; ``max_threads``: the most threads its run
    may use."""
    metrics_file = trial_dir / "metrics.json"
    if not metrics_file.is_file():
        partial = partial_path(trial_dir)
        if partial.is_dir():
            if held_elsewhere(partial, wait_seconds=LOCK_WAIT_SECONDS):
                raise TrialBusy(f"{partial}: still in use by another process after {LOCK_WAIT_SECONDS:.0f} s")
            if _partial_status(partial) == "diverged":
                raise TrainingDiverged(f"training diverged (an earlier attempt; its last good parameters are in {partial})")
            if (partial / "config.yaml").is_file():
                resume_training(partial, progress=progress, overrides=overrides, max_threads=max_threads)
            else:  # killed before it wrote anything worth keeping
                shutil.rmtree(partial)
                run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides, max_threads=max_threads)
        else:
            run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides, max_threads=max_threads)
    return json.loads(metrics_file.read_text())


def run_trial(request: TrialRequest, loaded: LoadedData | None = None, max_threads: int | None = None) -> TrialResult:
    """Run (or finish) one trial; its result, whatever happens. ``loaded``: the data the driver
    shipped (``request.ship``); ``max_threads``: the most threads the trial's run may use (its
    share of the cores where it runs)."""
    start = time.perf_counter()
    result = TrialResult(request.number, host=socket.gethostname())
    private = Path(tempfile.mkdtemp(prefix="dnn-trial-")) if request.ship else None
    here = private / request.trial_dir.name if private is not None else request.trial_dir  # where it trains
    watch = None
    try:
        _check_runnable(request, loaded)
        config = validate_config(request.config, f"trial {request.number}")
        if request.pruner != "none":
            watch = PruningWatch(request.goal, request.pruner, request.metric, request.finished)
        if private is not None:
            run_training(config, run_dir=here, progress=watch, overrides=request.overrides, loaded=loaded,
                         recorded_target=request.trial_dir, max_threads=max_threads)
            result.metrics = json.loads((here / "metrics.json").read_text())
        else:
            result.metrics = run_or_resume(config, here, watch, request.overrides, max_threads)
        result.state = "complete"
    except (Exception, KeyboardInterrupt) as exc:  # KeyboardInterrupt: a second signal, stopped at once
        result.state, result.error, result.exit_code = _failure(exc)
        if isinstance(exc, TrialPruned):
            shutil.rmtree(partial_path(here), ignore_errors=True)
    finally:
        if private is not None:
            try:
                _send_back(result, here, request.trial_dir)
            finally:
                shutil.rmtree(private, ignore_errors=True)
    if watch is not None:
        result.reports, result.system_attrs = watch.reports, watch.system_attrs()
    result.seconds = round(time.perf_counter() - start, 6)
    return result


def _check_runnable(request: TrialRequest, loaded: LoadedData | None) -> None:
    """Refuse a trial this worker cannot run (not the trial's fault: it stays to be run again)."""
    if request.dnn_version != __version__:
        raise _Refused(f"this worker runs dnn {__version__}, the sweep's driver dnn {request.dnn_version}")
    if request.ship and loaded is None:
        raise _Refused("this worker was not given the shipped data")
    if not request.ship and _read(request.sweep_dir / SWEEP_ID_FILE) != request.sweep_id:
        raise _Refused(
            f"this worker ({socket.gethostname()}) does not see the sweep directory {request.sweep_dir}: "
            "workers must share the driver's file system (data and sweep directory at the same paths), "
            "or run the sweep with --ship-data"
        )


def _failure(exc: BaseException) -> tuple[TrialState, str, int | None]:
    """What an exception makes of a trial: its state, its error line and its exit code."""
    if isinstance(exc, TrialPruned):
        return "pruned", str(exc), None
    if isinstance(exc, TrialBusy):
        return "busy", str(exc), None
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "stopped at once", None
    if isinstance(exc, Interrupted):
        return "interrupted", exc.message, None
    if isinstance(exc, DnnError):
        return "failed", exc.message, exc.exit_code
    if isinstance(exc, _Refused):
        return "refused", str(exc), 2
    return "failed", f"internal error: {type(exc).__name__}: {exc}", 3


def _send_back(result: TrialResult, here: Path, trial_dir: Path) -> None:
    """A shipped trial: the files it left in ``here`` into the result, and its error naming the
    driver's path, not this worker's."""
    try:
        result.files = _run_files(here)
    except OSError as exc:
        result.state, result.metrics, result.exit_code, result.files = "failed", None, 3, None
        result.error = f"cannot read the trial's files on the worker: {exc}"
    if result.error:
        result.error = result.error.replace(str(here), str(trial_dir))


def _run_files(run_dir: Path) -> TrialFiles | None:
    """The files a trial left in ``run_dir`` (finished) or its ``.partial`` twin (stopped,
    diverged), to send to the driver."""
    for finished, directory in ((True, run_dir), (False, partial_path(run_dir))):
        if directory.is_dir():
            files = {
                entry.name: Path(entry.path).read_bytes()
                for entry in os.scandir(directory)
                if entry.is_file(follow_symlinks=False) and not (entry.name.startswith(".") and entry.name.endswith(".tmp"))
            }
            return TrialFiles(finished, files)
    return None


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text().strip()
    return None
