"""Parts of a data set: a range of examples of a file, and a validation set held out at random.

``data.train_range: [0, 8000]`` and ``data.test_range: [8000, 10000]`` take the first 8,000
examples of a file to train on and the last 2,000 to test on (Python slice bounds: start
included, stop excluded). ``data.validation_fraction: 0.2`` holds out a fifth of the training
examples, drawn with the run's seed, to measure the validation cost while training.
``dnn data import --test-fraction`` and ``dnn data split`` draw a test set class by class
(:func:`stratified_split`). :func:`check_disjoint` refuses parts of a run that would share
examples.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnncli.data.hdf5 import Dataset
from dnncli.errors import ConfigError, DataError


def subset(dataset: Dataset, indices: np.ndarray | slice, source: str | None = None) -> Dataset:
    y = dataset.y[indices] if dataset.y is not None else None
    paths = np.asarray(dataset.paths, dtype=object)[indices].tolist() if dataset.paths is not None else None
    return Dataset(
        X_raw=dataset.X_raw[indices], y=y, classes=dataset.classes, source=source or dataset.source,
        resize=dataset.resize, paths=paths,
    )


def take_range(dataset: Dataset, bounds: list[int] | None, key: str) -> Dataset:
    """Examples ``start..stop-1`` of ``dataset``; ``key`` names the config key in errors."""
    if bounds is None:
        return dataset
    start, stop = bounds
    if stop > dataset.m:
        raise DataError(
            f"{dataset.source}: {key} = [{start}, {stop}] but the file has {dataset.m} examples "
            f"(stop must be at most {dataset.m})"
        )
    return subset(dataset, slice(start, stop), f"{dataset.source}[{start}:{stop}]")


def hold_out(dataset: Dataset, fraction: float, rng: np.random.Generator) -> tuple[Dataset, Dataset]:
    """``(train, validation)``: a random ``fraction`` of the examples (at least one) held out."""
    m = dataset.m
    n_val = max(1, round(fraction * m))
    if n_val >= m:
        raise DataError(
            f"{dataset.source}: data.validation_fraction = {fraction} of {m} examples leaves none "
            "to train on"
        )
    order = rng.permutation(m)
    # both parts keep the file's order: only which examples, not their order, is random
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (
        subset(dataset, train_idx, dataset.source),
        subset(dataset, val_idx, f"{dataset.source} (validation_fraction {fraction})"),
    )


def draw_examples(dataset: Dataset, size: int, rng: np.random.Generator, key: str) -> Dataset:
    """``size`` of the examples, drawn at random, in the file's order; ``key`` names the config key
    in errors. The same generator state draws nested sets: a smaller size's examples are the first
    of the same permutation as a larger one's."""
    if size > dataset.m:
        raise DataError(
            f"{dataset.source}: {key} = {size} but there are {dataset.m} training examples "
            f"(after data.train_range and data.validation_fraction); give at most {dataset.m}"
        )
    chosen = np.sort(rng.permutation(dataset.m)[:size])
    return subset(dataset, chosen, dataset.source)


def stratified_split(
    labels: np.ndarray | None, m: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_indices, test_indices)``, each sorted: of every class's n examples,
    ``round(fraction * n)`` (at most n - 1, so that every class is still trained on) drawn at
    random with ``seed`` for the test set. Unlabelled examples (``labels`` None) are one group."""
    if not 0 < fraction < 1:
        raise DataError(f"test fraction = {fraction}, expected a number between 0 and 1 (excluded)")
    rng = np.random.default_rng(seed)
    # every class's examples in a row, each class's in ascending order (a stable sort): one sort
    # instead of a comparison of every label with every class
    order = np.arange(m) if labels is None else np.argsort(labels, kind="stable")
    grouped = np.zeros(m, dtype=np.int64) if labels is None else labels[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[starts, m])
    n_tests = np.minimum(np.round(fraction * sizes), sizes - 1).astype(np.int64)
    is_test = np.zeros(m, dtype=bool)
    # one draw per class, in class order, from the one generator: the same seed, the same split.
    # The draws cannot be vectorized without changing them; a class of one example draws nothing.
    drawn = sizes > 1
    for start, size, n_test in zip(starts[drawn].tolist(), sizes[drawn].tolist(), n_tests[drawn].tolist()):
        is_test[rng.permutation(order[start:start + size])[:n_test]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


# ---- splits that cannot leak -------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """The examples one part of a run (train, test, validation) takes: a file's array ``x_key``,
    all of it (``bounds`` None) or ``[start, stop]``. ``key`` and ``range_key`` name the config
    keys that chose them, for the messages."""

    key: str  # "data.train", "data.test", "data.validation"
    range_key: str | None  # "data.train_range", "data.test_range"; None: the part has no range
    file: str
    x_key: str
    bounds: list[int] | None


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: ``dnn evaluate`` recognises a copy of a training file by it."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (links and relative paths included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: compare the names
        return os.path.abspath(a) == os.path.abspath(b)


def _describe(part: Part) -> str:
    if part.bounds is not None:
        return f"{part.range_key} = [{part.bounds[0]}, {part.bounds[1]}]"
    return f"{part.key} (all of {part.file}'s '{part.x_key}', no {part.range_key or 'range'})"


def check_disjoint(parts: list[Part]) -> None:
    """Refuse parts that share examples (the same array of the same file, in overlapping
    ranges): a test or validation example that was also trained on makes its numbers lie."""
    for i, first in enumerate(parts):
        for second in parts[i + 1:]:
            if first.x_key != second.x_key or not same_file(first.file, second.file):
                continue
            where = f"{first.file} ('{first.x_key}')"
            if first.bounds is not None and second.bounds is not None:
                start, stop = max(first.bounds[0], second.bounds[0]), min(first.bounds[1], second.bounds[1])
                if start < stop:
                    raise ConfigError(
                        f"{_describe(first)} and {_describe(second)} overlap on {where}: examples "
                        f"{start}..{stop - 1} would be in both; make the ranges disjoint"
                    )
                continue
            if first.key == "data.train" and first.bounds is None and second.bounds is not None:
                raise ConfigError(
                    f"{_describe(second)} is a range of {where}, but without data.train_range training "
                    f"takes all of that file's examples, these included; set data.train_range too, "
                    f"disjoint from it"
                )
            hint = (
                "hold examples out with data.validation_fraction instead"
                if "data.validation" in (first.key, second.key)
                else "give both a range (data.train_range, data.test_range), disjoint"
            )
            raise ConfigError(
                f"{_describe(first)} and {_describe(second)} share examples of {where}; {hint}"
            )
