"""``dnn data inspect --grid``: the first examples of each class of a data file or a folder of
images, drawn in a grid with their labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnncli.data.folders import scan_folder
from dnncli.data.images import DEFAULT_MAX_PIXELS, image_mode, load_image
from dnncli.data.inspection import as_class_labels, describe_file
from dnncli.errors import DataError
from dnncli.files.hdf5safe import open_hdf5
from dnncli.plots.figure import save
from dnncli.terminal.display import printable


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
    shape: tuple[int, ...] = (64, 64, 3), resize: str = "squash", follow_links: bool = False,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """The first ``per_class`` readable images of each class folder, decoded as ``dnn data
    import`` would (``shape``, ``resize``)."""
    folder = scan_folder(path, classes, follow_links=follow_links)
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
