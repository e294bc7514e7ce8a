"""HDF5 data sets into columns: X of shape (n_x, m), labels y of shape (m,).

Files hold examples along their first axis, as the course files do (``train_set_x`` of shape
``(209, 64, 64, 3)``); each example is flattened into one column, in the same order as the
course's ``x.reshape(m, -1).T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnncli.compute.resources import stays_in_file
from dnncli.errors import DataError
from dnncli.files.hdf5safe import checked_dataset, open_audited, open_hdf5


# how images of other sizes were brought to the set's size (dnncli.data.images.fit_to_size);
# what predict did before the mode was recorded, and what models without the record get: squash
RESIZE_MODES = ("squash", "crop", "pad")
DEFAULT_RESIZE = "squash"


@dataclass
class Dataset:
    """Examples as stored (``X_raw`` of shape ``(m, ...)``), labels, and class names."""

    X_raw: np.ndarray
    y: np.ndarray | None
    classes: list[str] | None
    source: str
    # how images were resized into the file (its ``image_resize`` attribute, written by
    # ``dnn data import``); None for files that do not say
    resize: str | None = None
    # the file each example came from, where known (a folder's images; set by the reader that knows)
    paths: list[str] | None = None

    @property
    def m(self) -> int:
        return int(self.X_raw.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X_raw.shape[1:])

    @property
    def n_x(self) -> int:
        return int(np.prod(self.input_shape, dtype=np.int64))

    def columns(self, divisor: float, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """X of shape ``(n_x, m)``, divided by ``divisor``, in ``dtype``, column-major (each
        example's values contiguous) as the training columns are: some BLAS kernels (OpenBLAS's
        AVX-512 small-matrix ones) round a small product differently for another layout, and the
        same inputs must give the same outputs to the last bit from every source."""
        X = np.array(self.X_raw.reshape(self.m, -1).T, dtype=dtype, order="F")  # one copy
        return divide(X, divisor)


def divide(X: np.ndarray, divisor: float) -> np.ndarray:
    """``X /= divisor`` in place (nothing for 1): the one place inputs are scaled, so that the
    whole set, a streamed batch and an image file give the same values to the last bit."""
    if divisor != 1:
        X /= divisor
    return X


def auto_divisor(dtype: np.dtype) -> float:
    """What ``scale: auto`` divides by: an integer type's maximum (255 for uint8), else 1."""
    if np.issubdtype(dtype, np.unsignedinteger):
        return float(np.iinfo(dtype).max)
    return 1.0


def resolve_divisor(scale: str | float, dtype: np.dtype) -> float:
    if scale == "auto":
        return auto_divisor(dtype)
    if scale == "none":
        return 1.0
    return float(scale)


MAX_CLASSES_BYTES = 1024**2
MAX_CLASS_NAME = 200


def _decode(names: np.ndarray, path: Path, key: str) -> list[str]:
    """Class names as text: bytes decoded as UTF-8 (undecodable bytes replaced), numbers as text."""
    if names.dtype.kind not in "SUOuifb":
        raise DataError(f"{path}: '{key}' holds {names.dtype} data, expected class names")
    decoded = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    for name in decoded:
        if len(name) > MAX_CLASS_NAME:
            raise DataError(f"{path}: '{key}' holds a class name of {len(name)} characters (at most {MAX_CLASS_NAME})")
    return decoded


def load_dataset(
    path: str | Path,
    x_key: str = "train_set_x",
    y_key: str | None = "train_set_y",
    classes_key: str | None = "list_classes",
    stream_over_bytes: int | None = None,
) -> Dataset:
    """Read examples, labels and class names from an HDF5 file, with one-line errors.

    With ``stream_over_bytes`` (the run's memory budget), examples that take more than that many
    bytes as stored are not read (:func:`dnncli.compute.resources.stays_in_file`): ``X_raw`` is then the
    open ``h5py.Dataset``, read a batch at a time while training.
    """
    path = Path(path)
    X, y, classes, resize = _read_file(path, x_key, y_key, classes_key, stream_over_bytes)
    streamed = X is None  # then read a batch at a time from the file, opened again
    X = open_audited(path, DataError, what="data file")[x_key] if streamed else np.asarray(X)
    X = _checked_examples(X, path, x_key)
    if y is not None:
        y = _checked_labels(np.asarray(y), X.shape[0], path, x_key, y_key)
    return Dataset(X_raw=X, y=y, classes=classes, source=str(path), resize=resize)


def _read_file(
    path: Path, x_key: str, y_key: str | None, classes_key: str | None, stream_over_bytes: int | None
) -> tuple[np.ndarray | None, np.ndarray | None, list[str] | None, str | None]:
    """The examples (None when they stay in the file), labels, class names and resize record."""
    import h5py  # imported here: h5py is slow to import and most commands never need it

    try:
        # audited on opening: nothing outside the file (external links or storage, virtual data)
        with open_hdf5(path, DataError, what="data file") as f:

            def read(key: str) -> np.ndarray | None:
                # the declared shape and chunks are checked first: a few bytes of compressed (or
                # never written) chunks can claim terabytes
                node = checked_dataset(f, key, path, DataError)
                n_bytes = int(np.prod(node.shape or (), dtype=object)) * node.dtype.itemsize
                if key == x_key and stream_over_bytes is not None and stays_in_file(n_bytes, stream_over_bytes) and node.ndim >= 2:
                    return None  # streamed: reopened by the caller, outside this block that closes the file
                return node[()]

            X = read(x_key)
            y = read(y_key) if y_key else None
            classes = None
            if classes_key and isinstance(f.get(classes_key), h5py.Dataset):
                # class names are shown and saved: a few thousand short names at most
                names = checked_dataset(f, classes_key, path, DataError, max_bytes=MAX_CLASSES_BYTES)
                classes = _decode(np.asarray(names[()]).reshape(-1), path, classes_key)
            resize = recorded_resize(f.attrs, path)
    except DataError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: cannot read HDF5 data: {str(exc).splitlines()[0]}") from None
    return X, y, classes, resize


