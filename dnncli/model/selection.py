"""Which examples ``dnn evaluate`` scores, and the labelled sets of a file.

A model file records where its training, validation and test examples came from (file, keys,
ranges). With no data file, the model's own test set is evaluated; with a file it was trained from
(the same file, or a copy of it: same bytes), the recorded test range of that array by default. Its
training examples are evaluated only when asked for with ``--range``, and then with a warning:
numbers on examples a model was trained on overstate how it does on new ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dnncli.data.folders import FOLDER_KEYS
from dnncli.data.hdf5 import Dataset, load_dataset
from dnncli.data.image_cache import load_image_folder, options_for_shape
from dnncli.data.setfile import recorded_paths
from dnncli.data.splits import file_digest, same_file, subset
from dnncli.model.table_rows import labelled_rows
from dnncli.errors import ConfigError, DataError
from dnncli.files.hdf5safe import open_hdf5
from dnncli.model.file import MODEL_FILENAME, ModelBundle

# (x key, y key) pairs tried in order when none is given: the model's own, then the course's.
_FALLBACK_KEYS = [("test_set_x", "test_set_y"), ("train_set_x", "train_set_y")]


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
    try:
        with open_hdf5(path, DataError, what="data file") as f:
            return list(f.keys())
    except (DataError, OSError, RuntimeError):
        return None


DEFAULT_CACHE_DIR = "runs/.cache"


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


def _image_folder(bundle: ModelBundle, path: Path, cache_dir: str | Path, follow_links: bool = False) -> Dataset:
    if bundle.input_dtype != "uint8":
        raise DataError(
            f"{path}: a folder of images gives uint8 pixels, but the model was trained on "
            f"{bundle.input_dtype} examples; evaluate it on an HDF5 file of those"
        )
    if bundle.network.is_regression:
        raise DataError(f"{path}: a folder of images gives class labels, but the model is a regression")
    options = options_for_shape(tuple(bundle.input_shape), bundle.input_resize, str(path))
    options.classes = bundle.class_names
    options.follow_links = follow_links
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
    notes: list[str] = field(default_factory=list)  # warnings of reading the examples (a table's encoding)
    follow_links: bool = False  # a folder: follow symbolic links that lead out of it


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
    follow_links: bool = False,
) -> Selection:
    """Which examples to evaluate on: see the module's docstring. ``follow_links``: in a folder of
    images, follow symbolic links that lead out of it."""
    parts = _recorded_parts(bundle)
    path = Path(data) if data is not None else _recorded_test_file(bundle, parts)
    if path.is_dir() and (path / MODEL_FILENAME).is_file():
        raise ConfigError(
            f"{path} is a run directory (it holds {MODEL_FILENAME}), not examples to evaluate on: pass it "
            f"with -m: dnn evaluate -m {path} [DATA]"
        )
    digests: dict[str, str] = {}
    matched = {name: src for name, src in parts.items() if path.exists() and _matches(path, src, digests)}
    if bundle.encoder is not None:  # a table model: the rows, scored against the target column
        x_key, y_key, classes_key = "rows", bundle.encoder.target.name if bundle.encoder.target else "", ""
    else:
        x_key, y_key, classes_key = _selected_keys(bundle, path, matched, x_key, y_key)
    same_array = {name: src for name, src in matched.items() if src.get("x_key") == x_key}
    part = next(iter(same_array), None)
    if range_text is None:
        bounds = _recorded_bounds(path, x_key, same_array, part, has_test="test" in parts)
        return Selection(path, x_key, y_key, classes_key, bounds, part, None, {}, cache_dir, follow_links=follow_links)
    # an explicit range: no part of its own, but the recorded parts it may overlap
    bounds = parse_range(range_text)
    warning = _trained_on_warning(bundle, path, x_key, bounds, same_array.get("train"))
    recorded = {name: list(src["range"]) for name, src in same_array.items()}
    return Selection(path, x_key, y_key, classes_key, bounds, None, warning, recorded, cache_dir, follow_links=follow_links)


def _recorded_test_file(bundle: ModelBundle, parts: dict[str, dict[str, Any]]) -> Path:
    """The model's own test file, when no DATA is given."""
    model_name = bundle.path or "the model"
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
    return Path(data)


