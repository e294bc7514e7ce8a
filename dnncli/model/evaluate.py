"""Evaluating a model on a labelled HDF5 set: accuracy, precision, recall, F1, log loss and the
confusion matrix (vectorized NumPy), and quality gates for CI.

Which examples: :mod:`dnncli.model.selection`.

Conventions (scikit-learn's): the confusion matrix has true classes in rows and predicted
classes in columns; a class never predicted has precision 0 and a class absent from the data has
recall 0 (instead of a division by zero). For a binary model the headline precision, recall and
F1 are those of the positive class (index 1); for more classes they are macro averages, the
unweighted mean over classes. The log loss is the model's own cost (binary or categorical
cross-entropy, from the logits), so it is finite even for a saturated output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.table import Table

from dnncli.data.hdf5 import Dataset, check_representable, class_labels
from dnncli.errors import CheckFailed, ConfigError, DataError, ModelFileError
from dnncli.model.file import ModelBundle
from dnncli.model.selection import Selection, load_selection
from dnncli.network.model import OUTPUT_BLOCK
from dnncli.network.scores import regression_scores
from dnncli.terminal.display import shown
from dnncli.terminal.text import cost_text, metric_text, score_text


# ---- the metrics themselves ------------------------------------------------------------------


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class i predicted as class j."""
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class, from the confusion matrix."""
    true_positives = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, actual)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


# ---- a model on a data set -------------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``dnn evaluate`` reports; ``as_dict`` is its ``--json``."""

    model: str
    data: str
    examples: int
    keys: list[str] = field(default_factory=list)  # [x key, y key]
    range: list[int] = field(default_factory=list)  # [start, stop] of the file's examples
    part: str | None = None  # which of the model's recorded sets these are: train, validation, test
    classes: list[str] | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    log_loss: float | None = None
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[list[int]] | None = None
    regression: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    # per example, for the pictures (not in --json): true class, predicted class, and the
    # probability the model gave its prediction
    y_true: np.ndarray | None = field(default=None, repr=False)
    y_pred: np.ndarray | None = field(default=None, repr=False)
    confidence: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "data": self.data, "keys": self.keys, "range": self.range,
            "examples": self.examples, "part": self.part,
        }
        if self.regression is not None:
            return {**out, **self.regression}
        return {
            **out,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "log_loss": self.log_loss,
            "average": "binary (positive class)" if len(self.classes or []) == 2 else "macro",
            "classes": self.classes,
            "per_class": self.per_class,
            "confusion_matrix": self.confusion,
        }


def evaluate_selection(
    bundle: ModelBundle, selection: Selection, threshold: float = 0.5
) -> tuple["Evaluation", Dataset]:
    """:func:`evaluate` on the selected examples, saying which they were; and those examples."""
    dataset, bounds = load_selection(bundle, selection)
    result = evaluate(bundle, dataset, selection.y_key, threshold)
    result.data, result.keys, result.range = str(selection.path), [selection.x_key, selection.y_key], bounds
    # an explicit range within one of the model's recorded parts is that part (or some of it)
    result.part = selection.part or next(
        (name for name, (low, high) in selection.recorded.items() if low <= bounds[0] and bounds[1] <= high), None
    )
    if selection.warning:
        result.warnings.insert(0, selection.warning)
    result.warnings += selection.notes
    return result, dataset


def _check_fits(bundle: ModelBundle, dataset: Dataset) -> list[str]:
    model_name = bundle.path or "the model"
    if dataset.input_shape != tuple(bundle.input_shape):
        raise DataError(
            f"{dataset.source}: examples of shape {dataset.input_shape}, but {model_name} was trained "
            f"on examples of shape {tuple(bundle.input_shape)}"
        )
    warnings = []
    if str(dataset.X_raw.dtype) != bundle.input_dtype:
        warnings.append(
            f"{dataset.source}: values are {dataset.X_raw.dtype} but the model was trained on "
            f"{bundle.input_dtype}; they are divided by {bundle.input_divisor:g} all the same"
        )
    names = bundle.class_names
    if dataset.classes and bundle.classes and dataset.classes != names:
        warnings.append(f"{dataset.source}: class names {dataset.classes} differ from the model's {names}")
    return warnings