def _checked_examples(X: np.ndarray, path: Path, x_key: str) -> np.ndarray:
    """Numbers, at least one example of at least one value, all finite; a vector as one column."""
    if X.dtype.kind not in "uifb":
        raise DataError(f"{path}: '{x_key}' holds {X.dtype} data, expected numbers")
    if X.ndim < 1:
        raise DataError(f"{path}: '{x_key}' is a single number, expected an array of examples")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] == 0:
        raise DataError(f"{path}: '{x_key}' has no examples")
    if X[0].size == 0:
        raise DataError(f"{path}: '{x_key}' has shape {X.shape}: its examples hold no values")
    if X.dtype.kind == "f" and not all(
        np.all(np.isfinite(X[start : start + 1024])) for start in range(0, X.shape[0], 1024)
    ):
        raise DataError(f"{path}: '{x_key}' contains NaN or infinite values")
    return X


def _checked_labels(y: np.ndarray, m: int, path: Path, x_key: str, y_key: str | None) -> np.ndarray:
    """Numeric labels, one per example (``(1, m)`` and ``(m, 1)`` as ``(m,)``), all finite."""
    if y.dtype.kind not in "uifb":
        raise DataError(f"{path}: '{y_key}' holds {y.dtype} data, expected numeric labels")
    if y.ndim == 2 and 1 in y.shape and y.size == m:
        y = y.reshape(-1)  # (1, m) or (m, 1) as some files store them
    if y.ndim == 0 or y.shape[0] != m:
        raise DataError(
            f"{path}: '{x_key}' has {m} examples but '{y_key}' has "
            f"{y.shape[0] if y.ndim else 'a single value'}; they must match"
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError(f"{path}: '{y_key}' contains NaN or infinite values")
    return y


def recorded_resize(attrs, path: Path) -> str | None:  # attrs: h5py.AttributeManager
    """The file's ``image_resize`` attribute (how its images were resized), if it has one."""
    value = attrs.get("image_resize")
    if value is None:
        return None
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if value not in RESIZE_MODES:
        raise DataError(
            f"{path}: the attribute image_resize = {value!r}, expected one of {', '.join(RESIZE_MODES)}"
        )
    return value


def check_representable(dataset: Dataset, divisor: float, dtype: np.dtype | type) -> None:
    """Refuse examples that leave ``dtype``'s range once divided by ``divisor`` (float64 data
    beyond float32's 3.4e38, or a divisor so small that any pixel overflows): bad input, not a
    training run that diverges."""
    dtype = np.dtype(dtype)
    raw = dataset.X_raw
    limit = float(np.finfo(dtype).max)
    y = dataset.y
    if y is not None and y.dtype.kind == "f" and y.size and float(np.max(np.abs(y))) > limit:
        raise DataError(
            f"{dataset.source}: its targets reach {float(np.max(np.abs(y))):.4g}, beyond {dtype}'s range "
            f"(largest {limit:.4g}); rescale them or train in float64"
        )
    if raw.dtype.kind in "uib" and divisor >= 1:
        return  # integers of up to 64 bits are far inside float32's range
    largest = 0.0
    for start in range(0, raw.shape[0], 1024):
        block = np.asarray(raw[start : start + 1024])
        if block.size:
            largest = max(largest, float(np.max(np.abs(block.astype(np.float64)))))
    with np.errstate(over="ignore", divide="ignore"):
        scaled = largest / divisor
    if not (np.isfinite(scaled) and scaled <= limit):
        raise DataError(
            f"{dataset.source}: its examples reach {largest:.4g}, which divided by {divisor:g} is beyond "
            f"{dtype}'s range (largest {limit:.4g}); rescale the data (data.scale) or train in float64"
        )


def class_labels(dataset: Dataset, n_classes: int, key: str) -> np.ndarray:
    """The labels as integers in ``0..n_classes-1``, or a one-line error naming the bad value."""
    y = dataset.y
    assert y is not None
    if y.ndim != 1:
        raise DataError(f"{dataset.source}: '{key}' has shape {y.shape}, expected one label per example")
    as_int = y.astype(np.int64)
    if y.dtype.kind == "f" and not np.array_equal(as_int, y):
        bad = y[as_int != y][0].item()
        raise DataError(f"{dataset.source}: '{key}' holds {bad!r}, expected integer class labels")
    bad_mask = (as_int < 0) | (as_int >= n_classes)
    if bad_mask.any():
        bad = as_int[bad_mask][0].item()
        expected = "0 or 1 for a binary model" if n_classes == 2 else f"0..{n_classes - 1}"
        raise DataError(f"{dataset.source}: '{key}' holds the label {bad}, expected {expected}")
    return as_int
