"""``dnn data inspect``: what an HDF5 data file, a folder of images or a table holds (its tables:
:mod:`dnncli.cli.render`; its grid of pictures: :mod:`dnncli.plots.datagrid`).

For an HDF5 file: every dataset (key, shape, dtype, storage, range of values), the file's
attributes, soft links, the class names (``list_classes``) and, for each set of examples with
labels (``train_set_x`` / ``train_set_y``, ``images`` / ``labels``, ...), the examples per class.
Links into other files and datasets stored in other files (external or virtual storage) are
refused before anything is read. Ranges are computed for datasets of at most
:data:`RANGE_LIMIT_BYTES` as declared (a few compressed bytes can declare terabytes).

For a folder: the classes as ``dnn data import`` would take them, files per class, and from each
file's header (nothing decoded) its format, mode and size.

For a CSV or Parquet table: per column its type (numbers, text, empty), its missing values, and
min / mean / max for numbers or the most frequent values with their counts for text; with a
target column, its distribution (a classification's classes with their counts, a regression's
quartiles), the task decided as ``data.task: auto`` decides it. The table is read as training
reads it (:mod:`dnncli.data.tables`: hostile tables refused in one line), whole when it fits the
memory budget and in row batches otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from dnncli.compute.resources import memory_budget_bytes
from dnncli.data.arrow import pa, pc
from dnncli.data.encoding import MAX_AUTO_CLASSES, MAX_LEVELS, TASKS
from dnncli.data.folders import scan_folder
from dnncli.data.encoding import plain_column
from dnncli.data.images import RASTER_FORMATS
from dnncli.data.tables import TableFile, is_table, iter_batches, open_table, read_table
from dnncli.files.hdf5safe import check_dataset_storage, check_link, check_storage, link_type, open_hdf5
from dnncli.errors import DataError
from dnncli.terminal.display import printable

RANGE_LIMIT_BYTES = 1 << 30  # value ranges of larger datasets are not computed
MAX_OBJECTS = 10_000  # more groups and datasets than this: not a data set
MAX_LABEL = 100_000  # integer "labels" above this are not class indices
READ_BYTES = 64 << 20  # ranges are computed this many bytes at a time
# (x key, y key) pairs read as a set of examples and their labels, besides "<name>_x" / "<name>_y"
NAMED_SETS = [("images", "labels"), ("X", "y"), ("x", "y")]


# ---- HDF5 files ------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """An attribute's value as JSON: numbers, strings, short lists; long arrays summarised."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.size > 16:
            return f"array {value.shape} {value.dtype}"
        return [_jsonable(v) for v in value.tolist()] if value.dtype.kind in "biuf" else [
            _jsonable(v) for v in value.reshape(-1)
        ]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _storage(dataset) -> str:
    layout = dataset.id.get_create_plist().get_layout()
    import h5py

    if layout == h5py.h5d.COMPACT:
        return "compact"
    if dataset.chunks is None:
        return "contiguous"
    return f"chunked {tuple(dataset.chunks)}" + (f", {dataset.compression}" if dataset.compression else "")


