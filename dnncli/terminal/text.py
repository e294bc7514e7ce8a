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
