"""A sweep's results: ``results.csv``, the JSON records, ``best.yaml`` and ``sweep.png``.

Every file is written atomically, ``results.csv`` after every trial, so an interrupted sweep
still has the results it got.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dnncli.config import apply_overrides
from dnncli.files import atomic
from dnncli.plots.figure import drawing, integer_ticks, plain, save, thousands_ticks
from dnncli.sweep.spec import Param, Sweep
from dnncli.terminal.display import csv_text as spreadsheet_text
from dnncli.terminal.text import to_json

# metrics.json keys that are not measurements of the trained network
NOT_METRICS = {"name", "run_dir", "dnn_version", "first_layer", "first_layer_reason", "status", "overrides", "started", "files", "segments", "warnings"}


@dataclass
class TrialRecord:
    """One trial as the results show it."""

    number: int
    state: str  # running, complete, pruned, failed, interrupted
    params: dict[str, Any]  # config key -> value
    run_dir: str
    value: float | None = None
    metrics: dict[str, Any] | None = None
    seconds: float | None = None
    error: str | None = None
    spread: float | None = None  # seeds > 1: the standard deviation of the seeds' metric
    seed_values: list[float] | None = None  # seeds > 1: the metric of each seed's training
    val_cost: float | None = None  # the (seeds' mean) validation cost: what breaks a tie

    def as_dict(self, metric: str) -> dict[str, Any]:
        return {
            "number": self.number, "state": self.state, "params": self.params, "metric": metric,
            "value": self.value, "spread": self.spread, "seed_values": self.seed_values,
            "metrics": self.metrics or {}, "seconds": self.seconds, "run_dir": self.run_dir, "error": self.error,
        }

    def tie_cost(self) -> float:
        cost = self.val_cost if self.val_cost is not None else (self.metrics or {}).get("val_cost")
        return float(cost) if isinstance(cost, (int, float)) and math.isfinite(cost) else math.inf


def metric_columns(records: list[TrialRecord]) -> list[str]:
    """Every numeric metric any trial has, in the order metrics.json gives them."""
    columns: list[str] = []
    for record in records:
        for key, value in (record.metrics or {}).items():
            if key not in NOT_METRICS and key not in columns and (value is None or isinstance(value, (int, float))):
                columns.append(key)
    return columns


def _cell(value: Any) -> Any:
    """A CSV cell: numbers as they are, text literal and never read as a spreadsheet formula."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return spreadsheet_text(json.dumps(value))
    if isinstance(value, str):
        return spreadsheet_text(value)
    return value


