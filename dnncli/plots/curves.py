"""Learning curves: a run's ``loss.png`` (cost on a log axis and accuracy, every split) and
``dnn plot curves`` (several runs on one figure).

History rows are dicts as :class:`dnncli.training.loop.History` holds them, or as read back from
``history.csv`` (:func:`read_history_csv`): ``iteration``, ``epoch`` (mini-batches), ``cost``,
``test_cost``, ``val_cost``, the accuracies, and ``*_r2`` for a regression.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from dnncli.config import read_config_file
from dnncli.errors import ConfigError, DataError, DnnError
from dnncli.files.userfile import read_regular_text
from dnncli.plots.figure import (
    BEST_EPOCH_COLOUR,
    SPLIT_COLOURS,
    drawing,
    integer_ticks,
    legend_label,
    margins,
    plain,
    plain_lines,
    run_colours,
    save,
    thousands_ticks,
    whole_pixels,
)

Row = dict[str, Any]

# split -> (cost column, accuracy column, R^2 column)
SPLITS = {
    "train": ("cost", "train_accuracy", "train_r2"),
    "validation": ("val_cost", "val_accuracy", "val_r2"),
    "test": ("test_cost", "test_accuracy", "test_r2"),
}
# a regression's RMSE in the target's units (a table's target was standardized for training): the
# first panel of loss.png shows it instead of the cost, in dollars rather than deviations
RMSE_COLUMNS = {"train": "train_rmse", "validation": "val_rmse", "test": "test_rmse"}
LOSS_LABELS = {
    "binary_crossentropy": "binary cross-entropy",
    "categorical_crossentropy": "categorical cross-entropy",
    "mse": "mean squared error / 2",
}
LEARNING_CURVE_SIZE = (12.0, 4.8)  # inches: 1800 x 720 pixels at 150 dpi
SINGLE_PANEL_SIZE = (7.0, 4.8)
COMPARE_SIZE = (12.0, 6.0)
MIN_PANEL_HEIGHT = 3.0  # inches of axes kept however many runs the legend below them names
MARKERS_BELOW = 25  # fewer recorded rows than this: mark each one


def column(rows: Sequence[Row], name: str) -> list[float]:
    """A column as floats, NaN where a row has no value (matplotlib leaves a gap there)."""
    out = []
    for row in rows:
        value = row.get(name)
        out.append(math.nan if value is None or value == "" else float(value))
    return out


def _present(values: list[float]) -> bool:
    return any(math.isfinite(v) for v in values)


def _last(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return finite[-1] if finite else None


def by_epoch(rows: Sequence[Row]) -> bool:
    return _present(column(rows, "epoch"))


def x_values(rows: Sequence[Row]) -> list[float]:
    """Epochs with mini-batches; with full batches iterations (one iteration is one epoch)."""
    return column(rows, "epoch") if by_epoch(rows) else column(rows, "iteration")


def _score_kind(rows: Sequence[Row]) -> str | None:
    """'accuracy', 'R²' (regression) or None when the rows hold neither."""
    if any(_present(column(rows, names[1])) for names in SPLITS.values()):
        return "accuracy"
    if any(_present(column(rows, names[2])) for names in SPLITS.values()):
        return "R²"
    return None


def _cost_axis_scale(ax: Any, values: list[float]) -> None:
    """A log axis (it shows 2.4 -> 0.001 and a late rise of the validation cost) when the costs
    are positive, its ticks written as plain numbers (0.3, not 3 x 10^-1)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    finite = [v for v in values if math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return
    ax.set_yscale("log")
    number = FuncFormatter(lambda value, _: f"{value:.3g}")
    ax.yaxis.set_major_formatter(number)
    decades = math.log10(max(finite) / min(finite))
    if decades < 1.5:  # few or no powers of ten in view: label the steps between them
        subs = (2, 3, 4, 5, 6, 7, 8, 9) if decades < 0.7 else (2, 3, 5, 7)
        ax.yaxis.set_minor_locator(LogLocator(subs=subs))
        ax.yaxis.set_minor_formatter(number)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _zoom_scores(ax: Any, values: list[float], kind: str) -> None:
    """Limits around the scores themselves (0.93-1.00 is not squashed into 0-1)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.08, 0.01)
    top = min(high + pad, 1.01)
    bottom = max(low - pad, -0.01 if kind == "accuracy" else -1.0)
    if kind != "accuracy" and low < -1.0:
        ax.set_ylabel("R² (below -1 not shown)")
    ax.set_ylim(bottom, top)


def _format(value: float | None, kind: str = "cost") -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if kind == "accuracy" else f"{value:.4g}"


def learning_curve_figure(
    plt: Any,
    rows: Sequence[Row],
    *,
    title: str,
    loss_name: str,
    best_epoch: int | None = None,
) -> Any:
    """Cost (log axis) of every split, and accuracy or R² zoomed to the values, side by side."""
    kind = _score_kind(rows)
    fig, axes = plt.subplots(
        1, 2 if kind else 1, figsize=LEARNING_CURVE_SIZE if kind else SINGLE_PANEL_SIZE, squeeze=False
    )
    fig.suptitle(plain_lines(title), fontsize=10, y=1 - 0.08 / LEARNING_CURVE_SIZE[1], va="top")
    x = x_values(rows)
    x_label = "epoch" if by_epoch(rows) else "iteration"
    marker = "o" if len(rows) < MARKERS_BELOW else None
    cost_ax = axes[0][0]
    all_costs: list[float] = []
    in_units = any(_present(column(rows, name)) for name in RMSE_COLUMNS.values())
    for split, (cost_name, _, _) in SPLITS.items():
        costs = column(rows, RMSE_COLUMNS[split] if in_units else cost_name)
        if _present(costs):
            all_costs += costs
            # with mini-batches the train row is the mean over the epoch's batches, while the
            # summary's final cost is the trained parameters' on the whole training set
            # (the RMSE is always a pass over the whole set)
            mean = " (mean over the epoch's batches)" if split == "train" and by_epoch(rows) and not in_units else ""
            last = _last(costs)
            shown = f"{last:,.0f}" if in_units and last is not None and abs(last) >= 1000 else _format(last)
            cost_ax.plot(x, costs, color=SPLIT_COLOURS[split], linewidth=1.6, marker=marker, markersize=3,
                         label=f"{split} {shown}{mean}")
    _cost_axis_scale(cost_ax, all_costs)
    if in_units and min((v for v in all_costs if math.isfinite(v)), default=0) >= 1000:
        thousands_ticks(cost_ax)
    name = "RMSE" if in_units else "cost"
    cost_ax.set_ylabel("RMSE (the target's units)" if in_units else f"cost ({LOSS_LABELS.get(loss_name, plain(loss_name))})")
    cost_ax.set_title(name + (" (log scale)" if cost_ax.get_yscale() == "log" else ""))
    panels = [cost_ax]
    if kind:
        score_ax = axes[0][1]
        all_scores: list[float] = []
        for split, (_, accuracy_name, r2_name) in SPLITS.items():
            scores = column(rows, accuracy_name if kind == "accuracy" else r2_name)
            if _present(scores):
                all_scores += scores
                score_ax.plot(x, scores, color=SPLIT_COLOURS[split], linewidth=1.6, marker=marker, markersize=3,
                              label=f"{split} {_format(_last(scores), kind)}")
        score_ax.set_title(kind)
        score_ax.set_ylabel(kind)
        _zoom_scores(score_ax, all_scores, kind)
        panels.append(score_ax)
    for ax in panels:
        if best_epoch is not None:
            ax.axvline(best_epoch, color=BEST_EPOCH_COLOUR, linestyle="--", linewidth=1.1,
                       label=f"best {x_label} {best_epoch}")
        ax.set_xlabel(x_label)
        integer_ticks(ax.xaxis)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", title="last recorded values")
    if not rows:
        cost_ax.text(0.5, 0.5, "no history recorded yet", ha="center", va="center", transform=cost_ax.transAxes)
    margins(fig, left=0.8, right=0.2, top=0.95, bottom=0.55, gap=0.85)
    return fig


def run_title(config: Any, layers: Sequence[int], activations: Sequence[str], status: str | None = None) -> str:
    """Two lines: the network, then how it was trained (optimizer, learning rate and schedule,
    batch size, budget, regularization)."""
    t = config.training
    network = f"{config.name}: layers {list(layers)}, {_activations_text(activations)}"
    if status:
        network += f" ({status})"
    rate = f"learning rate {t.learning_rate:g}"
    if t.schedule != "constant":
        rate += f" ({t.schedule} decay, rate {t.decay_rate:g} every {t.decay_steps} epoch{'s' * (t.decay_steps != 1)})"
    batch = "full batch" if t.batch_size is None else f"batch size {t.batch_size}"
    budget = f"{t.iterations} iterations" if t.iterations is not None else f"{t.epochs} epochs"
    parts = [t.optimizer, rate, batch, budget]
    if t.l2_lambda:
        parts.append(f"L2 λ {t.l2_lambda:g}")
    keep = t.keep_prob if isinstance(t.keep_prob, list) else [t.keep_prob]
    if any(k < 1 for k in keep):
        parts.append("keep_prob " + "/".join(f"{k:g}" for k in keep))
    if t.early_stopping:
        parts.append(f"early stopping (patience {t.patience})")
    return network + "\n" + ", ".join(parts)


def _activations_text(activations: Sequence[str]) -> str:
    groups: list[list[Any]] = []
    for name in activations:
        if groups and groups[-1][0] == name:
            groups[-1][1] += 1
        else:
            groups.append([name, 1])
    return ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in groups)


def write_learning_curve(
    rows: Sequence[Row], path: str | Path, fmt: str, *, title: str, loss_name: str, best_epoch: int | None = None
) -> Path:
    with drawing() as plt:
        fig = learning_curve_figure(plt, rows, title=title, loss_name=loss_name, best_epoch=best_epoch)
        return save(fig, path, fmt)


# ---- several runs ------------------------------------------------------------------------------


@dataclass
class RunCurves:
    """One run of ``dnn plot curves``: where it is, its label, its history rows."""

    path: Path
    label: str
    rows: list[Row]


HISTORY = "history.csv"
CONFIG = "config.yaml"


def find_runs(arguments: Sequence[str | Path]) -> list[Path]:
    """Run directories: each argument is a run (it holds history.csv) or a directory of runs (a
    sweep, or ``runs/``), whose run subdirectories are taken in name order; symlinks to a run
    already listed (``runs/latest``) are skipped."""
    found: list[Path] = []
    seen: set[Path] = set()
    for argument in arguments:
        path = Path(argument)
        if path.is_file() and path.name == HISTORY:
            path = path.parent
        if not path.exists():
            raise DataError(f"{path}: no such run directory")
        if not path.is_dir():
            raise DataError(f"{path}: not a run directory (expected a directory holding {HISTORY})")
        if not (path / HISTORY).is_file() and (path / "trials").is_dir():
            path = path / "trials"  # a sweep's directory: its trials, in their numbers' order
        if (path / HISTORY).is_file():
            candidates = [path]
        else:
            candidates = sorted((p for p in path.iterdir() if p.is_dir() and (p / HISTORY).is_file()),
                                key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))
            if not candidates:
                raise DataError(f"{path}: holds no {HISTORY} and no run directories that do")
            candidates = [p for p in candidates if not p.is_symlink()] or candidates
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    if not found:
        raise ConfigError("give at least one run directory")
    return found


MAX_HISTORY_BYTES = 50_000_000


def read_history_csv(path: Path) -> list[Row]:
    """``history.csv`` back into rows of numbers; a file that is not one is refused in one line."""
    # a regular file of a bounded size only: a FIFO or a link to /dev/zero is named, not read
    text = read_regular_text(path, MAX_HISTORY_BYTES, DataError, "a run's history.csv")
    try:
        with io.StringIO(text, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "iteration" not in reader.fieldnames or "cost" not in reader.fieldnames:
                raise DataError(f"{path}: not a dnn history (expected the columns iteration and cost)")
            rows = []
            for line, raw in enumerate(reader, start=2):
                row: Row = {}
                for key, value in raw.items():
                    if key is None or value is None:
                        raise DataError(f"{path}: line {line} does not have the header's {len(reader.fieldnames)} columns")
                    if value == "":
                        row[key] = None
                        continue
                    try:
                        row[key] = float(value)
                    except ValueError:
                        raise DataError(f"{path}: line {line}, column {key[:30]!r}: {value[:30]!r} is not a number") from None
                rows.append(row)
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the history has no rows")
    return rows


def _flat_config(run: Path) -> dict[str, str]:
    """The run's config.yaml as ``section.key: value`` text; empty when it cannot be read."""
    try:
        raw = read_config_file(run / CONFIG)
    except DnnError:
        return {}
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):  # [relu, relu, sigmoid], not Python's ['relu', 'relu', 'sigmoid']
            flat[prefix] = "[" + ", ".join(str(v) for v in value) + "]"
        else:
            flat[prefix] = "null" if value is None else str(value)

    walk("", raw)
    return flat


