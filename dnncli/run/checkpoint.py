"""Checkpoints: everything a run needs to continue with exactly the same steps, in one HDF5 file.

Layout of ``checkpoint.h5``::

    /params/W1, /params/b1, ...       the parameters after ``iteration`` updates
    /optimizer/<key>                  the optimizer's state-dict arrays (moments "v_W1", ...)
    /tracker/<key>                    the early-stopping tracker's arrays (best parameters)
    /epoch_order                      a run stopped in the middle of a shuffled epoch: its example order
    attrs: format = "dnn-checkpoint", format_version, tool_version, epoch, iteration,
           state (JSON: history rows, costs, seconds and segments, flags, the batches done, cost sum
           and examples seen of an epoch cut short, the BLAS threads; and the run's memory_budget),
           optimizer, tracker (JSON: the state dicts' numbers), rng (JSON: the generator's
           bit_generator.state), data_fingerprint (SHA-256 of the training arrays), cwd (where the
           data paths start), checksum (SHA-256 over every array and every other attribute)

The engine's state (:class:`~dnncli.training.state.TrainState`) is one part; the run's own
(:class:`RunSection`: the data fingerprint, the working directory, the memory budget) another,
which the run layer passes in and gets back. The memory budget is stored in the state's JSON, where
format 3 put it: the layout is unchanged, so checkpoints written before and after read alike.

Written atomically (temporary file, fsync, rename): a crash at any moment leaves the previous
checkpoint or the new one, never a torn file. Read with h5py arrays and JSON only, through
:mod:`dnncli.files.hdf5safe`; the checksum is verified before anything is used (any change to the file
is refused), then every field is checked (ranges of the counters, types and shapes of the
arrays against the network, the optimizer's and the tracker's state, the generator's state),
because a checksum can be recomputed: a checkpoint never silently changes what a resumed run does.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli.data.columns import ScaledColumns
from dnncli.errors import RunDirError
from dnncli.files.atomic import write_with
from dnncli.files.fileformat import check_format, write_format
from dnncli.files.hdf5safe import check_dataset_size, checked_dataset, json_attr, open_hdf5, read_attr
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.state import History, TrainState

FORMAT = "dnn-checkpoint"
# 2: a checkpoint may stand in the middle of an epoch (batch_in_epoch, /epoch_order), which a
# reader of format 1 would silently skip to the next epoch
# 3: a checksum over the arrays and the state (format 2 files, without one, are still read)
FORMAT_VERSION = 3
CHECKSUM_SINCE = 3
MAX_COUNTER = 10**9  # config.MAX_ITERATIONS: no run counts further
MOMENT_PREFIXES = {"gd": (), "momentum": ("v",), "rmsprop": ("s",), "adam": ("v", "s")}


@dataclass(frozen=True)
class RunSection:
    """What a run keeps in its checkpoint besides the engine's state: what resuming checks and
    needs to start the same way."""

    data_fingerprint: str  # SHA-256 of the training arrays (:func:`data_fingerprint`)
    cwd: str  # where the config's relative data paths start
    # the memory budget in bytes as the run resolved it (dnncli.run.prepare): a resumed run places
    # its inputs the same way (None: resolved again, as for a checkpoint written before it was kept)
    memory_budget: int | None = None


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    rng_state: dict[str, Any]
    state: TrainState
    run: RunSection


def data_fingerprint(*arrays: np.ndarray | None) -> str:
    """SHA-256 of the arrays' shapes, types and bytes: resuming on other data is refused."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        if isinstance(array, ScaledColumns):  # inputs scaled a batch at a time: read in chunks
            digest.update(array.fingerprint())
            continue
        array = np.asarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        if array.flags.c_contiguous or array.ndim < 2:
            digest.update(np.ascontiguousarray(array))  # its bytes, no copy (and none for a zero-size one)
            continue
        if array.ndim == 2:
            _update_by_rows(digest, array)
            continue
        rows = max(1, (1 << 22) // max(1, array[0].nbytes))
        for start in range(0, array.shape[0], rows):
            digest.update(np.ascontiguousarray(array[start : start + rows]))
    return digest.hexdigest()


# column-major inputs are turned into rows through a buffer of at most this many bytes (or one
# row), at most FINGERPRINT_ROWS rows, filled a tile of about FINGERPRINT_TILE numbers at a time
FINGERPRINT_BLOCK_BYTES = 4 << 20
FINGERPRINT_ROWS = 1024
FINGERPRINT_TILE = 16384


def _update_by_rows(digest: Any, array: np.ndarray) -> None:
    """Feed ``digest`` the C-order bytes of a 2-D array of any layout (column-major training
    inputs), a block of rows at a time through one small buffer: the same digest as its C-order
    copy without making one. The block is filled a tile at a time (its rows by at least 16
    columns): copying whole rows out of a column-major array reads each element from another
    page (`python bench/micro.py --sections fingerprint`: the cat set x10, 205 MB of float64,
    0.50 s by whole rows, 0.25-0.31 s by tiles)."""
    n, m = array.shape
    rows = max(1, min(FINGERPRINT_ROWS, n, FINGERPRINT_BLOCK_BYTES // max(1, m * array.itemsize)))
    columns = max(16, FINGERPRINT_TILE // rows)
    block = np.empty((rows, m), dtype=array.dtype)
    for start in range(0, n, rows):
        part = block[: min(rows, n - start)]
        for first in range(0, m, columns):
            part[:, first : first + columns] = array[start : start + len(part), first : first + columns]
        digest.update(part)


def _split(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A state dict into its arrays (saved as datasets) and its numbers (saved as JSON)."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    numbers = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in state.items() if k not in arrays}
    return arrays, numbers


def _state_json(state: TrainState, run: RunSection) -> str:
    return json.dumps(
        {
            "epoch": state.epoch,
            "iteration": state.iteration,
            "history": state.history.rows,
            "initial_cost": state.initial_cost,
            "last_good_cost": state.last_good_cost,
            "stopped_early": state.stopped_early,
            "seconds": state.seconds,
            "segments": state.segments,
            "has_tracker": state.tracker is not None,
            "batch_in_epoch": state.batch_in_epoch,
            "epoch_cost_sum": state.epoch_cost_sum,
            "epoch_seen": state.epoch_seen,
            "threads": state.threads,
            "memory_budget": run.memory_budget,  # the run's, kept here as format 3 does
        }
    )  # Python's json keeps every float exactly (repr), NaN included


def save_checkpoint(
    path: Path,
    params: dict[str, np.ndarray],
    optimizer_state: dict[str, Any],
    rng_state: dict[str, Any],
    state: TrainState,
    run: RunSection,
) -> None:
    """Write the checkpoint of a run at ``state`` atomically: the parameters, the optimizer's state
    dict (in the plain path's form), the generator's state, and the run's own ``run`` section."""
    import h5py

    optimizer_arrays, optimizer_numbers = _split(optimizer_state)
    tracker_arrays, tracker_numbers = _split(state.tracker.state_dict()) if state.tracker else ({}, {})

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for group, arrays in (("params", params), ("optimizer", optimizer_arrays), ("tracker", tracker_arrays)):
                g = f.create_group(group)
                for key, value in arrays.items():
                    g.create_dataset(key, data=value)
            if state.batch_in_epoch and state.epoch_order is not None:
                f.create_dataset("epoch_order", data=state.epoch_order)
            write_format(f.attrs, FORMAT, FORMAT_VERSION)
            f.attrs["epoch"] = state.epoch
            f.attrs["iteration"] = state.iteration
            f.attrs["state"] = _state_json(state, run)
            f.attrs["optimizer"] = json.dumps(optimizer_numbers)
            f.attrs["tracker"] = json.dumps(tracker_numbers)
            f.attrs["rng"] = json.dumps(rng_state)
            f.attrs["data_fingerprint"] = run.data_fingerprint
            f.attrs["cwd"] = run.cwd
            f.attrs["checksum"] = checksum(f)

    write_with(path, write, suffix=".h5")


def checksum(f: Any, path: Path | None = None) -> str:
    """SHA-256 over every dataset (name, type, shape, bytes) and every attribute but the checksum
    itself (name and value), in name order: what the writer stored and the reader verifies
    (reading, with ``path``: each dataset's size checked first)."""
    import h5py

    digest = hashlib.sha256()
    datasets: list[str] = []
    f.visititems(lambda name, node: datasets.append(name) if isinstance(node, h5py.Dataset) else None)
    for name in sorted(datasets):
        if path is not None:
            check_dataset_size(f[name], name, path, RunDirError)
        value = np.ascontiguousarray(f[name][()])
        digest.update(f"dataset {name} {value.dtype.str} {value.shape}\n".encode())
        digest.update(memoryview(value).cast("B") if value.size else b"")
    for name in sorted(k for k in f.attrs if k != "checksum"):
        value = f.attrs[name]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "surrogateescape")
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        digest.update(f"attr {name} {json.dumps(value)}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _epoch_order(f: Any, state: TrainState, path: Path) -> np.ndarray | None:
    """The order of the cut-short epoch's examples (None: unshuffled), checked to be usable."""
    if state.epoch_seen <= 0:
        raise _corrupt(path, "its position in the epoch is impossible")
    if "epoch_order" not in f:
        return None
    node = checked_dataset(f, "epoch_order", path, RunDirError)
    if node.ndim != 1 or node.dtype.kind not in "iu":
        raise _corrupt(path, "epoch_order is not a list of example indices")
    return np.asarray(node[()])


def _corrupt(path: Path, why: str) -> RunDirError:
    return RunDirError(f"{path}: corrupt checkpoint ({why}); start the run again or remove the checkpoint")


def expected_shapes(layer_sizes: list[int]) -> dict[str, tuple[int, int]]:
    """The parameters' names and shapes of a network of ``layer_sizes``."""
    shapes: dict[str, tuple[int, int]] = {}
    for l in range(1, len(layer_sizes)):
        shapes[f"W{l}"] = (layer_sizes[l], layer_sizes[l - 1])
        shapes[f"b{l}"] = (layer_sizes[l], 1)
    return shapes


def _read_group(
    f: Any, group: str, path: Path, shapes: dict[str, tuple[int, int]] | None, prefixes: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """A group's float arrays, each checked (name, shape, type, finite) before it is used; with
    ``shapes`` the names must be ``<prefix><parameter>`` and the shapes the parameter's."""
    import h5py

    node = f.get(group)
    if not isinstance(node, h5py.Group):
        raise _corrupt(path, f"the group '{group}' is missing")
    arrays = {}
    for key in node:
        where = f"{group}/{key}"
        if shapes is not None:
            parameter = next((key[len(p):] for p in prefixes if key.startswith(p) and key[len(p):] in shapes), None)
            if parameter is None:
                raise _corrupt(path, f"'{where}' is not a parameter of the run's network")
            dataset = node.get(key)
            if not isinstance(dataset, h5py.Dataset) or dataset.shape != shapes[parameter]:
                got = getattr(dataset, "shape", "a group")
                raise _corrupt(path, f"'{where}' has shape {got}, the network's is {shapes[parameter]}")
        dataset = checked_dataset(f, where, path, RunDirError)
        if dataset.dtype not in (np.float32, np.float64):
            raise _corrupt(path, f"'{where}' holds {dataset.dtype}, expected float32 or float64")
        value = np.asarray(dataset[()])
        if not np.all(np.isfinite(value)):
            raise _corrupt(path, f"'{where}' contains NaN or infinite values")
        arrays[key] = value
    return arrays


def _number(raw: dict[str, Any], key: str, path: Path, *, integer: bool = False, low: float = 0.0,
            high: float = math.inf, allow_none: bool = False, allow_inf: bool = False) -> Any:
    """``raw[key]``: a number (an integer if asked) within ``[low, high]``; refused otherwise."""
    if key not in raw:
        raise _corrupt(path, f"'{key}' is missing")
    value = raw[key]
    if value is None and allow_none:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _corrupt(path, f"'{key}' is {str(value)[:40]!r}, expected {'an integer' if integer else 'a number'}")
    if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and not allow_inf)):
        raise _corrupt(path, f"'{key}' is {value}")
    if not low <= value <= high and not (allow_inf and value == math.inf):
        raise _corrupt(path, f"'{key}' = {value} is out of range")
    return value


def _flag(raw: dict[str, Any], key: str, path: Path, default: bool | None = None) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _corrupt(path, f"'{key}' is {str(value)[:40]!r}, expected true or false")
    return value


def _json(f: Any, key: str, path: Path, expected: type) -> Any:
    if key not in f.attrs:
        raise _corrupt(path, f"the attribute '{key}' is missing")
    return json_attr(f, key, path, RunDirError, "null", expected)


def _history(rows: Any, path: Path, iteration: int) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or len(rows) > iteration + 2:
        raise _corrupt(path, "its history is not a list of rows, one per record")
    for row in rows:
        if not isinstance(row, dict) or not all(
            isinstance(k, str) and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            for k, v in row.items()
        ):
            raise _corrupt(path, "a history row is not a mapping of names to numbers")
    return [dict(row) for row in rows]


def _segments(raw: dict[str, Any], path: Path, iteration: int) -> list[dict[str, float | int]]:
    """The run's training segments so far (a start, then each resume); a checkpoint written
    before they were kept counts as one."""
    segments = raw.get("segments")
    if segments is None:
        return [{"from_iteration": 0, "to_iteration": iteration, "seconds": float(_number(raw, "seconds", path, high=1e12))}]
    if not isinstance(segments, list) or len(segments) > MAX_COUNTER:
        raise _corrupt(path, "its segments are not a list of training segments")
    checked = []
    for segment in segments:
        if not isinstance(segment, dict):
            raise _corrupt(path, "a training segment is not a mapping")
        start = _number(segment, "from_iteration", path, integer=True, high=iteration)
        stop = _number(segment, "to_iteration", path, integer=True, low=start, high=iteration)
        checked.append({"from_iteration": start, "to_iteration": stop,
                        "seconds": float(_number(segment, "seconds", path, high=1e12))})
    return checked


def _state(raw: dict[str, Any], attrs_epoch: Any, attrs_iteration: Any, path: Path) -> TrainState:
    epoch = _number(raw, "epoch", path, integer=True, high=MAX_COUNTER)
    iteration = _number(raw, "iteration", path, integer=True, low=epoch, high=MAX_COUNTER)
    if int(attrs_epoch) != epoch or int(attrs_iteration) != iteration:
        raise _corrupt(path, "its epoch and iteration disagree with its state")
    return TrainState(
        epoch=epoch,
        iteration=iteration,
        history=History(rows=_history(raw.get("history"), path, iteration)),
        initial_cost=float(_number(raw, "initial_cost", path)),
        last_good_cost=float(_number(raw, "last_good_cost", path)),
        stopped_early=_flag(raw, "stopped_early", path),
        seconds=float(_number(raw, "seconds", path, high=1e12)),
        segments=_segments(raw, path, iteration),
        # format 1: always at an epoch's end
        batch_in_epoch=_number({"batch_in_epoch": 0, **raw}, "batch_in_epoch", path, integer=True, high=MAX_COUNTER),
        epoch_cost_sum=float(_number({"epoch_cost_sum": 0.0, **raw}, "epoch_cost_sum", path)),
        epoch_seen=_number({"epoch_seen": 0, **raw}, "epoch_seen", path, integer=True, high=MAX_COUNTER),
        # the run's BLAS threads (older checkpoints: decided again)
        threads=_number({"threads": None, **raw}, "threads", path, integer=True, low=1, high=4096, allow_none=True),
    )


def _optimizer(numbers: dict[str, Any], path: Path) -> str:
    name = numbers.get("name")
    if name not in MOMENT_PREFIXES:
        raise _corrupt(path, f"the optimizer {str(name)[:40]!r} is not one dnn has")
    if _number(numbers, "learning_rate", path, high=1e12) <= 0:
        raise _corrupt(path, "'learning_rate' must be positive")
    for key in {"momentum": ("beta",), "rmsprop": ("beta2",), "adam": ("beta1", "beta2")}.get(name, ()):
        _number(numbers, key, path, high=1.0 - 1e-16)
    if name in ("rmsprop", "adam"):
        if _number(numbers, "epsilon", path, high=1.0) <= 0:
            raise _corrupt(path, "'epsilon' must be positive")
    if name == "adam":
        _number(numbers, "t", path, integer=True, high=MAX_COUNTER)
    return name


def _rng_state(rng: Any, path: Path) -> dict[str, Any]:
    """The generator's state, tried on a fresh generator of the same kind (bad states refused)."""
    if not isinstance(rng, dict) or rng.get("bit_generator") != type(np.random.default_rng().bit_generator).__name__:
        raise _corrupt(path, "its random generator state is not numpy's default generator's")
    try:
        np.random.default_rng().bit_generator.state = rng
    except (TypeError, ValueError, KeyError, OverflowError):
        raise _corrupt(path, "its random generator state is not a valid one") from None
    return rng


def load_checkpoint(path: Path, layer_sizes: list[int] | None = None) -> Checkpoint:
    """Read and verify ``path``. With ``layer_sizes`` (the run's network) every array's name and
    shape is checked against that network before it is read."""
    shapes = expected_shapes(layer_sizes) if layer_sizes else None
    try:
        with open_hdf5(path, RunDirError, what="checkpoint", corrupt="corrupt checkpoint") as f:
            return _read_checkpoint(f, path, shapes)
    except RunDirError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, OverflowError) as exc:
        raise _corrupt(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _read_checkpoint(f: Any, path: Path, shapes: dict[str, tuple[int, int]] | None) -> Checkpoint:
    """An open checkpoint's parts, each checked before it is used: the arrays' names, shapes and
    types, then the checksum over everything, then every field."""
    header = {key: read_attr(f, key, path, RunDirError) for key in ("format", "format_version", "tool_version")}
    version = check_format(header, path, FORMAT, FORMAT_VERSION, "checkpoint", RunDirError)
    params = _params(f, path, shapes)
    optimizer_arrays = _read_group(f, "optimizer", path, shapes, ("v_", "s_"))
    tracker_arrays = _read_group(f, "tracker", path, shapes, ("best_",))
    if version >= CHECKSUM_SINCE:
        stored = read_attr(f, "checksum", path, RunDirError)
        if not isinstance(stored, str) or stored != checksum(f, path):
            raise RunDirError(
                f"{path}: its checksum does not match its contents: the checkpoint was changed "
                "or damaged after it was written; it cannot be resumed"
            )
    raw = _json(f, "state", path, dict)
    state = _state(raw, read_attr(f, "epoch", path, RunDirError, -1),
                   read_attr(f, "iteration", path, RunDirError, -1), path)
    optimizer_numbers = _json(f, "optimizer", path, dict)
    name = _optimizer(optimizer_numbers, path)
    _check_arrays(optimizer_arrays, params, MOMENT_PREFIXES[name], "optimizer", path)
    if state.batch_in_epoch:
        state.epoch_order = _epoch_order(f, state, path)
    state.tracker = _tracker(f, raw, state.epoch, params, tracker_arrays, path)
    return Checkpoint(
        params=params,
        optimizer={**optimizer_numbers, **optimizer_arrays},
        rng_state=_rng_state(_json(f, "rng", path, dict), path),
        state=state,
        run=_run_section(f, raw, path),
    )


def _params(f: Any, path: Path, shapes: dict[str, tuple[int, int]] | None) -> dict[str, np.ndarray]:
    """The parameters: all of the network's (with ``shapes``), at least one, of one type."""
    params = _read_group(f, "params", path, shapes, ("",))
    if shapes is not None and set(params) != set(shapes):
        missing = sorted(set(shapes) - set(params))
        raise _corrupt(path, f"the parameter '{missing[0]}' is missing")
    if not params:
        raise _corrupt(path, "it holds no parameters")
    if len({v.dtype for v in params.values()}) > 1:
        raise _corrupt(path, "its parameters mix float32 and float64")
    return params


def _tracker(
    f: Any, raw: dict[str, Any], epoch: int, params: dict[str, np.ndarray], arrays: dict[str, np.ndarray], path: Path
) -> EarlyStopping | None:
    """The early-stopping tracker of a run that has one (its best parameters among ``arrays``)."""
    if not _flag(raw, "has_tracker", path, False):
        if arrays:
            raise _corrupt(path, "it holds a tracker's arrays without a tracker")
        return None
    numbers = _json(f, "tracker", path, dict)
    _number(numbers, "patience", path, integer=True, low=1, high=MAX_COUNTER, allow_none=True)
    _number(numbers, "min_delta", path)
    _number(numbers, "best_cost", path, allow_inf=True)
    _number(numbers, "best_epoch", path, integer=True, high=epoch, allow_none=True)
    _number(numbers, "checks_without_improvement", path, integer=True, high=MAX_COUNTER)
    _check_arrays(arrays, params, ("best",), "tracker", path)
    tracker = EarlyStopping()
    tracker.load_state_dict({**numbers, **arrays})
    return tracker


def _run_section(f: Any, raw: dict[str, Any], path: Path) -> RunSection:
    """The run's section: the data fingerprint and working directory (attributes) and the memory
    budget (in the state's JSON; absent from checkpoints written before it was kept)."""
    fingerprint = read_attr(f, "data_fingerprint", path, RunDirError)
    if not (isinstance(fingerprint, str) and len(fingerprint) == 64 and all(c in "0123456789abcdef" for c in fingerprint)):
        raise _corrupt(path, "its data fingerprint is not a SHA-256")
    cwd = read_attr(f, "cwd", path, RunDirError, ".")
    if not isinstance(cwd, str) or "\0" in cwd or len(cwd) > 4096:
        raise _corrupt(path, "its working directory is not a path")
    budget = _number({"memory_budget": None, **raw}, "memory_budget", path, integer=True, low=1, allow_none=True)
    return RunSection(data_fingerprint=fingerprint, cwd=cwd, memory_budget=budget)


def _check_arrays(
    arrays: dict[str, np.ndarray], params: dict[str, np.ndarray], prefixes: tuple[str, ...], group: str, path: Path
) -> None:
    """A state's arrays: none (before the first update), or one per parameter and prefix, each of
    the parameter's shape and type."""
    if not arrays:
        return
    expected = {f"{prefix}_{key}": value for prefix in prefixes for key, value in params.items()}
    if set(arrays) != set(expected):
        missing = sorted(set(expected) - set(arrays)) or sorted(set(arrays) - set(expected))
        raise _corrupt(path, f"the {group} state does not fit the parameters ('{missing[0]}')")
    for key, value in arrays.items():
        if value.shape != expected[key].shape or value.dtype != expected[key].dtype:
            raise _corrupt(path, f"'{group}/{key}' does not have its parameter's shape and type")


def check_fits_network(checkpoint: Checkpoint, path: Path, params: dict[str, np.ndarray], optimizer: str) -> None:
    """Refuse a checkpoint of another network, precision or optimizer than the run's."""
    for key, value in params.items():
        saved = checkpoint.params.get(key)
        if saved is None or saved.shape != value.shape:
            raise RunDirError(f"{path}: its parameters do not fit the run's network ('{key}')")
        if saved.dtype != value.dtype:
            raise RunDirError(f"{path}: its parameters are {saved.dtype}, the run trains in {value.dtype}")
    if set(checkpoint.params) != set(params):
        raise RunDirError(f"{path}: its parameters do not fit the run's network")
    if checkpoint.optimizer.get("name") != optimizer:
        raise RunDirError(
            f"{path}: holds the state of the optimizer {checkpoint.optimizer.get('name')!r}, the run uses {optimizer!r}"
        )
