"""Evaluating a model on a labelled HDF5 set: accuracy, precision, recall, F1, log loss and the
confusion matrix (vectorized NumPy), and quality gates for CI.

Which examples (:func:`select_examples`): a model file records where its training, validation
and test examples came from (file, keys, ranges). With no data file, the model's own test set is
evaluated; with a file it was trained from (the same file, or a copy of it: same bytes), the
recorded test range of that array by default. Its training examples are evaluated only when asked
for with ``--range``, and then with a warning: numbers on examples a model was trained on
overstate how it does on new ones.

Conventions (scikit-learn's): the confusion matrix has true classes in rows and predicted
classes in columns; a class never predicted has precision 0 and a class absent from the data has
recall 0 (instead of a division by zero). For a binary model the headline precision, recall and
F1 are those of the positive class (index 1); for more classes they are macro averages, the
unweighted mean over classes. The log loss is the model's own cost (binary or categorical
cross-entropy, from the logits), so it is finite even for a saturated output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dnncli.data.hdf5 import Dataset, check_representable, class_labels, load_dataset
from dnncli.data.splits import same_file, subset
from dnncli.terminal.display import shown
from dnncli.errors import CheckFailed, ConfigError, DataError, ModelFileError
from dnncli.model.file import ModelBundle
from dnncli.network.scores import regression_scores

# (x key, y key) pairs tried in order when none is given: the model's own, then the course's.
_FALLBACK_KEYS = [("test_set_x", "test_set_y"), ("train_set_x", "train_set_y")]


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


def _model_keys(bundle: ModelBundle) -> tuple[list[tuple[str, str]], str]:
    """The (x, y) key pairs the model's training config used, and its classes key."""
    try:
        data = (yaml.safe_load(bundle.config) or {}).get("data", {}) if bundle.config else {}
    except yaml.YAMLError:
        data = {}
    pairs = [
        (data.get("test_x_key"), data.get("test_y_key")),
        (data.get("x_key"), data.get("y_key")),
        *_FALLBACK_KEYS,
    ]
    unique = list(dict.fromkeys((x, y) for x, y in pairs if x and y))
    return unique, data.get("classes_key") or "list_classes"


def _keys_of(path: Path) -> list[str] | None:
    """The file's top-level keys (None if it is not a readable HDF5 file: loading then says why)."""
    from dnncli.files.hdf5safe import open_hdf5

    try:
        with open_hdf5(path, DataError, what="data file") as f:
            return list(f.keys())
    except (DataError, OSError, RuntimeError):
        return None


DEFAULT_CACHE_DIR = "runs/.cache"
# the "keys" of a folder of images (one subfolder per class): its pictures and its folder names
FOLDER_KEYS = ("(images)", "(folder names)")


def load_labelled_set(
    bundle: ModelBundle, path: str | Path, x_key: str | None = None, y_key: str | None = None,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
) -> tuple[Dataset, str]:
    """All the examples of a file and their label key (the keys given, else see
    :func:`_guess_keys`). A folder of images (one subfolder per class, named as the model's
    classes) is read as the model's training images were, and cached under ``cache_dir``."""
    path = Path(path)
    if path.is_dir():
        return _image_folder(bundle, path, cache_dir), FOLDER_KEYS[1]
    x_key, y_key, classes_key = _guess_keys(bundle, path, x_key, y_key)
    return load_dataset(path, x_key, y_key, classes_key), y_key


def _guess_keys(
    bundle: ModelBundle, path: Path, x_key: str | None, y_key: str | None
) -> tuple[str, str, str]:
    """The keys given, else the first pair of the model's training config (test keys first) or
    the course's names that the file holds; and the classes key."""
    candidates, classes_key = _model_keys(bundle)
    if x_key is None:
        keys = _keys_of(path)
        present = [(x, y) for x, y in candidates if keys is not None and x in keys]
        if keys is not None and not present:
            tried = ", ".join(dict.fromkeys(x for x, _ in candidates))
            raise DataError(
                f"{path}: none of the arrays {tried} is there (keys there: {', '.join(sorted(keys)) or 'none'}); "
                "pass --x-key and --y-key"
            )
        x_key, default_y = present[0] if present else candidates[0]
        y_key = y_key or default_y
    elif y_key is None:
        if not x_key.endswith("_x"):
            raise ConfigError(f"--x-key {x_key} given without --y-key: name the labels' array too")
        y_key = x_key[:-2] + "_y"
    return x_key, y_key, classes_key


def _image_folder(bundle: ModelBundle, path: Path, cache_dir: str | Path) -> Dataset:
    from dnncli.data.image_cache import load_image_folder, options_for_shape

    if bundle.input_dtype != "uint8":
        raise DataError(
            f"{path}: a folder of images gives uint8 pixels, but the model was trained on "
            f"{bundle.input_dtype} examples; evaluate it on an HDF5 file of those"
        )
    if bundle.network.is_regression:
        raise DataError(f"{path}: a folder of images gives class labels, but the model is a regression")
    options = options_for_shape(tuple(bundle.input_shape), bundle.input_resize, str(path))
    options.classes = bundle.class_names
    return load_image_folder(path, options, cache_dir, fixed_classes=True)