def csv_text(sweep: Sweep, records: list[TrialRecord]) -> str:
    metrics = metric_columns(records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [p.key for p in sweep.params]
    spread = [f"{sweep.metric}_spread"] if sweep.seeds > 1 else []
    writer.writerow(["number", "state", *keys, sweep.metric, *spread, *[m for m in metrics if m != sweep.metric],
                     "trial_seconds", "run_dir", "error"])
    for r in sorted(records, key=lambda r: r.number):
        row = [r.number, r.state, *[_cell(r.params.get(k)) for k in keys], _cell(r.value)]
        row += [_cell(r.spread)] if spread else []
        row += [_cell((r.metrics or {}).get(m)) for m in metrics if m != sweep.metric]
        row += [_cell(r.seconds), _cell(r.run_dir), _cell(r.error)]
        writer.writerow(row)
    return out.getvalue()


def write_csv(sweep: Sweep, records: dict[int, TrialRecord] | list[TrialRecord]) -> Path:
    rows = list(records.values()) if isinstance(records, dict) else records
    path = sweep.directory / "results.csv"
    atomic.write_text(path, csv_text(sweep, rows))
    return path


def best_record(sweep: Sweep, records: list[TrialRecord]) -> TrialRecord | None:
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    if not complete:
        return None
    sign = 1 if sweep.goal == "maximize" else -1
    # ties go to the lower validation cost, then to the earlier trial
    return max(complete, key=lambda r: (sign * r.value, -r.tie_cost(), -r.number))


def tied_with(best: TrialRecord | None, records: list[TrialRecord]) -> list[int]:
    """The other complete trials with exactly the best trial's metric."""
    if best is None:
        return []
    return [r.number for r in records if r.state == "complete" and r.value == best.value and r.number != best.number]


def best_text(sweep: Sweep, best: TrialRecord, records: list[TrialRecord]) -> str:
    """The best trial in words, saying whether it is a tie and what decided it."""
    spread = f" ± {best.spread:.2g} over {sweep.seeds} seeds" if best.spread is not None else ""
    text = f"best: trial {best.number}, {sweep.metric} {best.value:.6g}{spread}"
    tied = tied_with(best, records)
    if tied:
        others = [r for r in records if r.number in tied]
        by_cost = all(r.tie_cost() != best.tie_cost() for r in others) and math.isfinite(best.tie_cost())
        text += (f" (a tie with trial{'s' if len(tied) > 1 else ''} {', '.join(map(str, tied))}; chosen by "
                 + (f"its lower val_cost, {best.tie_cost():.6g})" if by_cost else "being the earliest)"))
    return text


def summary(sweep: Sweep, records: list[TrialRecord], best: TrialRecord | None,
            importance: dict[str, float] | None) -> dict[str, Any]:
    """The sweep's results as JSON (``--json``, ``results.json``)."""
    return {
        "sweep": sweep.name, "metric": sweep.metric, "goal": sweep.goal, "sampler": sweep.sampler,
        "seeds": sweep.seeds, "warnings": list(sweep.notes),
        "best": best.number if best is not None else None, "tied_with": tied_with(best, records),
        "importance": importance or {}, "trials": json_records(sweep, records),
    }


def best_yaml(sweep: Sweep, best: TrialRecord) -> str:
    """The base config with the best trial's parameters, ready for ``dnn train``."""
    raw = copy.deepcopy(sweep.base_raw)
    apply_overrides(raw, [f"{k}={json.dumps(v)}" for k, v in best.params.items()])
    header = (
        f"# The best trial of sweep {sweep.name} ({sweep.source}): trial {best.number}, "
        f"{sweep.metric} = {best.value:.6g}\n"
        f"# its run: {best.run_dir}; train it again with: dnn train {sweep.directory / 'best.yaml'}\n"
    )
    return header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None)


def write_all(
    sweep: Sweep, records: list[TrialRecord], best: TrialRecord | None, importance: dict[str, float] | None = None
) -> list[Path]:
    files = [write_csv(sweep, records)]
    path = sweep.directory / "results.json"
    atomic.write_text(path, to_json(summary(sweep, records, best, importance)) + "\n")
    files.append(path)
    if best is not None:
        path = sweep.directory / "best.yaml"
        atomic.write_text(path, best_yaml(sweep, best))
        files.append(path)
    if any(r.value is not None for r in records):
        files.append(plot(sweep, records, best, sweep.directory / "sweep.png", importance))
    return files


def json_records(sweep: Sweep, records: list[TrialRecord]) -> list[dict[str, Any]]:
    return [r.as_dict(sweep.metric) for r in sorted(records, key=lambda r: r.number)]


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# ---- sweep.png -------------------------------------------------------------------------------


def plot(
    sweep: Sweep, records: list[TrialRecord], best: TrialRecord | None, path: Path,
    importance: dict[str, float] | None = None,
) -> Path:
    """One panel per swept parameter (the metric against it: log axes where the scale is log, β
    as 1 − β on a log axis; a point run more than once drawn larger, with its count), the
    best-so-far curve over the trials, and Optuna's parameter importance when known; the legend
    below the panels, outside every point. Written atomically, the same bytes for the same
    results, text from the sweep file never read as mathtext (dnncli.plots.figure)."""
    scored = [r for r in records if r.value is not None]
    panels = len(sweep.params) + 1 + (1 if importance else 0)
    columns = 2 if panels == 4 else min(3, panels)  # four panels as a square, not a row of three and one
    rows = math.ceil(panels / columns)
    with drawing() as plt:
        fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows + 0.6), squeeze=False,
                                 layout="constrained")
        flat = [ax for row in axes for ax in row]
        for ax, param in zip(flat, sweep.params):
            _parameter_panel(ax, sweep, param, scored, best, importance or {})
        _best_so_far_panel(flat[len(sweep.params)], sweep, records)
        if importance:
            _importance_panel(flat[len(sweep.params) + 1], importance)
        for ax in flat[panels:]:
            ax.set_visible(False)
        handles: dict[str, Any] = {}
        for ax in flat[:panels]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles), fontsize=8)
        fig.suptitle(plain(f"sweep {sweep.name}: {sweep.metric} ({sweep.goal})", 120), fontsize=11)
        return save(fig, path, "png")


