"""A config turned into what a run trains: the data sets loaded and scaled, the network resolved
and initialised, the engine's typed settings. The one place in the run package that reads the
YAML schema: everything after it works from :class:`PreparedRun`.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from dnncli.compute import resources
from dnncli.compute.threads import IdleSample
from dnncli.config import Config
from dnncli.data.columns import training_columns
from dnncli.data.encoding import TableEncoder, TableOptions, count_rows
from dnncli.data.folders import FOLDER_KEYS
from dnncli.data.hdf5 import Dataset, check_representable, class_labels, load_dataset, resolve_divisor
from dnncli.data.image_cache import load_image_folder, options_for_shape
from dnncli.data.image_import import ImportOptions
from dnncli.data.images import DEFAULT_RESIZE
from dnncli.data.splits import Part, check_disjoint, draw_examples, file_digest, hold_out, take_range
from dnncli.data.table_cache import encoded_rows
from dnncli.data.tables import TableFile, is_table, open_table, read_table
from dnncli.errors import ConfigError, DataError
from dnncli.network.model import Network
from dnncli.training.settings import Examples, TrainData, TrainSettings, normalize_keep_probs

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class PreparedRun:
    """Everything a run needs before its first iteration, with the config fully resolved; made
    once, by :func:`prepare`."""

    config: Config  # resolved: every size and activation filled in (written as config.yaml)
    network: Network
    data: TrainData
    settings: TrainSettings
    # the training generator (shuffling, dropout): its state is part of a run's checkpoint
    rng: np.random.Generator
    # how new examples must be fed to the network (what the model file records)
    input_shape: tuple[int, ...]
    input_dtype: str
    divisor: float
    classes: list[str] | None
    # where the run goes and how often it is checkpointed
    name: str
    output_dir: str
    checkpoint_every: int
    checkpoint_min_seconds: float
    # how image files are resized to input_shape: the training file's record (dnn data import)
    input_resize: str = DEFAULT_RESIZE
    # where the training, validation and test examples came from (recorded in the model file)
    data_sources: dict[str, Any] = field(default_factory=dict)
    # how the run was started, for metrics.json: `started` (ISO 8601) and `overrides` (--set)
    origin: dict[str, Any] = field(default_factory=dict)
    # the CPUs' ticks when the run began reading its data: the idle cores that choose its threads
    # are measured since then, instead of waiting for them (dnncli.compute.threads.IdleSample)
    idle_since: IdleSample | None = None
    # the memory budget in bytes (data.memory_budget_mb, auto resolved from the memory available
    # at the start): kept in the checkpoint, so that a resumed run places its inputs the same way
    memory_budget: int | None = None
    # where the run's files will finally be, when it is trained elsewhere (a sweep's trial on a
    # worker that does not share the driver's disk): what metrics.json records as run_dir
    recorded_target: Path | None = None
    # a table's encoder, learned from the training rows (stored in the model file); None otherwise
    encoder: TableEncoder | None = None


def training_seed(config: Config) -> int | None:
    """``training.seed``, or else the model's seed (None: different every run)."""
    return config.training.seed if config.training.seed is not None else config.model.seed


def generators(config: Config) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from the run's seed: one for the validation split, one for
    training (shuffling and dropout masks), so adding a validation split keeps the same batches."""
    split, training = np.random.SeedSequence(training_seed(config)).spawn(2)
    return np.random.default_rng(split), np.random.default_rng(training)


def keep_probs(config: Config, network: Network) -> tuple[float, ...] | None:
    """One keep probability per hidden layer, or None without dropout."""
    try:
        return normalize_keep_probs(config.training.keep_prob, network.L - 1)
    except ValueError as exc:
        raise ConfigError(f"training.{exc}") from None


def train_settings(config: Config, network: Network) -> TrainSettings:
    """The config's training section as the engine's settings: each is the config key of its name,
    keep_prob checked against the network's hidden layers."""
    values = {name: getattr(config.training, name) for name in TrainSettings.names()}
    return TrainSettings(**{**values, "keep_prob": keep_probs(config, network) or 1.0})


