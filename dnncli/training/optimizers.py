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


class _FlatMoments(Optimizer):
    """Moments kept in one flat vector per kind, so that an update is a dozen array operations
    whatever the number of layers: for small networks the per-call cost of numpy, not the
    arithmetic, is what takes the time. ``self.v["v_W1"]`` and the like stay available as views
    into those vectors, and the state dicts hold them per parameter."""

    moment_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        super().__init__(learning_rate)
        self._layout: list[tuple[str, slice, tuple[int, ...]]] | None = None
        self._flat: dict[str, np.ndarray] = {}
        for prefix in self.moment_names:
            setattr(self, prefix, {})

    def _ensure_layout(self, params: Params) -> None:
        if self._layout is not None and [k for k, _, _ in self._layout] == list(params):
            return
        layout, start = [], 0
        for key, value in params.items():
            layout.append((key, slice(start, start + value.size), value.shape))
            start += value.size
        dtype = next(iter(params.values())).dtype
        self._layout = layout
        for prefix in self.moment_names:
            loaded = getattr(self, prefix)  # restored by load_state_dict, or empty
            flat = np.zeros(start, dtype=dtype)
            views = {f"{prefix}_{key}": flat[part].reshape(shape) for key, part, shape in layout}
            for name, value in loaded.items():
                if name in views:
                    views[name][...] = value
            self._flat[prefix] = flat
            setattr(self, prefix, views)

    def _flat_gradient(self, grads: Params) -> np.ndarray:
        """A new vector (the update may change it in place) of the gradients in layout order."""
        assert self._layout is not None
        return np.concatenate([grads["d" + key].reshape(-1) for key, _, _ in self._layout])

    def _apply(self, params: Params, step: np.ndarray) -> None:
        assert self._layout is not None
        for key, part, shape in self._layout:
            params[key] -= step[part].reshape(shape)

    def _moments_state(self) -> StateDict:
        state: StateDict = {}
        for prefix in self.moment_names:
            state.update(self._copy_arrays(getattr(self, prefix), prefix))
        return state

    def _load_moments(self, state: StateDict) -> None:
        self._layout, self._flat = None, {}  # rebuilt from these at the next update
        for prefix in self.moment_names:
            setattr(self, prefix, self._copy_arrays(state, prefix))


class RMSProp(_FlatMoments):
    """Each parameter's step divided by the root of a running average of its squared gradients."""

    name = "rmsprop"
    moment_names = ("s",)

    def __init__(self, learning_rate: float, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate)
        self.beta2, self.epsilon = float(beta2), float(epsilon)

    def update(self, params: Params, grads: Params) -> None:
        self._ensure_layout(params)
        g, s = self._flat_gradient(grads), self._flat["s"]
        s *= self.beta2
        s += (1 - self.beta2) * (g * g)
        denominator = np.sqrt(s)
        denominator += self.epsilon
        g /= denominator
        g *= self.learning_rate
        self._apply(params, g)

    def state_dict(self) -> StateDict:
        return {**super().state_dict(), "beta2": self.beta2, "epsilon": self.epsilon, **self._moments_state()}

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta2, self.epsilon = float(state["beta2"]), float(state["epsilon"])
        self._load_moments(state)


class Adam(_FlatMoments):
    """Momentum and RMSProp together, both moments bias-corrected by the step count ``t``."""

    name = "adam"
    moment_names = ("v", "s")

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
    ) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.t = 0

    def update(self, params: Params, grads: Params) -> None:
        self._ensure_layout(params)
        self.t += 1
        beta1, beta2 = self.beta1, self.beta2
        # The bias corrections folded into the step size and epsilon (as in Kingma and Ba):
        # lr v / (1 - beta1^t) / (sqrt(s / (1 - beta2^t)) + eps) = lr_t v / (sqrt(s) + eps_t),
        # one array operation fewer. Python floats keep float32 arrays float32.
        root_correction2 = math.sqrt(1.0 - beta2**self.t)
        lr_t = self.learning_rate * root_correction2 / (1.0 - beta1**self.t)
        epsilon_t = self.epsilon * root_correction2
        g, v, s = self._flat_gradient(grads), self._flat["v"], self._flat["s"]
        v *= beta1
        v += (1 - beta1) * g
        g *= g
        g *= 1 - beta2
        s *= beta2
        s += g
        denominator = np.sqrt(s)
        denominator += epsilon_t
        step = v / denominator
        step *= lr_t
        self._apply(params, step)

    def state_dict(self) -> StateDict:
        return {
            **super().state_dict(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.t,
            **self._moments_state(),
        }

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta1, self.beta2 = float(state["beta1"]), float(state["beta2"])
        self.epsilon, self.t = float(state["epsilon"]), int(state["t"])
        self._load_moments(state)


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
