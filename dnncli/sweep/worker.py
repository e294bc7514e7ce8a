"""One trial of a sweep: an ordinary run directory, trained through the library.

:func:`run_trial` is the whole of a worker's job, the same in a local worker process and on a Dask
worker: it takes a picklable payload (the trial's config, its directory, the metric, the pruner's
view of the finished trials) and returns a picklable outcome, never raising. It is idempotent, so a
trial can be handed out again after its worker or the driver died:

* ``trials/<n>/`` complete: its ``metrics.json`` is the result (it finished, but nobody heard);
* ``trials/<n>.partial/`` left by an interrupted or killed attempt: resumed from its checkpoint
  (``dnn train --resume``), or started again from iteration 0 when it has none;
* nothing yet: trained from the start.

Results are always read back from the run's ``metrics.json``.

With ``dnn sweep --ship-data`` (a Dask worker that shares no disk with the driver) the payload says
``ship`` and the task is given the data the driver read (:class:`dnncli.run.prepare.LoadedData`):
the trial trains from the start in a private temporary directory, and the outcome carries the run
directory's files (``files``), which the driver writes into ``trials/<n>/``. Nothing of the
driver's paths is opened on the worker.

Nothing here imports NumPy at module level: a local worker sets its BLAS thread count before the
first import.
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

THREADS_VARIABLE = "DNN_BLAS_THREADS"  # read by dnncli.compute.threads
SWEEP_ID_FILE = ".sweep-id"
LOCK_WAIT_SECONDS = 60.0


class TrialBusy(Exception):
    """Another live process holds the trial's run directory."""


def _partial_status(partial: Path) -> str | None:
    try:
        return json.loads((partial / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def run_or_resume(config: Any, trial_dir: Path, progress: Any = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Finish the trial's run directory however far an earlier attempt got; its metrics."""
    from dnncli.errors import TrainingDiverged
    from dnncli.run import resume_training, run_training
    from dnncli.files.lock import held_elsewhere
    from dnncli.run.directory import partial_path

    metrics_file = trial_dir / "metrics.json"
    if not metrics_file.is_file():
        partial = partial_path(trial_dir)
        if partial.is_dir():
            if held_elsewhere(partial, wait_seconds=LOCK_WAIT_SECONDS):
                raise TrialBusy(f"{partial}: still in use by another process after {LOCK_WAIT_SECONDS:.0f} s")
            if _partial_status(partial) == "diverged":
                raise TrainingDiverged(f"training diverged (an earlier attempt; its last good parameters are in {partial})")
            if (partial / "config.yaml").is_file():
                resume_training(partial, progress=progress, overrides=overrides)
            else:  # killed before it wrote anything worth keeping
                shutil.rmtree(partial)
                run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides)
        else:
            run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides)
    return json.loads(metrics_file.read_text())


def run_trial(payload: dict[str, Any], loaded: Any = None) -> dict[str, Any]:
    """Run (or finish) one trial; an outcome dict, whatever happens. ``loaded``: the data the
    driver shipped (``payload["ship"]``)."""
    start = time.perf_counter()
    outcome: dict[str, Any] = {
        "number": payload["number"], "state": "failed", "metrics": None, "error": None,
        "exit_code": None, "reports": [], "system_attrs": {}, "host": socket.gethostname(),
    }
    watch = None
    shipped = bool(payload.get("ship"))
    if payload.get("blas_threads"):
        os.environ[THREADS_VARIABLE] = str(payload["blas_threads"])
    from dnncli.sweep.pruning import TrialPruned  # NumPy from here on

    private = Path(tempfile.mkdtemp(prefix="dnn-trial-")) if shipped else None
    trial_dir = Path(payload["trial_dir"])
    here = private / trial_dir.name if private is not None else trial_dir  # where it trains
    try:
        if payload.get("dnn_version") != __version__:
            raise _Refused(f"this worker runs dnn {__version__}, the sweep's driver dnn {payload.get('dnn_version')}")
        if shipped and loaded is None:
            raise _Refused("this worker was not given the shipped data")
        sweep_dir = Path(payload["sweep_dir"])
        if not shipped and _read(sweep_dir / SWEEP_ID_FILE) != payload["sweep_id"]:
            raise _Refused(
                f"this worker ({socket.gethostname()}) does not see the sweep directory {sweep_dir}: "
                "workers must share the driver's file system (data and sweep directory at the same paths), "
                "or run the sweep with --ship-data"
            )
        from dnncli.config import validate_config

        config = validate_config(payload["config"], f"trial {payload['number']}")
        if payload.get("pruner", "none") != "none":
            from dnncli.sweep.pruning import PruningWatch

            watch = PruningWatch(payload)
        if shipped:
            from dnncli.run import run_training

            run_training(config, run_dir=here, progress=watch, overrides=payload.get("overrides"),
                         loaded=loaded, recorded_target=trial_dir)
            outcome["metrics"] = json.loads((here / "metrics.json").read_text())
        else:
            outcome["metrics"] = run_or_resume(config, trial_dir, watch, payload.get("overrides"))
        outcome["state"] = "complete"
    except TrialPruned as pruned:
        from dnncli.run.directory import partial_path

        outcome["state"], outcome["error"] = "pruned", str(pruned)
        shutil.rmtree(partial_path(here), ignore_errors=True)
    except TrialBusy as busy:
        outcome["state"], outcome["error"] = "busy", str(busy)
    except KeyboardInterrupt:  # a second signal: stopped at once
        outcome["state"], outcome["error"] = "interrupted", "stopped at once"
    except Exception as exc:
        from dnncli.errors import DnnError, Interrupted

        if isinstance(exc, Interrupted):
            outcome["state"], outcome["error"] = "interrupted", exc.message
        elif isinstance(exc, DnnError):
            outcome["error"], outcome["exit_code"] = exc.message, exc.exit_code
        elif isinstance(exc, _Refused):  # not the trial's fault: it stays to be run again
            outcome["state"], outcome["error"], outcome["exit_code"] = "refused", str(exc), 2
        else:
            outcome["error"], outcome["exit_code"] = f"internal error: {type(exc).__name__}: {exc}", 3
    finally:
        if private is not None:
            try:
                outcome["files"] = _run_files(here)
            except OSError as exc:
                outcome.update(state="failed", metrics=None, exit_code=3, files=None,
                               error=f"cannot read the trial's files on the worker: {exc}")
            finally:
                shutil.rmtree(private, ignore_errors=True)
            if outcome["error"]:  # the paths the driver will have, not this worker's
                outcome["error"] = outcome["error"].replace(str(here), str(trial_dir))
    if watch is not None:
        outcome["reports"], outcome["system_attrs"] = watch.reports, watch.system_attrs()
    outcome["seconds"] = round(time.perf_counter() - start, 6)
    return outcome


def _run_files(run_dir: Path) -> dict[str, Any] | None:
    """The files a trial left in ``run_dir`` (finished) or its ``.partial`` twin (stopped,
    diverged), to send to the driver: ``{"finished": bool, "files": {name: bytes}}``."""
    from dnncli.run.directory import partial_path

    for finished, directory in ((True, run_dir), (False, partial_path(run_dir))):
        if directory.is_dir():
            files = {
                entry.name: Path(entry.path).read_bytes()
                for entry in os.scandir(directory)
                if entry.is_file(follow_symlinks=False) and not (entry.name.startswith(".") and entry.name.endswith(".tmp"))
            }
            return {"finished": finished, "files": files}
    return None


class _Refused(Exception):
    """The worker cannot run this sweep's trials at all."""


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text().strip()
    return None
