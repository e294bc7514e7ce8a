"""Parts of a data set: a range of examples of a file, and a validation set held out at random.

``data.train_range: [0, 8000]`` and ``data.test_range: [8000, 10000]`` take the first 8,000
examples of a file to train on and the last 2,000 to test on (Python slice bounds: start
included, stop excluded). ``data.validation_fraction: 0.2`` holds out a fifth of the training
examples, drawn with the run's seed, to measure the validation cost while training.
"""

from __future__ import annotations

import numpy as np

from dnncli.data.hdf5 import Dataset
from dnncli.errors import DataError


def subset(dataset: Dataset, indices: np.ndarray | slice, source: str | None = None) -> Dataset:
    y = dataset.y[indices] if dataset.y is not None else None
    return Dataset(X_raw=dataset.X_raw[indices], y=y, classes=dataset.classes, source=source or dataset.source)


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
