"""An L-layer network: parameters, forward pass with caches, cost, backward pass.

Notation follows the course: ``X`` is ``(n_x, m)``, ``W[l]`` is ``(n[l], n[l-1])``, ``b[l]`` is
``(n[l], 1)``, each layer's cache is ``(A_prev, W, b, Z)``, ``dZ[L] = A[L] - Y`` and
``dW[l] = dZ[l] A[l-1]^T / m``. Every operation is over all m examples at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from dnncli.network.activations import (
    ACTIVATIONS,
    DEFAULT_LEAKY_SLOPE,
    DERIVATIVES,
    HIDDEN_ACTIVATIONS,
    OUTPUT_ACTIVATIONS,
)
from dnncli.network.initializers import DEFAULT_RANDOM_SCALE, initialize_parameters
from dnncli.network.losses import LOSS_FOR_OUTPUT, LOSSES


class Cache(NamedTuple):
    A_prev: np.ndarray
    W: np.ndarray
    b: np.ndarray
    Z: np.ndarray


@dataclass
class Network:
    """Layer sizes ``[n0, ..., nL]``, one activation per layer, and the parameters."""

    layer_sizes: list[int]
    activations: list[str]
    params: dict[str, np.ndarray]
    leaky_slope: float = DEFAULT_LEAKY_SLOPE
    loss_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.layer_sizes = [int(n) for n in self.layer_sizes]
        self.activations = list(self.activations)
        if len(self.layer_sizes) < 2:
            raise ValueError("a network needs at least an input and an output size")
        if len(self.activations) != self.L:
            raise ValueError(
                f"{self.L} layers need {self.L} activations, got {len(self.activations)}"
            )
        for l, name in enumerate(self.activations[:-1], start=1):
            if name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"layer {l}: {name!r} cannot be a hidden activation")
        if self.activations[-1] not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"{self.activations[-1]!r} cannot be the output activation")
        self.loss_name = LOSS_FOR_OUTPUT[self.activations[-1]]

    @classmethod
    def create(
        cls,
        layer_sizes: list[int],
        activations: list[str],
        init: str = "xavier",
        seed: int | None = 1,
        random_scale: float = DEFAULT_RANDOM_SCALE,
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dtype: np.dtype | type = np.float64,
    ) -> "Network":
        params = initialize_parameters(layer_sizes, init, seed, random_scale, dtype)
        return cls(layer_sizes, activations, params, leaky_slope)

    @property
    def L(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def dtype(self) -> np.dtype:
        return self.params["W1"].dtype

    @property
    def n_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    @property
    def output_activation(self) -> str:
        return self.activations[-1]

    def astype(self, dtype: np.dtype | type) -> "Network":
        params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in self.params.items()}
        return Network(self.layer_sizes, self.activations, params, self.leaky_slope)

    # ---- targets ---------------------------------------------------------------------------

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets ``(n[L], m)`` in the network's dtype; integer labels one-hot for softmax."""
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape(1, -1)
        if self.output_activation == "softmax" and y.shape[0] == 1:
            labels = y[0].astype(np.int64)
            Y = np.zeros((self.layer_sizes[-1], labels.size), dtype=self.dtype)
            Y[labels, np.arange(labels.size)] = 1
            return Y
        return np.ascontiguousarray(y, dtype=self.dtype)

    # ---- forward, cost, backward -----------------------------------------------------------

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` and the caches ``(A_prev, W, b, Z)`` of layers 1..L."""
        caches: list[Cache] = []
        A = X
        slope = self.leaky_slope
        for l in range(1, self.L + 1):
            W, b = self.params[f"W{l}"], self.params[f"b{l}"]
            Z = W @ A
            Z += b
            caches.append(Cache(A, W, b, Z))
            A = ACTIVATIONS[self.activations[l - 1]](Z, slope=slope)
        return A, caches

    def cost(self, AL: np.ndarray, caches: list[Cache], Y: np.ndarray) -> float:
        """The loss of the output ``A[L]`` (computed from the logits ``Z[L]``) against ``Y``."""
        return LOSSES[self.loss_name](caches[-1].Z, AL, Y)

    def backward(
        self, AL: np.ndarray, Y: np.ndarray, caches: list[Cache]
    ) -> dict[str, np.ndarray]:
        """Gradients ``dW[l]`` and ``db[l]`` for every layer (none for the input X)."""
        m = Y.shape[1]
        grads: dict[str, np.ndarray] = {}
        dZ = AL - Y
        for l in range(self.L, 0, -1):
            A_prev, W, _, _ = caches[l - 1]
            grads[f"dW{l}"] = (dZ @ A_prev.T) / m
            grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
            if l > 1:
                dA_prev = W.T @ dZ
                Z_prev = caches[l - 2].Z
                dZ = DERIVATIVES[self.activations[l - 2]](
                    Z_prev, A_prev, dA_prev, slope=self.leaky_slope
                )
        return grads

    def compute_cost(self, X: np.ndarray, Y: np.ndarray) -> float:
        AL, caches = self.forward(X)
        return self.cost(AL, caches, Y)

    # ---- prediction ------------------------------------------------------------------------

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The output layer's activations ``A[L]``, shape ``(n[L], m)``."""
        return self.forward(X)[0]

    def predict(self, X: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class labels ``(m,)`` for a classifier; the outputs themselves for regression."""
        return self.labels_from_output(self.predict_proba(X), threshold)

    def labels_from_output(self, AL: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        if self.output_activation == "sigmoid" and AL.shape[0] == 1:
            return (AL[0] > threshold).astype(np.int64)
        if self.output_activation in ("softmax", "sigmoid"):
            return np.argmax(AL, axis=0)
        return AL

    def accuracy(self, AL: np.ndarray, y: np.ndarray) -> float | None:
        """Fraction of examples whose predicted class is ``y`` (labels ``(m,)`` or ``(1, m)``)."""
        if self.output_activation == "linear":
            return None
        y = np.asarray(y)
        labels = np.argmax(y, axis=0) if (y.ndim == 2 and y.shape[0] > 1) else y.reshape(-1)
        return float(np.mean(self.labels_from_output(AL) == labels))