def _n_classes(dataset: Dataset) -> int:
    if dataset.classes:
        return max(len(dataset.classes), 2)
    y = dataset.y
    assert y is not None
    return max(int(np.max(y)) + 1, 2) if y.size else 2


def resolve_architecture(config: Config, train_set: Dataset, task: str | None = None) -> tuple[list[int], list[str]]:
    """Full layer sizes and activations from the config and the data (``task``: a table's, whose
    regression has a linear output); errors name the mismatch."""
    model, source = config.model, train_set.source
    y = train_set.y
    assert y is not None
    output = model.activations[-1] if model.activations else model.output_activation
    if output is None:
        output = "linear" if task == "regression" else "sigmoid" if _n_classes(train_set) == 2 else "softmax"
    if task is not None and (output == "linear") != (task == "regression"):
        raise ConfigError(f"the output activation is {output}, but {source} is a {task} (data.task)")
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

    if model.activations is not None:  # as many as layers: checked by the config's schema
        activations = list(model.activations)
    else:
        activations = [model.hidden_activation] * (len(layers) - 2) + [output]
    return layers, activations


def _targets(network: Network, dataset: Dataset, y_key: str) -> np.ndarray:
    if network.is_regression:
        y = dataset.y.astype(network.dtype)
        return network.encode_targets(y.T if y.ndim == 2 else y)
    return network.encode_targets(class_labels(dataset, network.n_classes, y_key))


def check_memory(
    config: Config, layers: list[int], train_set: Dataset, placement: resources.InputPlacement | None = None
) -> None:
    """Refuse, before allocating, a network and data set that cannot fit in this machine's memory
    (its RAM, or its cgroup limit if lower)."""
    batch = config.training.batch_size
    itemsize = np.dtype(DTYPES[config.training.dtype]).itemsize
    held = None  # inputs kept as stored are scaled a batch at a time (dnncli.data.columns)
    if placement is not None and not placement.floats_in_memory:
        held = batch or 256
    needed = resources.training_bytes(layers, train_set.m, itemsize, batch, held)
    if not resources.fits_in_memory(needed):
        total = resources.memory_capacity() or 0
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


def _in(base: str | None, path: str) -> str:
    """``path`` read from the directory ``base`` (a resumed run reads from where it started)."""
    return path if base is None or Path(path).is_absolute() else str(Path(base) / path)


def _data_file(key: str, path: str, base: str | None) -> str:
    """The file (or folder) a ``data.*`` key names, or an error naming the key, the file and
    where a relative path was looked for."""
    found = _in(base, path)
    if not Path(found).exists() and not Path(found).is_symlink():
        if Path(path).is_absolute():
            where = ""
        elif base is None:
            where = f" (relative paths are read from the current directory, {os.getcwd()})"
        else:
            where = f" (relative paths are read from the directory the run started in, {base})"
        raise DataError(f"{key}: {path}: no such data file{where}; {_where_to_get(key, path)}")
    return found


# the course's data sets, which dnn does not ship (datasets/README.md names them)
COURSE_FILES = ("train_catvnoncat.h5", "test_catvnoncat.h5", "planar400.h5", "football2d.h5", "moons300.h5", "mnist10k.h5")
DEMO_FILES = ("demo_train.h5", "demo_test.h5")


def _where_to_get(key: str, path: str) -> str:
    """How to get a missing data file: the course's files come from the course, the demo's from
    ``dnn data demo``; any file can be named with ``--set``."""
    override = f"--set {key}=PATH"
    name = Path(path).name
    if name in COURSE_FILES:
        return (
            f"{name} is one of the course's data files, which dnn does not ship: copy or link it into "
            f"datasets/ (datasets/README.md names them all), or point at it with {override}"
        )
    if name in DEMO_FILES:
        return f"`dnn data demo` writes it (make demo runs it), or point at another file with {override}"
    return f"point at the file with {override}"


