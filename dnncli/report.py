"""Reports out: history CSV, summary tables, JSON for pipelines (pictures: :mod:`dnncli.plots`)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from dnncli.training.state import History


def write_history_csv(history: "History", path: Path) -> None:
    columns = ["iteration", "cost", "train_accuracy", "test_accuracy"]
    present = {k for row in history.rows for k in row}
    # mini-batch runs count epochs; validation and schedules add their columns
    if "epoch" in present:
        columns.insert(1, "epoch")
    columns += [
        k for k in ("test_cost", "val_cost", "val_accuracy", "train_r2", "test_r2", "val_r2", "learning_rate")
        if k in present
    ]
    extra = sorted(present - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + extra, lineterminator="\n")
    writer.writeheader()
    for row in history.rows:
        writer.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in row.items()})
    Path(path).write_text(buffer.getvalue())


def fmt(value: Any, digits: int = 6) -> str:
    """A number for a table: ``digits`` significant digits, '-' for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def training_summary(metrics: dict[str, Any]) -> "Table":
    from rich.table import Table

    from dnncli.terminal.display import shown

    table = Table(title=shown(f"run {metrics['name']}"), show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("train accuracy", fmt(metrics.get("train_accuracy"), 4))
    table.add_row("test accuracy", fmt(metrics.get("test_accuracy"), 4))
    table.add_row("initial cost", fmt(metrics.get("initial_cost")))
    table.add_row("final cost", fmt(metrics.get("final_cost")))
    if metrics.get("test_cost") is not None:
        table.add_row("test cost", fmt(metrics.get("test_cost")))
    if metrics.get("val_cost") is not None:
        table.add_row("validation accuracy", fmt(metrics.get("val_accuracy"), 4))
        table.add_row("validation cost", fmt(metrics.get("val_cost")))
    for part in ("train", "test", "val"):  # regression
        if metrics.get(f"{part}_r2") is not None or metrics.get(f"{part}_mae") is not None:
            label = "validation" if part == "val" else part
            table.add_row(f"{label} R² / MAE", f"{fmt(metrics.get(f'{part}_r2'), 4)} / {fmt(metrics.get(f'{part}_mae'), 4)}")
    if metrics.get("best_epoch") is not None:
        stopped = "stopped early, " if metrics.get("stopped_early") else ""
        table.add_row("best", f"{stopped}parameters of epoch {metrics['best_epoch']} kept")
    table.add_row("iterations", str(metrics.get("iterations")))
    table.add_row("time", f"{metrics.get('seconds', 0):.2f} s")
    run_dir = metrics.get("run_dir", "")
    files = metrics.get("files") or ["model.h5", "history.csv", "metrics.json", "config.yaml"]
    table.add_row("files", shown(f"{run_dir}/ ({', '.join(files)})"))
    return table


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
