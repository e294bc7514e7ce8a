"""Where a training run is (:class:`TrainState`: what a checkpoint saves), what it recorded
(:class:`History`), and what it ended with (:class:`TrainResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dnncli.network.model import Network
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.optimizers import Optimizer


@dataclass
class History:
    """Rows of ``iteration, cost, train_accuracy, test_accuracy`` and, where they apply, ``epoch``,
    ``test_cost``, ``val_cost``, ``val_accuracy``, ``learning_rate``, and for a regression
    ``train_r2``, ``test_r2``, ``val_r2`` (accuracies may be None)."""

    rows: list[dict[str, float | int | None]] = field(default_factory=list)

    def record(self, **row: float | int | None) -> None:
        self.rows.append(row)

    def column(self, name: str) -> list[float | int | None]:
        return [row.get(name) for row in self.rows]


@dataclass
class TrainState:
    """Where a run is: counters, history, the optimizer (its moments) and the best-so-far tracker.

    With the parameters and the random generator's state, this is all it takes to resume a run
    with identical steps, at an epoch boundary or in the middle of an epoch that a stop request
    cut short (the state then keeps the epoch's example order and how far it got).
    """

    epoch: int = 0  # epochs completed
    iteration: int = 0  # update steps completed
    history: History = field(default_factory=History)
    optimizer: Optimizer | None = None  # made from the settings by the first ``train`` call
    initial_cost: float = math.nan
    last_good_cost: float = math.nan
    tracker: EarlyStopping | None = None
    stopped_early: bool = False
    seconds: float = 0.0  # training time over all segments so far (a segment: one ``train`` call)
    # each segment: {"from_iteration", "to_iteration", "seconds"}
    segments: list[dict[str, float | int]] = field(default_factory=list)
    # an epoch of mini-batches cut short by a stop request: the batches it has done, the sum of
    # their costs (weighted by their sizes) and examples, and its example order (None: unshuffled).
    # 0 batches: the run stands at an epoch boundary.
    batch_in_epoch: int = 0
    epoch_cost_sum: float = 0.0
    epoch_seen: int = 0
    epoch_order: np.ndarray | None = None
    # BLAS threads of the run (None: not decided yet, or left to the environment): decided once,
    # kept in the checkpoint, because products over other thread counts round differently; a
    # caller may set it (dnncli.compute.threads)
    threads: int | None = None


@dataclass
class TrainResult:
    network: Network
    history: History
    initial_cost: float
    final_cost: float
    train_accuracy: float | None
    test_accuracy: float | None
    test_cost: float | None
    iterations: int
    seconds: float
    epochs: int = 0
    val_cost: float | None = None
    val_accuracy: float | None = None
    best_epoch: int | None = None
    restored_best: bool = False
    stopped_early: bool = False
    # regression: train_r2, train_mae, test_r2, ... (empty for a classifier)
    scores: dict[str, float | None] = field(default_factory=dict)
    # how layer 1 was trained ("plain" or "gram") and why
    first_layer: str = "plain"
    first_layer_reason: str = ""
