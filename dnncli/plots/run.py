"""The pictures a training run writes into its directory: ``loss.png`` always, ``boundary.png``
for a classifier with 2-D inputs (``.svg`` with ``output.plot: svg``; none with ``none``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dnncli.plots.boundary import PointSet, class_names_for, has_2d_inputs, is_classifier, write_boundary
from dnncli.plots.curves import run_title, write_learning_curve


def picture_names(plot: str, network: Any) -> list[str]:
    """The pictures a run of ``network`` writes with ``output.plot`` = ``plot``."""
    if plot == "none":
        return []
    names = [f"loss.{plot}"]
    if has_2d_inputs(network) and is_classifier(network):
        names.append(f"boundary.{plot}")
    return names


def _point_set(name: str, examples: Any, network: Any, divisor: float) -> PointSet:
    """A set's points in the units they were stored in, and their classes from the targets."""
    X, Y = examples[0], examples[1]  # (X, Y), or Examples
    points = np.array(X[:, :], dtype=np.float64).T  # a copy: streamed columns reuse one buffer
    if divisor != 1:
        points *= divisor
    return PointSet(name, points, network.labels(Y))


def _point_sets(prepared: Any, network: Any) -> list[PointSet]:
    data = prepared.data
    parts = (("train", (data.X, data.Y)), ("validation", data.validation), ("test", data.test))
    return [_point_set(name, examples, network, prepared.divisor) for name, examples in parts if examples is not None]


def write_run_pictures(
    directory: Path, prepared: Any, network: Any, rows: Sequence[dict[str, Any]], metrics: dict[str, Any]
) -> list[str]:
    """Draw the run's pictures into ``directory`` (each written atomically); their names."""
    config = prepared.config
    plot = config.output.plot
    names = picture_names(plot, network)
    if not names:
        return names
    status = metrics.get("status")  # an unfinished run's pictures say so: interrupted, diverged
    title = run_title(config, network.layer_sizes, network.activations, None if status == "finished" else status)
    write_learning_curve(
        rows, directory / names[0], plot, title=title, loss_name=network.loss_name,
        best_epoch=metrics.get("best_epoch"),
    )
    if len(names) > 1:
        write_boundary(
            directory / names[1], plot, network, prepared.divisor, class_names_for(network, prepared.classes),
            _point_sets(prepared, network),
            title="decision boundary of " + title,
        )
    return names