def _value_range(dataset) -> dict[str, Any]:
    """min, max and the count of NaN / infinite values, read a slab of examples at a time."""
    n_bytes = int(np.prod(dataset.shape or (), dtype=object)) * dataset.dtype.itemsize
    if dataset.dtype.kind not in "biuf":
        return {}
    if dataset.size == 0:
        return {"min": None, "max": None}
    if n_bytes > RANGE_LIMIT_BYTES:
        return {"min": None, "max": None, "range": f"not computed (over {RANGE_LIMIT_BYTES >> 30} GiB)"}
    if dataset.ndim == 0:
        value = dataset[()]
        return {"min": _jsonable(value), "max": _jsonable(value)}
    per_row = max(1, n_bytes // max(1, dataset.shape[0]))
    step = max(1, READ_BYTES // per_row)
    low, high, non_finite = None, None, 0
    for start in range(0, dataset.shape[0], step):
        block = np.asarray(dataset[start : start + step])
        if block.dtype.kind == "f":
            finite = np.isfinite(block)
            non_finite += int(block.size - np.count_nonzero(finite))
            block = block[finite]
        if block.size == 0:
            continue
        block_low, block_high = block.min(), block.max()
        low = block_low if low is None else min(low, block_low)
        high = block_high if high is None else max(high, block_high)
    result = {"min": _jsonable(low), "max": _jsonable(high)}
    if non_finite:
        result["non_finite"] = non_finite
    return result


def _walk(f, path: Path) -> tuple[list[tuple[str, Any]], list[str], list[dict[str, str]]]:
    """Datasets (name, object) and groups of ``f``, each object once, and its soft links;
    refuses external links and external / virtual storage on the way."""
    import h5py
    from h5py import h5l, h5o

    datasets, groups, soft_links = [], [], []
    seen: set[int] = set()
    pending: list[tuple[str, Any]] = [("", f)]
    while pending:
        prefix, group = pending.pop()
        for name in sorted(group):  # names only: nothing is followed here
            full = f"{prefix}/{name}" if prefix else name
            kind = link_type(group, name)
            check_link(group, name, path)
            if kind == h5l.TYPE_SOFT:
                target = group.id.links.get_val(name.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")
                soft_links.append({"key": full, "target": target})
                continue
            node = group.get(name)
            address = h5o.get_info(node.id).addr
            if address in seen:  # a second hard link to an object already listed
                soft_links.append({"key": full, "target": f"(the same object as another key)"})
                continue
            seen.add(address)
            if len(seen) > MAX_OBJECTS:
                raise DataError(f"{printable(path)}: more than {MAX_OBJECTS} groups and datasets; not a data set dnn reads")
            if isinstance(node, h5py.Dataset):
                check_storage(node, path)
                check_dataset_storage(node, full, path)  # the limits train, split and evaluate apply
                datasets.append((full, node))
            elif isinstance(node, h5py.Group):
                groups.append(full)
                pending.append((full, node))
    return sorted(datasets, key=lambda item: item[0]), sorted(groups), soft_links


def as_class_labels(y: np.ndarray) -> np.ndarray | None:
    """``y`` as integer class indices, or None if it does not hold class labels."""
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1 or y.dtype.kind not in "biuf" or y.size == 0:
        return None
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.array_equal(y, np.round(y)):
            return None
        if y.min() < 0 or y.max() > MAX_LABEL:  # before the cast: 1e30 is no int64
            return None
    labels = y.astype(np.int64)
    if labels.min() < 0 or labels.max() > MAX_LABEL:
        return None
    return labels


def _decoded_names(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values.reshape(-1).tolist()]


def _set_pairs(names: set[str]) -> list[tuple[str, str | None]]:
    """(x key, y key or None) of the sets of examples a file holds, by the usual names."""
    pairs = []
    for name in sorted(names):
        if name.endswith("_x"):
            partner = name[:-2] + "_y"
            pairs.append((name, partner if partner in names else None))
    for x_key, y_key in NAMED_SETS:
        if x_key in names and not any(pair[0] == x_key for pair in pairs):
            pairs.append((x_key, y_key if y_key in names else None))
    return pairs


def describe_file(path: str | Path) -> dict[str, Any]:
    """Everything ``dnn data inspect FILE.h5`` shows, as a JSON-ready dict."""
    path = Path(path)
    try:
        # checked and audited first: a regular HDF5 file, nothing reaching outside it
        with open_hdf5(path, DataError, what="file or folder") as f:  # audited: nothing outside the file
            found, groups, soft_links = _walk(f, path)
            datasets = []
            for key, node in found:
                entry = {
                    "key": key,
                    "shape": list(node.shape) if node.shape is not None else None,
                    "dtype": str(node.dtype),
                    "storage": _storage(node),
                    **_value_range(node),
                }
                datasets.append(entry)
            by_key = dict(found)
            classes = None
            if "list_classes" in by_key and by_key["list_classes"].size <= MAX_LABEL:
                classes = _decoded_names(np.asarray(by_key["list_classes"][()]))
            sets = []
            for x_key, y_key in _set_pairs(set(by_key)):
                x = by_key[x_key]
                if x.ndim < 1:
                    continue
                entry = {"x": x_key, "y": y_key, "examples": int(x.shape[0]), "example_shape": list(x.shape[1:])}
                y = by_key.get(y_key) if y_key else None
                if y is not None and y.size <= 10 * max(1, x.shape[0]):
                    labels = as_class_labels(np.asarray(y[()]))
                    if labels is not None and labels.size == x.shape[0]:
                        counts = np.bincount(labels, minlength=len(classes or []))
                        entry["per_class"] = [
                            {"index": k, "name": classes[k] if classes and k < len(classes) else None, "count": int(n)}
                            for k, n in enumerate(counts)
                        ]
                    elif y.dtype.kind in "biuf":
                        entry["targets"] = _value_range(y)
                sets.append(entry)
            attributes = {str(k): _jsonable(v) for k, v in f.attrs.items()}
    except DataError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{printable(path)}: cannot read HDF5 data: {printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}") from None
    return {
        "path": str(path),
        "kind": "hdf5",
        "attributes": attributes,
        "datasets": datasets,
        "groups": groups,
        "links": soft_links,
        "classes": classes,
        "sets": sets,
    }


# ---- folders ---------------------------------------------------------------------------------


def _header(path: Path) -> tuple[str, str, tuple[int, int]] | str:
    """(format, mode, (width, height)) from the file's header, or why it cannot be read."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=RASTER_FORMATS) as image:
                return str(image.format), str(image.mode), image.size
    except UnidentifiedImageError:
        return f"not an image in a format dnn reads ({', '.join(RASTER_FORMATS)})"
    except Exception as exc:  # a hostile header can raise anything
        return f"cannot read the image: {printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"


def describe_folder(path: str | Path, classes: list[str] | None = None, follow_links: bool = False) -> dict[str, Any]:
    """Everything ``dnn data inspect DIR`` shows: classes, files, and the images' headers."""
    folder = scan_folder(path, classes, follow_links=follow_links)
    formats: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    widths, heights, unreadable = [], [], []
    readable = np.zeros(len(folder.files), dtype=bool)
    for index, file in enumerate(folder.files):
        header = _header(file)
        if isinstance(header, str):
            unreadable.append(f"{printable(file)}: {header}")
            continue
        readable[index] = True
        formats[header[0]] += 1
        modes[header[1]] += 1
        widths.append(header[2][0])
        heights.append(header[2][1])
    if folder.labels is not None and folder.classes is not None:
        files_per_class = np.bincount(folder.labels, minlength=len(folder.classes))
        images_per_class = np.bincount(folder.labels[readable], minlength=len(folder.classes))
        per_class = [
            {"index": k, "name": name, "files": int(files_per_class[k]), "images": int(images_per_class[k])}
            for k, name in enumerate(folder.classes)
        ]
    else:
        per_class = None
    sizes = None
    if widths:
        sizes = {"min_width": min(widths), "max_width": max(widths), "min_height": min(heights), "max_height": max(heights)}
    return {
        "path": str(path),
        "kind": "folder",
        "classes": folder.classes,
        "files": len(folder.files),
        "images": int(readable.sum()),
        "per_class": per_class,
        "formats": dict(formats.most_common()),
        "modes": dict(modes.most_common()),
        "sizes": sizes,
        "unreadable": unreadable,
        "passed_over": folder.passed_over,
        "notes": folder.notes,
    }


# ---- tables ----------------------------------------------------------------------------------

TOP_VALUES = 10  # a text column's most frequent values listed


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind)


@dataclass
class _ColumnSummary:
    """What the batches seen so far tell of one column: missing values, and the count, sum,
    least and greatest of its numbers or the counts of its text values (until there are more
    different values than :data:`MAX_LEVELS`: an id or free text, not a category)."""

    name: str
    kinds: set[str] = field(default_factory=set)  # "number", "text"
    dtype: str = ""
    missing: int = 0
    infinite: int = 0
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    counts: Counter | None = field(default_factory=Counter)

    def add(self, column: pa.Array) -> None:
        column = plain_column(column)
        self.dtype = self.dtype or str(column.type)
        self.missing += column.null_count
        if pa.types.is_null(column.type):
            return
        if _is_number(column.type):
            self.kinds.add("number")
            values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
            finite = values[np.isfinite(values)]
            nan = int(np.isnan(values).sum()) - column.null_count
            self.missing += nan
            self.infinite += len(values) - column.null_count - nan - len(finite)
            if len(finite):
                self.count += len(finite)
                self.total += float(finite.sum())
                self.low, self.high = min(self.low, float(finite.min())), max(self.high, float(finite.max()))
            return
        self.kinds.add("text")
        if self.counts is not None and pc.count_distinct(column).as_py() > MAX_LEVELS:
            self.counts = None  # an id or free text: not counted further (nor turned into Python)
        if self.counts is not None:
            for entry in pc.value_counts(pc.drop_null(pc.cast(column, pa.string()))).to_pylist():
                self.counts[entry["values"]] += entry["counts"]
            if len(self.counts) > MAX_LEVELS:
                self.counts = None

    def as_dict(self, rows: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": "empty", "dtype": self.dtype, "missing": self.missing}
        if self.kinds == {"number"}:
            entry["type"] = "number"
            whole = "int" in self.dtype or self.dtype == "bool"  # shown as the file holds them
            entry.update({"min": None, "mean": None, "max": None} if not self.count else {
                "min": int(self.low) if whole else self.low, "mean": self.total / self.count,
                "max": int(self.high) if whole else self.high})
            if self.infinite:
                entry["infinite"] = self.infinite
        elif self.kinds:
            entry.update(type="text", **_top_values(self.counts, rows - self.missing))
        return entry


def _top_values(counts: Counter | None, present: int) -> dict[str, Any]:
    """The most frequent values (most first, then by value), and how many rows the others hold."""
    if counts is None:
        return {"distinct": None, "distinct_over": MAX_LEVELS, "values": [], "other": present}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [{"value": value, "count": count} for value, count in ranked[:TOP_VALUES]]
    return {"distinct": len(counts), "values": shown, "other": present - sum(v["count"] for v in shown)}


def _table_batches(source: TableFile) -> Iterator[pa.RecordBatch]:
    """The table's rows: read whole on every core when it fits the memory budget, in batches
    otherwise."""
    if source.fits(memory_budget_bytes("auto")):
        yield from read_table(source).to_batches()
    else:
        for _, batch in iter_batches(source):
            yield batch


def _target_distribution(name: str, summary: _ColumnSummary, values: np.ndarray, task: str) -> dict[str, Any]:
    """A classification's classes (sorted as training sorts them) with their counts, or a
    regression's quartiles; ``task`` auto decides as ``data.task: auto`` does."""
    if summary.kinds == {"number"} and len(values):
        distinct, counts = np.unique(values, return_counts=True)
        if task == "auto":
            few = len(distinct) <= MAX_AUTO_CLASSES and np.array_equal(distinct, np.round(distinct))
            task = "classification" if few else "regression"
        if task == "classification":
            names = pa.array(distinct).cast(pa.string()).to_pylist() if len(distinct) <= MAX_LEVELS else None
            classes = None if names is None else [{"name": n, "count": int(c)} for n, c in zip(names, counts)]
            return {"name": name, "task": task, "missing": summary.missing, "classes": classes}
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        return {"name": name, "task": task, "missing": summary.missing, "min": float(values.min()), "q1": float(q1),
                "median": float(median), "q3": float(q3), "max": float(values.max()), "mean": float(values.mean()),
                "std": float(values.std())}
    if task == "regression":
        raise DataError(f"the target '{printable(name)}' holds text, expected numbers for a regression")
    counts = summary.counts
    classes = None if counts is None else [{"name": n, "count": c} for n, c in sorted(counts.items())]
    return {"name": name, "task": "classification", "missing": summary.missing, "classes": classes}


def _table_notes(columns: list[dict[str, Any]], rows: int, target: dict[str, Any] | None) -> list[str]:
    notes = []
    for column in columns:
        name = f"column '{printable(column['name'])}'"
        if column["missing"] == rows:
            notes.append(f"{name} is empty in every row")
        elif column["type"] == "number" and column["min"] == column["max"]:
            notes.append(f"{name} has one value in every row with a value: dnn keeps it at 0")
        elif column["type"] == "text" and column["distinct"] is None:
            notes.append(f"{name} has more than {MAX_LEVELS:,} different values: an id or free text, not a category (leave it out with data.drop)")
        elif column["type"] == "text" and column["distinct"] == rows > TOP_VALUES:
            notes.append(f"{name} holds a different value in every row: an id? (leave it out with data.drop)")
        if column.get("infinite"):
            notes.append(f"{name} holds {column['infinite']} infinite values: dnn train refuses them")
    if target is not None and target["missing"]:
        notes.append(f"the target '{printable(target['name'])}' is missing in {target['missing']} rows: dnn train refuses them")
    if target is not None and target["task"] == "classification" and target["classes"] is None:
        notes.append(f"the target '{printable(target['name'])}' has more than {MAX_LEVELS:,} different values: too many classes")
    return notes


def describe_table(path: str | Path, target: str | None = None, task: str = "auto") -> dict[str, Any]:
    """Everything ``dnn data inspect TABLE.csv`` shows, as a JSON-ready dict."""
    if task not in TASKS:
        raise DataError(f"--task '{printable(task)}': expected one of {', '.join(TASKS)}")
    source = open_table(path)
    if target is not None and target not in source.columns:
        shown = ", ".join(f"'{printable(n)}'" for n in source.columns[:20]) + (", ..." if len(source.columns) > 20 else "")
        raise DataError(f"{printable(path)}: has no column '{printable(target)}' (--target); its columns: {shown}")
    summaries = {name: _ColumnSummary(name) for name in source.columns}
    rows, target_values = 0, []
    for batch in _table_batches(source):
        rows += batch.num_rows
        for name, column in zip(batch.column_names, batch.columns):
            summaries[name].add(column)
        if target is not None and _is_number(plain_column(batch[target]).type):
            values = pc.cast(plain_column(batch[target]), pa.float64()).to_numpy(zero_copy_only=False)
            target_values.append(values[np.isfinite(values)])
    columns = [summaries[name].as_dict(rows) for name in source.columns]
    distribution = None
    if target is not None:
        values = np.concatenate(target_values) if target_values else np.zeros(0)
        distribution = _target_distribution(target, summaries[target], values, task)
    return {
        "path": str(path), "kind": "table", "format": source.kind, "rows": rows, "columns": columns,
        "target": distribution, "notes": _table_notes(columns, rows, distribution),
    }


def describe(
    path: str | Path, classes: list[str] | None = None, target: str | None = None, task: str = "auto",
    follow_links: bool = False,
) -> dict[str, Any]:
    """What ``dnn data inspect PATH`` shows: a folder, a table (``target``: its label column) or
    an HDF5 file."""
    path = Path(path)
    if target is not None and (path.is_dir() or not is_table(path)):
        raise DataError(f"--target applies to a CSV or Parquet table, not to {printable(path)}")
    if path.is_dir():
        return describe_folder(path, classes, follow_links)
    if classes:
        raise DataError("--classes applies to a folder of images, not to a file")
    if is_table(path):
        return describe_table(path, target, task)
    return describe_file(path)
