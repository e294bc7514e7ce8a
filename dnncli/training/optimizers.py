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

from dnncli.compute.kernels import packed_vector
from dnncli.compute.threads import parallel, run_threads

Params = dict[str, np.ndarray]
StateDict = dict[str, Any]

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


# element-wise updates of at least this many numbers are split over the run's threads
# (dnncli.compute.threads.parallel); under it, handing work to a thread costs more than it saves
PARALLEL_MINIMUM = 65_536
# the flat optimizers work through their vectors a megabyte of each at a time: gradient, moments,
# step and parameters of one piece stay in the cache between the dozen operations
CHUNK_BYTES = 1 << 20


class Optimizer:
    """What every optimizer has: a name, a learning rate, ``update`` and its state as a dict.

    Updates happen in place and allocate nothing per step: temporaries live in scratch arrays
    kept from one step to the next (``_scratch``), and large parameters are updated by the run's
    threads in parallel. Each element goes through the same operations in the same order as the
    formulas above, so the results do not depend on how the work is split."""

    name = "optimizer"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)
        self._scratch_arrays: dict[str, np.ndarray] = {}

    def update(self, params: Params, grads: Params) -> None:
        raise NotImplementedError

    def gradient_buffers(self, params: Params) -> Params | None:
        """Arrays (``"dW1"``, ``"db1"``...) the backward pass may write the gradients of
        ``params`` into, saving the optimizer a copy of them; None: it takes them as they come."""
        return None

    def state_dict(self) -> StateDict:
        return {"name": self.name, "learning_rate": self.learning_rate}

    def load_state_dict(self, state: StateDict) -> None:
        if state.get("name", self.name) != self.name:
            raise ValueError(f"optimizer state is for {state['name']!r}, not {self.name!r}")
        self.learning_rate = float(state["learning_rate"])

    # moments are keyed "v_W1", "s_b2", ...: one flat dict of arrays saves as it is
    @staticmethod
    def _zeros_like(params: Params, prefix: str) -> Params:
        return {f"{prefix}_{key}": np.zeros_like(value, order="C") for key, value in params.items()}

    @staticmethod
    def _copy_arrays(state: StateDict, prefix: str) -> Params:
        return {k: np.array(v, copy=True) for k, v in state.items() if k.startswith(prefix + "_")}

    def _scratch(self, key: str, like: np.ndarray) -> np.ndarray:
        """A C-contiguous array of ``like``'s shape and type for parameter ``key``, kept for the
        next step."""
        found = self._scratch_arrays.get(key)
        if found is None or found.shape != like.shape or found.dtype != like.dtype:
            found = self._scratch_arrays[key] = np.empty(like.shape, dtype=like.dtype)
        return found

    @staticmethod
    def _flat(array: np.ndarray) -> np.ndarray | None:
        """A flat view of ``array`` (None when it is not C-contiguous: no view exists)."""
        return array.reshape(-1) if array.flags.c_contiguous else None


def _momentum_step(p: np.ndarray, v: np.ndarray, g: np.ndarray, t: np.ndarray, beta: float, lr: float) -> None:
    """``v = beta v + (1 - beta) g; p -= lr v`` in place, ``t`` the scratch."""
    v *= beta
    np.multiply(g, 1 - beta, out=t)
    v += t
    np.multiply(v, lr, out=t)
    p -= t