def labelled_sets(
    bundle: ModelBundle, path: str | Path, x_key: str | None = None, y_key: str | None = None
) -> list[tuple[str, Dataset, str]]:
    """Every labelled set of ``path`` the model's training config (or the course's layout) names,
    as ``(x key, data set, y key)``: a file of train and test points gives both. With ``x_key``,
    that set only."""
    path = Path(path)
    keys = _keys_of(path)
    if x_key is not None or keys is None:
        dataset, label_key = load_labelled_set(bundle, path, x_key, y_key)
        return [(x_key or "examples", dataset, label_key)]
    candidates, classes_key = _model_keys(bundle)
    present: dict[str, str] = {}
    for x, y in candidates:
        if x in keys and y in keys:
            present.setdefault(x, y)
    if not present:
        dataset, label_key = load_labelled_set(bundle, path)  # raises, naming the keys there
        return [("examples", dataset, label_key)]
    return [(x, load_dataset(path, x, y, classes_key), y) for x, y in present.items()]


# ---- which examples --------------------------------------------------------------------------

PARTS = ("test", "validation", "train")  # the order a file's recorded parts are preferred in


@dataclass
class Selection:
    """The examples ``dnn evaluate`` scores: an array pair of a file and a range of it."""

    path: Path
    x_key: str
    y_key: str
    classes_key: str
    bounds: tuple[int | None, int | None] | None  # None: all of the file's examples
    part: str | None = None  # the model's recorded set they belong to
    warning: str | None = None
    # an explicit range: the recorded parts of the same array, to say which one it lies in
    recorded: dict[str, list[int]] = field(default_factory=dict)
    cache_dir: str | Path = DEFAULT_CACHE_DIR  # where a folder of images is cached once decoded


def parse_range(text: str) -> tuple[int | None, int | None]:
    """``START:STOP`` (Python slice bounds; either may be left out) as two integers or None."""
    start_text, sep, stop_text = text.partition(":")
    try:
        if not sep:
            raise ValueError
        start = int(start_text) if start_text.strip() else None
        stop = int(stop_text) if stop_text.strip() else None
    except ValueError:
        raise ConfigError(f"--range {text!r}: expected START:STOP, e.g. 8000:10000") from None
    if (start is not None and start < 0) or (start is not None and stop is not None and stop <= start):
        raise ConfigError(f"--range {text!r}: expected 0 <= START < STOP")
    return start, stop


def _matches(path: Path, source: dict[str, Any], digests: dict[str, str]) -> bool:
    """Whether ``path`` is the recorded ``source`` file, or a copy of it (same size and SHA-256)."""
    recorded = source.get("file")
    if not isinstance(recorded, str):
        return False
    if os.path.exists(recorded) and same_file(path, recorded):
        return True
    if path.is_dir() or source.get("folder"):  # a folder is recognised by its place only
        return False
    try:
        if path.stat().st_size != source.get("bytes"):
            return False
    except OSError:
        return False
    if str(path) not in digests:
        from dnncli.data.splits import file_digest

        digests[str(path)] = file_digest(path)
    return digests[str(path)] == source.get("sha256")


def _recorded_parts(bundle: ModelBundle) -> dict[str, dict[str, Any]]:
    sources = bundle.data_sources or {}
    return {name: sources[name] for name in PARTS if isinstance(sources.get(name), dict) and "file" in sources[name]}


