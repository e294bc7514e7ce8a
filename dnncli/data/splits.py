"""Parts of a data set: a range of examples of a file, and a validation set held out at random.

``data.train_range: [0, 8000]`` and ``data.test_range: [8000, 10000]`` take the first 8,000
examples of a file to train on and the last 2,000 to test on (Python slice bounds: start
included, stop excluded). ``data.validation_fraction: 0.2`` holds out a fifth of the training
examples, drawn with the run's seed, to measure the validation cost while training.
``dnn data import --test-fraction`` and ``dnn data split`` draw a test set class by class
(:func:`stratified_split`).
"""

from __future__ import annotations

import numpy as np

from dnncli.data.hdf5 import Dataset
from dnncli.errors import DataError


def subset(dataset: Dataset, indices: np.ndarray | slice, source: str | None = None) -> Dataset:
    y = dataset.y[indices] if dataset.y is not None else None
    return Dataset(
        X_raw=dataset.X_raw[indices], y=y, classes=dataset.classes, source=source or dataset.source,
        resize=dataset.resize,
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


def stratified_split(
    labels: np.ndarray | None, m: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_indices, test_indices)``, each sorted: of every class's n examples,
    ``round(fraction * n)`` (at most n - 1, so that every class is still trained on) drawn at
    random with ``seed`` for the test set. Unlabelled examples (``labels`` None) are one group."""
    if not 0 < fraction < 1:
        raise DataError(f"test fraction = {fraction}, expected a number between 0 and 1 (excluded)")
    rng = np.random.default_rng(seed)
    groups = [np.arange(m)] if labels is None else [
        np.flatnonzero(labels == label) for label in np.unique(labels)
    ]
    chosen = []
    for members in groups:  # one draw per class, in class order: the same seed, the same split
        n_test = min(round(fraction * members.size), members.size - 1)
        chosen.append(rng.permutation(members)[:n_test])
    is_test = np.zeros(m, dtype=bool)
    is_test[np.concatenate(chosen)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
