"""What one call of :func:`dnncli.training.loop.train` is given: the examples (:class:`TrainData`),
the settings (:class:`TrainSettings`), and the :class:`Hooks` through which a caller follows and
steers it. Plain typed values: the engine knows nothing of YAML configs or run directories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import numpy as np

from dnncli.training.batches import n_batches
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.first_layer import DEFAULT_GRAM_BUDGET_MB
from dnncli.training.optimizers import Optimizer, make_optimizer
from dnncli.training.schedules import Schedule

if TYPE_CHECKING:
    from dnncli.training.state import TrainResult, TrainState


class Examples(NamedTuple):
    """Inputs ``X (n_x, m)`` (an array, or columns scaled a batch at a time) and targets ``Y (n[L], m)``."""

    X: Any
    Y: np.ndarray
    # examples its scoring pass takes at once, keeping only the outputs (None: all at once)
    score_block: int | None = None


@dataclass(frozen=True)
class TrainData:
    """The training examples, and optionally a test set (reported) and a validation set (reported,
    and what early stopping watches)."""

    X: Any
    Y: np.ndarray
    test: Examples | None = None
    validation: Examples | None = None
    # a table's task ("classification" or "regression"; None: not said), and a regression target
    # standardized for training: its scores are reported as ``value * target_scale + target_mean``
    task: str | None = None
    target_scale: float = 1.0
    target_mean: float = 0.0
    # examples a scoring pass over the training set (a history row's cost, the final metrics)
    # takes at once, keeping only the outputs; None: all at once, every layer's activations held
    score_block: int | None = None

    @property
    def m(self) -> int:
        return int(self.Y.shape[1])


def normalize_keep_probs(keep_prob: float | Sequence[float] | None, n_hidden: int) -> tuple[float, ...] | None:
    """One dropout keep probability per hidden layer, or None when nothing is dropped."""
    if keep_prob is None:
        return None
    if isinstance(keep_prob, (int, float)):
        probs = (float(keep_prob),) * n_hidden
    else:
        probs = tuple(float(k) for k in keep_prob)
    if len(probs) != n_hidden:
        raise ValueError(
            f"keep_prob has {len(probs)} entries but the network has {n_hidden} hidden layers: give one "
            "per hidden layer, or a single number"
        )
    for k in probs:
        if not 0 < k <= 1:
            raise ValueError(f"keep_prob = {k}: a keep probability must be in (0, 1] (1: no dropout)")
    return probs if any(k < 1 for k in probs) else None


# the budget when neither ``iterations`` nor ``epochs`` is given
DEFAULT_ITERATIONS = 2500


@dataclass(frozen=True)
class TrainSettings:
    """How to train. Each setting's default is written here and nowhere else: the config's
    ``training`` section takes its defaults from ``TrainSettings()`` (tests/test_settings.py checks
    both have the same settings and defaults). The budget is ``iterations`` (update steps) or
    ``epochs`` (passes over the data), not both; neither: ``DEFAULT_ITERATIONS`` iterations.
    ``learning_rate`` is the rate of epoch 0; a ``schedule`` other than ``constant`` decays it by
    ``decay_rate`` (see :mod:`dnncli.training.schedules`)."""

    learning_rate: float = 0.0075
    iterations: int | None = None
    epochs: int | None = None
    optimizer: str = "gd"
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    schedule: str = "constant"
    decay_rate: float | None = None  # None: no decay (the constant schedule)
    decay_steps: int = 1
    batch_size: int | None = None
    shuffle: bool = True
    record_every: int = 100
    l2_lambda: float = 0.0
    keep_prob: float | tuple[float, ...] = 1.0
    early_stopping: bool = False
    patience: int = 10
    min_delta: float = 0.0
    keep_best: bool = False
    first_layer: str = "auto"
    gram_budget_mb: float = float(DEFAULT_GRAM_BUDGET_MB)
    _schedule: Schedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.iterations is not None and self.epochs is not None:
            raise ValueError("give the budget as iterations or as epochs, not both")
        if self.epochs is None and self.iterations is None:
            object.__setattr__(self, "iterations", DEFAULT_ITERATIONS)
        decay_rate = 0.0 if self.decay_rate is None else self.decay_rate
        object.__setattr__(
            self, "_schedule", Schedule(self.schedule, self.learning_rate, decay_rate, self.decay_steps)
        )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings, in order (what a caller gives; the config's training section has each)."""
        return tuple(f.name for f in fields(cls) if f.init)

    def rate(self, epoch: int) -> float:
        """The learning rate of ``epoch``."""
        return self._schedule(epoch)

    def make_optimizer(self) -> Optimizer:
        return make_optimizer(
            self.optimizer, self.learning_rate, beta=self.beta, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon
        )

    def make_tracker(self) -> EarlyStopping | None:
        """The best-parameters tracker: stopping early, or only keeping the best."""
        if self.early_stopping:
            return EarlyStopping(self.patience, self.min_delta)
        return EarlyStopping(patience=None) if self.keep_best else None

    # ---- the budget: the one place that says how long a run is --------------------------------

    def full_batch(self, m: int) -> bool:
        return self.batch_size is None or self.batch_size >= m

    def total_steps(self, m: int) -> int:
        if self.iterations is not None:
            return self.iterations
        return self.epochs * n_batches(m, self.batch_size)

    def total_epochs(self, m: int) -> int:
        if self.epochs is not None:
            return self.epochs
        return math.ceil(self.iterations / n_batches(m, self.batch_size))

    def finished(self, state: "TrainState", m: int) -> bool:
        """Whether a run at ``state`` (on ``m`` examples) has nothing left to do."""
        return (
            state.stopped_early
            or state.iteration >= self.total_steps(m)
            or state.epoch >= self.total_epochs(m)
        )