def _part(key: str, range_key: str | None, path: str, x_key: str, bounds: list[int] | None) -> Part:
    return Part(key, range_key, path, FOLDER_KEYS[0] if Path(path).is_dir() else x_key, bounds)


def _splits(config: Config, base: str | None) -> None:
    """The parts of the run's examples, checked not to share any before anything is loaded."""
    data = config.data
    parts = [_part("data.train", "data.train_range", _in(base, data.train), data.x_key, data.train_range)]
    if data.test:
        parts.append(_part("data.test", "data.test_range", _in(base, data.test), data.test_x_key, data.test_range))
    elif data.test_range is not None:
        parts.append(_part("data.test", "data.test_range", _in(base, data.train), data.x_key, data.test_range))
    if data.validation:
        parts.append(_part("data.validation", None, _in(base, data.validation), data.validation_x_key or data.x_key, None))
    check_disjoint(parts)


def _source(
    path: str, x_key: str, y_key: str, bounds: list[int] | None, file_m: int, digests: dict[str, str | None]
) -> dict[str, Any]:
    """One part's examples as the model file records them: a file with its size and SHA-256 (by
    which ``dnn evaluate`` recognises a copy), or a folder of images."""
    absolute = os.path.abspath(path)
    folder = Path(absolute).is_dir()
    if absolute not in digests:
        digests[absolute] = None if folder else file_digest(absolute)
    start, stop = bounds if bounds is not None else (0, file_m)
    source: dict[str, Any] = {"file": absolute}
    if folder:
        source["folder"] = True
    else:
        source.update(bytes=os.path.getsize(absolute), sha256=digests[absolute])
    x_key, y_key = FOLDER_KEYS if folder else (x_key, y_key)
    # whole: no range was given, so the part is all of the file or folder, whatever it holds later
    source.update(x_key=x_key, y_key=y_key, range=[start, stop], whole=bounds is None, examples=stop - start)
    return source


def _with_seeds(config: Config) -> Config:
    """Without ``model.seed`` a run draws one, so that its config.yaml can repeat it."""
    if config.model.seed is not None:
        return config
    return config.model_copy(update={"model": config.model.model_copy(update={"seed": secrets.randbits(32)})})


def _resolved(config: Config, layers: list[int], activations: list[str], task: str | None = None) -> Config:
    """The config as it was used (written as the run's config.yaml): sizes, activations, seeds,
    the printing interval and the validation keys filled in, so no null stands for a value."""
    model = config.model.model_copy(
        update={"layers": layers, "hidden": None, "activations": activations, "output_activation": activations[-1]}
    )
    t = config.training
    training = t.model_copy(update={"seed": training_seed(config), "print_every": t.print_every or t.record_every})
    data = config.data
    if data.validation:
        data = data.model_copy(update={
            "validation_x_key": data.validation_x_key or data.x_key,
            "validation_y_key": data.validation_y_key or data.y_key,
        })
    if task is not None:  # a table's task, as auto found it
        data = data.model_copy(update={"task": task})
    return config.model_copy(update={"model": model, "training": training, "data": data})


def _cache_dir(config: Config, base_dir: str | None) -> str:
    """Where decoded folders of images and encoded tables over the memory budget are kept."""
    return _in(base_dir, config.data.cache_dir or str(Path(config.output.dir) / ".cache"))


def _images(config: Config, base_dir: str | None) -> tuple[ImportOptions, str]:
    """How folders of images are read (``data.image_size``, ``image_mode``, ``resize``,
    ``classes``) and where they are cached."""
    data = config.data
    options = ImportOptions(
        size=(data.image_size[0], data.image_size[1]), mode=data.image_mode, resize=data.resize, classes=data.classes,
        follow_links=data.follow_links,
    )
    return options, _cache_dir(config, base_dir)


