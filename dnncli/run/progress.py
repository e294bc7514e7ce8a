"""A training run's progress on stderr, one of the hooks the training loop calls
(:class:`dnncli.training.settings.Hooks`):

* on a terminal, a rich bar: the run's name, ``epoch 3/20`` (or ``iteration 300/2500``), the cost,
  the validation cost and accuracy when there is a validation set, elapsed and remaining time;
* elsewhere (a CI log, a file), plain lines: one at the start (run name, examples, parameters,
  how layer 1 is trained), one every ``log_every_seconds`` (position, cost, validation metrics,
  elapsed, remaining) and one at the end;
* with ``--verbose``, the course's ``Cost after iteration N: ...`` lines.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TextIO

from dnncli.terminal.console import stderr_console
from dnncli.terminal.progress import StderrBar, duration
from dnncli.training.settings import Hooks, TrainPlan


class TrainingProgress(StderrBar, Hooks):
    """A rich progress bar, plain log lines, and/or the course's 'Cost after iteration N' lines."""

    def __init__(
        self,
        name: str = "training",
        *,
        show_bar: bool = False,
        print_every: int | None = None,
        log_every_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.name, self.print_every, self.log_every = name, print_every, log_every_seconds
        self.clock, self.stream = clock, stream
        self.plan: TrainPlan | None = None
        self.total, self.by_epoch, self.step = 1, False, 1  # known once the data is loaded
        self.iteration = self.epoch = 0
        self.cost: float | None = None
        self.validation: tuple[float, float | None] | None = None
        self.started = self.next_log = 0.0
        self.bar = None
        if show_bar:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(name, markup=False),
                BarColumn(),
                TextColumn("{task.fields[position]}"),
                TextColumn("cost {task.fields[cost]}{task.fields[validation]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.task = self.bar.add_task(name, total=None, position="", cost="-", validation="")

    # ---- output ----------------------------------------------------------------------------

    def position(self) -> str:
        """``epoch 3/20`` for a budget in epochs (with mini-batches the epoch in progress, as
        Keras counts; with full batches, where a step is an epoch, the epochs done), else
        ``iteration 300/2500``."""
        plan = self.plan
        if plan is not None and plan.budget_in_epochs:
            in_progress = plan.by_epoch and self.iteration < self.total
            return f"epoch {min(self.epoch + 1, plan.total_epochs) if in_progress else self.epoch}/{plan.total_epochs}"
        return f"iteration {self.iteration}/{self.total}"

    def _validation_text(self, separator: str = ", ") -> str:
        if self.validation is None:
            return ""
        cost, accuracy = self.validation
        text = f"{separator}val_cost {cost:.6g}"
        return text + (f"{separator}val_accuracy {accuracy:.4f}" if accuracy is not None else "")

    def log_line(self) -> str:
        """The periodic plain line: position, cost, validation metrics, elapsed, remaining."""
        elapsed = self.clock() - self.started
        done = self.iteration - (self.plan.start_iteration if self.plan else 0)
        remaining = duration(elapsed / done * (self.total - self.iteration)) if done > 0 else "?"
        position = self.position()
        if self.plan is not None and self.plan.budget_in_epochs:
            position += f" (step {self.iteration}/{self.total})"
        cost = "-" if self.cost is None else f"{self.cost:.6g}"
        return (
            f"{self.name}: {position}, cost {cost}{self._validation_text()}, "
            f"elapsed {duration(elapsed)}, remaining {remaining}"
        )

    # ---- the hooks -------------------------------------------------------------------------

    def on_start(self, plan: TrainPlan) -> None:
        """The budget, known once the data is loaded."""
        self.plan = plan
        self.total, self.step, self.by_epoch = plan.total_steps, max(1, plan.total_steps // 400), plan.by_epoch
        self.iteration, self.epoch = plan.start_iteration, plan.start_epoch
        self.started = self.clock()
        if self.log_every is not None:
            self.next_log = self.started + self.log_every
            budget = (
                f"{plan.total_epochs} epochs of {plan.steps_per_epoch} steps ({plan.total_steps} steps)"
                if plan.by_epoch or plan.budget_in_epochs
                else f"{plan.total_steps} iterations"
            )
            resumed = f", resuming at iteration {plan.start_iteration}" if plan.start_iteration else ""
            task = f", {plan.task}" if plan.task else ""
            self._print(
                f"{self.name}: start: {plan.examples:,} examples{task}, {plan.parameters:,} parameters, "
                f"first layer {plan.first_layer} ({plan.first_layer_reason}), {budget}{resumed}"
            )
        if self.bar is not None:
            self.bar.update(self.task, total=plan.total_steps, completed=plan.start_iteration, position=self.position())

    def on_epoch(self, epoch: int, cost: float) -> None:
        """Mini-batch runs: the cost of each epoch (the mean of its batches') replaces the noisy
        per-iteration lines; epoch 0 is the initial parameters."""
        self.epoch, self.cost = epoch, cost
        if self.print_every and epoch % self.print_every == 0:
            self._print(f"Cost after epoch {epoch}: {cost}")

    def on_record(self, row: dict[str, Any]) -> None:
        if row.get("val_cost") is not None:
            self.validation = (float(row["val_cost"]), row.get("val_accuracy"))

    def on_step(self, iteration: int, cost: float) -> None:
        self.iteration = iteration
        if not self.by_epoch:  # one step an epoch: the step's cost is the whole set's
            self.epoch, self.cost = iteration, cost
        done = iteration - 1  # the cost belongs to the parameters before this update
        if self.print_every and done % self.print_every == 0 and not self.by_epoch:
            self._print(f"Cost after iteration {done}: {cost}")
        if self.log_every is not None and self.clock() >= self.next_log:
            self._print(self.log_line())
            self.next_log = self.clock() + self.log_every
        if self.bar is not None and (iteration % self.step == 0 or iteration == self.total):
            shown = cost if self.cost is None else self.cost
            self.bar.update(
                self.task, completed=iteration, cost=f"{shown:.6f}", position=self.position(),
                validation=self._validation_text(", "),
            )

    def on_end(self, result: Any) -> None:
        if self.log_every is None:
            return
        parts = [f"cost {result.final_cost:.6g}"]
        for label, value in (("train_accuracy", result.train_accuracy), ("test_accuracy", result.test_accuracy),
                             ("val_cost", result.val_cost), ("val_accuracy", result.val_accuracy)):
            if value is not None:
                parts.append(f"{label} {value:.4f}" if "accuracy" in label else f"{label} {value:.6g}")
        plan = self.plan
        done = (
            f"{result.iterations} steps ({result.epochs} epochs)"
            if plan is not None and (plan.by_epoch or plan.budget_in_epochs)
            else f"{result.iterations} iterations"
        )
        self._print(f"{self.name}: finished: {done} in {duration(self.clock() - self.started)}: {', '.join(parts)}")
