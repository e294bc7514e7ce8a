"""What the driver and its workers exchange: one trial handed out (:class:`TrialRequest`) and what
became of it (:class:`TrialResult`). Both are plain dataclasses of picklable values, sent through a
local worker's pipe or to a Dask worker as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# complete, pruned, failed: finished. interrupted: stopped, to be handed out again. busy (its run
# directory held by another process) and refused (a worker that cannot run it): not the trial's
# fault; it stays to be run again and the sweep stops to let the cause be fixed
TrialState = Literal["complete", "pruned", "failed", "interrupted", "busy", "refused"]


@dataclass(frozen=True)
class TrialRequest:
    """One trial to run (or to finish, when an earlier attempt was cut short)."""

    number: int
    trial_dir: Path  # its run directory, as the driver sees it (absolute)
    config: dict[str, Any]  # the trial's config as read (base, fixed overrides, its parameters)
    overrides: list[str]  # the --set items it amounts to, recorded in metrics.json
    metric: str  # the history column the pruner watches (a key of spec.HISTORY_COLUMNS)
    goal: Literal["minimize", "maximize"]
    pruner: str  # none, median or successive_halving
    finished: list[FrozenTrial]  # the study's finished trials when it was handed out (for the pruner)
    dnn_version: str  # a worker running another version refuses
    sweep_dir: Path
    sweep_id: str  # the sweep directory's id: a worker that reads another does not share its disk
    ship: bool = False  # --ship-data: the data comes with the task, the trial trains in a private place
    host_threads: dict[str, int] = field(default_factory=dict)  # Dask: worker threads on each host
    seeds: int = 1  # the sweep file's seeds: trainings of the trial, model.seed + 0, 1, ...


@dataclass(frozen=True)
class TrialFiles:
    """A shipped trial's run directory, sent back to the driver: finished, or its ``.partial``."""

    finished: bool
    files: dict[str, bytes]  # file name -> content


@dataclass
class TrialResult:
    """What became of a trial; a worker always returns one, whatever happened."""

    number: int
    state: TrialState = "failed"
    metrics: dict[str, Any] | None = None  # its metrics.json (complete)
    error: str | None = None  # one line, for the results
    exit_code: int | None = None  # what dnn train would have exited with (failed, refused)
    reports: list[tuple[int, float]] = field(default_factory=list)  # (step, metric) the pruner saw
    system_attrs: dict[str, Any] = field(default_factory=dict)  # the pruner's state (rungs)
    seconds: float | None = None
    host: str | None = None
    files: TrialFiles | None = None  # --ship-data: the run directory's files, for the driver to write
    seed_metrics: list[dict[str, Any]] = field(default_factory=list)  # seeds > 1: each training's metrics
    # what the trial's run wrote on stderr (its warnings), one line each: a local worker's, for the
    # driver to show each different line once instead of every worker writing over its live table
    notes: list[str] = field(default_factory=list)