# not what tells runs apart: the name, where outputs go, how often the history is written
IGNORED_KEYS = ("name", "output.", "training.print_every", "training.record_every", "training.log_every_seconds")
LABEL_LIMIT = 120  # characters of a legend entry
TITLE_KEYS_LIMIT = 90  # characters of the differing keys in the title


def _differing_keys(configs: Sequence[dict[str, str]]) -> list[str]:
    """The config keys whose values differ between the runs, training settings first, then the
    network, then the data."""
    if len(configs) < 2:
        return []
    sections = {"training": 0, "model": 1, "data": 2}
    first = ("model.layers", "model.hidden")  # the network's size, before its other settings
    keys = sorted(
        {k for c in configs for k in c if not k.startswith(IGNORED_KEYS)},
        key=lambda k: (sections.get(k.split(".")[0], 3), k not in first, k),
    )
    return [k for k in keys if len({c.get(k, "-") for c in configs}) > 1]


def run_labels(runs: Sequence[Path]) -> list[str]:
    """Each run's directory name and the settings that tell it apart from the others, compactly
    (``cat_deep-2: learning_rate 0.01, layers [12288, 20, 7, 5, 1]``)."""
    configs = [_flat_config(run) for run in runs]
    differing = _differing_keys(configs)
    labels = []
    for run, config in zip(runs, configs):
        label = run.name
        for number, key in enumerate(differing):
            item = f"{', ' if number else ': '}{key.split('.')[-1]} {_short(key, config.get(key, '-'))}"
            if len(label) + len(item) > LABEL_LIMIT - 5:  # whole settings only: never half a list
                label += ", ..."
                break
            label += item
        labels.append(label)
    return labels


