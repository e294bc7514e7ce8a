"""The confusion matrix as a heatmap: rows are true classes, columns predicted ones; each cell holds
its count and its share of the row (the recall on the diagonal), coloured by that share so that
classes of different sizes compare. The layout is fixed by the number of classes
(:func:`layout`, :func:`cell_box`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dnncli.plots.figure import DPI, drawing, plain, plain_lines, save, whole_pixels

TOP, RIGHT = 0.8, 1.25  # inches: the title above, the colour bar to the right
COLOUR_BAR_GAP, COLOUR_BAR_WIDTH = 0.2, 0.18
MIN_WIDTH = 5.6
NAME_LIMIT = 18
CHARACTER = 0.075  # inches per character of a tick label, roughly
MAX_ANNOTATED = 30  # more classes than this: colours only, no numbers in the cells
CMAP = "Blues"


@dataclass(frozen=True)
class Layout:
    """Where the matrix sits, in inches: fixed by the number of classes and their names."""

    left: float
    bottom: float
    cell: float
    width: float
    height: float
    rotate: bool
    n_classes: int

    @property
    def side(self) -> float:
        return self.cell * self.n_classes


def layout(class_names: Sequence[str]) -> Layout:
    k = len(class_names)
    names = [plain(name, NAME_LIMIT) for name in class_names]
    longest = max((len(n) for n in names), default=1)
    cell = max(0.62, 3.0 / k) if k <= 10 else max(0.2, 6.2 / k)
    rotate = CHARACTER * longest > 0.9 * cell  # upright only when the names fit under their columns
    left = 0.7 + CHARACTER * longest
    bottom = 0.65 + (CHARACTER * longest if rotate else 0.2)
    side = cell * k
    width = whole_pixels(max(left + side + RIGHT, MIN_WIDTH))
    return Layout(left, bottom, cell, width, whole_pixels(TOP + side + bottom), rotate, k)


def cell_box(class_names: Sequence[str], row: int, column: int) -> tuple[int, int, int, int]:
    """Cell (row, column)'s area in pixels, ``(left, top, right, bottom)`` from the top-left corner."""
    at = layout(class_names)
    left, top = at.left + column * at.cell, TOP + row * at.cell
    return round(left * DPI), round(top * DPI), round((left + at.cell) * DPI), round((top + at.cell) * DPI)


def row_fractions(confusion: np.ndarray) -> np.ndarray:
    totals = confusion.sum(axis=1, keepdims=True)
    out = np.zeros(confusion.shape, dtype=np.float64)
    np.divide(confusion, totals, out=out, where=totals > 0)
    return out


def confusion_figure(plt: Any, confusion: np.ndarray, class_names: Sequence[str], *, title: str) -> Any:
    confusion = np.asarray(confusion, dtype=np.int64)
    k = confusion.shape[0]
    at = layout(class_names)
    width, height, side = at.width, at.height, at.side
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((at.left / width, at.bottom / height, side / width, side / height))
    fractions = row_fractions(confusion)
    image = ax.imshow(fractions, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    font = 9 if k <= 4 else 8 if k <= 10 else 6 if k <= 20 else 5
    if k <= MAX_ANNOTATED:
        for (i, j), count in np.ndenumerate(confusion):
            share = fractions[i, j]
            text = f"{count}\n{100 * share:.1f}%" if k <= 20 and count else f"{count}"
            ax.text(j, i, text, ha="center", va="center", fontsize=font,
                    color="white" if share > 0.55 else "#222222")
    names = [plain(name, NAME_LIMIT) for name in class_names]
    ticks = np.arange(k)
    ax.set_xticks(ticks, names, rotation=90 if at.rotate else 0, fontsize=min(font + 1, 9))
    ax.set_yticks(ticks, names, fontsize=min(font + 1, 9))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar_ax = fig.add_axes(((at.left + side + COLOUR_BAR_GAP) / width, at.bottom / height, COLOUR_BAR_WIDTH / width, side / height))
    bar = fig.colorbar(image, cax=bar_ax)
    bar.set_label("share of the true class (row)")
    bar.ax.yaxis.set_major_formatter(lambda value, _: f"{100 * value:.0f}%")
    fig.text(0.12 / width, 1 - 0.1 / height, plain_lines(title, int(width * 13)), va="top", ha="left", fontsize=8)
    return fig


def write_confusion(
    path: str | Path, fmt: str, confusion: np.ndarray, class_names: Sequence[str], *, title: str
) -> Path:
    with drawing() as plt:
        return save(confusion_figure(plt, confusion, class_names, title=title), path, fmt)