@dataclass(frozen=True)
class TrainPlan:
    """What one ``train`` call is about to do, told to :meth:`Hooks.on_start`."""

    total_steps: int  # the whole budget in update steps
    total_epochs: int
    steps_per_epoch: int
    by_epoch: bool  # mini-batches: costs are reported per epoch
    budget_in_epochs: bool  # the settings gave ``epochs`` (else ``iterations``)
    examples: int
    parameters: int
    first_layer: str  # "plain" or "gram"
    first_layer_reason: str
    start_iteration: int = 0  # above 0 when continuing a run
    start_epoch: int = 0
    task: str | None = None  # a table's task, said in the start line


class Hooks:
    """How a caller follows and steers :func:`~dnncli.training.loop.train`. Every method may be
    overridden and none must be: the defaults do nothing (and never ask to stop)."""

    def on_start(self, plan: TrainPlan) -> None:
        """Before the first step: the budget, the data's size and how layer 1 is trained."""

    def on_step(self, iteration: int, cost: float) -> None:
        """After update step ``iteration`` (1, 2, ...), whose batch had ``cost`` before the update."""

    def on_epoch(self, epoch: int, cost: float) -> None:
        """Mini-batches only: after ``epoch`` (0: the initial parameters), the mean of its batch costs."""

    def on_record(self, row: dict[str, Any]) -> None:
        """After a history row is recorded (cost, accuracies, and validation metrics if any)."""

    def on_end(self, result: "TrainResult") -> None:
        """After training ended normally, with its final numbers."""

    def on_epoch_end(self, state: "TrainState", optimizer_state: Callable[[], dict[str, Any]]) -> None:
        """After an epoch (or an epoch cut short by a stop request), with the network's parameters
        in explicit form; ``optimizer_state()`` is the optimizer's state dict in the same form (what
        a checkpoint saves). On the Gram path, where the parameters must be formed for it, this
        runs only when ``epoch_end_due`` says so, at the end, when a stop is requested and at
        least every second (see ``first_layer``)."""

    def epoch_end_due(self, state: "TrainState", recorded: bool) -> bool:
        """Whether ``on_epoch_end`` must see the epoch that just ended (``recorded``: the history
        records it). The plain path calls ``on_epoch_end`` after every epoch anyway; the Gram
        path forms W1 for it (one large product) only when a hook says it is due. By default, a
        hook with an ``on_epoch_end`` of its own sees every recorded epoch."""
        return recorded and type(self).on_epoch_end is not Hooks.on_epoch_end

    def stop_requested(self) -> bool:
        """Asked after every update step: it should only read a flag."""
        return False


class HookList(Hooks):
    """Several hooks heard in order (a progress bar and a supervisor, say)."""

    def __init__(self, *hooks: Hooks | None) -> None:
        self.hooks = [h for h in hooks if h is not None]

    def on_start(self, plan: TrainPlan) -> None:
        for h in self.hooks:
            h.on_start(plan)

    def on_step(self, iteration: int, cost: float) -> None:
        for h in self.hooks:
            h.on_step(iteration, cost)

    def on_epoch(self, epoch: int, cost: float) -> None:
        for h in self.hooks:
            h.on_epoch(epoch, cost)

    def on_record(self, row: dict[str, Any]) -> None:
        for h in self.hooks:
            h.on_record(row)

    def on_end(self, result: "TrainResult") -> None:
        for h in self.hooks:
            h.on_end(result)

    def on_epoch_end(self, state: "TrainState", optimizer_state: Callable[[], dict[str, Any]]) -> None:
        for h in self.hooks:
            h.on_epoch_end(state, optimizer_state)

    def epoch_end_due(self, state: "TrainState", recorded: bool) -> bool:
        return any(h.epoch_end_due(state, recorded) for h in self.hooks)

    def stop_requested(self) -> bool:
        return any(h.stop_requested() for h in self.hooks)