def compare_title(runs: Sequence[Path]) -> str:
    """What the runs compared differ in (``3 runs, differing in learning_rate, l2_lambda``)."""
    if len(runs) == 1:
        return f"run {runs[0].name}"
    differing = list(dict.fromkeys(k.split(".")[-1] for k in _differing_keys([_flat_config(run) for run in runs])))
    if not differing:
        return f"{len(runs)} runs with the same settings"
    named = ", ".join(differing)
    if len(named) > TITLE_KEYS_LIMIT:
        named = named[: TITLE_KEYS_LIMIT - 1].rsplit(", ", 1)[0] + ", ..."
    return f"{len(runs)} runs, differing in {named}"


def _short(key: str, value: str) -> str:
    """A data file by its name only (the directory is noise), a number in 3 significant digits
    (a sampled 0.044303752452 is 0.0443), anything else as it is."""
    if key in ("data.train", "data.test", "data.validation"):
        return Path(value).name
    if any(ch in value for ch in ".eE") and not value.startswith("["):
        try:
            return f"{float(value):.3g}"
        except ValueError:
            return value
    return value


def load_runs(arguments: Sequence[str | Path]) -> list[RunCurves]:
    runs = find_runs(arguments)
    return [
        RunCurves(run, label, read_history_csv(run / HISTORY))
        for run, label in zip(runs, run_labels(runs))
    ]


