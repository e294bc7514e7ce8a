"""Learning-rate schedules: the learning rate of epoch ``e`` (0, 1, 2, ...) from the initial one.

With full-batch training one epoch is one iteration, so ``decay_steps`` counts iterations there.

    constant      lr0
    exponential   lr0 * decay_rate ** (e / decay_steps)
    inverse_time  lr0 / (1 + decay_rate * floor(e / decay_steps))    (the course's schedule_lr_decay)
    step          lr0 * decay_rate ** floor(e / decay_steps)
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("constant", "exponential", "inverse_time", "step")


@dataclass(frozen=True)
class Schedule:
    """``schedule(epoch)`` is the learning rate for that epoch."""

    name: str
    initial: float
    decay_rate: float = 0.0
    decay_steps: int = 1

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; expected one of {', '.join(SCHEDULES)}")
        if self.decay_steps < 1:
            raise ValueError(f"decay_steps must be at least 1, got {self.decay_steps}")

    def __call__(self, epoch: int) -> float:
        lr0, rate, steps = self.initial, self.decay_rate, self.decay_steps
        if self.name == "exponential":
            return lr0 * rate ** (epoch / steps)
        if self.name == "inverse_time":
            return lr0 / (1 + rate * (epoch // steps))
        if self.name == "step":
            return lr0 * rate ** (epoch // steps)
        return lr0
