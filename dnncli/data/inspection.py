"""``dnn data inspect``: what an HDF5 data file or a folder of images holds, and a grid of pictures.

For an HDF5 file: every dataset (key, shape, dtype, storage, range of values), the file's
attributes, soft links, the class names (``list_classes``) and, for each set of examples with
labels (``train_set_x`` / ``train_set_y``, ``images`` / ``labels``, ...), the examples per class.
Links into other files and datasets stored in other files (external or virtual storage) are
refused before anything is read. Ranges are computed for datasets of at most
:data:`RANGE_LIMIT_BYTES` as declared (a few compressed bytes can declare terabytes).

For a folder: the classes as ``dnn data import`` would take them, files per class, and from each
file's header (nothing decoded) its format, mode and size.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli.data.folders import scan_folder
from dnncli.files.hdf5safe import check_link, check_storage, link_type, open_hdf5
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
    import h5py

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
            with Image.open(path) as image:
                return str(image.format), str(image.mode), image.size
    except UnidentifiedImageError:
        return "not an image file Pillow can read"
    except Exception as exc:  # a hostile header can raise anything
        return f"cannot read the image: {printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"


def describe_folder(path: str | Path, classes: list[str] | None = None) -> dict[str, Any]:
    """Everything ``dnn data inspect DIR`` shows: classes, files, and the images' headers."""
    folder = scan_folder(path, classes)
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


def describe(path: str | Path, classes: list[str] | None = None) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        return describe_folder(path, classes)
    if classes:
        raise DataError("--classes applies to a folder of images, not to an HDF5 file")
    return describe_file(path)


# ---- rendering -------------------------------------------------------------------------------


def _text(value: Any):  # -> rich.text.Text: never read as markup
    from rich.text import Text

    return Text(printable(str(value)))


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def tables(description: dict[str, Any]) -> list:  # -> list of rich renderables
    from rich.table import Table

    out = []
    if description["kind"] == "folder":
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


def import_table(summary: dict[str, Any]):  # -> rich.table.Table
    """Examples per class of a file just written (``dnn data import``, ``dnn data split``)."""
    from rich.table import Table

    table = Table(title=_text(summary["path"]), show_edge=False)
    table.add_column("index", justify="right")
    table.add_column("class")
    test = summary.get("test_counts")
    table.add_column("train" if test is not None else "examples", justify="right")
    if test is not None:
        table.add_column("test", justify="right")
    names = summary.get("classes") or ["(unlabelled)"]
    for index, name in enumerate(names):
        cells = [str(index) if summary.get("classes") else "-", _text(name), str(summary["train_counts"][index])]
        if test is not None:
            cells.append(str(test[index]))
        table.add_row(*cells)
    return table


# ---- the grid of pictures --------------------------------------------------------------------

GRID_CELL_INCHES = (1.25, 1.5)  # width, height of one picture with its label
GRID_DPI = 100
MAX_GRID_ROWS = 20


@dataclass
class GridRow:
    label: str
    pictures: list[np.ndarray]  # (h, w) or (h, w, c) arrays as stored
    names: list[str]  # one caption per picture


def grid_pixels(rows: int, columns: int) -> tuple[int, int]:
    """(width, height) in pixels of a grid of ``rows`` x ``columns`` pictures."""
    width, height = GRID_CELL_INCHES
    return round(columns * width * GRID_DPI), round(rows * height * GRID_DPI)


def _shown_name(name: str, limit: int = 16) -> str:
    text = printable(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _display(picture: np.ndarray, low: float, high: float) -> np.ndarray:
    """A picture as floats in [0, 1] for display (colour or gray; alpha dropped)."""
    values = picture.astype(np.float64)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim == 3 and values.shape[2] == 4:
        values = values[:, :, :3]
    return np.clip((values - low) / (high - low) if high > low else values * 0, 0, 1)


def write_grid(rows: list[GridRow], out: str | Path, value_range: tuple[float, float]) -> tuple[int, int]:
    """A PNG of the rows of pictures with their captions; returns its (width, height)."""
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt

    from dnncli.plots.figure import save

    columns = max(len(row.pictures) for row in rows)
    width, height = GRID_CELL_INCHES
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(columns * width, len(rows) * height), dpi=GRID_DPI, squeeze=False
    )
    low, high = value_range
    for r, row in enumerate(rows):
        for c in range(columns):
            axis = axes[r][c]
            axis.set_axis_off()
            if c >= len(row.pictures):
                continue
            shown = _display(row.pictures[c], low, high)
            axis.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            axis.set_title(f"{_shown_name(row.label)}\n{_shown_name(row.names[c])}", fontsize=8, parse_math=False)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / (len(rows) * height), wspace=0.1, hspace=0.45)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "glyph missing from the font": shown as a box
        save(figure, out, "png", dpi=GRID_DPI)  # byte-deterministic, atomic, like every picture
    plt.close(figure)
    return grid_pixels(len(rows), columns)