def _load(
    config: Config, base_dir: str | None, path: str, x_key: str, y_key: str,
    train_set: Dataset | None = None, stream_over_bytes: int | None = None,
) -> Dataset:
    """The HDF5 file ``path``, or the folder of images ``path``: the training folder read as
    the config says, a test or validation folder as the training examples were (shape, resize,
    class names)."""
    full = _in(base_dir, path)
    if not Path(full).is_dir():
        return load_dataset(full, x_key, y_key, config.data.classes_key, stream_over_bytes=stream_over_bytes)
    options, cache_dir = _images(config, base_dir)
    if train_set is None:
        return load_image_folder(full, options, cache_dir, stream_over_bytes=stream_over_bytes)
    like_training = options_for_shape(train_set.input_shape, train_set.resize or config.data.resize, full)
    like_training.classes = train_set.classes
    like_training.follow_links = config.data.follow_links
    return load_image_folder(full, like_training, cache_dir, fixed_classes=True)


@dataclass
class LoadedData:
    """The examples a config's ``data`` section names, as read from its files, and where they came
    from: what :func:`prepare` needs from the file system. ``dnn sweep --ship-data`` reads it once
    on the driver and sends it to workers that cannot see the files."""

    whole_file: Dataset  # the training file or folder, all of it (data.train_range is taken later)
    test_file: Dataset | None  # data.test, all of it; None when the test set is a range of data.train
    validation: Dataset | None  # data.validation
    sources: dict[str, Any]  # the model file's record of each part (path, bytes, SHA-256)
    # tables: each file's rows as read ("train", "test", "validation"), or the file itself (a
    # TableFile) when it is over the memory budget, read in row batches; the Datasets above then
    # hold row numbers, (part, row) pairs, so that ranges and hold-outs pick rows as they pick examples
    tables: dict[str, Any] | None = None

    def nbytes(self) -> int:
        """The bytes its arrays hold (what sending it costs; a table left in its file: its size)."""
        total = 0
        for dataset in (self.whole_file, self.test_file, self.validation):
            if dataset is not None:
                total += int(getattr(dataset.X_raw, "nbytes", 0))
                total += int(getattr(dataset.y, "nbytes", 0) or 0)
        tables = (self.tables or {}).values()
        return total + sum(int(t.data_bytes if isinstance(t, TableFile) else t.nbytes) for t in tables)

    def in_memory(self) -> bool:
        """False when the training examples stay in their file (over the memory budget)."""
        streamed = any(isinstance(table, TableFile) for table in (self.tables or {}).values())
        return isinstance(self.whole_file.X_raw, np.ndarray) and not streamed


TABLE_PARTS = ("train", "test", "validation")


def _row_numbers(part: str, m: int, source: str) -> Dataset:
    """A table's rows as examples: ``(part, row)`` pairs, the part's index in :data:`TABLE_PARTS`."""
    rows = np.stack([np.full(m, TABLE_PARTS.index(part)), np.arange(m)], axis=1)
    return Dataset(rows, None, None, source)


def _load_tables(config: Config, base_dir: str | None, budget: int | None) -> LoadedData:
    """The tables ``config.data`` names, each read whole, or only counted when over ``budget``
    bytes (read in row batches later), with where they came from."""
    data = config.data
    tables: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    rows: dict[str, Dataset] = {}
    digests: dict[str, str | None] = {}
    bounds = {"train": data.train_range, "test": data.test_range, "validation": None}
    for part in TABLE_PARTS:
        path = getattr(data, part)
        if path is None:
            continue
        found = _data_file(f"data.{part}", path, base_dir)
        table_file = open_table(found)
        tables[part] = table_file if budget is not None and not table_file.fits(budget) else read_table(table_file)
        rows[part] = _row_numbers(part, _table_rows(tables[part]), found)
        sources[part] = _table_source(found, data.target, bounds[part], rows[part].m, digests)
    if data.test is None and data.test_range is not None:  # the test rows are another range of the training file
        sources["test"] = _table_source(sources["train"]["file"], data.target, data.test_range, rows["train"].m, digests)
    sources["classes_key"] = None
    return LoadedData(rows["train"], rows.get("test"), rows.get("validation"), sources, tables)