def evaluate(
    bundle: ModelBundle, dataset: Dataset, y_key: str, threshold: float = 0.5
) -> Evaluation:
    """Every metric of ``bundle``'s network on ``dataset``, scaled exactly as its training data."""
    warnings = _check_fits(bundle, dataset)
    net = bundle.network
    check_representable(dataset, bundle.input_divisor, net.dtype)
    X = dataset.columns(bundle.input_divisor, net.dtype)
    with np.errstate(all="ignore"):  # checked just below: non-finite outputs are refused
        AL, caches = net.scoring_forward(X, OUTPUT_BLOCK)
    if not np.all(np.isfinite(AL)):
        raise ModelFileError(
            f"{bundle.path}: gives non-finite outputs (NaN or infinite probabilities) on {dataset.source}: "
            "its parameters or input_divisor are out of range; retrain it"
        )
    result = Evaluation(model=str(bundle.path), data=dataset.source, examples=dataset.m, warnings=warnings)
    if dataset.y is None:
        raise DataError(f"{dataset.source}: no labels to evaluate against")

    if net.is_regression:
        y = dataset.y.astype(np.float64)
        Y = y.T if y.ndim == 2 else y.reshape(1, -1)
        if Y.shape[0] != net.layer_sizes[-1]:
            raise DataError(
                f"{dataset.source}: '{y_key}' has {Y.shape[0]} targets per example, the model predicts {net.layer_sizes[-1]}"
            )
        target = bundle.encoder.target if bundle.encoder is not None else None
        units = {"scale": target.scale, "mean": target.mean} if target is not None else {}  # a table's, in its units
        result.regression = regression_scores(AL.astype(np.float64), Y, **units)
        return result

    names = bundle.class_names
    k = len(names)
    y_true = class_labels(dataset, k, y_key)
    y_pred = bundle.labels(AL, threshold)
    # the probability the model gave its prediction (binary: of class 1, or of class 0)
    confidence = np.where(y_pred == 1, AL[0], 1 - AL[0]) if bundle.is_binary else AL[y_pred, np.arange(y_pred.size)]
    confusion = confusion_matrix(y_true, y_pred, k)
    scores = per_class_scores(confusion)
    headline = (lambda s: float(s[1])) if k == 2 else (lambda s: float(np.mean(s)))

    result.classes = names
    result.accuracy = float(np.mean(y_true == y_pred))
    result.precision = headline(scores["precision"])
    result.recall = headline(scores["recall"])
    result.f1 = headline(scores["f1"])
    result.log_loss = float(net.cost(AL, caches, net.encode_targets(y_true)))
    result.per_class = [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(names, scores["precision"], scores["recall"], scores["f1"], scores["support"])
    ]
    result.confusion = confusion.tolist()
    result.y_true, result.y_pred, result.confidence = y_true, y_pred, confidence.astype(np.float64)
    return result


def check_gates(result: Evaluation, min_accuracy: float | None, min_f1: float | None) -> None:
    """Raise CheckFailed (exit 1) with a one-line reason if a quality gate is not met."""
    if result.regression is not None and (min_accuracy is not None or min_f1 is not None):
        raise ConfigError("--min-accuracy and --min-f1 apply to classifiers; this model is a regression")
    shortfalls = [
        f"{name} {value:.4f} is below {option} {minimum:g}"
        for name, value, option, minimum in (
            ("accuracy", result.accuracy, "--min-accuracy", min_accuracy),
            ("F1", result.f1, "--min-f1", min_f1),
        )
        if minimum is not None and value is not None and value < minimum
    ]
    if shortfalls:
        raise CheckFailed(f"quality gate failed: {'; '.join(shortfalls)} ({result.data})")


# ---- rendering -------------------------------------------------------------------------------


def tables(result: Evaluation) -> list[Table]:
    # class names and paths come from files and folders: shown escaped, never read as markup
    which = f" '{result.keys[0]}' [{result.range[0]}:{result.range[1]}]" if result.keys and result.range else ""
    part = f", the model's {result.part} set" if result.part else ""
    summary = Table(title=shown(f"{result.data}{which}: {result.examples} examples{part}"), show_header=False,
                    title_justify="left")
    summary.add_column("metric", style="bold")
    summary.add_column("value", justify="right")
    if result.regression is not None:
        for name, value in result.regression.items():
            summary.add_row(name, metric_text(name, value))
        return [summary]
    average = "class " + (result.classes or ["", "1"])[1] if len(result.classes or []) == 2 else "macro"
    summary.add_row("accuracy", score_text(result.accuracy))
    summary.add_row(shown(f"precision ({average})"), score_text(result.precision))
    summary.add_row(shown(f"recall ({average})"), score_text(result.recall))
    summary.add_row(shown(f"F1 ({average})"), score_text(result.f1))
    summary.add_row("log loss", cost_text(result.log_loss))

    per_class = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in result.per_class:
        per_class.add_row(shown(row["class"]), score_text(row["precision"]), score_text(row["recall"]), score_text(row["f1"]), str(row["support"]))

    confusion = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    confusion.add_column("true \\ predicted")
    for name in result.classes or []:
        confusion.add_column(shown(name), justify="right")
    for name, row in zip(result.classes or [], result.confusion or []):
        confusion.add_row(shown(name), *map(str, row))
    return [summary, per_class, confusion]