class _FlatMoments(Optimizer):
    """Moments kept in one flat vector per kind, so that an update is a dozen array operations
    whatever the number of layers: for small networks the per-call cost of numpy, not the
    arithmetic, is what takes the time. ``self.v["v_W1"]`` and the like stay available as views
    into those vectors, and the state dicts hold them per parameter.

    The gradients are gathered into a flat vector kept from step to step (no concatenation), and
    the vectors are worked through a megabyte at a time (``CHUNK_BYTES``), each piece gathered, updated and
    applied to the parameters while it is in the cache; large networks split the pieces over the
    run's threads.

    Two copies are saved where the caller allows it (the training loop's plain path does): the
    backward pass writes the gradients straight into the gradient vector (``gradient_buffers``),
    and parameters kept in one vector of the same layout (``Network.pack_parameters``) are
    stepped by one subtraction instead of one per parameter. Every element still goes through the
    same operations, so the numbers are the same."""

    moment_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        super().__init__(learning_rate)
        self._layout: list[tuple[str, slice, tuple[int, ...]]] | None = None
        self._flat_moments: dict[str, np.ndarray] = {}
        self._gradient = self._step = np.empty(0)
        self._views: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._gradient_out: Params = {}
        # the parameter arrays last seen, and the one vector they are views of (None: they are not)
        self._seen: list[np.ndarray] = []
        self._packed: np.ndarray | None = None
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
            self._flat_moments[prefix] = flat
            setattr(self, prefix, views)
        self._gradient = np.empty(start, dtype=dtype)
        self._step = np.empty(start, dtype=dtype)
        # each parameter's part of the gradient and step vectors, shaped like it
        self._views = [(key, self._gradient[part].reshape(shape), self._step[part].reshape(shape))
                       for key, part, shape in layout]
        self._gradient_out = {"d" + key: g for key, g, _ in self._views}
        self._seen = []

    def gradient_buffers(self, params: Params) -> Params | None:
        """Each parameter's part of the gradient vector, shaped like it: a backward pass that
        writes its gradients there spares the update gathering them. None for parameters of
        several types (the Gram path's float64 coefficients next to float32 layers), which one
        vector cannot hold."""
        if len({value.dtype for value in params.values()}) != 1:
            return None
        self._ensure_layout(params)
        return self._gradient_out

    def _written_in_place(self, grads: Params) -> bool:
        """Whether ``grads`` are the parts of the gradient vector that ``gradient_buffers``
        handed out (the backward pass wrote them there: nothing to gather)."""
        return bool(self._views) and all(grads.get("d" + key) is g for key, g, _ in self._views)

    def _packed_parameters(self, params: Params) -> np.ndarray | None:
        """The one vector ``params`` are views of, laid out as the moments (see
        ``Network.pack_parameters``), or None. Worked out again only when the arrays change."""
        arrays = list(params.values())
        if len(arrays) == len(self._seen) and all(a is b for a, b in zip(arrays, self._seen)):
            return self._packed
        vector = packed_vector(arrays)
        fits = vector is not None and vector.dtype == self._gradient.dtype and vector.size == self._gradient.size
        self._seen, self._packed = arrays, vector if fits else None
        return self._packed

    def _pieces(self, params: Params, grads: Params) -> list[tuple[slice, np.ndarray | None, np.ndarray]]:
        """For each parameter: its part of the flat vectors, a flat view of it (None where it has
        none: it is then stepped after the pieces) and its gradient, flat."""
        assert self._layout is not None
        pieces = []
        for key, part, shape in self._layout:
            value, g = params[key], grads["d" + key]
            if g.shape != shape:
                raise ValueError(f"gradient d{key} has shape {g.shape}, expected {shape}")
            pieces.append((part, self._flat(value), g.reshape(-1) if g.flags.c_contiguous else np.ravel(g)))
        return pieces

    def _run(self, params: Params, grads: Params, math_on: Any) -> None:
        """Gather, ``math_on(start, stop)`` (which leaves the step in ``self._step``), apply."""
        gradient, step = self._gradient, self._step
        n, chunk = gradient.size, max(1, CHUNK_BYTES // gradient.itemsize)
        gathered = self._written_in_place(grads)
        packed = self._packed_parameters(params)
        if n <= chunk and (n < 2 * PARALLEL_MINIMUM or run_threads() == 1):  # one piece: no slicing
            if not gathered:
                for key, g, _ in self._views:
                    np.copyto(g, grads["d" + key])
            math_on(0, n)
            if packed is not None:
                packed -= step
            else:
                for key, _, t in self._views:
                    params[key] -= t
            return
        if gathered and packed is not None:  # the plain path's case: nothing to gather or scatter

            def step_packed(start: int, stop: int) -> None:
                for lo in range(start, stop, chunk):
                    hi = min(lo + chunk, stop)
                    math_on(lo, hi)
                    packed[lo:hi] -= step[lo:hi]

            parallel(step_packed, n, minimum=PARALLEL_MINIMUM)
            return
        pieces = self._pieces(params, grads)

        def work(start: int, stop: int) -> None:
            for lo in range(start, stop, chunk):
                hi = min(lo + chunk, stop)
                spans = [(part, p, g, max(lo, part.start), min(hi, part.stop)) for part, p, g in pieces
                         if part.start < hi and part.stop > lo]
                if not gathered:
                    for part, _, g, a, b in spans:
                        gradient[a:b] = g[a - part.start : b - part.start]
                math_on(lo, hi)
                if packed is not None:
                    packed[lo:hi] -= step[lo:hi]
                    continue
                for part, p, _, a, b in spans:
                    if p is not None:
                        p[a - part.start : b - part.start] -= step[a:b]

        parallel(work, gradient.size, minimum=PARALLEL_MINIMUM)
        assert self._layout is not None
        if packed is not None:
            return
        for (key, part, shape), (_, p, _) in zip(self._layout, pieces):
            if p is None:  # a parameter without a flat view (not C-contiguous)
                params[key] -= step[part].reshape(shape)

    def _moments_state(self) -> StateDict:
        state: StateDict = {}
        for prefix in self.moment_names:
            state.update(self._copy_arrays(getattr(self, prefix), prefix))
        return state

    def _load_moments(self, state: StateDict) -> None:
        self._layout, self._flat_moments = None, {}  # rebuilt from these at the next update
        for prefix in self.moment_names:
            setattr(self, prefix, self._copy_arrays(state, prefix))


class GradientDescent(_FlatMoments):
    """Plain gradient descent: ``W -= learning_rate * dW``. Gradients the backward pass wrote into
    the flat vector (``gradient_buffers``) are stepped through it: two operations a step however
    many layers; other gradients (the Gram path's packed vectors, of two types) one parameter at a
    time, ``lr * dW`` in the parameter's type. The same numbers either way."""

    name = "gd"

    def update(self, params: Params, grads: Params) -> None:
        lr = self.learning_rate
        if not self._written_in_place(grads):
            for key, value in params.items():
                step = self._scratch(key, value)  # lr * g in the parameter's type
                np.multiply(grads["d" + key], lr, out=step)
                value -= step
            return
        self._ensure_layout(params)
        G, T = self._gradient, self._step

        def math_on(lo: int, hi: int) -> None:
            np.multiply(G[lo:hi], lr, out=T[lo:hi])

        self._run(params, grads, math_on)


class Momentum(_FlatMoments):
    """Gradient descent on an exponentially weighted average of the gradients; stepped through
    the flat vectors like :class:`GradientDescent` when the gradients were written there."""

    name = "momentum"
    moment_names = ("v",)

    def __init__(self, learning_rate: float, beta: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.beta = float(beta)

    def update(self, params: Params, grads: Params) -> None:
        lr, beta = self.learning_rate, self.beta
        if not self._written_in_place(grads):
            if not self.v:
                self.v = self._zeros_like(params, "v")
            for key, value in params.items():
                v = self.v["v_" + key]
                _momentum_step(value, v, grads["d" + key], self._scratch(key, v), beta, lr)
            return
        self._ensure_layout(params)
        G, V, T = self._gradient, self._flat_moments["v"], self._step

        def math_on(lo: int, hi: int) -> None:
            v, t = V[lo:hi], T[lo:hi]
            v *= beta
            np.multiply(G[lo:hi], 1 - beta, out=t)
            v += t
            np.multiply(v, lr, out=t)

        self._run(params, grads, math_on)

    def state_dict(self) -> StateDict:
        return {**super().state_dict(), "beta": self.beta, **self._moments_state()}

    def load_state_dict(self, state: StateDict) -> None:
        super().load_state_dict(state)
        self.beta = float(state["beta"])
        self._load_moments(state)


class RMSProp(_FlatMoments):
    """Each parameter's step divided by the root of a running average of its squared gradients."""

    name = "rmsprop"
    moment_names = ("s",)

    def __init__(self, learning_rate: float, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate)
        self.beta2, self.epsilon = float(beta2), float(epsilon)

    def update(self, params: Params, grads: Params) -> None:
        self._ensure_layout(params)
        beta2, epsilon, lr = self.beta2, self.epsilon, self.learning_rate
        G, S, T = self._gradient, self._flat_moments["s"], self._step

        def math_on(lo: int, hi: int) -> None:
            g, s, t = G[lo:hi], S[lo:hi], T[lo:hi]
            s *= beta2
            np.multiply(g, g, out=t)
            t *= 1 - beta2
            s += t
            np.sqrt(s, out=t)
            t += epsilon
            np.divide(g, t, out=t)
            t *= lr

        self._run(params, grads, math_on)

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
        G, V, S, T = self._gradient, self._flat_moments["v"], self._flat_moments["s"], self._step

        def math_on(lo: int, hi: int) -> None:
            g, v, s, t = G[lo:hi], V[lo:hi], S[lo:hi], T[lo:hi]
            v *= beta1
            np.multiply(g, 1 - beta1, out=t)
            v += t
            np.multiply(g, g, out=t)
            t *= 1 - beta2
            s *= beta2
            s += t
            np.sqrt(s, out=t)
            t += epsilon_t
            np.divide(v, t, out=t)
            t *= lr_t

        self._run(params, grads, math_on)

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
