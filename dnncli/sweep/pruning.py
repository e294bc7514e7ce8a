"""Pruning a trial while it trains: Optuna's median or successive-halving pruner on the metric
recorded every ``training.record_every`` iterations (epochs with mini-batches)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dnncli.sweep.spec import HISTORY_COLUMNS
from dnncli.training.settings import Hooks

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


class TrialPruned(Exception):
    """Raised from the training loop's record hook when the pruner says stop."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"pruned at step {step} ({value:.6g})")
        self.step, self.value = step, value


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


class PruningWatch(Hooks):
    """Reports the watched metric at every recorded history row to a private, in-memory copy of
    the study (the finished trials as they were when this one was handed out) and stops the run
    when the pruner says so.

    Deciding in the worker keeps the same code for local processes and Dask workers, which cannot
    reach the driver's SQLite database; the driver records the reports afterwards.
    """

    def __init__(self, goal: str, pruner: str, metric: str, finished: list[FrozenTrial]) -> None:
        """``goal``: minimize or maximize ``metric`` (a key of ``spec.HISTORY_COLUMNS``);
        ``finished``: the study's finished trials, which the ``pruner`` compares this one with."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            direction=goal, pruner=make_pruner(pruner), sampler=optuna.samplers.RandomSampler(seed=0),
        )
        self.study.add_trials(finished)
        self.trial = self.study.ask()
        self.column = HISTORY_COLUMNS[metric]
        self.reports: list[tuple[int, float]] = []

    def on_record(self, row: dict[str, Any]) -> None:
        value = row.get(self.column)
        if value is None or not math.isfinite(value):
            return
        step = int(row["epoch"] if "epoch" in row else row["iteration"])
        if self.reports and step <= self.reports[-1][0]:
            return  # a resumed run records the rows after its checkpoint again
        self.trial.report(float(value), step)
        self.reports.append((step, float(value)))
        if self.trial.should_prune():
            raise TrialPruned(step, float(value))

    def system_attrs(self) -> dict[str, Any]:
        # the successive-halving pruner keeps each trial's rungs here
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == self.trial.number)
        return dict(frozen.system_attrs)
