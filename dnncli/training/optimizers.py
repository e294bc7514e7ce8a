"""Optimizers: small classes with one ``update`` step each (as in scikit-learn's MLP).

``update(params, grads)`` changes the parameters in place, given ``grads["dW1"]``, ``grads["db1"]``...
Each optimizer keeps its own state (velocities, squared-gradient averages, the step count) and can
hand it out and take it back as a plain dict of numpy arrays and numbers (``state_dict`` /
``load_state_dict``), so an interrupted run resumes with exactly the same steps.

The update rules are the course's (``v`` is the first moment, ``s`` the second)::

    gd        W -= lr * dW
    momentum  v = beta v + (1 - beta) dW;                 W -= lr * v
    rmsprop   s = beta2 s + (1 - beta2) dW^2;              W -= lr * dW / (sqrt(s) + epsilon)
    adam      v = beta1 v + (1 - beta1) dW;  s = beta2 s + (1 - beta2) dW^2;  t += 1
              W -= lr * (v / (1 - beta1^t)) / (sqrt(s / (1 - beta2^t)) + epsilon)

The learning rate is an attribute: a schedule sets it before each epoch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
StateDict = dict[str, Any]

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


class Optimizer:
    """What every optimizer has: a name, a learning rate, ``update`` and its state as a dict."""

    name = "optimizer"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def update(self, params: Params, grads: Params) -> None:
        raise NotImplementedError

    def state_dict(self) -> StateDict:
        return {"name": self.name, "learning_rate": self.learning_rate}

    def load_state_dict(self, state: StateDict) -> None:
        if state.get("name", self.name) != self.name:
            raise ValueError(f"optimizer state is for {state['name']!r}, not {self.name!r}")
        self.learning_rate = float(state["learning_rate"])

    # moments are keyed "v_W1", "s_b2", ...: one flat dict of arrays saves as it is
    @staticmethod
    def _zeros_like(params: Params, prefix: str) -> Params:
        return {f"{prefix}_{key}": np.zeros_like(value) for key, value in params.items()}

    @staticmethod
    def _copy_arrays(state: StateDict, prefix: str) -> Params:
        return {k: np.array(v, copy=True) for k, v in state.items() if k.startswith(prefix + "_")}


class GradientDescent(Optimizer):
    """Plain gradient descent: ``W -= learning_rate * dW``."""

    name = "gd"

    def update(self, params: Params, grads: Params) -> None:
        lr = self.learning_rate
        for key, value in params.items():
            value -= lr * grads["d" + key]


class Momentum(Optimizer):
    """Gradient descent on an exponentially weighted average of the gradients."""

    name = "momentum"

    def __init__(self, learning_rate: float, beta: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.beta = float(beta)
        self.v: Params = {}

    def update(self, params: Params, grads: Params) -> None:
        if not self.v:
            self.v = self._zeros_like(params, "v")
        lr, beta = self.learning_rate, self.beta
        for key, value in params.items():
            v = self.v["v_" + key]
            v *= beta
            v += (1 - beta) * grads["d" + key]
            value -= lr * v

    def state_dict(self) -> StateDict:
        return {**super().state_dict(), "beta": self.beta, **self._copy_arrays(self.v, "v")}

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta = float(state["beta"])
        self.v = self._copy_arrays(state, "v")


class RMSProp(Optimizer):
    """Each parameter's step divided by the root of a running average of its squared gradients."""

    name = "rmsprop"

    def __init__(self, learning_rate: float, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate)
        self.beta2, self.epsilon = float(beta2), float(epsilon)
        self.s: Params = {}

    def update(self, params: Params, grads: Params) -> None:
        if not self.s:
            self.s = self._zeros_like(params, "s")
        lr, beta2, epsilon = self.learning_rate, self.beta2, self.epsilon
        for key, value in params.items():
            g = grads["d" + key]
            s = self.s["s_" + key]
            s *= beta2
            s += (1 - beta2) * (g * g)
            denominator = np.sqrt(s)
            denominator += epsilon
            value -= lr * g / denominator

    def state_dict(self) -> StateDict:
        return {
            **super().state_dict(),
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            **self._copy_arrays(self.s, "s"),
        }

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta2, self.epsilon = float(state["beta2"]), float(state["epsilon"])
        self.s = self._copy_arrays(state, "s")


class Adam(Optimizer):
    """Momentum and RMSProp together, both moments bias-corrected by the step count ``t``."""

    name = "adam"

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
    ) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.t = 0
        self.v: Params = {}
        self.s: Params = {}

    def update(self, params: Params, grads: Params) -> None:
        if not self.v:
            self.v, self.s = self._zeros_like(params, "v"), self._zeros_like(params, "s")
        self.t += 1
        lr, beta1, beta2, epsilon = self.learning_rate, self.beta1, self.beta2, self.epsilon
        # The bias corrections folded into the step size and epsilon (as in Kingma and Ba):
        # lr v / (1 - beta1^t) / (sqrt(s / (1 - beta2^t)) + eps) = lr_t v / (sqrt(s) + eps_t),
        # one array operation fewer per parameter. Python floats keep float32 arrays float32.
        root_correction2 = math.sqrt(1.0 - beta2**self.t)
        lr_t = lr * root_correction2 / (1.0 - beta1**self.t)
        epsilon_t = epsilon * root_correction2
        for key, value in params.items():
            g = grads["d" + key]
            v, s = self.v["v_" + key], self.s["s_" + key]
            v *= beta1
            v += (1 - beta1) * g
            s *= beta2
            s += (1 - beta2) * (g * g)
            denominator = np.sqrt(s)
            denominator += epsilon_t
            value -= lr_t * v / denominator

    def state_dict(self) -> StateDict:
        return {
            **super().state_dict(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.t,
            **self._copy_arrays(self.v, "v"),
            **self._copy_arrays(self.s, "s"),
        }

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta1, self.beta2 = float(state["beta1"]), float(state["beta2"])
        self.epsilon, self.t = float(state["epsilon"]), int(state["t"])
        self.v, self.s = self._copy_arrays(state, "v"), self._copy_arrays(state, "s")


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> Optimizer:
    """An optimizer by its config name; the keywords an optimizer does not use are ignored."""
    if name == "gd":
        return GradientDescent(learning_rate)
    if name == "momentum":
        return Momentum(learning_rate, beta)
    if name == "rmsprop":
        return RMSProp(learning_rate, beta2, epsilon)
    if name == "adam":
        return Adam(learning_rate, beta1, beta2, epsilon)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
