"""Is training going well? Pure checks on a run's numbers, so that a run that went wrong does not
look like a success.

* **Growth** (fatal, like a NaN): a cost above :data:`GROWTH_LIMIT` times the initial cost is
  divergence; the training loop checks every step against :func:`cost_limit`.
* **Cost increased** (a warning): the trained parameters fit worse than the initial ones.
* **At chance** (a warning): the training accuracy is no better than always answering the most
  frequent class, and the cost is near the cost of guessing (the entropy of the class shares:
  ln 2 for two balanced classes, ln k for k): the network learned nothing.

Each warning is one line with a concrete hint (the learning rate, the initialization, dropout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# a cost a thousand times the initial one (three orders of magnitude) is divergence, not noise
GROWTH_LIMIT = 1000.0
# ...measured from at least this cost: a start that already fits almost perfectly (a regression's
# cost of 1e-9) may wander a thousandfold without anything going wrong
GROWTH_FLOOR = 1e-3
# "near the cost of guessing": at least this share of it
GUESSING_SHARE = 0.9
# accuracies are fractions of whole examples: this only absorbs rounding
_TOLERANCE = 1e-9


def cost_limit(initial_cost: float) -> float:
    """The highest cost a run may reach before it counts as diverging (infinite while the initial
    cost is unknown)."""
    if math.isfinite(initial_cost) and initial_cost >= 0:
        return GROWTH_LIMIT * max(initial_cost, GROWTH_FLOOR)
    return math.inf


def growth_message(cost: float, initial_cost: float) -> str:
    return (
        f"the cost grew from {initial_cost:.6g} (iteration 0) to {cost:.6g}, more than "
        f"{GROWTH_LIMIT:g} times"
    )


def class_shares(Y: np.ndarray) -> np.ndarray:
    """The share of each class among encoded targets ``Y``: ``(1, m)`` labels of a sigmoid
    output, or one-hot ``(k, m)``."""
    if Y.shape[0] == 1:
        p = float(np.mean(Y, dtype=np.float64))
        return np.array([1.0 - p, p])
    return np.asarray(np.mean(Y, axis=1, dtype=np.float64))


def guessing_cost(shares: np.ndarray) -> float:
    """The cross-entropy of always predicting the class shares: ln k for k balanced classes."""
    p = shares[shares > 0]
    return float(-np.sum(p * np.log(p)))


@dataclass(frozen=True)
class HealthWarning:
    check: str  # "cost_increased" or "at_chance"
    message: str  # one line, with a hint

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


@dataclass(frozen=True)
class TrainingFacts:
    """What the checks look at: the run's numbers and the settings the hints name."""

    initial_cost: float
    final_cost: float
    train_accuracy: float | None  # None for a regression
    class_shares: np.ndarray | None  # None for a regression
    learning_rate: float
    init: str = "xavier"
    hidden_layers: int = 0
    keep_prob: Sequence[float] | None = None  # None: no dropout


def check_training(facts: TrainingFacts) -> list[HealthWarning]:
    """The warnings a finished run deserves (none when all is well)."""
    found = []
    initial, final = facts.initial_cost, facts.final_cost
    if math.isfinite(initial) and math.isfinite(final) and final > initial:
        found.append(HealthWarning(
            "cost_increased",
            f"the final cost {final:.6g} is above the initial cost {initial:.6g}: training made "
            f"the fit worse; try a lower training.learning_rate than {facts.learning_rate:g}",
        ))
    if facts.train_accuracy is not None and facts.class_shares is not None and facts.class_shares.size:
        chance = float(np.max(facts.class_shares))
        guess = guessing_cost(facts.class_shares)
        if facts.train_accuracy <= chance + _TOLERANCE and guess > 0 and final >= GUESSING_SHARE * guess:
            found.append(HealthWarning(
                "at_chance",
                f"train accuracy {facts.train_accuracy:.4f} is no better than always answering the "
                f"most frequent class ({chance:.4f}) and the cost {final:.6g} is near the cost of "
                f"guessing ({guess:.6g}): the network learned nothing; try {_chance_hints(facts)}",
            ))
    return found


def _chance_hints(facts: TrainingFacts) -> str:
    hints = [f"another training.learning_rate (now {facts.learning_rate:g}; ten times larger or smaller)"]
    if facts.hidden_layers and facts.init == "zeros":
        hints.append("model.init he or xavier (zeros cannot tell the hidden units apart)")
    elif facts.hidden_layers and facts.init == "random":
        hints.append("model.init he or xavier (small random weights fade out through the layers)")
    if facts.keep_prob is not None:
        probs = ", ".join(f"{k:g}" for k in facts.keep_prob)
        hints.append(f"less dropout (training.keep_prob is {probs}; 1 turns it off)")
    return "; or ".join(hints)
