"""A training run from a config: load the data, resolve the network, train, write the run directory.

The run directory (``runs/<name>/`` by default) is built as ``runs/<name>.partial/``, locked
against a second run (see :mod:`dnncli.rundir`), and renamed into place once complete, so an error
never leaves a half-written run. A ``latest`` symlink beside it points at the newest run for the
commands that follow.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli import __version__
from dnncli import atomic
from dnncli.config import Config
from dnncli.data.columns import training_columns
from dnncli.data.hdf5 import Dataset, class_labels, load_dataset, resolve_divisor
from dnncli.data.splits import hold_out, take_range
from dnncli.errors import ConfigError, DataError, RunDirError
from dnncli.modelfile import MODEL_FILENAME, ModelBundle, save_model
from dnncli.network.model import Network
from dnncli.rundir import PartialRun, partial_path
from dnncli.training.loop import History, ProgressCallback, TrainResult
from dnncli.training.configured import DTYPES, generators, total_steps, train_options

LATEST = "latest"


@dataclass
class PreparedRun:
    """Everything a run needs before its first iteration, with the config fully resolved."""

    config: Config
    network: Network
    train_set: Dataset
    test_set: Dataset | None
    X: np.ndarray
    Y: np.ndarray
    X_test: np.ndarray | None
    Y_test: np.ndarray | None
    divisor: float
    classes: list[str] | None
    val_set: Dataset | None = None
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None
    # the training generator (shuffling, dropout): its state is part of a run's checkpoint
    rng: np.random.Generator | None = None


def _n_classes(dataset: Dataset) -> int:
    if dataset.classes:
        return max(len(dataset.classes), 2)
    y = dataset.y
    assert y is not None
    return max(int(np.max(y)) + 1, 2) if y.size else 2


def resolve_architecture(config: Config, train_set: Dataset) -> tuple[list[int], list[str]]:
    """Full layer sizes and activations from the config and the data; errors name the mismatch."""
    model, source = config.model, train_set.source
    y = train_set.y
    assert y is not None
    output = model.activations[-1] if model.activations else model.output_activation
    if output is None:
        output = "sigmoid" if _n_classes(train_set) == 2 else "softmax"
    if output == "linear":
        n_out = int(y.shape[1]) if y.ndim == 2 else 1
    else:
        n_classes = _n_classes(train_set)
        if output == "sigmoid" and n_classes != 2:
            raise ConfigError(
                f"{source} has {n_classes} classes but the output activation is sigmoid (binary); "
                f"use softmax with {n_classes} output units"
            )
        n_out = 1 if output == "sigmoid" else n_classes

    if model.layers is not None:
        layers = list(model.layers)
        if layers[0] != train_set.n_x:
            raise ConfigError(
                f"model.layers[0] = {layers[0]} but {source} has n_x = {train_set.n_x} inputs per "
                f"example (shape {train_set.input_shape})"
            )
        if layers[-1] != n_out:
            raise ConfigError(
                f"model.layers ends in {layers[-1]} output units but {source} needs {n_out} "
                f"({output} output)"
            )
    else:
        layers = [train_set.n_x, *(model.hidden or []), n_out]

    if model.activations is not None:
        activations = list(model.activations)
        if len(activations) != len(layers) - 1:
            raise ConfigError(
                f"model.activations has {len(activations)} entries but with {source}'s sizes the "
                f"network is {layers} ({len(layers) - 1} layers): give one activation per layer"
            )
    else:
        activations = [model.hidden_activation] * (len(layers) - 2) + [output]
    return layers, activations


def _targets(network: Network, dataset: Dataset, y_key: str) -> np.ndarray:
    if network.output_activation == "linear":
        y = dataset.y.astype(network.dtype)
        return network.encode_targets(y.T if y.ndim == 2 else y)
    n_classes = 2 if network.output_activation == "sigmoid" else network.layer_sizes[-1]
    return network.encode_targets(class_labels(dataset, n_classes, y_key))


def check_memory(config: Config, layers: list[int], train_set: Dataset) -> None:
    """Refuse, before allocating, a network and data set that cannot fit in this machine's memory."""
    from dnncli import resources

    batch = getattr(config.training, "batch_size", None)
    itemsize = 4 if getattr(config.training, "dtype", "float64") == "float32" else 8
    budget_mb = getattr(config.data, "memory_budget_mb", None)
    held = None  # inputs over the budget are scaled a batch at a time (dnncli.data.columns)
    if budget_mb is not None and train_set.m * layers[0] * itemsize > budget_mb * 1e6:
        held = batch or 256
    needed = resources.training_bytes(layers, train_set.m, itemsize, batch, held)
    if not resources.fits_in_memory(needed):
        total = resources.physical_memory() or 0
        raise ConfigError(
            f"model.layers = {layers}: training needs at least {resources.describe_bytes(needed)} "
            f"({resources.parameter_count(layers):,} parameters, {train_set.m} examples), more than "
            f"this machine's {resources.describe_bytes(total)}; use smaller layers"
        )


