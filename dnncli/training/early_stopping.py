"""Early stopping on the validation cost, and the best parameters seen so far.

Each validation check (every ``record_every`` epochs) compares the validation cost with the best
so far: an improvement of more than ``min_delta`` makes it the new best (and copies the parameters);
``patience`` checks in a row without one stop the training. ``patience=None`` only tracks the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class EarlyStopping:
    patience: int | None = 10
    min_delta: float = 0.0
    best_cost: float = math.inf
    best_epoch: int | None = None
    best_params: dict[str, np.ndarray] | None = field(default=None, repr=False)
    checks_without_improvement: int = 0

    def check(self, epoch: int, val_cost: float, params: dict[str, np.ndarray]) -> bool:
        """Record one validation cost; True when training should stop."""
        if val_cost < self.best_cost - self.min_delta:
            self.best_cost, self.best_epoch = float(val_cost), int(epoch)
            self.best_params = {k: v.copy() for k, v in params.items()}
            self.checks_without_improvement = 0
        else:
            self.checks_without_improvement += 1
        return self.patience is not None and self.checks_without_improvement >= self.patience

    def restore(self, params: dict[str, np.ndarray]) -> bool:
        """Copy the best parameters back into ``params`` (in place); False if there are none."""
        if self.best_params is None:
            return False
        for key, value in self.best_params.items():
            params[key][...] = value
        return True

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "best_cost": self.best_cost,
            "best_epoch": self.best_epoch,
            "checks_without_improvement": self.checks_without_improvement,
        }
        for key, value in (self.best_params or {}).items():
            state[f"best_{key}"] = value.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.patience, self.min_delta = state["patience"], float(state["min_delta"])
        self.best_cost = float(state["best_cost"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.checks_without_improvement = int(state["checks_without_improvement"])
        best = {k[len("best_") :]: np.array(v) for k, v in state.items() if k.startswith("best_") and k not in ("best_cost", "best_epoch")}
        self.best_params = best or None
