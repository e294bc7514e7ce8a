"""``scale.png``: a sweep over the training-set size and the network size drawn as the course's
scale picture, the test score against m with one line per network.

It is drawn when the space sweeps a training-set size (``data.train_size``: m itself, or
``data.train_range``: m is its stop − start) and a network size (``model.hidden`` or
``model.layers``). The score is ``test_rmse`` when the trials have it (a table's regression, in the
target's units), else the sweep's metric. Where other keys are swept too, or a point was run more
than once, a point is the best of the complete trials at that m and network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dnncli.plots.scale import ScaleLines, draw_scale
from dnncli.sweep.results import TrialRecord
from dnncli.sweep.spec import Param, Sweep

SIZE_KEYS = ("data.train_size", "data.train_range")
NETWORK_KEYS = ("model.hidden", "model.layers")
PICTURE = "scale.png"


def _param(sweep: Sweep, keys: tuple[str, ...]) -> Param | None:
    return next((p for p in sweep.params if p.key in keys), None)


def has_scale(sweep: Sweep) -> bool:
    """Whether the space sweeps both a training-set size and a network size."""
    return _param(sweep, SIZE_KEYS) is not None and _param(sweep, NETWORK_KEYS) is not None


def _m(key: str, value: Any) -> int:
    return int(value[1] - value[0]) if key == "data.train_range" else int(value)


def _score_name(sweep: Sweep, complete: list[TrialRecord]) -> str:
    has_rmse = all(isinstance((r.metrics or {}).get("test_rmse"), (int, float)) for r in complete)
    return "test_rmse" if complete and has_rmse else sweep.metric


def scale_lines(sweep: Sweep, records: list[TrialRecord]) -> tuple[str, ScaleLines]:
    """The score's name and, per network (in the space's order), its ``(m, score)`` points."""
    size, network = _param(sweep, SIZE_KEYS), _param(sweep, NETWORK_KEYS)
    assert size is not None and network is not None
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    score = _score_name(sweep, complete)
    lower_is_better = score == "test_rmse" or sweep.goal == "minimize"
    best: dict[tuple[str, int], float] = {}
    for record in complete:
        value = record.value if score == sweep.metric else record.metrics[score]
        point = (json.dumps(record.params[network.key]), _m(size.key, record.params[size.key]))
        if point not in best or (value < best[point] if lower_is_better else value > best[point]):
            best[point] = float(value)
    order = [json.dumps(c) for c in network.choices] if network.scale == "choice" else sorted({n for n, _ in best})
    lines: ScaleLines = {}
    for net in order:
        points = sorted((m, value) for (n, m), value in best.items() if n == net)
        if points:
            lines[_label(net)] = [(float(m), value) for m, value in points]
    return score, lines


def _label(encoded: str) -> str:
    value = json.loads(encoded)
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def write_scale(sweep: Sweep, records: list[TrialRecord], path: Path | None = None) -> tuple[Path, ScaleLines] | None:
    """Draw ``scale.png`` in the sweep's directory (or ``path``) when the space has both sizes and
    a trial is complete; the path and the points drawn, or None."""
    if not has_scale(sweep):
        return None
    score, lines = scale_lines(sweep, records)
    if not lines:
        return None
    path = path or sweep.directory / PICTURE
    size, network = _param(sweep, SIZE_KEYS), _param(sweep, NETWORK_KEYS)
    assert size is not None and network is not None
    title = f"sweep {sweep.name}: {score} against the training-set size m"
    return path, draw_scale(lines, path, title=title, score=score, size_key=size.key, network_key=network.key)
