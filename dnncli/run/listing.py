"""``dnn runs``: the run directories under ``runs/`` (or a sweep's trials) in one table, and
``dnn runs compare``: chosen runs side by side.

A run directory is recognised by its ``metrics.json`` or ``config.yaml``; its status is
``finished``, ``running`` (a ``.partial`` directory whose lock a live process holds),
``interrupted``, ``diverged``, ``incomplete`` (a ``.partial`` that a killed run left before
writing anything but its config) or ``unreadable`` (its ``metrics.json`` is not a regular file,
is larger than :data:`MAX_METRICS_BYTES`, or not JSON nested at most 32 deep: the run is named,
never read into a hang or a crash; a ``config.yaml`` like that only hides its settings). The
settings shown are those that differ between the listed
runs (from each run's resolved ``config.yaml``), the metrics those of ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from dnncli.config.safe_yaml import read_yaml_file
from dnncli.errors import ConfigError, DnnError, RunDirError
from dnncli.files.hdf5safe import parse_json
from dnncli.files.lock import held_elsewhere
from dnncli.files.userfile import read_regular_text
from dnncli.terminal.display import csv_text, escape_controls, shown
from dnncli.terminal.text import to_json

PARTIAL_SUFFIX = ".partial"
# metrics shown in the table (all of them go to --json and --csv)
TABLE_METRICS = ("final_cost", "train_accuracy", "val_accuracy", "test_accuracy", "train_r2", "val_r2", "test_r2")
NOT_METRICS = {"name", "run_dir", "dnn_version", "first_layer", "first_layer_reason", "status", "overrides", "started", "files", "segments", "warnings"}
# settings that always differ and say nothing
IGNORED_SETTINGS = {"name", "output.dir"}
SMALLER_IS_BETTER = ("cost", "mae", "seconds")
MAX_METRICS_BYTES = 16 << 20


@dataclass
class RunInfo:
    path: Path
    name: str
    status: str
    date: dt.datetime | None
    settings: dict[str, Any] = field(default_factory=dict)  # flattened config.yaml
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, shown_settings: list[str] | None = None) -> dict[str, Any]:
        keys = shown_settings if shown_settings is not None else list(self.settings)
        return {
            "name": self.name, "path": str(self.path), "status": self.status,
            "date": self.date.isoformat(timespec="seconds") if self.date else None,
            "settings": {k: self.settings.get(k) for k in keys},
            "metrics": {k: v for k, v in self.metrics.items() if k not in NOT_METRICS},
        }


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config as the listing's settings: ``{"training.learning_rate": 0.001, ...}``."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(flatten(child, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def _read_json(path: Path) -> dict[str, Any] | None:
    """The run's metrics; {} when there are none, None when the file is there but unreadable."""
    if not os.path.lexists(path):
        return {}
    try:
        return parse_json(read_regular_text(path, MAX_METRICS_BYTES, RunDirError, "a metrics.json"), str(path), RunDirError, dict)
    except DnnError:
        return None


def _read_settings(path: Path) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {}
    with contextlib.suppress(DnnError):
        raw = read_yaml_file(path, fast=True)  # libyaml: a run's config is only shown
        if isinstance(raw, dict):
            return flatten(raw)
    return {}


