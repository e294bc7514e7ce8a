"""Training progress on stderr: a rich bar (iteration, cost, elapsed, remaining) on a terminal, and
the course's ``Cost after iteration N: ...`` lines with ``--verbose``. It is one of the hooks the
training loop calls (:class:`dnncli.training.settings.Hooks`)."""

from __future__ import annotations

import sys

from dnncli.console import stderr_console
from dnncli.training.settings import Hooks


class TrainingProgress(Hooks):
    """A rich progress bar on stderr and/or the course's 'Cost after iteration N' lines."""

    def __init__(self, show_bar: bool, print_every: int | None) -> None:
        self.total, self.print_every = 1, print_every  # the total is known once the data is loaded
        self.by_epoch = False
        self.step = 1
        self.bar = None
        if show_bar:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("cost {task.fields[cost]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.task = self.bar.add_task("training", total=None, cost="-")

    def __enter__(self) -> "TrainingProgress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def on_start(self, total_steps: int, by_epoch: bool) -> None:
        """The number of update steps (epochs x batches), known once the data is loaded."""
        self.total, self.step, self.by_epoch = total_steps, max(1, total_steps // 400), by_epoch
        if self.bar is not None:
            self.bar.update(self.task, total=total_steps)

    def on_epoch(self, epoch: int, cost: float) -> None:
        """Mini-batch runs: the cost of each epoch (the mean of its batches') replaces the noisy
        per-iteration lines; epoch 0 is the initial parameters."""
        if self.print_every and epoch % self.print_every == 0:
            line = f"Cost after epoch {epoch}: {cost}"
            self.bar.console.print(line) if self.bar is not None else print(line, file=sys.stderr)

    def on_step(self, iteration: int, cost: float) -> None:
        done = iteration - 1  # the cost belongs to the parameters before this update
        if self.print_every and done % self.print_every == 0 and not self.by_epoch:
            line = f"Cost after iteration {done}: {cost}"
            self.bar.console.print(line) if self.bar is not None else print(line, file=sys.stderr)
        if self.bar is not None and (iteration % self.step == 0 or iteration == self.total):
            self.bar.update(self.task, completed=iteration, cost=f"{cost:.6f}")
