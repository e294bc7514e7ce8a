"""The library side of the picture commands: ``dnn plot boundary``, ``dnn plot curves`` and
``dnn evaluate --errors / --confusion``. Each writes its pictures and returns what ``--json``
reports (the files written first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dnncli.data.hdf5 import class_labels
from dnncli.data.images import image_mode
from dnncli.errors import ConfigError, DataError
from dnncli.model.file import ModelBundle
from dnncli.model.selection import labelled_sets
from dnncli.plots.boundary import PointSet, has_2d_inputs, is_classifier, set_accuracy, set_name, write_boundary
from dnncli.plots.confusion import write_confusion
from dnncli.plots.curves import load_runs, write_compare
from dnncli.plots.figure import path_text
from dnncli.plots.misclassified import display_images, find_errors, write_errors


def _model_text(bundle: ModelBundle) -> str:
    return path_text(bundle.path or "the model")


def _check_classifier(bundle: ModelBundle, what: str) -> None:
    if not is_classifier(bundle.network):
        raise ConfigError(f"{what} applies to classifiers; {bundle.path or 'this model'} is a regression (linear output)")


# ---- dnn plot boundary -------------------------------------------------------------------------


def check_boundary_model(bundle: ModelBundle) -> None:
    _check_classifier(bundle, "a decision boundary")
    if not has_2d_inputs(bundle.network):
        raise DataError(
            f"{bundle.path or 'the model'}: takes examples of shape {tuple(bundle.input_shape)} "
            f"({bundle.network.layer_sizes[0]} inputs); a decision boundary is drawn for 2-D inputs only"
        )


def model_point_sets(
    bundle: ModelBundle, data: str | Path, x_key: str | None, y_key: str | None
) -> list[PointSet]:
    """The labelled sets of ``data`` (train and test when the file holds both), train first."""
    k = bundle.network.n_classes
    sets = []
    for key, dataset, label_key in labelled_sets(bundle, data, x_key, y_key):
        if dataset.n_x != 2:
            raise DataError(f"{dataset.source}: '{key}' holds examples of shape {dataset.input_shape}, expected 2 values each")
        sets.append(PointSet(set_name(key), dataset.X_raw.reshape(dataset.m, 2), class_labels(dataset, k, label_key)))
    return sorted(sets, key=lambda s: s.name != "train")


def plot_boundary(
    bundle: ModelBundle,
    data: str | Path,
    output: str | Path,
    fmt: str,
    *,
    x_key: str | None = None,
    y_key: str | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    check_boundary_model(bundle)
    sets = model_point_sets(bundle, data, x_key, y_key)
    network, divisor = bundle.network, bundle.input_divisor
    title = f"decision boundary of {_model_text(bundle)}\non {path_text(data)}"
    write_boundary(output, fmt, network, divisor, bundle.class_names, sets,
                   title=title, threshold=threshold)
    return {
        "files": [str(output)],
        "sets": [
            {"name": s.name, "points": int(len(s.X)), "accuracy": set_accuracy(network, divisor, s, threshold)}
            for s in sets
        ],
    }


# ---- dnn plot curves ---------------------------------------------------------------------------


def plot_curves(runs: Sequence[str | Path], output: str | Path, fmt: str) -> dict[str, Any]:
    loaded = load_runs(runs)
    write_compare(loaded, output, fmt)
    return {"files": [str(output)], "runs": [{"run": str(r.path), "label": r.label, "rows": len(r.rows)} for r in loaded]}


# ---- dnn evaluate --errors / --confusion -------------------------------------------------------


def check_evaluation_pictures(bundle: ModelBundle, errors: Path | None, confusion: Path | None) -> None:
    """Refuse, before evaluating, pictures this model cannot have."""
    if errors is None and confusion is None:
        return
    _check_classifier(bundle, "--errors" if errors is not None else "--confusion")
    if errors is not None and not has_2d_inputs(bundle.network):
        try:
            image_mode(tuple(bundle.input_shape))
        except DataError:
            raise DataError(
                f"--errors shows images, or points for 2-D inputs; {bundle.path or 'the model'} takes "
                f"examples of shape {tuple(bundle.input_shape)}"
            ) from None


def evaluation_pictures(
    bundle: ModelBundle,
    dataset: Any,
    label_key: str,
    result: Any,
    *,
    errors: tuple[Path, str] | None = None,
    errors_limit: int = 36,
    confusion: tuple[Path, str] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Write ``--confusion`` and ``--errors`` (each a ``(path, format)``); what ``--json`` adds."""
    out: dict[str, Any] = {"files": {}}
    names = result.classes
    about = f"{_model_text(bundle)} on {path_text(result.data)}"
    if confusion is not None:
        path, fmt = confusion
        title = (f"confusion matrix: {result.examples:,} examples, accuracy {result.accuracy:.3f}\n{about}"
                 "\nrows: true class, columns: predicted; colour: share of the row")
        write_confusion(path, fmt, np.asarray(result.confusion), names, title=title)
        out["files"]["confusion"] = str(path)
    if errors is not None:
        path, fmt = errors
        found = find_errors(result.y_true, result.y_pred, result.confidence)
        if has_2d_inputs(bundle.network):
            shown = found.indices
            points = PointSet(set_name(label_key), dataset.X_raw.reshape(dataset.m, 2), result.y_true, highlight=shown)
            write_boundary(path, fmt, bundle.network, bundle.input_divisor, names, [points],
                           title=f"misclassified points (ringed): {shown.size:,} of {found.examples:,}\n{about}",
                           threshold=threshold)
        else:
            shown = found.shown(errors_limit)
            rows = np.sort(shown)  # read in increasing order (what an HDF5 array accepts), shown in ours
            stored = np.asarray(dataset.X_raw[rows])[np.searchsorted(rows, shown)]
            images = display_images(stored, bundle.input_shape, bundle.input_divisor)
            write_errors(path, fmt, images, found, shown, names, title=about, files=dataset.paths)
        out["files"]["errors"] = str(path)
        out["misclassified"] = int(found.indices.size)
        out["errors_shown"] = [int(i) for i in shown]
        if dataset.paths is not None:  # an imported file or a folder: each example's file
            out["errors_shown_files"] = [dataset.paths[int(i)] for i in shown]
    return out
