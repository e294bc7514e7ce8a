"""Data files in the course's layout, as ``dnn data import`` and ``dnn data split`` write them.

``<prefix>_set_x`` examples, ``<prefix>_set_y`` int64 labels, ``<prefix>_set_paths`` the file each
example came from (when known), ``list_classes`` the class names as UTF-8 bytes, for the prefixes
``train`` and ``test``; the file is written beside its target and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dnncli.data.hdf5 import load_dataset, recorded_resize
from dnncli.data.inspection import as_class_labels
from dnncli.data.splits import stratified_split
from dnncli.errors import DataError
from dnncli.files.atomic import write_with
from dnncli.files.hdf5safe import open_hdf5
from dnncli.terminal.display import printable

# a set: examples, labels (None: unlabelled), and each example's file (None: not known)
SetParts = tuple[np.ndarray, "np.ndarray | None", "list[str] | np.ndarray | None"]


def check_target(target: Path, force: bool) -> None:
    """Refuse to replace an existing file without ``force``, or to write over a folder."""
    if target.is_dir():
        raise DataError(f"{printable(target)}: is a folder; give the path of the HDF5 file to write")
    if (target.exists() or target.is_symlink()) and not force:
        raise DataError(f"{printable(target)}: already exists; choose another -o or pass --force to replace it")


def _paths_array(paths: list[str] | np.ndarray) -> np.ndarray:
    import h5py

    if isinstance(paths, np.ndarray):
        return paths.astype(h5py.vlen_dtype(bytes))
    # file names are bytes on disk; kept as they are (os.fsencode undoes os.fsdecode exactly)
    return np.array([os.fsencode(name) for name in paths], dtype=h5py.vlen_dtype(bytes))


def recorded_paths(source: str | Path, x_key: str, m: int) -> list[str] | None:
    """The file each of the ``m`` examples of ``x_key`` came from (its ``<prefix>_set_paths``, as
    ``dnn data import`` records them), or None when the file does not say."""
    import h5py

    if not x_key.endswith("_x"):
        return None
    with open_hdf5(source, DataError, what="data file") as f:
        node = f.get(f"{x_key[:-2]}_paths")
        if not (isinstance(node, h5py.Dataset) and node.shape == (m,) and node.dtype.kind == "O"):
            return None
        return [os.fsdecode(name) if isinstance(name, bytes) else str(name) for name in node[()]]


def write_set(
    target: Path,
    parts: dict[str, SetParts],
    classes: list[str] | None,
    attributes: dict[str, object],
) -> None:
    """``parts``: prefix (``train``, ``test``) -> (examples, labels or None, paths or None)."""
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for prefix, (X, y, paths) in parts.items():
                f.create_dataset(f"{prefix}_set_x", data=X)
                if y is not None:
                    f.create_dataset(f"{prefix}_set_y", data=np.asarray(y, dtype=np.int64) if y.dtype.kind in "biu" else y)
                if paths is not None:
                    f.create_dataset(f"{prefix}_set_paths", data=_paths_array(paths))
            if classes is not None:
                encoded = [name.encode("utf-8", "surrogateescape") for name in classes]
                f.create_dataset("list_classes", data=np.array(encoded, dtype=f"S{max(1, *map(len, encoded))}"))
            for key, value in attributes.items():
                f.attrs[key] = value

    write_with(target, write, suffix=".h5")


# ---- dnn data split --------------------------------------------------------------------------

# the sets ``split`` takes when no key is given, in this order
DEFAULT_SET_KEYS = [("train_set_x", "train_set_y"), ("images", "labels")]


def split_file(
    source: str | Path,
    target: str | Path,
    fraction: float,
    seed: int = 0,
    x_key: str | None = None,
    y_key: str | None = None,
    force: bool = False,
) -> dict[str, object]:
    """Write ``target`` with ``train_set_*`` and ``test_set_*`` from one labelled set of
    ``source``: of each class, ``round(fraction * n)`` examples drawn with ``seed`` for the test
    set (:func:`dnncli.data.splits.stratified_split`). Returns a summary for the command line."""
    import h5py

    source, target = Path(source), Path(target)
    check_target(target, force)
    if x_key is None:
        keys = _keys(source)
        x_key, default_y = next(((x, y) for x, y in DEFAULT_SET_KEYS if x in keys), DEFAULT_SET_KEYS[0])
        y_key = y_key or default_y
    elif y_key is None:
        y_key = x_key[:-2] + "_y" if x_key.endswith("_x") else "labels"
    dataset = load_dataset(source, x_key, y_key)
    labels = as_class_labels(dataset.y)
    if labels is None:
        raise DataError(
            f"{printable(source)}: '{printable(y_key)}' does not hold class labels (non-negative integers); "
            "split draws each class's share"
        )
    train_idx, test_idx = stratified_split(labels, dataset.m, fraction, seed)
    if test_idx.size == 0:
        raise DataError(f"--test-fraction {fraction} of {dataset.m} examples leaves no test example; raise it")

    paths = None
    others: list[str] = []
    attributes: dict[str, object] = {}
    with open_hdf5(source, DataError, what="data file") as f:
        prefix = x_key[:-2] if x_key.endswith("_x") else None
        node = f.get(f"{prefix}_paths") if prefix else None
        if isinstance(node, h5py.Dataset) and node.shape == (dataset.m,) and node.dtype.kind == "O":
            paths = node[()]
        for key in f:
            if key.endswith("_x") and key != x_key:
                others.append(key)
        for key, value in f.attrs.items():
            attributes[key] = value
        recorded_resize(f.attrs, source)
    parts = {
        prefix_out: (dataset.X_raw[idx], dataset.y[idx], paths[idx] if paths is not None else None)
        for prefix_out, idx in (("train", train_idx), ("test", test_idx))
    }
    write_set(target, parts, dataset.classes, attributes)
    n_classes = max(len(dataset.classes or []), int(labels.max()) + 1)
    return {
        "path": str(target),
        "source": str(source),
        "x": x_key,
        "y": y_key,
        "classes": dataset.classes,
        "train_counts": np.bincount(labels[train_idx], minlength=n_classes).tolist(),
        "test_counts": np.bincount(labels[test_idx], minlength=n_classes).tolist(),
        "not_copied": others,
    }


def _keys(path: Path) -> set[str]:
    try:
        with open_hdf5(path, DataError, what="data file") as f:
            return set(f.keys())
    except (DataError, OSError, ValueError):
        return set()  # load_dataset names the problem