def select_examples(
    bundle: ModelBundle,
    data: str | Path | None,
    x_key: str | None = None,
    y_key: str | None = None,
    range_text: str | None = None,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
) -> Selection:
    """Which examples to evaluate on: see the module's docstring."""
    parts = _recorded_parts(bundle)
    model_name = bundle.path or "the model"
    if data is None:
        if bundle.data_sources is None:
            raise ConfigError(
                f"{model_name} does not record its data (written by an older dnn): give the DATA file to evaluate on"
            )
        if "test" not in parts:
            raise ConfigError(
                f"{model_name} was trained without a test set (no data.test or data.test_range): "
                "give the DATA file to evaluate on"
            )
        data = parts["test"]["file"]
        if not Path(data).exists():
            raise DataError(
                f"{data}: the model's test file is not there any more; give DATA (a copy of it is "
                "recognised by its content)"
            )
    path = Path(data)
    digests: dict[str, str] = {}
    matched = {name: src for name, src in parts.items() if path.exists() and _matches(path, src, digests)}
    if path.is_dir():
        x_key, y_key = FOLDER_KEYS
    if x_key is None and matched:
        first = next(iter(matched.values()))  # test first (PARTS' order)
        x_key, y_key = first.get("x_key"), y_key or first.get("y_key")
    elif y_key is None:  # the labels recorded with the examples' key given
        y_key = next((src.get("y_key") for src in matched.values() if src.get("x_key") == x_key), None)
    sources = bundle.data_sources or {}
    if path.is_dir():
        classes_key = ""
    elif x_key is None or y_key is None or not matched:
        x_key, y_key, classes_key = _guess_keys(bundle, path, x_key, y_key)
    else:
        classes_key = sources.get("classes_key") or _model_keys(bundle)[1]
    same_array = {name: src for name, src in matched.items() if src.get("x_key") == x_key}
    part = next(iter(same_array), None)
    bounds: tuple[int | None, int | None] | None = parse_range(range_text) if range_text is not None else None
    if bounds is None and part is not None:
        if part == "train":
            train = same_array["train"]
            raise ConfigError(
                f"{path} ('{x_key}') holds the examples the model was trained on "
                f"({_range_text(train['range'])}); evaluate its test set with `dnn evaluate` and no DATA, "
                "or choose examples with --range START:STOP"
            )
        recorded_part = same_array[part]
        # a part that was all of its file (or folder) is all of it now, even if it changed since
        bounds = None if recorded_part.get("whole") else tuple(recorded_part["range"])
    warning = None
    train = same_array.get("train")
    if range_text is not None and train is not None and bounds is not None:
        start = bounds[0] or 0
        stop = bounds[1] if bounds[1] is not None else train["range"][1]
        low, high = max(start, train["range"][0]), min(stop, train["range"][1])
        if low < high:
            # a validation fraction is a seeded draw from the training range: those examples were
            # not trained on, but chose the model (early stopping, the best epoch)
            held_out = "held_out_from" in sources.get("validation", {})
            kind = "training or validation examples" if held_out else "training examples"
            warning = (
                f"examples {low}..{high - 1} of {path} ('{x_key}') are {kind} of the model "
                f"({_range_text(train['range'])}): these numbers overstate how it does on new data"
            )
    recorded = {name: list(src["range"]) for name, src in same_array.items()} if range_text is not None else {}
    return Selection(
        path, x_key, y_key, classes_key, bounds, None if range_text is not None else part, warning, recorded, cache_dir
    )


def _range_text(bounds: list[int]) -> str:
    return f"examples {bounds[0]}..{bounds[1] - 1}"


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
    return result, dataset


def load_selection(bundle: ModelBundle, selection: Selection) -> tuple[Dataset, list[int]]:
    """The selected examples, and their ``[start, stop]`` in the file."""
    if selection.path.is_dir():
        dataset = _image_folder(bundle, selection.path, selection.cache_dir)
    else:
        dataset = load_dataset(selection.path, selection.x_key, selection.y_key, selection.classes_key)
    start, stop = selection.bounds if selection.bounds is not None else (0, dataset.m)
    start, stop = start or 0, dataset.m if stop is None else stop
    if stop > dataset.m:
        raise DataError(
            f"{selection.path}: examples {start}:{stop} asked for, but '{selection.x_key}' has {dataset.m} examples"
        )
    if start >= stop:
        raise DataError(f"{selection.path}: examples {start}:{stop} is empty ('{selection.x_key}' has {dataset.m})")
    if (start, stop) != (0, dataset.m):
        dataset = subset(dataset, slice(start, stop), f"{selection.path}[{start}:{stop}]")
    return dataset, [start, stop]


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
        AL, caches = net.forward(X)
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
        result.regression = regression_scores(AL.astype(np.float64), Y)
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


def tables(result: Evaluation) -> list:  # -> list of rich tables
    from rich.table import Table

    from dnncli.report import fmt

    # class names and paths come from files and folders: shown escaped, never read as markup
    which = f" '{result.keys[0]}' [{result.range[0]}:{result.range[1]}]" if result.keys and result.range else ""
    part = f", the model's {result.part} set" if result.part else ""
    summary = Table(title=shown(f"{result.data}{which}: {result.examples} examples{part}"), show_header=False,
                    title_justify="left")
    summary.add_column("metric", style="bold")
    summary.add_column("value", justify="right")
    if result.regression is not None:
        for name, value in result.regression.items():
            summary.add_row(name, fmt(value))
        return [summary]
    average = "class " + (result.classes or ["", "1"])[1] if len(result.classes or []) == 2 else "macro"
    summary.add_row("accuracy", fmt(result.accuracy, 4))
    summary.add_row(shown(f"precision ({average})"), fmt(result.precision, 4))
    summary.add_row(shown(f"recall ({average})"), fmt(result.recall, 4))
    summary.add_row(shown(f"F1 ({average})"), fmt(result.f1, 4))
    summary.add_row("log loss", fmt(result.log_loss))

    per_class = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in result.per_class:
        per_class.add_row(shown(row["class"]), fmt(row["precision"], 4), fmt(row["recall"], 4), fmt(row["f1"], 4), str(row["support"]))

    confusion = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    confusion.add_column("true \\ predicted")
    for name in result.classes or []:
        confusion.add_column(shown(name), justify="right")
    for name, row in zip(result.classes or [], result.confusion or []):
        confusion.add_row(shown(name), *map(str, row))
    return [summary, per_class, confusion]