def _importance_panel(ax: Any, importance: dict[str, float]) -> None:
    keys = list(importance)[::-1]  # most important at the top
    ax.barh(range(len(keys)), [importance[k] for k in keys], color="tab:green")
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([plain(k.split(".", 1)[-1], 30) for k in keys], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_title("parameter importance (Optuna)", fontsize=9)
    ax.set_xlabel("importance (the parameters' sum to 1)")
    ax.grid(True, axis="x", alpha=0.3)


def _log_ticks(ax: Any, low: float, high: float) -> None:
    """Decades (and 3s when the range is short) labelled as plain numbers; no crowded minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = math.log10(high / low) if low > 0 and high > low else 0
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0) if decades < 3 else (1.0,), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _parameter_panel(
    ax: Any, sweep: Sweep, param: Param, scored: list[TrialRecord], best: TrialRecord | None,
    importance: dict[str, float],
) -> None:
    def x_of(record: TrialRecord) -> Any:
        value = record.params[param.key]
        if param.scale == "one_minus_log_uniform":
            return 1.0 - value
        if param.scale == "choice":
            return [json.dumps(c) for c in param.choices].index(json.dumps(value))
        return value

    for state, marker, colour in (("complete", "o", "tab:blue"), ("pruned", "x", "tab:gray")):
        counts: dict[tuple[Any, float], int] = {}
        for r in scored:
            if r.state == state:
                counts[(x_of(r), r.value)] = counts.get((x_of(r), r.value), 0) + 1
        if counts:
            points = sorted(counts, key=lambda p: (str(p[0]), p[1]))
            ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, color=colour, alpha=0.7,
                       s=[30 * counts[p] ** 0.7 for p in points], label=f"{state} trial", clip_on=False)
            for point in points:  # a point reached more than once: its count beside it
                if counts[point] > 1:
                    ax.annotate(f"×{counts[point]}", point, xytext=(8, 5), textcoords="offset points", fontsize=7)
    if best is not None:
        ax.scatter([x_of(best)], [best.value], marker="*", s=180, color="tab:red", zorder=3, label="best",
                   clip_on=False)
    label = param.key
    if param.scale == "one_minus_log_uniform":
        label = f"1 − {param.key}"
    if param.log:
        ax.set_xscale("log")
        low, high = param.distribution().low, param.distribution().high
        _log_ticks(ax, low, high)
    ax.margins(x=0.06, y=0.12)  # the best's star and the counts inside the frame
    if param.scale == "choice":
        ax.set_xticks(range(len(param.choices)))
        labels = [plain(format_value(c), 24) for c in param.choices]
        ax.set_xticklabels(labels, rotation=20 if max(len(t) for t in labels) > 6 else 0)
        ax.set_xlim(-0.5, len(param.choices) - 0.5)
    ax.set_xlabel(plain(label, 80))
    ax.set_ylabel(sweep.metric)
    if min(abs(limit) for limit in ax.get_ylim()) >= 1000:
        thousands_ticks(ax)
    if param.key in importance:
        ax.set_title(f"importance {importance[param.key]:.2f}", fontsize=9)
    ax.grid(True, alpha=0.3)


def _best_so_far_panel(ax: Any, sweep: Sweep, records: list[TrialRecord]) -> None:
    better = max if sweep.goal == "maximize" else min
    numbers, values, best_curve, best = [], [], [], None
    for r in sorted(records, key=lambda r: r.number):
        if r.state == "complete" and r.value is not None:
            best = r.value if best is None else better(best, r.value)
            numbers.append(r.number)
            values.append(r.value)
            best_curve.append(best)
    ax.scatter(numbers, values, color="tab:blue", alpha=0.6, clip_on=False)
    ax.step(numbers, best_curve, where="post", color="tab:red", label="best so far")
    ax.margins(x=0.06, y=0.12)
    ax.set_xlabel("trial")
    integer_ticks(ax.xaxis)  # trial numbers: 0, 5, 10, never 2.5
    ax.set_ylabel(sweep.metric)
    if min(abs(limit) for limit in ax.get_ylim()) >= 1000:
        thousands_ticks(ax)
    ax.grid(True, alpha=0.3)