def _check_shape(dataset: Dataset, train_set: Dataset) -> None:
    if dataset.input_shape != train_set.input_shape:
        raise DataError(
            f"{dataset.source}: examples of shape {dataset.input_shape}, but the training "
            f"set's are {train_set.input_shape}"
        )


def prepare(config: Config) -> PreparedRun:
    data = config.data
    split_rng, train_rng = generators(config)
    # a training file over the memory budget stays on disk, read a batch at a time (dnncli.data.columns)
    whole_file = load_dataset(
        data.train, data.x_key, data.y_key, data.classes_key, stream_over_bytes=int(data.memory_budget_mb * 1e6)
    )
    train_set = take_range(whole_file, data.train_range, "data.train_range")
    layers, activations = resolve_architecture(config, train_set)
    check_memory(config, layers, train_set)
    test_set, test_y_key = None, data.test_y_key
    if data.test:
        test_set = load_dataset(data.test, data.test_x_key, data.test_y_key, data.classes_key)
    elif data.test_range is not None:  # the test examples are another range of the training file
        test_set, test_y_key = whole_file, data.y_key
    if test_set is not None:
        test_set = take_range(test_set, data.test_range, "data.test_range")
        _check_shape(test_set, train_set)
    val_set, val_y_key = None, data.validation_y_key or data.y_key
    if data.validation:
        val_set = load_dataset(data.validation, data.validation_x_key or data.x_key, val_y_key, data.classes_key)
        _check_shape(val_set, train_set)
    elif data.validation_fraction is not None:
        train_set, val_set = hold_out(train_set, data.validation_fraction, split_rng)
        val_y_key = data.y_key

    resolved_model = config.model.model_copy(
        update={"layers": layers, "hidden": None, "activations": activations, "output_activation": activations[-1]}
    )
    resolved = config.model_copy(update={"model": resolved_model})

    network = Network.create(
        layers,
        activations,
        init=config.model.init,
        seed=config.model.seed,
        random_scale=config.model.init_scale,
        leaky_slope=config.model.leaky_relu_slope,
        dtype=DTYPES[config.training.dtype],
    )
    divisor = resolve_divisor(data.scale, train_set.X_raw.dtype)
    X = training_columns(train_set, divisor, network.dtype, data.memory_budget_mb, config.training.batch_size)
    Y = _targets(network, train_set, data.y_key)
    X_test = Y_test = None
    if test_set is not None:
        X_test = test_set.columns(divisor, network.dtype)
        Y_test = _targets(network, test_set, test_y_key)
    X_val = Y_val = None
    if val_set is not None:
        X_val = val_set.columns(divisor, network.dtype)
        Y_val = _targets(network, val_set, val_y_key)
    classes = train_set.classes
    if network.output_activation == "linear":
        classes = None
    return PreparedRun(
        resolved, network, train_set, test_set, X, Y, X_test, Y_test, divisor, classes,
        val_set, X_val, Y_val, train_rng,
    )


# ---- run directories -------------------------------------------------------------------------


def choose_run_dir(config: Config, run_dir: str | Path | None, force: bool) -> Path:
    """The directory this run will be renamed into: never an existing one unless ``force``."""
    if run_dir is not None:
        target = Path(run_dir)
        if target.exists() and not force:
            raise RunDirError(f"{target}: already exists; choose another --run-dir or pass --force")
        return target
    base = Path(config.output.dir) / config.name
    if force or not _name_taken(base):
        return base
    n = 2
    while _name_taken(base.parent / f"{base.name}-{n}"):
        n += 1
    return base.parent / f"{base.name}-{n}"


def _name_taken(target: Path) -> bool:
    # an unfinished run (running, interrupted or killed) keeps its name: it may be resumed
    return target.exists() or target.is_symlink() or partial_path(target).exists()