def _table_rows(table: Any) -> int:
    return count_rows(table) if isinstance(table, TableFile) else int(table.num_rows)


def _table_source(path: str, target: str | None, bounds: list[int] | None, m: int, digests: dict[str, str | None]) -> dict[str, Any]:
    # x_key "rows": a table's examples are its rows; y_key its target column
    return {**_source(path, "rows", target or "", bounds, m, digests), "table": True}


def _named_in_file(exc: DataError, dataset: Dataset, named: str) -> DataError:
    """``exc`` about some of a table's rows (``named`` in it), naming the file and the row as the
    file counts it."""
    source = dataset.source.split("[")[0]
    found = re.match(re.escape(named) + r": row (\d+)(.*)", exc.message, re.S)
    if found is None:
        return DataError(exc.message.replace(named, source, 1))
    row = int(dataset.X_raw[int(found.group(1)) - 1, 1]) + 1
    return DataError(f"{source}: row {row}{found.group(2)}")


def _table_options(config: Config) -> TableOptions:
    data = config.data
    return TableOptions(data.target, tuple(data.features) if data.features is not None else None, tuple(data.drop or ()),
                        tuple(data.categorical) if data.categorical is not None else None, data.task)


def _part_of(dataset: Dataset) -> str:
    """The part whose file holds ``dataset``'s rows."""
    return TABLE_PARTS[int(dataset.X_raw[0, 0])] if dataset.m else "train"


def _mask(loaded: LoadedData, dataset: Dataset) -> np.ndarray:
    """``dataset``'s rows as a boolean mask over its file's rows (counted once, when read)."""
    whole = {"train": loaded.whole_file, "test": loaded.test_file, "validation": loaded.validation}[_part_of(dataset)]
    assert whole is not None
    mask = np.zeros(whole.m, dtype=bool)
    mask[dataset.X_raw[:, 1]] = True
    return mask


def _rows_of(table: Any, dataset: Dataset) -> Any:
    """``dataset``'s rows of a table in memory: a range of them as a view, any other pick a copy."""
    rows = dataset.X_raw[:, 1]
    if len(rows) and np.all(np.diff(rows) == 1):
        return table.slice(int(rows[0]), len(rows))
    return table.take(rows)


def _encode_part(encoder: TableEncoder, loaded: LoadedData, dataset: Dataset, rows: Any = None) -> tuple[Dataset, list[str]]:
    """A test or validation set (or the training rows in memory) encoded whole; its rows read in
    batches from a file left on disk."""
    assert loaded.tables is not None
    source = dataset.source.split("[")[0]
    table = loaded.tables[_part_of(dataset)]
    try:
        if isinstance(table, TableFile):
            encoded = encoder.encode_file(table, rows=_mask(loaded, dataset), name=source)
        else:  # the rows as the range or the draw picked them (``rows``: already taken)
            encoded = encoder.transform(rows if rows is not None else _rows_of(table, dataset), source)
    except DataError as exc:
        raise _named_in_file(exc, dataset, source) from None
    return Dataset(encoded.X.T, encoded.y, encoder.classes, dataset.source), encoded.warnings


def _fitted(
    config: Config, loaded: LoadedData, train: Dataset, cache_dir: str, rows: Any
) -> tuple[TableEncoder, list[str], Dataset | None]:
    """The encoder learned from the training rows (``rows``, taken from a table in memory), its
    warnings, and the training rows already encoded when the table is over the memory budget
    (into the cache, read a batch at a time)."""
    assert loaded.tables is not None
    table = loaded.tables["train"]
    try:
        if not isinstance(table, TableFile):
            encoder, warnings = TableEncoder.fit(rows, _table_options(config))
            return encoder, warnings, None
        digest = loaded.sources["train"]["sha256"]
        streamed = encoded_rows(table, digest, _mask(loaded, train), _table_options(config), cache_dir, "the table")
    except DataError as exc:
        raise _named_in_file(exc, train, "the table") from None
    streamed.dataset.source = train.source
    return streamed.encoder, streamed.warnings, streamed.dataset