# (line style, split): train solid, validation dashed; test dotted for a run without validation
COMPARE_STYLES = {"train": "-", "validation": "--", "test": ":"}


def compare_figure(plt: Any, runs: Sequence[RunCurves]) -> Any:
    """Train and validation cost (log axis) of every run, and their accuracies, one colour per run."""
    kinds = {_score_kind(run.rows) for run in runs} - {None}
    kind = "accuracy" if "accuracy" in kinds else (kinds.pop() if kinds else None)
    fig, axes = plt.subplots(1, 2 if kind else 1, figsize=COMPARE_SIZE, squeeze=False)
    cost_ax = axes[0][0]
    score_ax = axes[0][1] if kind else None
    colours = run_colours(len(runs))
    all_costs: list[float] = []
    all_scores: list[float] = []
    styles_used: set[str] = set()
    epochs = any(by_epoch(run.rows) for run in runs)
    for run, colour in zip(runs, colours):
        x = x_values(run.rows)
        has_validation = _present(column(run.rows, "val_cost"))
        for split, (cost_name, accuracy_name, r2_name) in SPLITS.items():
            if split == "test" and has_validation:
                continue
            costs = column(run.rows, cost_name)
            if _present(costs):
                styles_used.add(split)
                all_costs += costs
                cost_ax.plot(x, costs, color=colour, linestyle=COMPARE_STYLES[split], linewidth=1.5)
            if score_ax is not None:
                scores = column(run.rows, accuracy_name if kind == "accuracy" else r2_name)
                if _present(scores):
                    styles_used.add(split)
                    all_scores += scores
                    score_ax.plot(x, scores, color=colour, linestyle=COMPARE_STYLES[split], linewidth=1.5)
    _cost_axis_scale(cost_ax, all_costs)
    cost_ax.set_ylabel("cost" + (" (log scale)" if cost_ax.get_yscale() == "log" else ""))
    cost_ax.set_title("cost")
    panels = [cost_ax]
    if score_ax is not None:
        score_ax.set_title(kind)
        score_ax.set_ylabel(kind)
        _zoom_scores(score_ax, all_scores, kind)
        panels.append(score_ax)
    for ax in panels:
        ax.set_xlabel("epoch (full batch: iteration)" if epochs and not all(by_epoch(r.rows) for r in runs)
                      else ("epoch" if epochs else "iteration"))
        integer_ticks(ax.xaxis)
        ax.grid(True, alpha=0.3)
    _compare_legend(fig, runs, colours, styles_used)
    return fig