def _date(metrics: dict[str, Any], directory: Path) -> dt.datetime | None:
    started = metrics.get("started")
    if isinstance(started, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(started)
    for name in ("metrics.json", "config.yaml"):
        with contextlib.suppress(OSError):
            return dt.datetime.fromtimestamp((directory / name).stat().st_mtime).astimezone()
    return None


def read_run(directory: Path, name: str | None = None) -> RunInfo | None:
    """The run in ``directory``, or None if it is not a run directory."""
    metrics_file, config_file = directory / "metrics.json", directory / "config.yaml"
    if directory.is_symlink() or not directory.is_dir() or not (metrics_file.exists() or config_file.exists()):
        return None
    read = _read_json(metrics_file)
    metrics = read if read is not None else {}
    if read is None:
        status = "unreadable"
    elif directory.name.endswith(PARTIAL_SUFFIX):
        status = "running" if held_elsewhere(directory) else metrics.get("status") or "incomplete"
    else:
        status = "finished" if metrics_file.exists() else "incomplete"
    return RunInfo(directory, name or directory.name, str(status), _date(metrics, directory),
                   _read_settings(config_file), metrics)


def _natural_key(name: str) -> tuple:
    # trials 2 before 10
    stem = name.removesuffix(PARTIAL_SUFFIX)
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def find_runs(directory: Path) -> list[RunInfo]:
    """The run directories in ``directory`` (``runs/``, or a sweep: its ``trials/``)."""
    if not directory.exists():
        raise RunDirError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise RunDirError(f"{directory}: not a directory")
    if (directory / "trials").is_dir() and (directory / "sweep.json").exists():
        directory = directory / "trials"  # a sweep
    single = read_run(directory)
    if single is not None:
        return [single]
    found = [read_run(child) for child in directory.iterdir()]
    return sorted((r for r in found if r is not None), key=lambda r: _natural_key(r.name))


_MISSING = object()
# equal values of one of these types are written alike in JSON (unlike 0.0 and -0.0, 1 and True)
_EXACT_TYPES = (str, int, bool, type(None))


def _same_in_every_run(runs: list[RunInfo], key: str) -> bool:
    values = [run.settings.get(key, _MISSING) for run in runs]
    first = values[0]
    if type(first) in _EXACT_TYPES and all(type(value) is type(first) and value == first for value in values):
        return True
    return len({json.dumps(value, sort_keys=True, default=str) if value is not _MISSING else None for value in values}) == 1


def differing_settings(runs: list[RunInfo]) -> list[str]:
    """Config keys whose values are not the same in every run (as JSON writes them), in config order."""
    keys = dict.fromkeys(key for run in runs for key in run.settings)
    return [key for key in keys if key not in IGNORED_SETTINGS and not _same_in_every_run(runs, key)]


def metric_keys(runs: list[RunInfo]) -> list[str]:
    keys: list[str] = []
    for run in runs:
        for key, value in run.metrics.items():
            if key not in NOT_METRICS and key not in keys and (value is None or isinstance(value, (int, float))):
                keys.append(key)
    return keys


def sort_runs(runs: list[RunInfo], key: str, reverse: bool = False) -> list[RunInfo]:
    """Sort by a metric (best first: larger accuracies and R², smaller costs), a setting, or
    name, date, status; runs without the value last."""
    known = {"name", "date", "status"} | set(metric_keys(runs)) | {k for r in runs for k in r.settings}
    if key not in known:
        raise ConfigError(f"--sort {key}: no run has it; sort by name, date, status, a metric "
                          f"({', '.join(metric_keys(runs)) or 'none yet'}) or a setting such as training.learning_rate")

    def value(run: RunInfo) -> Any:
        if key == "name":
            return _natural_key(run.name)
        if key == "date":
            return run.date.timestamp() if run.date else None
        if key == "status":
            return run.status
        if key in run.metrics:
            return run.metrics[key]
        return run.settings.get(key)

    descending = key in {k for r in runs for k in r.metrics} and not key.endswith(SMALLER_IS_BETTER)
    present = [r for r in runs if isinstance(value(r), (int, float, str, tuple)) and not isinstance(value(r), bool)]
    absent = [r for r in runs if r not in present]
    try:
        ordered = sorted(present, key=value, reverse=descending != reverse)
    except TypeError:  # mixed types: compare as text
        ordered = sorted(present, key=lambda r: str(value(r)), reverse=descending != reverse)
    return ordered + absent


def _text(value: Any, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _date_text(date: dt.datetime | None) -> str:
    return date.astimezone().strftime("%Y-%m-%d %H:%M") if date else "-"


def short_names(keys: list[str]) -> list[str]:
    """``learning_rate`` for ``training.learning_rate``, unless two keys share that last part."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return [short if last.count(short) == 1 else key for key, short in zip(keys, last)]


def _runs_cells(runs: list[RunInfo]) -> tuple[list[str], list[str], list[list[str]]]:
    """The table's keys (``name``, ``date``, ``status``, the settings that differ, the metrics),
    their headers and the rows' cells, every one shown literally (no markup, no controls)."""
    settings = differing_settings(runs)
    metrics = [k for k in TABLE_METRICS if any(k in r.metrics for r in runs)]
    keys = ["name", "date", "status", *settings, *metrics]
    headers = ["name", "date", "status", *short_names(settings), *metrics]
    rows = [
        [run.name, _date_text(run.date), run.status, *[_text(run.settings.get(k)) for k in settings],
         *[_text(run.metrics.get(k), 4) for k in metrics]]
        for run in runs
    ]
    return keys, [escape_controls(h) for h in headers], [[escape_controls(cell) for cell in row] for row in rows]


def _chosen_columns(keys: list[str], headers: list[str], columns: list[str]) -> list[int]:
    """The columns ``--columns`` names (by header or by config key), in its order."""
    chosen = []
    for name in columns:
        if name in keys or name in headers:
            chosen.append(keys.index(name) if name in keys else headers.index(name))
        else:
            raise ConfigError(f"--columns {name}: no such column; the columns are {', '.join(headers)}")
    return chosen


def _fitting_columns(widths: list[int], width: int) -> list[int]:
    """The columns that fit in ``width`` characters: name and status always, then the settings
    and the metrics, narrowest first (as many as fit), the date last; in the table's order."""
    order = [0, 2, *sorted(range(3, len(widths)), key=lambda i: widths[i]), 1]
    kept, used = [], 1  # the table's right edge
    for i in order:
        if i in (0, 2) or used + widths[i] + 3 <= width:
            kept.append(i)
            used += widths[i] + 3  # padding on both sides and a border
    return sorted(kept)


def runs_table(runs: list[RunInfo], width: int | None = None, columns: list[str] | None = None) -> tuple[Table, list[str]]:
    """The runs in a table at most ``width`` characters wide (None: as wide as it takes), or with
    the ``columns`` named; the table and the headers of the columns left out. Name and status are
    never left out, and no cell is cut short."""
    keys, headers, rows = _runs_cells(runs)
    widths = [max(len(header), *(len(row[i]) for row in rows)) if rows else len(header) for i, header in enumerate(headers)]
    if columns:
        kept = _chosen_columns(keys, headers, columns)
    else:
        kept = _fitting_columns(widths, width) if width else list(range(len(headers)))
    table = Table(header_style="bold")
    for i in kept:
        table.add_column(shown(headers[i]), justify="left" if i < 3 else "right", no_wrap=True, min_width=widths[i])
    for row in rows:
        table.add_row(*[shown(row[i]) for i in kept])
    return table, [headers[i] for i in range(len(headers)) if i not in kept and not columns]


def runs_json(runs: list[RunInfo]) -> list[dict[str, Any]]:
    settings = differing_settings(runs)
    return [run.as_dict(settings) for run in runs]


def _csv_cell(value: Any) -> Any:
    """Numbers as they are; text literal, never read as a spreadsheet formula."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return csv_text(json.dumps(value))
    if isinstance(value, (str, Path)):
        return csv_text(str(value))
    return value


def runs_csv(runs: list[RunInfo]) -> str:
    settings, metrics = differing_settings(runs), metric_keys(runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_csv_cell(h) for h in ["name", "path", "date", "status", *settings, *metrics]])
    for run in runs:
        writer.writerow([_csv_cell(run.name), _csv_cell(run.path),
                         run.date.isoformat(timespec="seconds") if run.date else "", run.status,
                         *[_csv_cell(run.settings.get(k)) for k in settings],
                         *[_csv_cell(run.metrics.get(k)) for k in metrics]])
    return out.getvalue()


# ---- compare ---------------------------------------------------------------------------------


def resolve_runs(names: list[str], runs_dir: Path = Path("runs")) -> list[RunInfo]:
    """Runs named by their directory, or by their name under ``runs/``."""
    if len(names) < 2:
        raise ConfigError("dnn runs compare needs at least two runs, e.g. dnn runs compare runs/a runs/b")
    found = []
    for name in names:
        path = Path(name)
        if not path.exists() and (runs_dir / name).exists():
            path = runs_dir / name
        run = read_run(path, name=name)
        if run is None:
            what = "no such directory" if not path.exists() else "not a run directory (no metrics.json or config.yaml)"
            raise RunDirError(f"{name}: {what}")
        found.append(run)
    return found


def comparison(runs: list[RunInfo]) -> dict[str, Any]:
    settings, metrics = differing_settings(runs), metric_keys(runs)
    return {
        "runs": [{"name": r.name, "path": str(r.path), "status": r.status,
                  "date": r.date.isoformat(timespec="seconds") if r.date else None} for r in runs],
        "settings": {k: [r.settings.get(k) for r in runs] for k in settings},
        "metrics": {k: [r.metrics.get(k) for r in runs] for k in metrics},
    }


def compared_names(runs: list[RunInfo]) -> list[str]:
    """What tells the compared runs apart, for their headers: the trial number of a sweep's trial
    and the settings that differ, else their names (which may all end alike: trials/3, trials/5)."""
    settings = differing_settings(runs)
    names = []
    for run in runs:
        trial = f"trial {run.path.name}" if run.path.parent.name == "trials" and run.path.name.isdigit() else run.name
        differ = [f"{short}={_text(run.settings.get(key), 4)}" for key, short in zip(settings, short_names(settings))]
        names.append("\n".join([escape_controls(trial), *map(escape_controls, differ[:3])]))
    return names


def comparison_table(runs: list[RunInfo]) -> Table:
    data = comparison(runs)
    table = Table(header_style="bold")
    table.add_column("")
    for name in compared_names(runs):
        table.add_column(shown(name, keep_newlines=True), justify="right")
    table.add_row("path", *[shown(escape_controls(str(r.path))) for r in runs])
    table.add_row("status", *[shown(r.status) for r in runs])
    table.add_row("date", *[_date_text(r.date) for r in runs], end_section=True)
    for key, values in data["settings"].items():
        table.add_row(shown(key), *[shown(_text(v)) for v in values])
    if data["settings"]:
        table.rows[-1].end_section = True
    for key, values in data["metrics"].items():
        table.add_row(shown(key), *[shown(_text(v)) for v in values])
    return table


def comparison_csv(runs: list[RunInfo]) -> str:
    data = comparison(runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", *[_csv_cell(r.name) for r in runs]])
    for section in ("settings", "metrics"):
        for key, values in data[section].items():
            writer.writerow([_csv_cell(key), *[_csv_cell(v) for v in values]])
    return out.getvalue()


# ---- dnn runs: which runs, and in which form --------------------------------------------------


def output_format(json_output: bool, csv_output: bool) -> str:
    """``json``, ``csv`` or ``table`` (the default), from ``--json`` and ``--csv``."""
    if json_output and csv_output:
        raise DnnError("give --json or --csv, not both")
    return "json" if json_output else "csv" if csv_output else "table"


@dataclass
class Listing:
    """What ``dnn runs`` shows: the runs of a directory, or (``compared``) runs side by side."""

    runs: list[RunInfo]
    compared: bool
    directory: str  # where the runs were looked for

    def text(self, fmt: str) -> str:
        """The runs as ``json`` or ``csv`` text."""
        if fmt == "json":
            return to_json(comparison(self.runs) if self.compared else runs_json(self.runs)) + "\n"
        return comparison_csv(self.runs) if self.compared else runs_csv(self.runs)

    def table(self, width: int | None = None, columns: list[str] | None = None) -> tuple[Table, list[str]]:
        """The table, at most ``width`` wide or with the ``columns`` named; the columns left out."""
        if self.compared:
            return comparison_table(self.runs), []
        return runs_table(self.runs, width, columns)


def list_runs(args: list[str], sort: str | None = None, reverse: bool = False) -> Listing:
    """``dnn runs [DIR]``: the runs of a directory (default ``runs``), sorted; ``dnn runs compare
    RUN RUN...``: the runs named, in the order given."""
    if args[:1] == ["compare"]:
        if sort is not None or reverse:
            raise DnnError("dnn runs compare shows the runs in the order given: no --sort or --reverse")
        return Listing(resolve_runs(args[1:]), compared=True, directory="")
    if len(args) > 1:
        raise DnnError(f"dnn runs takes one directory, got {len(args)}: {' '.join(args)} (to put runs side by side: dnn runs compare A B)")
    directory = args[0] if args else "runs"
    found = find_runs(Path(directory))
    if sort is not None:
        found = sort_runs(found, sort, reverse)
    elif reverse:
        found = found[::-1]
    return Listing(found, compared=False, directory=directory)