def _encoded(config: Config, loaded: LoadedData, parts: "_Parts", cache_dir: str) -> tuple[TableEncoder, "_Parts"]:
    """The encoder learned from the training rows only (after the ranges and the validation
    hold-out: no test or validation row reaches its statistics), and every part encoded with it."""
    assert loaded.tables is not None
    table = loaded.tables["train"]
    # a table in memory: its training rows taken once, for the fit and the encoding (a shuffled
    # take of a million rows costs more than the encoding)
    train_rows = None if isinstance(table, TableFile) else _rows_of(table, parts.train)
    encoder, warnings, train = _fitted(config, loaded, parts.train, cache_dir, train_rows)
    encoded: list[Dataset | None] = []
    for dataset in (parts.test, parts.validation, parts.train if train is None else None):
        if dataset is None:
            encoded.append(None)
            continue
        part, part_warnings = _encode_part(encoder, loaded, dataset, train_rows if dataset is parts.train else None)
        warnings += part_warnings
        encoded.append(part)
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    test, validation, train = encoded[0], encoded[1], train or encoded[2]
    assert train is not None
    return encoder, _Parts(train, test, validation, parts.test_y_key, parts.validation_y_key)


def load_data(config: Config, *, base_dir: str | None = None, budget: int | None = None) -> LoadedData:
    """Read the examples ``config.data`` names (relative paths from ``base_dir``, default the
    current directory); training examples over ``budget`` bytes stay in their file."""
    data = config.data
    _splits(config, base_dir)
    if is_table(data.train):
        return _load_tables(config, base_dir, budget)
    sources: dict[str, Any] = {}
    digests: dict[str, str | None] = {}
    train_path = _data_file("data.train", data.train, base_dir)
    whole_file = _load(config, base_dir, data.train, data.x_key, data.y_key, stream_over_bytes=budget)
    sources["train"] = _source(train_path, data.x_key, data.y_key, data.train_range, whole_file.m, digests)
    test_file = validation = None
    if data.test:
        # a folder of test images is read as the training examples were (shape, resize, classes)
        train_set = take_range(whole_file, data.train_range, "data.train_range")
        test_path = _data_file("data.test", data.test, base_dir)
        test_file = _load(config, base_dir, data.test, data.test_x_key, data.test_y_key, train_set)
        sources["test"] = _source(test_path, data.test_x_key, data.test_y_key, data.test_range, test_file.m, digests)
    elif data.test_range is not None:  # the test examples are another range of the training file
        sources["test"] = _source(train_path, data.x_key, data.y_key, data.test_range, whole_file.m, digests)
    if data.validation:
        train_set = take_range(whole_file, data.train_range, "data.train_range")
        val_path, val_x_key = _data_file("data.validation", data.validation, base_dir), data.validation_x_key or data.x_key
        val_y_key = data.validation_y_key or data.y_key
        validation = _load(config, base_dir, data.validation, val_x_key, val_y_key, train_set)
        sources["validation"] = _source(val_path, val_x_key, val_y_key, None, validation.m, digests)
    sources["classes_key"] = data.classes_key
    return LoadedData(whole_file, test_file, validation, sources)


class _Parts(NamedTuple):
    """The run's examples as read (not yet scaled), and the key of each set's labels."""

    train: Dataset
    test: Dataset | None
    validation: Dataset | None
    test_y_key: str
    validation_y_key: str


