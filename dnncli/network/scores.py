"""Scores of a regression's outputs against its targets (a classifier's accuracy is
:meth:`Network.accuracy`; its precision, recall and F1 are in :mod:`dnncli.model.evaluate`)."""

from __future__ import annotations

import numpy as np


def regression_scores(
    outputs: np.ndarray, targets: np.ndarray, *, scale: float = 1.0, mean: float = 0.0
) -> dict[str, float | None]:
    """MSE, RMSE, MAE and R^2 (averaged over the outputs; None for a constant target) of
    ``(n_out, m)`` arrays. A network trained on a standardized target scores in the target's own
    units with the training ``scale`` and ``mean`` (each value taken back as ``value * scale +
    mean`` first): RMSE and MAE in dollars, not in deviations; R^2 is the same either way."""
    if scale != 1.0 or mean != 0.0:
        outputs = outputs * scale + mean
        targets = targets * scale + mean
    error = outputs - targets
    squared = error * error
    mse = float(np.mean(squared))
    residual = np.sum(squared, axis=1)
    total = np.sum((targets - targets.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = float(np.mean(1 - residual / total)) if np.all(total > 0) else None
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(error))), "r2": r2}
