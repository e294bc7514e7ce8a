"""Numbers and JSON as text for people and pipelines."""

from __future__ import annotations

import json
import math
from typing import Any


def fmt(value: Any, digits: int = 6) -> str:
    """A number for a table: ``digits`` significant digits, '-' for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def score_text(value: Any) -> str:
    """An accuracy, precision, recall, F1, R² or MAE for a table: always four decimals, so that
    1.0000 lines up with 0.9777 (not ``1`` beside it)."""
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else fmt(value)


def cost_text(value: Any) -> str:
    """A cost or log loss for a table: six significant digits, trailing zeros kept (0.461260)."""
    return f"{value:#.6g}" if isinstance(value, float) else fmt(value)


SCORE_NAMES = ("accuracy", "precision", "recall", "f1", "r2", "mae")
COST_NAMES = ("cost", "log_loss")


def metric_text(name: str, value: Any) -> str:
    """A metric named as in metrics.json, in its one format (:func:`score_text`, :func:`cost_text`)."""
    if isinstance(value, float) and name.endswith(SCORE_NAMES):
        return score_text(value)
    if isinstance(value, float) and name.endswith(COST_NAMES):
        return cost_text(value)
    return fmt(value)


def to_json(obj: Any) -> str:
    """JSON for pipelines: NaN and infinity become null, so any JSON parser reads it."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(obj), indent=2, default=str)