def open_run_dir(config: Config, run_dir: str | Path | None, force: bool) -> PartialRun:
    """Choose the run's directory and create its locked ``.partial`` twin to train into.

    With an explicit ``run_dir`` a directory in use is refused; with an automatic name a run
    started at the same moment makes this one take the next free number instead.
    """
    for _ in range(100):
        target = choose_run_dir(config, run_dir, force)
        try:
            return PartialRun.create(target, force)
        except RunDirError:
            if run_dir is not None or force or not _name_taken(target):
                raise
    raise RunDirError(f"{config.output.dir}: could not find a free run directory name for {config.name!r}")


def _point_latest(run_dir: Path) -> None:
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)


def latest_run(runs_dir: str | Path = "runs") -> Path | None:
    link = Path(runs_dir) / LATEST
    return link.resolve() if link.exists() else None


def metrics_of(result: TrainResult, config: Config, run_dir: Path) -> dict[str, Any]:
    return {
        "name": config.name,
        "initial_cost": result.initial_cost,
        "final_cost": result.final_cost,
        "train_accuracy": result.train_accuracy,
        "test_accuracy": result.test_accuracy,
        "test_cost": result.test_cost,
        "iterations": result.iterations,
        "epochs": result.epochs,
        **({"val_cost": result.val_cost, "val_accuracy": result.val_accuracy} if result.val_cost is not None else {}),
        **({"best_epoch": result.best_epoch, "stopped_early": result.stopped_early} if result.best_epoch is not None else {}),
        **result.scores,
        "first_layer": result.first_layer,
        "first_layer_reason": result.first_layer_reason,
        "seconds": round(result.seconds, 6),
        "run_dir": str(run_dir),
        "dnn_version": __version__,
    }


def write_outputs(
    prepared: PreparedRun, network: Network, history: History, metrics: dict[str, Any], directory: Path
) -> None:
    """The model, history, plot, metrics and config, each file written atomically."""
    from dnncli import report

    config = prepared.config
    bundle = ModelBundle(
        network=network,
        input_shape=prepared.train_set.input_shape,
        input_dtype=str(prepared.train_set.X_raw.dtype),
        input_divisor=prepared.divisor,
        classes=prepared.classes,
        config=config.to_yaml(),
        metrics=metrics,
    )
    save_model(bundle, directory / MODEL_FILENAME)
    atomic.write_with(directory / "history.csv", lambda tmp: report.write_history_csv(history, tmp))
    atomic.write_with(
        directory / "loss.png",
        lambda tmp: report.plot_learning_curve(history, tmp, config, prepared.network.loss_name),
    )
    atomic.write_text(directory / "metrics.json", report.to_json(metrics) + "\n")
    atomic.write_text(directory / "config.yaml", config.to_yaml())


def finish_run(
    prepared: PreparedRun, result: TrainResult, partial: PartialRun, force: bool = False
) -> dict[str, Any]:
    """Write the complete run into its ``.partial`` directory, then rename it into place."""
    metrics = metrics_of(result, prepared.config, partial.target)
    write_outputs(prepared, result.network, result.history, metrics, partial.path)
    target = partial.finish(force)
    _point_latest(target)
    return metrics


def run_training(
    config: Config,
    *,
    run_dir: str | Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[dict[str, Any], TrainResult, PreparedRun]:
    """Load, train and write a run; returns its metrics (as in ``metrics.json``).

    Training runs under :func:`dnncli.supervised.train_watched`: checkpoints, a clean stop on
    SIGINT / SIGTERM and the last good parameters after a divergence, kept in ``<run>.partial/``.
    """
    from dnncli.supervised import train_watched, unfinished_worth_keeping
    from dnncli.training.supervisor import deferred_signals

    prepared = prepare(config)
    options = train_options(prepared.config, prepared.network, prepared.rng)
    if progress is not None and hasattr(progress, "set_total"):
        progress.set_total(total_steps(prepared.config, prepared.X.shape[1]))
    if run_dir is not None:
        choose_run_dir(prepared.config, run_dir, force)  # refuse an existing run before training
    partial = open_run_dir(prepared.config, run_dir, force)
    try:
        atomic.write_text(partial.path / "config.yaml", prepared.config.to_yaml())
        result = train_watched(prepared, partial, options, progress=progress)
        with deferred_signals():  # a Ctrl-C now would only lose a finished run: finish it
            metrics = finish_run(prepared, result, partial, force)
    except BaseException:
        if unfinished_worth_keeping(partial):
            partial.release()  # resumable, or the last good parameters of a diverged run
        else:
            partial.discard()
        raise
    return metrics, result, prepared
