"""One readable training loop: forward, cost, backward, update; a history of costs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dnncli.errors import TrainingDiverged
from dnncli.network.model import Network
from dnncli.training.optimizers import GradientDescent

# called as progress(iteration, cost) after each iteration's cost is known
ProgressCallback = Callable[[int, float], None]


@dataclass
class History:
    """Rows of ``iteration, cost, train_accuracy, test_accuracy`` (accuracies may be None)."""

    rows: list[dict[str, float | int | None]] = field(default_factory=list)

    def record(self, **row: float | int | None) -> None:
        self.rows.append(row)

    def column(self, name: str) -> list[float | int | None]:
        return [row.get(name) for row in self.rows]


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


def _parameters_finite(network: Network) -> bool:
    return all(np.isfinite(p).all() for p in network.params.values())


# overflow is detected in the loop (a non-finite cost or parameter), not reported as a warning
@np.errstate(over="ignore", invalid="ignore")
def train(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    learning_rate: float,
    iterations: int,
    record_every: int = 100,
    X_test: np.ndarray | None = None,
    Y_test: np.ndarray | None = None,
    optimizer: GradientDescent | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Full-batch training of ``network`` (changed in place) on ``X (n_x, m)``, ``Y (n[L], m)``.

    The cost recorded at iteration ``i`` is that of the parameters after ``i`` updates, as in the
    course; a last row at ``iterations`` holds the cost of the trained parameters.
    """
    optimizer = optimizer or GradientDescent(learning_rate)
    history = History()
    has_test = X_test is not None and Y_test is not None
    initial_cost = math.nan
    last_good_cost = math.nan

    start = time.perf_counter()
    for i in range(iterations):
        AL, caches = network.forward(X)
        cost = network.cost(AL, caches, Y)
        if not math.isfinite(cost) or (i % record_every == 0 and not _parameters_finite(network)):
            raise TrainingDiverged(
                f"training diverged at iteration {i}: the cost or the parameters are not finite (last finite cost "
                f"{last_good_cost:.6g}); try a lower learning rate than {learning_rate:g}"
            )
        last_good_cost = cost
        if i == 0:
            initial_cost = cost
        if i % record_every == 0:
            history.record(
                iteration=i,
                cost=cost,
                train_accuracy=network.accuracy(AL, Y),
                test_accuracy=network.accuracy(network.predict_proba(X_test), Y_test)
                if has_test
                else None,
            )
        grads = network.backward(AL, Y, caches)
        del caches, AL  # free the activations before the update allocates
        optimizer.update(network.params, grads)
        if progress is not None:
            progress(i + 1, cost)
    seconds = time.perf_counter() - start

    AL, caches = network.forward(X)
    final_cost = network.cost(AL, caches, Y)
    if not math.isfinite(final_cost) or not _parameters_finite(network):
        raise TrainingDiverged(
            f"training diverged after the last iteration: the cost or the parameters are not finite; "
            f"try a lower learning rate than {learning_rate:g}"
        )
    train_accuracy = network.accuracy(AL, Y)
    test_accuracy = test_cost = None
    if has_test:
        AL_test, caches_test = network.forward(X_test)
        test_accuracy = network.accuracy(AL_test, Y_test)
        test_cost = network.cost(AL_test, caches_test, Y_test)
    history.record(
        iteration=iterations, cost=final_cost, train_accuracy=train_accuracy, test_accuracy=test_accuracy
    )
    return TrainResult(
        network=network,
        history=history,
        initial_cost=initial_cost,
        final_cost=final_cost,
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        test_cost=test_cost,
        iterations=iterations,
        seconds=seconds,
    )
