"""Optimizers: small classes with one ``update`` step each (as in scikit-learn's MLP).

``update(params, grads)`` changes the parameters in place, given ``grads["dW1"]``, ``grads["db1"]``...
"""

from __future__ import annotations

import numpy as np


class GradientDescent:
    """Plain gradient descent: ``W -= learning_rate * dW``."""

    name = "gd"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        lr = self.learning_rate
        for key, value in params.items():
            value -= lr * grads["d" + key]


def make_optimizer(name: str, learning_rate: float) -> GradientDescent:
    if name == "gd":
        return GradientDescent(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}")
