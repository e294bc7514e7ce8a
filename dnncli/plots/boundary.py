"""Decision boundaries of models with 2-D inputs: the course's planar, football and moons pictures.

The plane around the data is cut into a grid; every grid point is coloured by the class the model
predicts there, paler where the model is less sure (its probability of that class), with the
boundary itself drawn as a black line. The data's points are drawn on top in their class's
colour, one marker per set (train, test, validation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dnncli.errors import DataError
from dnncli.plots.figure import class_colours, drawing, legend_label, margins, plain_lines, save

GRID = 300  # grid points along each axis
MAX_POINTS = 5000  # per set: a larger set is drawn through an even subsample
FIGURE_SIZE = (8.4, 6.6)  # inches: 1260 x 990 pixels at 150 dpi
# margins in inches: the title above, the axis labels, then the legend below, in columns across the
# whole width (beside the axes it left a third of the figure empty under a short legend)
MARGINS = {"left": 0.8, "right": 0.3, "top": 0.75, "bottom": 0.6}
LEGEND_COLUMNS = 3
LEGEND_ROW = 0.22  # inches per row of the legend
MARKERS = {"train": "o", "test": "^", "validation": "s"}
OTHER_MARKERS = ("D", "v", "P", "X")
# how pale a region is: its class colour mixed with white, from this much colour (a coin toss)...
REGION_MIN = 0.12
# ...to this much colour (certain)
REGION_MAX = 0.45


@dataclass
class PointSet:
    """Points to draw: ``X`` as stored, shape ``(m, 2)``, and integer labels ``(m,)``."""

    name: str
    X: np.ndarray
    y: np.ndarray
    # indices of points to ring (the misclassified ones of `dnn evaluate --errors`)
    highlight: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def has_2d_inputs(network: Any) -> bool:
    return network.layer_sizes[0] == 2


def is_classifier(network: Any) -> bool:
    return not network.is_regression


def class_names_for(network: Any, classes: Sequence[str] | None) -> list[str]:
    """The names of the model's classes, or their numbers when the data named none."""
    k = network.n_classes
    return list(classes) if classes and len(classes) == k else [str(c) for c in range(k)]


def class_probabilities(network: Any, X_raw: np.ndarray, divisor: float) -> np.ndarray:
    """``(k, m)`` probabilities of points stored as ``(m, 2)``, scaled as the training data."""
    X = np.asarray(X_raw, dtype=network.dtype).reshape(X_raw.shape[0], -1).T
    if divisor != 1:
        X = X / divisor
    AL = network.predict_proba(np.ascontiguousarray(X)).astype(np.float64)
    return np.vstack([1 - AL[0], AL[0]]) if AL.shape[0] == 1 else AL