def _image_shape_or_error(shape: tuple[int, ...], where: str) -> None:
    from dnncli.data.images import image_mode

    try:
        image_mode(shape)
    except DataError:
        raise DataError(
            f"{where} holds examples of shape {shape}, which are not pictures; --grid needs (height, "
            "width), (height, width, 1), (height, width, 3) or (height, width, 4)"
        ) from None


def grid_from_file(path: str | Path, out: str | Path, per_class: int = 8, x_key: str | None = None) -> tuple[int, int]:
    """The first ``per_class`` examples of each class of the file's set ``x_key`` (default: the
    first set it holds: ``train_set_x``, ``images``, ...), one row per class."""
    import h5py

    path = Path(path)
    description = describe_file(path)  # refuses links and storage in other files
    sets = {entry["x"]: entry for entry in description["sets"]}
    if x_key is None:
        preferred = [key for key in ("train_set_x", "images", "test_set_x") if key in sets]
        x_key = (preferred or list(sets) or [None])[0]
        if x_key is None:
            raise DataError(f"{printable(path)}: no set of examples (train_set_x, images, ...) to draw; name one with --x-key")
    if x_key not in sets:
        keys = ", ".join(printable(entry["key"]) for entry in description["datasets"])
        raise DataError(f"{printable(path)}: no dataset '{printable(x_key)}' with examples (keys there: {keys or 'none'})")
    entry = sets[x_key]
    _image_shape_or_error(tuple(entry["example_shape"]), f"{printable(path)}: '{printable(x_key)}'")
    classes = description["classes"]
    with open_hdf5(path, DataError, what="file") as f:
        X = f[x_key]
        y_key = entry.get("y")
        rows: list[GridRow] = []
        if "per_class" in entry:
            labels = as_class_labels(np.asarray(f[y_key][()]))
            for row in entry["per_class"][:MAX_GRID_ROWS]:
                chosen = np.flatnonzero(labels == row["index"])[:per_class]
                if chosen.size == 0:
                    continue
                name = row["name"] if row["name"] is not None else str(row["index"])
                rows.append(GridRow(f"{row['index']}: {name}", list(X[chosen.tolist()]), [f"#{i}" for i in chosen]))
        else:
            chosen = list(range(min(per_class, X.shape[0])))
            rows.append(GridRow("unlabelled", list(X[: len(chosen)]), [f"#{i}" for i in chosen]))
        value_range = _display_range(X.dtype, rows)
    return write_grid(rows, out, value_range)


def _display_range(dtype: np.dtype, rows: list[GridRow]) -> tuple[float, float]:
    if dtype.kind in "ub":
        return 0.0, float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0
    shown = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for row in rows for p in row.pictures])
    shown = shown[np.isfinite(shown)]
    return (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)


def grid_from_folder(
    path: str | Path, out: str | Path, per_class: int = 8, classes: list[str] | None = None,
    shape: tuple[int, ...] = (64, 64, 3), resize: str = "squash", max_pixels: int | None = None,
) -> tuple[int, int]:
    """The first ``per_class`` readable images of each class folder, decoded as ``dnn data
    import`` would (``shape``, ``resize``)."""
    from dnncli.data.images import DEFAULT_MAX_PIXELS, load_image

    folder = scan_folder(path, classes)
    labels = folder.labels if folder.labels is not None else np.zeros(len(folder.files), dtype=np.int64)
    names = folder.classes or ["unlabelled"]
    rows = []
    for index, name in enumerate(names[:MAX_GRID_ROWS]):
        pictures, captions = [], []
        for file in (folder.files[i] for i in np.flatnonzero(labels == index)):
            try:
                pictures.append(load_image(file, shape, "uint8", max_pixels or DEFAULT_MAX_PIXELS, resize))
            except DataError:
                continue
            captions.append(file.name)
            if len(pictures) == per_class:
                break
        if pictures:
            rows.append(GridRow(f"{index}: {name}" if folder.classes else name, pictures, captions))
    if not rows:
        raise DataError(f"{printable(path)}: no readable image to draw")
    return write_grid(rows, out, (0.0, 255.0))