def _compare_legend(fig: Any, runs: Sequence[RunCurves], colours: list[Any], styles_used: set[str]) -> None:
    """The runs' colours and the splits' line styles below the axes, and the title above."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, linewidth=2.5) for colour in colours]
    labels = [legend_label(run.label, LABEL_LIMIT) for run in runs]
    handles += [Line2D([], [], color="#333333", linestyle=COMPARE_STYLES[s]) for s in SPLITS if s in styles_used]
    labels += [s for s in SPLITS if s in styles_used]
    longest = max(len(label) for label in labels)
    # a column of the legend holds about 70 characters of the figure's width per column
    columns = 1 if len(handles) <= 4 or longest > 60 else 2 if len(handles) <= 12 or longest > 38 else 3
    rows = math.ceil(len(handles) / columns)
    # room below the axes for the legend: one line of text for each of its rows; a legend of many
    # runs (a 100-trial sweep) makes the figure taller rather than squeeze the axes to nothing
    top, bottom = 0.6, 0.7 + rows * 0.17
    height = max(COMPARE_SIZE[1], whole_pixels(top + bottom + MIN_PANEL_HEIGHT))
    if height != COMPARE_SIZE[1]:
        fig.set_size_inches(COMPARE_SIZE[0], height)
    title = compare_title([run.path for run in runs])
    fig.suptitle(plain(title, 140), fontsize=10, y=1 - 0.08 / height, va="top")
    fig.legend(handles, labels, loc="lower center", ncol=columns, frameon=False)
    margins(fig, left=0.8, right=0.2, top=top, bottom=bottom, gap=0.85)


def write_compare(runs: Sequence[RunCurves], path: str | Path, fmt: str) -> Path:
    with drawing() as plt:
        return save(compare_figure(plt, runs), path, fmt)