def _held_out(config: Config, train_range: Dataset, split_rng: np.random.Generator) -> tuple[Dataset, Dataset | None]:
    """The training examples, and the validation examples ``data.validation_fraction`` holds out
    of the training range (a seeded draw: :func:`dnncli.data.splits.hold_out`), if any; with
    ``data.train_size``, that many of the training examples (a seeded draw)."""
    fraction = config.data.validation_fraction
    train_set, held_out = train_range, None
    if fraction is not None and not config.data.validation:
        train_set, held_out = hold_out(train_range, fraction, split_rng)
    if config.data.train_size is not None:
        # drawn after the hold-out, from the same generator: the validation rows stay those of the full
        # run, and every size's rows are the first of one permutation (a smaller m a subset of a larger)
        train_set = draw_examples(train_set, config.data.train_size, split_rng, "data.train_size")
    return train_set, held_out


def _placement(config: Config, layers: list[int], train_set: Dataset, budget: int) -> resources.InputPlacement:
    """Where the training inputs live: the memory ``budget`` decides
    (:func:`dnncli.compute.resources.place_training_inputs`); a file over it even as stored stays on
    disk. Refused before anything is allocated when training cannot fit in memory."""
    placement = resources.place_training_inputs(
        train_set.m, train_set.n_x, train_set.X_raw.dtype.itemsize, np.dtype(DTYPES[config.training.dtype]).itemsize,
        budget, in_file=not isinstance(train_set.X_raw, np.ndarray),
    )
    check_memory(config, layers, train_set, placement)
    return placement


def _parts(config: Config, loaded: LoadedData, train_set: Dataset, held_out: Dataset | None) -> _Parts:
    """The test examples (``data.test``, or ``data.test_range`` of the training file) and the
    validation examples (``data.validation``, or those held out), checked to be shaped as the
    training examples."""
    data = config.data
    test_set, test_y_key = None, data.test_y_key
    if data.test:
        test_set = loaded.test_file
    elif data.test_range is not None:
        test_set, test_y_key = loaded.whole_file, data.y_key
    if test_set is not None:
        test_set = take_range(test_set, data.test_range, "data.test_range")
        _check_shape(test_set, train_set)
    val_set, val_y_key = held_out, data.y_key
    if data.validation:
        val_set, val_y_key = loaded.validation, data.validation_y_key or data.y_key
        assert val_set is not None
        _check_shape(val_set, train_set)
    return _Parts(train_set, test_set, val_set, test_y_key, val_y_key)


def _sources(config: Config, loaded: LoadedData, train_set: Dataset, held_out: Dataset | None) -> dict[str, Any]:
    """Where the examples came from, as the model file records them."""
    sources = {key: dict(value) if isinstance(value, dict) else value for key, value in loaded.sources.items()}
    if held_out is not None:
        sources["validation"] = {
            "held_out_from": "train", "fraction": config.data.validation_fraction,
            "seed": training_seed(config), "examples": held_out.m,
        }
    sources["train"]["trained_on"] = train_set.m
    sources["classes_key"] = sources.pop("classes_key")  # last, as the model file has always had it
    return sources


def _network(config: Config, layers: list[int], activations: list[str]) -> Network:
    """The network the model section describes, initialised from its seed."""
    model = config.model
    return Network.create(
        layers,
        activations,
        init=model.init,
        seed=model.seed,
        random_scale=model.init_scale,
        leaky_slope=model.leaky_relu_slope,
        dtype=DTYPES[config.training.dtype],
    )


