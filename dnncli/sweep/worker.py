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
import threading
import time
from pathlib import Path
from typing import Any

from dnncli import __version__
from dnncli.compute import resources
from dnncli.config import Config, validate_config
from dnncli.errors import DnnError, Interrupted, TrainingDiverged
from dnncli.files.lock import held_elsewhere
from dnncli.run import resume_training, run_training
from dnncli.run.directory import partial_path
from dnncli.run.prepare import LoadedData, load_data
from dnncli.sweep.pruning import PruningWatch, TrialPruned
from dnncli.sweep.shipping import data_key
from dnncli.sweep.trial import TrialFiles, TrialRequest, TrialResult, TrialState
from dnncli.training.settings import Hooks

SWEEP_ID_FILE = ".sweep-id"
RERUN = "the same dnn sweep command resumes it from its checkpoint"
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
    config: Config, trial_dir: Path, progress: Hooks | None, overrides: list[str], max_threads: int | None = None,
    loaded: LoadedData | None = None,
) -> dict[str, Any]:
    """Finish the trial's run directory however far an earlier attempt got; its metrics.
    ``overrides``: the --set items the trial amounts to; ``max_threads``: the most threads its run
    may use; ``loaded``: its data, already read (a fresh start only: a resumed run reads its own)."""
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
                run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides, loaded=loaded,
                             max_threads=max_threads)
        else:
            run_training(config, run_dir=trial_dir, progress=progress, overrides=overrides, loaded=loaded,
                         max_threads=max_threads)
    return json.loads(metrics_file.read_text())


# the data a worker process read last, kept for its next trials while its files are unchanged:
# data key -> (the files' stamps, the data)
_KEPT: dict[str, tuple[list[Any], LoadedData]] = {}
_KEPT_LOCK = threading.Lock()  # a Dask worker runs trials in threads


def _stamps(config: Config) -> list[Any]:
    stamps = []
    for key in ("train", "test", "validation"):
        path = getattr(config.data, key)
        if path is not None:
            info = os.stat(path)
            stamps.append((path, info.st_ino, info.st_size, info.st_mtime_ns))
    return stamps


def kept_data(config: Config) -> LoadedData | None:
    """The examples ``config`` names, read at the worker's first trial and kept for the next ones
    (reading and hashing the files again is most of a small trial's cost). Read again when a file
    changed; never kept when they stay in their file (over the memory budget). None: let the run
    read its data itself (a file that cannot be read is then reported as ``dnn train`` reports it)."""
    try:
        key, stamps = data_key(config), _stamps(config)
    except OSError:
        return None
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
        if kept is not None and kept[0] == stamps:
            return kept[1]
        try:
            loaded = load_data(config, budget=resources.memory_budget_bytes(config.data.memory_budget_mb))
        except DnnError:
            return None
        _KEPT.clear()
        if loaded.in_memory():
            _KEPT[key] = (stamps, loaded)
        return loaded


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
        if loaded is None:
            loaded = kept_data(config)
        result.metrics = _train(request, config, here, watch, loaded, max_threads, private is not None)
        if request.seeds > 1:
            result.seed_metrics = [result.metrics] + [
                _train(request, *_seeded(request, config, here, k), None, loaded, max_threads, private is not None)
                for k in range(1, request.seeds)
            ]
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


def seed_run_dir(trial_dir: Path, k: int) -> Path:
    """Where the trial's training with its ``k``-th extra seed goes (``k`` = 0: the trial's own)."""
    return trial_dir if k == 0 else trial_dir.parent / f"{trial_dir.name}-seed{k}"


def _seeded(request: TrialRequest, config: Config, here: Path, k: int) -> tuple[Config, Path]:
    """The trial's config with its ``k``-th seed (model.seed + k; training.seed + k when the
    config gives one), and the run directory it trains in."""
    raw = json.loads(json.dumps(request.config))
    model, training = raw.setdefault("model", {}), raw.setdefault("training", {})
    model["seed"] = ((config.model.seed or 0) + k) % 2**32
    if config.training.seed is not None:
        training["seed"] = (config.training.seed + k) % 2**32
    raw["name"] = f"{raw.get('name', request.number)}-seed{k}"
    return validate_config(raw, f"trial {request.number}, seed {k}"), seed_run_dir(here, k)


def _train(
    request: TrialRequest, config: Config, here: Path, watch: PruningWatch | None, loaded: LoadedData | None,
    max_threads: int | None, shipped: bool,
) -> dict[str, Any]:
    """One training of the trial, in ``here``; its metrics."""
    overrides = list(request.overrides)
    if here.name != request.trial_dir.name:
        overrides.append(f"model.seed={config.model.seed}")
    if shipped:
        run_training(config, run_dir=here, progress=watch, overrides=overrides, loaded=loaded,
                     recorded_target=request.trial_dir.parent / here.name, max_threads=max_threads)
        return json.loads((here / "metrics.json").read_text())
    return run_or_resume(config, here, watch, overrides, max_threads, loaded)


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
    # an interrupted trial is finished by running the sweep again (not dnn train --resume, which
    # its run's own message would say)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", f"stopped at once; {RERUN}", None
    if isinstance(exc, Interrupted):
        return "interrupted", f"interrupted; {RERUN}", None
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
