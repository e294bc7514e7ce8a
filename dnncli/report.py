"""Reports out: history CSV, the learning-curve plot, summary tables, JSON for pipelines."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from dnncli.config import Config
    from dnncli.training.state import History

LOSS_LABELS = {
    "binary_crossentropy": "binary cross-entropy",
    "categorical_crossentropy": "categorical cross-entropy",
    "mse": "mean squared error / 2",
}


def write_history_csv(history: "History", path: Path) -> None:
    columns = ["iteration", "cost", "train_accuracy", "test_accuracy"]
    present = {k for row in history.rows for k in row}
    # mini-batch runs count epochs; validation and schedules add their columns
    if "epoch" in present:
        columns.insert(1, "epoch")
    columns += [k for k in ("val_cost", "val_accuracy", "learning_rate") if k in present]
    extra = sorted(present - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + extra, lineterminator="\n")
    writer.writeheader()
    for row in history.rows:
        writer.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in row.items()})
    Path(path).write_text(buffer.getvalue())


def plot_learning_curve(history: "History", path: Path, config: "Config", loss_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_epoch = any(v is not None for v in history.column("epoch"))
    x_label = "epoch" if by_epoch else "iteration"
    iterations = history.column(x_label)
    costs = history.column("cost")
    val_costs = history.column("val_cost")
    accuracies = {
        name: history.column(name)
        for name in ("train_accuracy", "test_accuracy", "val_accuracy")
        if any(v is not None for v in history.column(name))
    }
    fig, axes = plt.subplots(
        1, 2 if accuracies else 1, figsize=(11 if accuracies else 6.5, 4.2), squeeze=False
    )
    ax = axes[0][0]
    ax.plot(iterations, costs, color="tab:blue", linewidth=1.8, label="training")
    if any(v is not None for v in val_costs):
        val_line = [math.nan if v is None else v for v in val_costs]
        ax.plot(iterations, val_line, color="tab:orange", linewidth=1.8, label="validation")
        best = min(range(len(val_line)), key=lambda i: math.inf if math.isnan(val_line[i]) else val_line[i])
        ax.plot([iterations[best]], [val_line[best]], "o", color="tab:red", label="lowest validation cost")
        ax.legend(loc="upper right")
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"cost ({LOSS_LABELS.get(loss_name, loss_name)})")
    ax.set_title(f"{config.name}: learning rate {config.training.learning_rate:g}")
    ax.grid(True, alpha=0.3)
    if accuracies:
        ax2 = axes[0][1]
        for name, values in accuracies.items():
            ax2.plot(iterations, values, label=name.replace("_", " ").replace("val ", "validation "), linewidth=1.8)
        ax2.set_xlabel(x_label)
        ax2.set_ylabel("accuracy")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_title("accuracy")
        ax2.grid(True, alpha=0.3)
        ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # explicit: the path may be an atomic temp name
    plt.close(fig)


def fmt(value: Any, digits: int = 6) -> str:
    """A number for a table: ``digits`` significant digits, '-' for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def training_summary(metrics: dict[str, Any]) -> "Table":
    from rich.table import Table

    table = Table(title=f"run {metrics['name']}", show_header=False, title_justify="left")
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
    table.add_row("files", f"{run_dir}/ (model.h5, history.csv, loss.png, metrics.json, config.yaml)")
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
