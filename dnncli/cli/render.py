"""Tables for people on stdout: a training run's summary, a data file or folder described, a data
file just written. (Machine-readable output is JSON: :func:`dnncli.terminal.text.to_json`.)"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from dnncli.terminal.display import printable, shown
from dnncli.terminal.text import cost_text, fmt, score_text


def training_summary(metrics: dict[str, Any]) -> Table:
    """``dnn train``'s summary: accuracies, costs, the best epoch, time, the files written."""
    table = Table(title=shown(f"run {metrics['name']}"), show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    if metrics.get("task"):  # a table's
        table.add_row("task", metrics["task"])
    table.add_row("train accuracy", score_text(metrics.get("train_accuracy")))
    table.add_row("test accuracy", score_text(metrics.get("test_accuracy")))
    table.add_row("initial cost", cost_text(metrics.get("initial_cost")))
    table.add_row("final cost", cost_text(metrics.get("final_cost")))
    if metrics.get("test_cost") is not None:
        table.add_row("test cost", cost_text(metrics.get("test_cost")))
    if metrics.get("val_cost") is not None:
        table.add_row("validation accuracy", score_text(metrics.get("val_accuracy")))
        table.add_row("validation cost", cost_text(metrics.get("val_cost")))
    for part in ("train", "test", "val"):  # regression
        if metrics.get(f"{part}_r2") is not None or metrics.get(f"{part}_mae") is not None:
            label = "validation" if part == "val" else part
            r2, mae, rmse = metrics.get(f"{part}_r2"), metrics.get(f"{part}_mae"), metrics.get(f"{part}_rmse")
            if rmse is None:
                table.add_row(f"{label} R² / MAE", f"{score_text(r2)} / {score_text(mae)}")
            else:  # RMSE and MAE in the target's units: whole numbers of dollars read better than 5.17e+04
                table.add_row(f"{label} R² / RMSE / MAE", f"{score_text(r2)} / {_units(rmse)} / {_units(mae)}")
    if metrics.get("best_epoch") is not None:
        stopped = "stopped early, " if metrics.get("stopped_early") else ""
        table.add_row("best", f"{stopped}parameters of epoch {metrics['best_epoch']} kept")
    table.add_row("iterations", str(metrics.get("iterations")))
    table.add_row("time", f"{metrics.get('seconds', 0):.2f} s")
    run_dir = metrics.get("run_dir", "")
    files = metrics.get("files") or ["model.h5", "history.csv", "metrics.json", "config.yaml"]
    table.add_row("files", shown(f"{run_dir}/ ({', '.join(files)})"))
    return table


def _units(value: Any) -> str:
    """A score in the target's units: 6 significant digits, without an exponent below a billion."""
    if not isinstance(value, float) or not 1 <= abs(value) < 1e9:
        return fmt(value)
    return f"{value:,.{max(0, 5 - int(f'{abs(value):e}'.split('e')[1]))}f}"


def _text(value: Any) -> Text:
    """Untrusted text (names, paths, keys) as it is: never read as markup."""
    return Text(printable(str(value)))


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def inspection_tables(description: dict[str, Any]) -> list[RenderableType]:
    """``dnn data inspect``: a folder's files, formats and classes, or a file's datasets, sets and
    attributes."""
    if description["kind"] == "folder":
        return _folder_tables(description)
    if description["kind"] == "table":
        return _table_tables(description)
    return _file_tables(description)


def _folder_tables(description: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    summary = Table(title=_text(description["path"]), show_edge=False)
    summary.add_column("files", justify="right")
    summary.add_column("images", justify="right")
    summary.add_column("formats")
    summary.add_column("modes")
    summary.add_column("sizes (w x h)")
    sizes = description["sizes"]
    size_text = "-" if sizes is None else (
        f"{sizes['min_width']}..{sizes['max_width']} x {sizes['min_height']}..{sizes['max_height']}"
    )
    summary.add_row(
        str(description["files"]), str(description["images"]),
        _text(", ".join(f"{k} {v}" for k, v in description["formats"].items()) or "-"),
        _text(", ".join(f"{k} {v}" for k, v in description["modes"].items()) or "-"),
        size_text,
    )
    out.append(summary)
    if description["per_class"] is not None:
        per_class = Table(title="classes (label = index)", show_edge=False)
        for column in ("index", "class", "files", "images"):
            per_class.add_column(column, justify="left" if column == "class" else "right")
        for row in description["per_class"]:
            per_class.add_row(str(row["index"]), _text(row["name"]), str(row["files"]), str(row["images"]))
        out.append(per_class)
    return out


SHOWN_VALUES = 3  # a text column's most frequent values shown in its row (--json has more)


def _values_text(column: dict[str, Any]) -> str:
    if column["type"] != "text":
        return ""
    if column["distinct"] is None:
        return f"more than {column['distinct_over']:,} different values"
    shown = "; ".join(f"{printable(v['value'])} ({v['count']:,})" for v in column["values"][:SHOWN_VALUES])
    more = column["distinct"] - min(SHOWN_VALUES, len(column["values"]))
    return shown + (f" (+{more:,} more)" if more > 0 else "")


def _table_tables(description: dict[str, Any]) -> list[RenderableType]:
    rows = description["rows"]
    title = f"{description['path']}: {rows:,} rows, {len(description['columns'])} columns ({description['format']})"
    columns = Table(title=_text(title), show_edge=False, title_justify="left")
    for header in ("column", "type", "missing", "min", "mean", "max", "values (rows)"):
        columns.add_column(header, justify="right" if header in ("missing", "min", "mean", "max") else "left")
    for column in description["columns"]:
        kind = column["dtype"] if column["type"] == "number" else column["type"]
        missing = f"{column['missing']:,}" if column["missing"] else "-"
        numbers = [_number(column.get(key)) for key in ("min", "mean", "max")] if column["type"] == "number" else ["", "", ""]
        columns.add_row(_text(column["name"]), kind, missing, *numbers, _text(_values_text(column)))
    out: list[RenderableType] = [columns]
    target = description.get("target")
    if target is not None:
        out.append(_target_table(target, rows))
    return out


def _target_table(target: dict[str, Any], rows: int) -> Table:
    """The target's distribution: a classification's classes (label = index), or a regression's
    quartiles."""
    table = Table(title=_text(f"target {target['name']}: {target['task']}"), show_edge=False, title_justify="left")
    if target["task"] == "regression":
        table.add_column("statistic")
        table.add_column("value", justify="right")
        for key in ("min", "q1", "median", "q3", "max", "mean", "std"):
            table.add_row({"q1": "25%", "q3": "75%"}.get(key, key), _number(target[key]))
    else:
        for header in ("index", "class", "rows", "share"):
            table.add_column(header, justify="left" if header == "class" else "right")
        for index, entry in enumerate(target["classes"] or []):
            table.add_row(str(index), _text(entry["name"]), f"{entry['count']:,}", f"{entry['count'] / max(1, rows):.1%}")
    if target["missing"] and target["task"] == "regression":
        table.add_row("missing", f"{target['missing']:,}")
    elif target["missing"]:
        table.add_row("-", "(missing)", f"{target['missing']:,}", f"{target['missing'] / max(1, rows):.1%}")
    return table


def _file_tables(description: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    datasets = Table(title=_text(description["path"]), show_edge=False)
    for column in ("key", "shape", "dtype", "storage", "min", "max"):
        datasets.add_column(column, justify="right" if column in ("min", "max") else "left")
    for entry in description["datasets"]:
        datasets.add_row(
            _text(entry["key"]), _text(tuple(entry["shape"]) if entry["shape"] is not None else "-"),
            _text(entry["dtype"]), _text(entry["storage"]), _number(entry.get("min")), _number(entry.get("max")),
        )
    out.append(datasets)
    for entry in description["sets"]:
        title = f"{entry['x']}: {entry['examples']} examples of shape {tuple(entry['example_shape'])}"
        if "per_class" in entry:
            table = Table(title=_text(f"{title}, labels {entry['y']}"), show_edge=False)
            for column in ("index", "class", "examples", "share"):
                table.add_column(column, justify="left" if column == "class" else "right")
            total = max(1, entry["examples"])
            for row in entry["per_class"]:
                table.add_row(
                    str(row["index"]), _text(row["name"] if row["name"] is not None else "-"),
                    str(row["count"]), f"{row['count'] / total:.1%}",
                )
            out.append(table)
        else:
            out.append(_text(title + (f", targets {entry['y']}" if entry.get("y") else ", no labels")))
    if description["attributes"]:
        attributes = Table(title="attributes", show_edge=False)
        attributes.add_column("name")
        attributes.add_column("value")
        for key, value in description["attributes"].items():
            attributes.add_row(_text(key), _text(value))
        out.append(attributes)
    for link in description["links"]:
        out.append(_text(f"link {link['key']} -> {link['target']}"))
    return out


# a data file's table shows this many classes at most: 100,000 rows would take a minute to lay
# out and say nothing a terminal can show (--json has them all)
MAX_CLASS_ROWS = 200


def import_table(summary: dict[str, Any]) -> Table:
    """Examples per class of a file just written (``dnn data import``, ``dnn data split``)."""
    table = Table(title=_text(summary["path"]), show_edge=False)
    table.add_column("index", justify="right")
    table.add_column("class")
    test = summary.get("test_counts")
    table.add_column("train" if test is not None else "examples", justify="right")
    if test is not None:
        table.add_column("test", justify="right")
    names = summary.get("classes") or ["(unlabelled)"]
    for index, name in enumerate(names[:MAX_CLASS_ROWS]):
        cells = [str(index) if summary.get("classes") else "-", _text(name), str(summary["train_counts"][index])]
        if test is not None:
            cells.append(str(test[index]))
        table.add_row(*cells)
    _more_classes(table, len(names))
    return table


def _more_classes(table: Table, n_classes: int) -> None:
    """Say below the table how many classes it leaves out (none up to MAX_CLASS_ROWS)."""
    if n_classes > MAX_CLASS_ROWS:
        more = n_classes - MAX_CLASS_ROWS
        table.caption = f"... and {more:,} more class{'es' * (more != 1)} (--json lists them all)"


def table_split_table(summary: dict[str, Any]) -> Table:
    """The two tables ``dnn data split`` wrote from one: rows, and rows per class."""
    rows = {n: f"{n:,} row{'s' * (n != 1)}" for n in (summary["train_rows"], summary["test_rows"])}
    title = f"{summary['train']} ({rows[summary['train_rows']]}), {summary['test']} ({rows[summary['test_rows']]})"
    table = Table(title=_text(title), show_edge=False, title_justify="left")
    table.add_column("index", justify="right")
    table.add_column("class" if summary["classes"] else "rows")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    if not summary["classes"]:
        drawn = "drawn at random" + (f" (the target is a {summary['task']})" if summary["task"] else "")
        table.add_row("-", drawn, f"{summary['train_rows']:,}", f"{summary['test_rows']:,}")
        return table
    for index, name in enumerate(summary["classes"][:MAX_CLASS_ROWS]):
        table.add_row(str(index), _text(name), f"{summary['train_counts'][index]:,}", f"{summary['test_counts'][index]:,}")
    _more_classes(table, len(summary["classes"]))
    return table
