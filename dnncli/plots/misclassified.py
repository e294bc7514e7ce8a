"""The course's "mislabeled images": a grid of the examples a model gets wrong, each with its true
class, the predicted class and the probability the model gave it.

Errors are shown most confident first (the model's probability of its wrong answer, highest
first; ties in data order), up to a limit. The layout is fixed by the number of tiles
(:func:`grid_shape`, :func:`cell_image_boxes`), so the picture's size tells how many tiles it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dnncli.plots.figure import DPI, drawing, plain, plain_lines, save, whole_pixels

TILE_WIDTH = 1.6  # inches
TEXT_HEIGHT = 0.55
IMAGE_SIZE = 1.3
TILE_HEIGHT = TEXT_HEIGHT + IMAGE_SIZE + 0.15
HEADER = 0.7  # the title's line and three of the headline
MARGIN = 0.15
MIN_WIDTH = 4.4
MAX_COLUMNS_IN_ONE_ROW = 5
DEFAULT_LIMIT = 36
NAME_LIMIT = 16
FILE_NAME_LIMIT = 26  # what a tile's width holds at its font size
WRONG_COLOUR = "#b2182b"


@dataclass
class Errors:
    """The misclassified examples of a labelled set, in the order they are shown."""

    indices: np.ndarray  # every misclassified example, most confident first
    true: np.ndarray  # (m,) true labels of the whole set
    predicted: np.ndarray  # (m,) predicted labels
    confidence: np.ndarray  # (m,) the probability the model gave its prediction
    examples: int

    def shown(self, limit: int) -> np.ndarray:
        return self.indices[:limit]


def find_errors(true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> Errors:
    wrong = np.flatnonzero(true != predicted)
    # lexsort: the last key is the primary one; ties keep the data order
    order = wrong[np.lexsort((wrong, -confidence[wrong]))]
    return Errors(order, true, predicted, confidence, int(true.size))


def grid_shape(n_tiles: int) -> tuple[int, int]:
    """(rows, columns) of the grid: one row up to five tiles, else close to a square."""
    if n_tiles <= 0:
        return 0, 0
    columns = n_tiles if n_tiles <= MAX_COLUMNS_IN_ONE_ROW else math.ceil(math.sqrt(n_tiles))
    return math.ceil(n_tiles / columns), columns


def figure_size(n_tiles: int) -> tuple[float, float]:
    rows, columns = grid_shape(n_tiles)
    if n_tiles == 0:
        return MIN_WIDTH, HEADER + 0.3
    width = max(columns * TILE_WIDTH + 2 * MARGIN, MIN_WIDTH)
    return whole_pixels(width), whole_pixels(HEADER + rows * TILE_HEIGHT + MARGIN)


def _tile_origin(n_tiles: int, tile: int) -> tuple[float, float]:
    """(left, top) of a tile in inches from the figure's top-left corner."""
    rows, columns = grid_shape(n_tiles)
    width, _ = figure_size(n_tiles)
    grid_left = (width - columns * TILE_WIDTH) / 2
    row, column = divmod(tile, columns)
    return grid_left + column * TILE_WIDTH, HEADER + row * TILE_HEIGHT


def _image_rect(n_tiles: int, tile: int) -> tuple[float, float, float, float]:
    """(left, top, width, height) of a tile's image in inches from the top-left corner."""
    left, top = _tile_origin(n_tiles, tile)
    return left + (TILE_WIDTH - IMAGE_SIZE) / 2, top + TEXT_HEIGHT, IMAGE_SIZE, IMAGE_SIZE


def cell_image_boxes(n_tiles: int) -> list[tuple[int, int, int, int]]:
    """The image area of every cell of the grid (``rows x columns``; the first ``n_tiles`` hold
    the tiles, the rest stay empty) in pixels, ``(left, top, right, bottom)`` from the top-left."""
    rows, columns = grid_shape(n_tiles)
    boxes = []
    for tile in range(rows * columns):
        left, top, width, height = _image_rect(n_tiles, tile)
        boxes.append((round(left * DPI), round(top * DPI), round((left + width) * DPI), round((top + height) * DPI)))
    return boxes


def display_images(raw: np.ndarray, input_shape: Sequence[int], divisor: float) -> np.ndarray:
    """``(n, h, w)`` or ``(n, h, w, 3)`` floats in [0, 1], as the model saw them where it can be
    shown that way (pixels / 255), else stretched over the shown examples' range."""
    shape = tuple(input_shape)
    images = np.asarray(raw, dtype=np.float64).reshape(len(raw), *shape)
    if divisor != 1:
        images = images / divisor
    if images.size and (images.min() < 0 or images.max() > 1):
        low, high = images.min(), images.max()
        images = (images - low) / (high - low) if high > low else np.zeros_like(images)
    if len(shape) == 3:
        images = images[..., 0] if shape[2] == 1 else images[..., :3]
    return images


def errors_figure(
    plt: Any,
    images: np.ndarray,
    errors: Errors,
    shown: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
    files: Sequence[str] | None = None,
) -> Any:
    """The grid; ``files``: each example's file (of the whole set, as ``errors.true``), named
    in its tile instead of its index."""
    n = len(shown)
    width, height = figure_size(n)
    fig = plt.figure(figsize=(width, height))
    accuracy = 1 - errors.indices.size / errors.examples if errors.examples else 0.0
    headline = f"{errors.indices.size:,} of {errors.examples:,} examples misclassified (accuracy {accuracy:.3f})"
    if n:
        more = f"the {n} most confident" if n < errors.indices.size else "all"
        # two lines: one would run past the right edge of a narrow grid (three tiles wide)
        headline += (f"\n{more} shown, most confident first:\n{'file' if files is not None else 'index'}, "
                     "true class, predicted class (its probability)")
    fig.text(MARGIN / width, 1 - 0.08 / height, plain_lines(title) + "\n" + headline, va="top", ha="left", fontsize=8)
    for tile, index in enumerate(shown):
        left, top, image_width, image_height = _image_rect(n, tile)
        ax = fig.add_axes((left / width, 1 - (top + image_height) / height, image_width / width, image_height / height))
        image = images[tile]
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
        ax.set_axis_off()
        tile_left, tile_top = _tile_origin(n, tile)
        x = (tile_left + TILE_WIDTH / 2) / width
        true_name = plain(class_names[errors.true[index]], NAME_LIMIT)
        predicted_name = plain(class_names[errors.predicted[index]], NAME_LIMIT)
        label = f"#{index}" if files is None else plain(Path(files[index]).name, FILE_NAME_LIMIT)
        fig.text(x, 1 - (tile_top + 0.04) / height, f"{label}\ntrue: {true_name}", ha="center", va="top", fontsize=7)
        fig.text(x, 1 - (tile_top + 0.34) / height, f"pred: {predicted_name} ({errors.confidence[index]:.2f})",
                 ha="center", va="top", fontsize=7, color=WRONG_COLOUR)
    return fig


def write_errors(
    path: str | Path,
    fmt: str,
    images: np.ndarray,
    errors: Errors,
    shown: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
    files: Sequence[str] | None = None,
) -> Path:
    """``images`` holds the shown examples, in the order of ``shown``; ``files``: each example's
    file, where known."""
    with drawing() as plt:
        return save(errors_figure(plt, images, errors, shown, class_names, title=title, files=files), path, fmt)