def predicted_labels(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    if probabilities.shape[0] == 2:
        return (probabilities[1] > threshold).astype(np.int64)
    return np.argmax(probabilities, axis=0)


def set_accuracy(network: Any, divisor: float, point_set: PointSet, threshold: float = 0.5) -> float:
    predicted = predicted_labels(class_probabilities(network, np.asarray(point_set.X), divisor), threshold)
    return float(np.mean(predicted == point_set.y))


def subsample(m: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Evenly spaced indices: the same points every time."""
    if m <= limit:
        return np.arange(m)
    return np.unique(np.linspace(0, m - 1, limit).round().astype(np.int64))


def _extent(sets: Sequence[PointSet]) -> tuple[float, float, float, float]:
    points = np.concatenate([np.asarray(s.X[subsample(len(s.X))], dtype=np.float64) for s in sets])
    low, high = points.min(axis=0), points.max(axis=0)
    span = high - low
    pad = np.where(span > 0, span * 0.08, np.maximum(np.abs(low) * 0.1, 1.0))
    return float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1])


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def region_colours(labels: np.ndarray, confidence: np.ndarray, colours: Sequence[str]) -> np.ndarray:
    """``(..., 3)`` RGB: each point the colour of its predicted class, mixed with white by how sure
    the model is (its probability of that class, from 1/k to 1)."""
    k = len(colours)
    palette = np.stack([_rgb(c) for c in colours])
    sure = np.clip((confidence - 1 / k) / (1 - 1 / k), 0, 1)
    amount = (REGION_MIN + (REGION_MAX - REGION_MIN) * sure)[..., None]
    return 1 - (1 - palette[labels]) * amount


def boundary_figure(
    plt: Any,
    network: Any,
    divisor: float,
    class_names: Sequence[str],
    sets: Sequence[PointSet],
    *,
    title: str,
    threshold: float = 0.5,
) -> Any:
    from matplotlib.lines import Line2D

    if not sets:
        raise DataError("no points to draw the decision boundary around")
    k = network.n_classes
    colours = class_colours(k)
    x0, x1, y0, y1 = _extent(sets)
    gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    probabilities = class_probabilities(network, grid, divisor)
    labels = predicted_labels(probabilities, threshold)
    confidence = probabilities[labels, np.arange(labels.size)]
    image = region_colours(labels.reshape(GRID, GRID), confidence.reshape(GRID, GRID), colours)

    fig, ax = plt.subplots(figsize=FIGURE_SIZE)
    ax.imshow(image, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", interpolation="nearest")
    grid_labels = labels.reshape(GRID, GRID)
    for c in range(1 if k == 2 else 0, k):  # binary: one line, where class 1 starts
        inside = (grid_labels == c).astype(np.float64)
        if 0 < inside.sum() < inside.size:
            ax.contour(gx, gy, inside, levels=[0.5], colors="black", linewidths=1.1)

    set_handles, set_labels = [], []
    for number, point_set in enumerate(sets):
        marker = MARKERS.get(point_set.name, OTHER_MARKERS[number % len(OTHER_MARKERS)])
        chosen = subsample(len(point_set.X))
        X = np.asarray(point_set.X[chosen], dtype=np.float64).reshape(len(chosen), -1)
        y = np.asarray(point_set.y)[chosen]
        ax.scatter(X[:, 0], X[:, 1], c=[colours[c] for c in y], marker=marker, s=22 if marker == "o" else 28,
                   edgecolors="black", linewidths=0.4, zorder=3)
        accuracy = set_accuracy(network, divisor, point_set, threshold)
        shown = "" if len(chosen) == len(point_set.X) else f", {len(chosen):,} drawn"
        set_handles.append(Line2D([], [], marker=marker, linestyle="", color="#bbbbbb", markeredgecolor="black"))
        set_labels.append(legend_label(f"{point_set.name}: {len(point_set.X):,} points{shown}, accuracy {accuracy:.3f}", 70))
        if point_set.highlight.size:
            ring = np.asarray(point_set.X[np.sort(point_set.highlight)], dtype=np.float64).reshape(point_set.highlight.size, -1)
            ax.scatter(ring[:, 0], ring[:, 1], s=95, facecolors="none", edgecolors="black", linewidths=1.3, zorder=4)
            set_handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                                      markeredgecolor="black", markersize=9, markeredgewidth=1.3))
            set_labels.append(f"misclassified: {point_set.highlight.size:,}")
    class_handles = [Line2D([], [], marker="s", linestyle="", color=c, markersize=9) for c in colours]
    class_labels = [legend_label(name, 24) for name in class_names]
    set_handles.append(Line2D([], [], color="black", linewidth=1.1))
    set_labels.append("decision boundary" + (f" (p = {threshold:g})" if k == 2 else ""))
    shown_classes = min(k, 20)
    handles = class_handles[:shown_classes] + set_handles
    rows = math.ceil(len(handles) / LEGEND_COLUMNS)
    legend_height = 0.15 + rows * LEGEND_ROW
    fig.legend(
        handles, class_labels[:shown_classes] + set_labels, loc="lower center", ncol=LEGEND_COLUMNS,
        bbox_to_anchor=(0.5, 0.15 / FIGURE_SIZE[1]), borderaxespad=0, frameon=False, columnspacing=1.6,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x1 (first input)")
    ax.set_ylabel("x2 (second input)")
    ax.set_title(plain_lines(title), fontsize=10, loc="left")
    margins(fig, **{**MARGINS, "bottom": MARGINS["bottom"] + legend_height})
    return fig


def write_boundary(
    path: str | Path,
    fmt: str,
    network: Any,
    divisor: float,
    class_names: Sequence[str],
    sets: Sequence[PointSet],
    *,
    title: str,
    threshold: float = 0.5,
) -> Path:
    with drawing() as plt:
        fig = boundary_figure(plt, network, divisor, class_names, sets, title=title, threshold=threshold)
        return save(fig, path, fmt)


def set_name(key: str) -> str:
    """``train_set_x`` -> ``train``, ``test_set_y`` -> ``test``; other keys as they are."""
    for suffix in ("_set_x", "_set_y", "_x", "_y"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key
