"""A training run from a config to its run directory, losing nothing on the way: checkpoints, a
clean stop on SIGINT / SIGTERM, the last good parameters kept when training diverges, and
``dnn train --resume``.

Everything happens in the run's locked ``runs/<name>.partial/`` directory (see
:mod:`dnncli.run.directory`), renamed into place once complete:

* ``checkpoint.h5`` is written every ``training.checkpoint_every`` epochs (one epoch is one
  iteration with full batches) and when a signal stops the run;
* on SIGINT / SIGTERM the run stops after the current update step (with mini-batches, in the
  middle of the epoch if need be: the checkpoint keeps the epoch's batch order and how far it
  got), writes the checkpoint and its partial outputs (``model.h5`` of the current parameters,
  ``history.csv``, ``loss.png``, ``metrics.json`` with ``"status": "interrupted"``) and exits
  130 / 143;
* on divergence it writes the last parameters whose cost was finite as ``model.h5`` (with
  ``"status": "diverged"`` in ``metrics.json``), removes the checkpoint (resuming would diverge
  again) and exits 3;
* ``--resume`` restores the parameters, the optimizer's state, the generator's state and the
  history, and continues: the finished run is identical to one that was never interrupted.

:func:`run_training` and :func:`resume_training` only differ in how they open the directory and
where they start; both then go through :func:`_train_to_finish`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from dnncli.config import Config, load_config
from dnncli.errors import EXIT_SIGINT, EXIT_SIGTERM, DataError, Interrupted, RunDirError, TrainingDiverged
from dnncli.run.checkpoint import Checkpoint, RunSection, check_fits_network, data_fingerprint, load_checkpoint
from dnncli.run.directory import PartialRun, choose_run_dir, find_partial, open_run_dir, partial_path, point_latest
from dnncli.run.outputs import run_metrics, write_outputs
from dnncli.run.prepare import LoadedData, PreparedRun, prepare
from dnncli.run.supervisor import SIGNAL_NAMES, StopNow, StopRequested, Supervisor, deferred_signals
from dnncli.training import health
from dnncli.training.loop import train
from dnncli.training.settings import HookList, Hooks, normalize_keep_probs
from dnncli.training.state import TrainResult, TrainState
from dnncli.compute.threads import IdleSample, threads_at_most

EXIT_FOR_SIGNAL = {"SIGINT": EXIT_SIGINT, "SIGTERM": EXIT_SIGTERM}


class FinishedRun(NamedTuple):
    """What :func:`run_training` and :func:`resume_training` return."""

    metrics: dict[str, Any]  # as in metrics.json
    result: TrainResult
    prepared: PreparedRun


def run_training(
    config: Config,
    *,
    run_dir: str | Path | None = None,
    force: bool = False,
    progress: Hooks | None = None,
    overrides: Sequence[str] = (),
    loaded: LoadedData | None = None,
    recorded_target: Path | None = None,
    max_threads: int | None = None,
) -> FinishedRun:
    """Load, train and write a run in ``run_dir`` (default ``<output.dir>/<name>[-N]``);
    ``overrides`` (the ``--set`` items the config was read with) are recorded in metrics.json.
    ``loaded``: the data, already read (no data file is opened); ``recorded_target``: the
    directory the run's files will be moved to, recorded in metrics.json instead of ``run_dir``;
    ``max_threads``: the most threads it may use (:func:`dnncli.compute.threads.threads_at_most`)."""
    started, idle_since = _now(), IdleSample.now()
    origin = {"started": started, "overrides": list(overrides)}
    prepared = prepare(config, loaded=loaded, origin=origin, idle_since=idle_since, recorded_target=recorded_target)
    if run_dir is not None:
        choose_run_dir(prepared.output_dir, prepared.name, run_dir, force)  # refuse an existing one before training
    # config.yaml is written before the .partial directory appears: a kill leaves it resumable
    partial = open_run_dir(prepared.output_dir, prepared.name, run_dir, force, prepared.config.to_yaml())
    with threads_at_most(max_threads):
        return _train_to_finish(prepared, partial, progress, resume=None, force=force, resuming=False)


def resume_training(
    path: str | Path, *, progress: Hooks | None = None, overrides: Sequence[str] | None = None,
    max_threads: int | None = None,
) -> FinishedRun:
    """Continue an interrupted run from its ``.partial`` directory and finish it. Its start time
    and overrides are those the interrupted run recorded (``overrides``: when it recorded none, a
    run killed before it could); ``max_threads``: as for :func:`run_training`."""
    partial = PartialRun.reopen(Path(path))
    idle_since = IdleSample.now()
    try:
        for leftover in partial.path.glob(".*.tmp"):  # a write cut short by SIGKILL
            leftover.unlink(missing_ok=True)
        if _status(partial) == "diverged":
            raise RunDirError(
                f"{partial.path}: this run diverged, so resuming would diverge again; train anew "
                "with a lower learning rate"
            )
        config = resumable_config(partial.path)
        checkpoint = (
            load_checkpoint(partial.checkpoint, config.model.layers) if partial.checkpoint.exists() else None
        )
        # relative data paths are read from where the run started; config.yaml keeps them as written
        prepared = prepare(
            config,
            base_dir=checkpoint.run.cwd if checkpoint is not None else os.getcwd(),
            # the budget the run started with (data.memory_budget_mb auto): the inputs placed as then
            memory_budget=checkpoint.run.memory_budget if checkpoint is not None else None,
            origin=_recorded_origin(partial, overrides),
            idle_since=idle_since,
        )
        if checkpoint is not None:
            _check_checkpoint_fits(checkpoint, prepared, partial, config)
    except BaseException:
        partial.release()  # never discard what the user is trying to resume
        raise
    with threads_at_most(max_threads):
        return _train_to_finish(prepared, partial, progress, resume=checkpoint, force=False, resuming=True)


def resumable_config(path: str | Path) -> Config:
    """The config an unfinished run was started with (its ``config.yaml``)."""
    partial = find_partial(Path(path))
    config_path = partial / "config.yaml"
    if not config_path.exists():
        raise RunDirError(f"{partial}: no config.yaml; this is not an unfinished dnn run")
    return load_config(config_path)


def _train_to_finish(
    prepared: PreparedRun,
    partial: PartialRun,
    progress: Hooks | None,
    *,
    resume: Checkpoint | None,
    force: bool,
    resuming: bool,
) -> FinishedRun:
    """Train in ``partial`` (from the ``resume`` checkpoint, if any), write the finished run and
    rename it into place. On any failure the directory is kept (released) when it holds something
    worth resuming or inspecting, and always when the user is resuming it."""
    try:
        result, state = _train_watched(prepared, partial, progress, resume)
        warnings = [w.as_dict() for w in health_warnings(prepared, result)]
        with deferred_signals():  # a Ctrl-C now would only lose a finished run: finish it
            metrics = run_metrics(
                prepared, state, _recorded(prepared, partial, finished=True), status="finished", result=result,
                warnings=warnings,
            )
            write_outputs(prepared, result.network, result.history, metrics, partial.path)
            point_latest(partial.finish(force))
    except BaseException:
        if resuming or _worth_keeping(partial):
            partial.release()  # resumable, or the last good parameters of a diverged run
        else:
            partial.discard()
        raise
    return FinishedRun(metrics, result, prepared)


def health_warnings(prepared: PreparedRun, result: TrainResult) -> list[health.HealthWarning]:
    """The health checks of a finished run (:mod:`dnncli.training.health`)."""
    network, settings = result.network, prepared.settings
    return health.check_training(health.TrainingFacts(
        initial_cost=result.initial_cost,
        final_cost=result.final_cost,
        train_accuracy=None if network.is_regression else result.train_accuracy,
        class_shares=None if network.is_regression else health.class_shares(prepared.data.Y),
        learning_rate=settings.learning_rate,
        init=prepared.config.model.init,
        hidden_layers=network.L - 1,
        keep_prob=normalize_keep_probs(settings.keep_prob, network.L - 1),
    ))


def _train_watched(
    prepared: PreparedRun, partial: PartialRun, progress: Hooks | None, resume: Checkpoint | None
) -> tuple[TrainResult, TrainState]:
    """:func:`dnncli.training.loop.train` with checkpoints, signals and divergence handled."""
    network, rng, settings, data = prepared.network, prepared.rng, prepared.settings, prepared.data
    state = TrainState()
    cwd = resume.run.cwd if resume is not None else os.getcwd()
    if resume is not None:
        state = resume.state
        state.optimizer = settings.make_optimizer()
        state.optimizer.load_state_dict(resume.optimizer)
        for key, value in network.params.items():
            network.params[key] = resume.params[key].astype(value.dtype, copy=False)
        rng.bit_generator.state = resume.rng_state
    with deferred_signals() as stop:
        supervisor = Supervisor(
            network,
            rng,
            state,
            partial.checkpoint,
            prepared.checkpoint_every,
            stop,
            run_section=lambda: RunSection(data_fingerprint(data.X, data.Y), cwd, prepared.memory_budget),
            finished=lambda s: settings.finished(s, data.m),
            checkpoint_min_seconds=prepared.checkpoint_min_seconds,
        )
        try:
            hooks = HookList(progress, supervisor)
            return train(network, data, settings, rng=rng, state=state, hooks=hooks, idle_since=prepared.idle_since), state
        except StopRequested as stopped:
            _write_partial(prepared, network, state, partial, "interrupted")
            name = SIGNAL_NAMES[stopped.signum]
            raise Interrupted(
                f"interrupted by {name} after iteration {state.iteration} ({_position(state)}); "
                f"checkpoint and partial outputs are in {partial.path}; resume with: "
                f"dnn train --resume {partial.path}",
                exit_code=EXIT_FOR_SIGNAL[name],
            ) from None
        except StopNow as stopped:
            name = SIGNAL_NAMES[stopped.signum]
            kept = (
                f"the last checkpoint (iteration {supervisor.saved_iteration}) is in {partial.checkpoint}; "
                f"resume with: dnn train --resume {partial.path}"
                if partial.checkpoint.exists()
                else "no checkpoint was written yet"
            )
            raise Interrupted(
                f"stopped at once by a second {name} during iteration {state.iteration}; {kept}",
                exit_code=EXIT_FOR_SIGNAL[name],
            ) from None
        except TrainingDiverged as diverged:
            raise _keep_last_good(prepared, supervisor, state, partial, diverged) from None


def _position(state: TrainState) -> str:
    if state.batch_in_epoch:
        return f"epoch {state.epoch + 1}, after its mini-batch {state.batch_in_epoch}"
    return f"epoch {state.epoch}"


def _keep_last_good(
    prepared: PreparedRun,
    supervisor: Supervisor,
    state: TrainState,
    partial: PartialRun,
    diverged: TrainingDiverged,
) -> TrainingDiverged:
    # a kept model is never one whose cost exploded, even if it is still finite
    last_good = supervisor.last_good(prepared.data.X, prepared.data.Y, health.cost_limit(state.initial_cost))
    partial.checkpoint.unlink(missing_ok=True)
    if last_good is None and state.iteration == 0:  # no step taken: the learning rate is not to blame
        return TrainingDiverged(
            "training diverged at once: the initial parameters already give a non-finite cost; "
            "check model.init and model.init_scale, and data.scale (the inputs' size)"
        )
    if last_good is None:
        return TrainingDiverged(f"{diverged.message}; no finite parameters to keep")
    network, iteration, cost = last_good
    _write_partial(prepared, network, state, partial, "diverged", kept_iteration=iteration, kept_cost=cost)
    return TrainingDiverged(
        f"{diverged.message}; the last good parameters (iteration {iteration}, cost {cost:.6g}) "
        f"are kept in {partial.path / 'model.h5'}"
    )


def _write_partial(
    prepared: PreparedRun, network: Any, state: TrainState, partial: PartialRun, status: str, **extra: Any
) -> None:
    metrics = run_metrics(prepared, state, _recorded(prepared, partial, finished=False), status=status, **extra)
    write_outputs(prepared, network, state.history, metrics, partial.path)


def _recorded(prepared: PreparedRun, partial: PartialRun, *, finished: bool) -> Path:
    """The run's directory as metrics.json names it: where its files are, or will be moved to."""
    target = prepared.recorded_target
    if target is None:
        return partial.target if finished else partial.path
    return target if finished else partial_path(target)


