"""Gradient check: backpropagation against two-sided finite differences, in float64.

The relative difference ``||g - g_approx|| / (||g|| + ||g_approx||)`` is computed over the
flattened parameter vector, and for each parameter array on its own so a failure points at the
layer it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dnncli.network.activations import HIDDEN_ACTIVATIONS
from dnncli.network.model import Network

DEFAULT_EPSILON = 1e-7
DEFAULT_THRESHOLD = 1e-7


def relative_difference(g: np.ndarray, g_approx: np.ndarray) -> float:
    denominator = np.linalg.norm(g) + np.linalg.norm(g_approx)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(g - g_approx) / denominator)


@dataclass
class PassOptions:
    """Keyword arguments for ``Network.forward``, ``Network.cost`` and ``Network.backward``."""

    forward: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    backward: dict[str, Any] = field(default_factory=dict)


@dataclass
class GradCheckResult:
    difference: float
    per_parameter: dict[str, float] = field(default_factory=dict)
    checked: int = 0
    threshold: float = DEFAULT_THRESHOLD

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.difference) and self.difference < self.threshold)


def gradient_check(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    epsilon: float = DEFAULT_EPSILON,
    threshold: float = DEFAULT_THRESHOLD,
    max_coordinates: int | None = None,
    seed: int = 0,
    options: "PassOptions | None" = None,
) -> GradCheckResult:
    """Check ``network.backward`` on ``(X, Y)``; ``Y`` already encoded as ``(n[L], m)``.

    ``max_coordinates`` caps how many entries of each parameter array are perturbed (chosen at
    random with ``seed``), so very wide inputs are checked in seconds. ``options`` carries extra
    keyword arguments for the forward pass, the cost and the backward pass (regularization).
    """
    options = options or PassOptions()
    net = network.astype(np.float64)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)

    def cost_at_current_parameters() -> float:
        AL, caches = net.forward(X, **options.forward)
        return net.cost(AL, caches, Y, **options.cost)

    AL, caches = net.forward(X, **options.forward)
    grads = net.backward(AL, Y, caches, **options.backward)
    rng = np.random.default_rng(seed)

    all_g, all_approx, per_parameter = [], [], {}
    for name, theta in net.params.items():
        flat = theta.reshape(-1)  # a view: perturbing it perturbs the network
        if max_coordinates is not None and flat.size > max_coordinates:
            indices = np.sort(rng.choice(flat.size, size=max_coordinates, replace=False))
        else:
            indices = np.arange(flat.size)
        g = grads[f"d{name}"].reshape(-1)[indices]
        approx = np.empty(indices.size)
        for k, i in enumerate(indices):
            original = flat[i]
            flat[i] = original + epsilon
            cost_plus = cost_at_current_parameters()
            flat[i] = original - epsilon
            cost_minus = cost_at_current_parameters()
            flat[i] = original
            approx[k] = (cost_plus - cost_minus) / (2 * epsilon)
        per_parameter[name] = relative_difference(g, approx)
        all_g.append(g)
        all_approx.append(approx)

    g_all, approx_all = np.concatenate(all_g), np.concatenate(all_approx)
    return GradCheckResult(
        difference=relative_difference(g_all, approx_all),
        per_parameter=per_parameter,
        checked=int(g_all.size),
        threshold=threshold,
    )


# ---- the engine's own cases ------------------------------------------------------------------


@dataclass
class GradCheckCase:
    """A small network and data to check: ``Y`` is already encoded as ``(n[L], m)``."""

    name: str
    network: Network
    X: np.ndarray
    Y: np.ndarray
    options: PassOptions = field(default_factory=PassOptions)


# output activation -> (its loss, short name: binary / categorical cross-entropy, MSE; output units)
_OUTPUTS = {"sigmoid": ("bce", 1), "softmax": ("cce", 3), "linear": ("mse", 2)}


def _targets(output: str, n_out: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if output == "sigmoid":
        return (rng.random((n_out, m)) > 0.5).astype(np.float64)
    if output == "softmax":
        Y = np.zeros((n_out, m))
        Y[rng.integers(0, n_out, size=m), np.arange(m)] = 1
        return Y
    return rng.standard_normal((n_out, m))


def engine_cases(seed: int = 1, m: int = 7) -> list[GradCheckCase]:
    """Every hidden activation with every output activation and its loss, on a network of two
    hidden layers ``[4, 5, 3, n_out]`` and ``m`` random examples; plus L2 and dropout (with a
    fixed mask) when the network has them. Small enough to check every coordinate."""
    rng = np.random.default_rng(seed)
    cases = []
    for output, (loss, n_out) in _OUTPUTS.items():
        for hidden in HIDDEN_ACTIVATIONS:
            network = Network.create([4, 5, 3, n_out], [hidden, hidden, output], init="xavier", seed=seed)
            # Biases away from zero, so that relu's kink is not where every unit sits at start.
            for name, value in network.params.items():
                if name.startswith("b"):
                    value[...] = rng.standard_normal(value.shape) * 0.5
            X = rng.standard_normal((4, m))
            cases.append(GradCheckCase(f"{hidden} -> {output} ({loss})", network, X, _targets(output, n_out, m, rng)))
    cases.extend(regularization_cases(seed, m))
    return cases


def regularization_cases(seed: int = 1, m: int = 7) -> list[GradCheckCase]:
    """L2 (lambda 0.7), inverted dropout (keep_prob 0.8 with masks drawn once and held fixed, so
    every cost evaluation sees the same network) and both together, for every output and loss."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    sizes = [4, 5, 3]
    for output, (loss, n_out) in _OUTPUTS.items():
        for hidden in ("relu", "tanh"):
            keep_probs = [0.8, 0.8]
            masks = [rng.random((n, m)) < 0.8 for n in sizes[1:]]
            variants = {
                "L2 0.7": PassOptions(cost={"l2_lambda": 0.7}, backward={"l2_lambda": 0.7}),
                "dropout 0.8": PassOptions(forward={"keep_probs": keep_probs, "masks": masks}),
                "L2 + dropout": PassOptions(
                    forward={"keep_probs": keep_probs, "masks": masks},
                    cost={"l2_lambda": 0.7},
                    backward={"l2_lambda": 0.7},
                ),
            }
            for label, options in variants.items():
                network = Network.create([*sizes, n_out], [hidden, hidden, output], init="xavier", seed=seed)
                for name, value in network.params.items():
                    if name.startswith("b"):
                        value[...] = rng.standard_normal(value.shape) * 0.5
                X = rng.standard_normal((sizes[0], m))
                cases.append(
                    GradCheckCase(
                        f"{hidden} -> {output} ({loss}), {label}",
                        network,
                        X,
                        _targets(output, n_out, m, rng),
                        options,
                    )
                )
    return cases
