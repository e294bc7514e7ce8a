"""Gradient check: backpropagation against two-sided finite differences, in float64.

The relative difference ``||g - g_approx|| / (||g|| + ||g_approx||)`` is computed over the
flattened parameter vector, and for each parameter array on its own so a failure points at the
layer it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dnncli.network.model import Network

DEFAULT_EPSILON = 1e-7
DEFAULT_THRESHOLD = 1e-7


def relative_difference(g: np.ndarray, g_approx: np.ndarray) -> float:
    denominator = np.linalg.norm(g) + np.linalg.norm(g_approx)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(g - g_approx) / denominator)


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
) -> GradCheckResult:
    """Check ``network.backward`` on ``(X, Y)``; ``Y`` already encoded as ``(n[L], m)``.

    ``max_coordinates`` caps how many entries of each parameter array are perturbed (chosen at
    random with ``seed``), so very wide inputs are checked in seconds.
    """
    net = network.astype(np.float64)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    AL, caches = net.forward(X)
    grads = net.backward(AL, Y, caches)
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
            cost_plus = net.compute_cost(X, Y)
            flat[i] = original - epsilon
            cost_minus = net.compute_cost(X, Y)
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