def _check_checkpoint_fits(checkpoint: Checkpoint, prepared: PreparedRun, partial: PartialRun, config: Config) -> None:
    """Refuse a checkpoint that does not continue this run: other data, other shapes, a tampered order."""
    data = prepared.data
    if data_fingerprint(data.X, data.Y) != checkpoint.run.data_fingerprint:
        raise DataError(
            f"{config.data.train}: the training data changed since the checkpoint in {partial.path}; "
            "resuming on other data would not continue the same run"
        )
    check_fits_network(checkpoint, partial.checkpoint, prepared.network.params, prepared.settings.optimizer)
    order = checkpoint.state.epoch_order
    if order is not None and not np.array_equal(np.sort(order), np.arange(data.m)):
        raise RunDirError(
            f"{partial.checkpoint}: corrupt checkpoint (epoch_order is not an order of the {data.m} examples)"
        )


def _partial_metrics(partial: PartialRun) -> dict[str, Any]:
    try:
        metrics = json.loads((partial.path / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def _status(partial: PartialRun) -> str | None:
    return _partial_metrics(partial).get("status")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _recorded_origin(partial: PartialRun, overrides: Sequence[str] | None) -> dict[str, Any]:
    """When and how an unfinished run was started: from its partial metrics.json, or (a run killed
    before writing one) its config.yaml's time, which it wrote when it started."""
    recorded = _partial_metrics(partial)
    started = recorded.get("started")
    if not isinstance(started, str):
        try:
            mtime = (partial.path / "config.yaml").stat().st_mtime
            started = datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds")
        except OSError:
            started = None
    known = recorded.get("overrides")
    return {"started": started, "overrides": known if isinstance(known, list) else
            (list(overrides) if overrides is not None else None)}


def _worth_keeping(partial: PartialRun) -> bool:
    """A checkpoint or partial outputs are worth keeping; an empty start is not."""
    return partial.checkpoint.exists() or (partial.path / "metrics.json").exists()
