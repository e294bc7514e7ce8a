"""A small demo table, the same bytes for the same seed on every machine: houses with numbers that
have gaps, a text category with gaps, an id and a free-text column (to leave out with
``data.drop``), and a target: whether the house sold within a month (``sold``: ``yes`` / ``no``,
a classification) or its price (``price``, a regression).

The free text holds what a CSV reader must take as written: commas, doubled quotes, a line
break inside a quoted field, and a cell that a spreadsheet would run as a formula (``=1+2``).
Both targets follow from the same hidden score, so a network learns either well above chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnncli.data.arrow import pa, pa_csv, pq
from dnncli.files.atomic import write_with

TARGETS = {"classification": "sold", "regression": "price"}
DISTRICTS = np.array(["harbour", "hills", "old town", "riverside"])
DISTRICT_EFFECT = np.array([0.8, 0.3, -0.2, -0.7])
NOTES = np.array(["near the park, quiet", 'the owner says "cosy"', "two rooms\nupstairs", "=1+2", "south facing"])


def _with_gaps(values: np.ndarray, rng: np.random.Generator, share: float) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < share)


def _standard(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def demo_table(m: int = 400, seed: int = 0, task: str = "classification") -> pa.Table:
    """``m`` rows: ``id``, ``area`` (m², gaps), ``rooms`` (gaps), ``age`` (years), ``district``
    (text, gaps), ``note`` (free text), and the target of ``task`` (``sold`` or ``price``)."""
    if task not in TARGETS:
        raise ValueError(f"task must be one of {', '.join(TARGETS)}, not {task!r}")
    rng = np.random.default_rng(seed)
    area = np.round(rng.lognormal(4.4, 0.35, m), 1)
    rooms = np.clip(np.round(area / 25 + rng.normal(0, 0.8, m)), 1, 9)
    age = rng.integers(0, 90, m)
    district = rng.integers(0, len(DISTRICTS), m)
    score = 1.2 * _standard(area) + 0.5 * _standard(rooms) - 0.6 * _standard(age) + DISTRICT_EFFECT[district]
    score += rng.normal(0, 0.5, m)
    if task == "classification":
        target = pa.array(np.where(score > 0, "yes", "no"))
    else:
        target = pa.array(np.round(250_000 + 60_000 * score, -2).astype(np.int64))
    ids = np.char.add("h", np.char.zfill(np.arange(1, m + 1).astype(str), 5))
    columns = {
        "id": pa.array(ids),
        "area": _with_gaps(area, rng, 0.08),
        "rooms": _with_gaps(rooms.astype(np.int64), rng, 0.05),
        "age": pa.array(age),
        "district": _with_gaps(DISTRICTS[district], rng, 0.04),
        "note": _with_gaps(NOTES[rng.integers(0, len(NOTES), m)], rng, 0.1),
        TARGETS[task]: target,
    }
    return pa.table(columns)


def write_demo_table(path: str | Path, m: int = 400, seed: int = 0, task: str = "classification") -> Path:
    """:func:`demo_table` written atomically as CSV, or as Parquet for a ``.parquet`` name."""
    path = Path(path)
    table = demo_table(m, seed, task)
    if path.suffix.lower() in (".parquet", ".pq"):
        write_with(path, lambda temporary: pq.write_table(table, temporary), suffix=".parquet")
    else:
        write_with(path, lambda temporary: pa_csv.write_csv(table, temporary), suffix=".csv")
    return path