def _train_data(
    config: Config, network: Network, parts: _Parts, divisor: float, placement: resources.InputPlacement,
    encoder: TableEncoder | None = None,
) -> TrainData:
    """The examples scaled by ``divisor`` in the network's float type (the training inputs where
    ``placement`` says), and the targets in the output layer's form."""
    for dataset in (parts.train, parts.test, parts.validation):  # float64 data beyond float32: bad input, not divergence
        if dataset is not None:
            check_representable(dataset, divisor, network.dtype)
    X = training_columns(parts.train, divisor, network.dtype, placement, config.training.batch_size)
    Y = _targets(network, parts.train, config.data.y_key)
    itemsize = np.dtype(network.dtype).itemsize

    def block(m: int) -> int | None:  # a scoring pass over more than the budget: a block at a time
        return resources.score_block(network.layer_sizes, m, itemsize, placement.budget)

    test = validation = None
    if parts.test is not None:
        test = Examples(parts.test.columns(divisor, network.dtype), _targets(network, parts.test, parts.test_y_key),
                        block(parts.test.m))
    if parts.validation is not None:
        validation = Examples(
            parts.validation.columns(divisor, network.dtype), _targets(network, parts.validation, parts.validation_y_key),
            block(parts.validation.m),
        )
    if encoder is None or encoder.target is None:
        return TrainData(X, Y, test=test, validation=validation, score_block=block(parts.train.m))
    target = encoder.target
    return TrainData(X, Y, test=test, validation=validation, task=target.task, target_scale=target.scale,
                     target_mean=target.mean, score_block=block(parts.train.m))


def prepare(
    config: Config,
    *,
    base_dir: str | None = None,
    memory_budget: int | None = None,
    loaded: LoadedData | None = None,
    origin: dict[str, Any] | None = None,
    idle_since: IdleSample | None = None,
    recorded_target: Path | None = None,
) -> PreparedRun:
    """Load the data and build the network ``config`` describes. Relative data paths are read
    from ``base_dir`` (default: the current directory); the config keeps them as written.
    ``memory_budget`` (bytes): the budget a resumed run started with, instead of resolving
    ``data.memory_budget_mb`` again. ``loaded``: the data already read (:func:`load_data`, on
    another machine perhaps): no file is opened. ``origin``, ``idle_since`` and
    ``recorded_target``: how the run was started, kept as they are (see :class:`PreparedRun`)."""
    config = _with_seeds(config)
    data = config.data
    split_rng, train_rng = generators(config)
    # the memory budget (auto: from the memory available now) decides where the training inputs live
    budget = memory_budget if memory_budget is not None else resources.memory_budget_bytes(data.memory_budget_mb)
    if loaded is None:
        loaded = load_data(config, base_dir=base_dir, budget=budget)
    train_range = take_range(loaded.whole_file, data.train_range, "data.train_range")
    encoder = None
    if loaded.tables is None:
        # the sizes come from the whole training range, before any validation examples are held out
        layers, activations = resolve_architecture(config, train_range)
    train_set, held_out = _held_out(config, train_range, split_rng)
    parts = _parts(config, loaded, train_set, held_out)
    sources = _sources(config, loaded, train_set, held_out)
    if loaded.tables is not None:  # a table's width and classes: from its training rows, once encoded
        encoder, parts = _encoded(config, loaded, parts, _cache_dir(config, base_dir))
        train_set = parts.train
        layers, activations = resolve_architecture(config, train_set, encoder.task)
    placement = _placement(config, layers, train_set, budget)
    network = _network(config, layers, activations)
    divisor = 1.0 if encoder is not None else resolve_divisor(data.scale, train_set.X_raw.dtype)
    return PreparedRun(
        config=_resolved(config, layers, activations, encoder.task if encoder is not None else None),
        network=network,
        data=_train_data(config, network, parts, divisor, placement, encoder),
        settings=train_settings(config, network),
        rng=train_rng,
        input_shape=train_set.input_shape,
        input_dtype=str(train_set.X_raw.dtype),
        divisor=divisor,
        classes=None if network.is_regression else train_set.classes,
        name=config.name,
        output_dir=config.output.dir,
        checkpoint_every=config.training.checkpoint_every,
        checkpoint_min_seconds=config.training.checkpoint_min_seconds,
        input_resize=train_set.resize or DEFAULT_RESIZE,
        data_sources=sources,
        origin=origin if origin is not None else {},
        idle_since=idle_since,
        memory_budget=budget,
        recorded_target=recorded_target,
        encoder=encoder,
    )
