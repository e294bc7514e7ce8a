"""Training that loses nothing: checkpoints, a clean stop on SIGINT / SIGTERM, the last good
parameters kept when training diverges, and ``dnn train --resume``.

Everything happens in the run's locked ``runs/<name>.partial/`` directory (see
:mod:`dnncli.rundir`):

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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dnncli import __version__
from dnncli.config import Config, load_config
from dnncli.errors import EXIT_SIGINT, EXIT_SIGTERM, DataError, Interrupted, RunDirError, TrainingDiverged
from dnncli.network.model import Network
from dnncli.rundir import PartialRun, find_partial
from dnncli.runs import PreparedRun, finish_run, prepare, write_outputs
from dnncli.training.checkpoint import Checkpoint, data_fingerprint, load_checkpoint
from dnncli.training.loop import ProgressCallback, TrainResult, TrainState, train
from dnncli.training.supervisor import (
    SIGNAL_NAMES,
    StopNow,
    StopRequested,
    Supervisor,
    deferred_signals,
)

EXIT_FOR_SIGNAL = {name: code for name, code in (("SIGINT", EXIT_SIGINT), ("SIGTERM", EXIT_SIGTERM))}


def checkpoint_every(config: Config) -> int:
    return config.training.checkpoint_every


def train_watched(
    prepared: PreparedRun,
    partial: PartialRun,
    options: dict[str, Any],
    *,
    progress: ProgressCallback | None = None,
    resume: Checkpoint | None = None,
) -> TrainResult:
    """:func:`dnncli.training.loop.train` with checkpoints, signals and divergence handled."""
    network, optimizer, rng = prepared.network, options["optimizer"], options["rng"]
    state = TrainState()
    if resume is not None:
        _restore(resume, network, optimizer, rng, partial)
        state = resume.state
    with deferred_signals() as stop:
        supervisor = Supervisor(
            network,
            optimizer,
            rng,
            state,
            partial.checkpoint,
            checkpoint_every(prepared.config),
            stop,
            fingerprint=lambda: data_fingerprint(prepared.X, prepared.Y),
            cwd=resume.cwd if resume is not None else os.getcwd(),
            finished=_finished_predicate(prepared),
            checkpoint_min_seconds=prepared.config.training.checkpoint_min_seconds,
        )
        try:
            return train(
                network,
                prepared.X,
                prepared.Y,
                X_test=prepared.X_test,
                Y_test=prepared.Y_test,
                X_val=getattr(prepared, "X_val", None),
                Y_val=getattr(prepared, "Y_val", None),
                progress=progress,
                state=state,
                on_epoch_end=supervisor,
                stop_requested=lambda: stop.signum is not None,  # read after every update: only a flag
                **options,
            )
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


def _finished_predicate(prepared: PreparedRun) -> Callable[[TrainState], bool]:
    """Whether the loop will stop after this epoch anyway (then a signal need not interrupt it)."""
    from dnncli.training.configured import total_steps

    steps = total_steps(prepared.config, prepared.X.shape[1])
    epochs = prepared.config.training.epochs

    def finished(state: TrainState) -> bool:
        return state.stopped_early or state.iteration >= steps or (epochs is not None and state.epoch >= epochs)

    return finished


def _keep_last_good(
    prepared: PreparedRun,
    supervisor: Supervisor,
    state: TrainState,
    partial: PartialRun,
    diverged: TrainingDiverged,
) -> TrainingDiverged:
    last_good = supervisor.last_good(prepared.X, prepared.Y)
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
    prepared: PreparedRun, network: Network, state: TrainState, partial: PartialRun, status: str, **extra: Any
) -> None:
    metrics = {
        "name": prepared.config.name,
        "status": status,
        "epoch": state.epoch,
        "iteration": state.iteration,
        **({"batch_in_epoch": state.batch_in_epoch} if state.batch_in_epoch else {}),
        "initial_cost": state.initial_cost,
        "last_finite_cost": state.last_good_cost,
        "seconds": round(state.seconds, 6),
        **extra,
        "run_dir": str(partial.path),
        "dnn_version": __version__,
    }
    write_outputs(prepared, network, state.history, metrics, partial.path)


def _restore(checkpoint: Checkpoint, network: Network, optimizer: Any, rng: np.random.Generator, partial: PartialRun) -> None:
    for key, value in network.params.items():
        saved = checkpoint.params.get(key)
        if saved is None or saved.shape != value.shape:
            raise RunDirError(f"{partial.checkpoint}: its parameters do not fit the run's network ('{key}')")
        network.params[key] = saved.astype(value.dtype, copy=False)
    optimizer.load_state_dict(checkpoint.optimizer)
    rng.bit_generator.state = checkpoint.rng_state


def _check_epoch_order(checkpoint: Checkpoint, m: int, partial: PartialRun) -> None:
    """The order of a cut-short epoch must be a permutation of the examples (else: tampered)."""
    order = checkpoint.state.epoch_order
    if order is not None and not np.array_equal(np.sort(order), np.arange(m)):
        raise RunDirError(
            f"{partial.checkpoint}: corrupt checkpoint (epoch_order is not an order of the {m} examples)"
        )


def _status(partial: PartialRun) -> str | None:
    try:
        return json.loads((partial.path / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def _rebased(config: Config, cwd: str) -> Config:
    """The config with relative data paths read from where the run started."""
    data = config.data
    updates = {}
    for key in ("train", "test", "validation"):
        value = getattr(data, key, None)
        if isinstance(value, str) and not Path(value).is_absolute():
            updates[key] = str(Path(cwd) / value)
    return config.model_copy(update={"data": data.model_copy(update=updates)}) if updates else config


def resumable_config(path: str | Path) -> Config:
    """The config an unfinished run was started with (its ``config.yaml``)."""
    partial = find_partial(Path(path))
    config_path = partial / "config.yaml"
    if not config_path.exists():
        raise RunDirError(f"{partial}: no config.yaml; this is not an unfinished dnn run")
    return load_config(config_path)


def resume_training(
    path: str | Path, *, progress: ProgressCallback | None = None
) -> tuple[dict[str, Any], TrainResult, PreparedRun]:
    """Continue an interrupted run from its ``.partial`` directory and finish it."""
    from dnncli.training.configured import total_steps, train_options

    partial = PartialRun.reopen(Path(path))
    try:
        for leftover in partial.path.glob(".*.tmp"):  # a write cut short by SIGKILL
            leftover.unlink(missing_ok=True)
        if _status(partial) == "diverged":
            raise RunDirError(
                f"{partial.path}: this run diverged, so resuming would diverge again; train anew "
                "with a lower learning rate"
            )
        config = resumable_config(partial.path)
        checkpoint = load_checkpoint(partial.checkpoint) if partial.checkpoint.exists() else None
        prepared = prepare(_rebased(config, checkpoint.cwd if checkpoint is not None else os.getcwd()))
        # the finished run's config.yaml keeps the data paths as the user wrote them
        prepared.config = prepared.config.model_copy(update={"data": config.data})
        if checkpoint is not None and data_fingerprint(prepared.X, prepared.Y) != checkpoint.data_fingerprint:
            raise DataError(
                f"{config.data.train}: the training data changed since the checkpoint in {partial.path}; "
                "resuming on other data would not continue the same run"
            )
        if checkpoint is not None:
            _check_epoch_order(checkpoint, prepared.Y.shape[1], partial)
        options = train_options(prepared.config, prepared.network, prepared.rng)
        if progress is not None and hasattr(progress, "set_total"):
            progress.set_total(total_steps(prepared.config, prepared.X.shape[1]))
        result = train_watched(prepared, partial, options, progress=progress, resume=checkpoint)
        with deferred_signals():  # a Ctrl-C now would only lose a finished run: finish it
            metrics = finish_run(prepared, result, partial)
    except BaseException:
        partial.release()  # never discard what the user is trying to resume
        raise
    return metrics, result, prepared


def unfinished_worth_keeping(partial: PartialRun) -> bool:
    """A checkpoint or partial outputs are worth keeping; an empty start is not."""
    return partial.checkpoint.exists() or (partial.path / "metrics.json").exists()