def _selected_keys(
    bundle: ModelBundle, path: Path, matched: dict[str, dict[str, Any]], x_key: str | None, y_key: str | None
) -> tuple[str, str, str]:
    """The examples', labels' and classes' keys: a folder's own, those recorded for the file
    (the test part's first), else those given or guessed (:func:`_guess_keys`)."""
    if path.is_dir():
        x_key, y_key = FOLDER_KEYS
    if x_key is None and matched:
        first = next(iter(matched.values()))  # test first (PARTS' order)
        x_key, y_key = first.get("x_key"), y_key or first.get("y_key")
    elif y_key is None:  # the labels recorded with the examples' key given
        y_key = next((src.get("y_key") for src in matched.values() if src.get("x_key") == x_key), None)
    if path.is_dir():
        return x_key, y_key, ""
    if x_key is None or y_key is None or not matched:
        return _guess_keys(bundle, path, x_key, y_key)
    sources = bundle.data_sources or {}
    return x_key, y_key, sources.get("classes_key") or _model_keys(bundle)[1]


def _recorded_bounds(
    path: Path, x_key: str, same_array: dict[str, dict[str, Any]], part: str | None, has_test: bool
) -> tuple[int | None, int | None] | None:
    """With no --range: the recorded range of the model's part of this array (never its
    training examples); None for all of the file."""
    if part is None:
        return None
    if part == "train":
        train = same_array["train"]
        instead = (
            "evaluate its test set with `dnn evaluate` and no DATA" if has_test
            else "give examples it was not trained on (it has no test set)"
        )
        raise ConfigError(
            f"{_examples_in(path, x_key)} holds the examples the model was trained on "
            f"({_range_text(train['range'])}); {instead}, or choose examples with --range START:STOP"
        )
    recorded_part = same_array[part]
    # a part that was all of its file (or folder) is all of it now, even if it changed since
    return None if recorded_part.get("whole") else tuple(recorded_part["range"])


def _trained_on_warning(
    bundle: ModelBundle, path: Path, x_key: str, bounds: tuple[int | None, int | None], train: dict[str, Any] | None
) -> str | None:
    """The warning for a --range that reaches into the examples the model was trained on."""
    if train is None:
        return None
    start = bounds[0] or 0
    stop = bounds[1] if bounds[1] is not None else train["range"][1]
    low, high = max(start, train["range"][0]), min(stop, train["range"][1])
    if low >= high:
        return None
    # a validation fraction is a seeded draw from the training range: those examples were
    # not trained on, but chose the model (early stopping, the best epoch)
    held_out = "held_out_from" in (bundle.data_sources or {}).get("validation", {})
    kind = "training or validation examples" if held_out else "training examples"
    return (
        f"examples {low}..{high - 1} of {_examples_in(path, x_key)} are {kind} of the model "
        f"({_range_text(train['range'])}): these numbers overstate how it does on new data"
    )


def _examples_in(path: Path, x_key: str) -> str:
    """The examples' place: a file and its key, or a folder (whose key is dnn's own placeholder)."""
    return f"the folder {path}" if x_key in FOLDER_KEYS else f"{path} ('{x_key}')"


def _range_text(bounds: list[int]) -> str:
    return f"examples {bounds[0]}..{bounds[1] - 1}"


def load_selection(bundle: ModelBundle, selection: Selection) -> tuple[Dataset, list[int]]:
    """The selected examples, and their ``[start, stop]`` in the file."""
    if bundle.encoder is not None:
        dataset, warnings = labelled_rows(bundle, selection.path)
        selection.notes.extend(warnings)
    elif selection.path.is_dir():
        dataset = _image_folder(bundle, selection.path, selection.cache_dir, selection.follow_links)
    else:
        dataset = load_dataset(selection.path, selection.x_key, selection.y_key, selection.classes_key)
        dataset.paths = recorded_paths(selection.path, selection.x_key, dataset.m)  # an imported file's
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
