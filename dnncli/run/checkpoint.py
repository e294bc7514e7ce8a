"""Checkpoints: everything a run needs to continue with exactly the same steps, in one HDF5 file.

Layout of ``checkpoint.h5``::

    /params/W1, /params/b1, ...       the parameters after ``iteration`` updates
    /optimizer/<key>                  the optimizer's state-dict arrays (moments "v_W1", ...)
    /tracker/<key>                    the early-stopping tracker's arrays (best parameters)
    /epoch_order                      a run stopped in the middle of a shuffled epoch: its example order
    attrs: format = "dnn-checkpoint", format_version, tool_version, epoch, iteration,
           state (JSON: history rows, costs, seconds, flags, and the batches done, cost sum
           and examples seen of an epoch cut short), optimizer, tracker (JSON: the
           state dicts' numbers), rng (JSON: the generator's bit_generator.state),
           data_fingerprint (SHA-256 of the training arrays), cwd (where the data paths start)

Written atomically (temporary file, fsync, rename): a crash at any moment leaves the previous
checkpoint or the new one, never a torn file. Read with h5py arrays and JSON only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnncli.atomic import write_with
from dnncli.data.columns import ScaledColumns
from dnncli.errors import RunDirError
from dnncli.fileformat import check_format, write_format
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.state import History, TrainState

FORMAT = "dnn-checkpoint"
# 2: a checkpoint may stand in the middle of an epoch (batch_in_epoch, /epoch_order), which a
# reader of format 1 would silently skip to the next epoch
FORMAT_VERSION = 2


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    rng_state: dict[str, Any]
    state: TrainState
    data_fingerprint: str
    cwd: str


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
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _split(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A state dict into its arrays (saved as datasets) and its numbers (saved as JSON)."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    numbers = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in state.items() if k not in arrays}
    return arrays, numbers


def _state_json(state: TrainState) -> str:
    return json.dumps(
        {
            "epoch": state.epoch,
            "iteration": state.iteration,
            "history": state.history.rows,
            "initial_cost": state.initial_cost,
            "last_good_cost": state.last_good_cost,
            "stopped_early": state.stopped_early,
            "seconds": state.seconds,
            "has_tracker": state.tracker is not None,
            "batch_in_epoch": state.batch_in_epoch,
            "epoch_cost_sum": state.epoch_cost_sum,
            "epoch_seen": state.epoch_seen,
        }
    )  # Python's json keeps every float exactly (repr), NaN included


def save_checkpoint(
    path: Path,
    params: dict[str, np.ndarray],
    optimizer_state: dict[str, Any],
    rng_state: dict[str, Any],
    state: TrainState,
    fingerprint: str,
    cwd: str,
) -> None:
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
            f.attrs["state"] = _state_json(state)
            f.attrs["optimizer"] = json.dumps(optimizer_numbers)
            f.attrs["tracker"] = json.dumps(tracker_numbers)
            f.attrs["rng"] = json.dumps(rng_state)
            f.attrs["data_fingerprint"] = fingerprint
            f.attrs["cwd"] = cwd

    write_with(path, write, suffix=".h5")


def _epoch_order(f: Any, state: TrainState, path: Path) -> np.ndarray | None:
    """The order of the cut-short epoch's examples (None: unshuffled), checked to be usable."""
    if state.batch_in_epoch < 0 or state.epoch_seen <= 0:
        raise RunDirError(f"{path}: corrupt checkpoint (its position in the epoch is impossible)")
    if "epoch_order" not in f:
        return None
    order = np.asarray(f["epoch_order"][()])
    if order.ndim != 1 or order.dtype.kind not in "iu":
        raise RunDirError(f"{path}: corrupt checkpoint (epoch_order is not a list of example indices)")
    return order


def load_checkpoint(path: Path) -> Checkpoint:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            check_format(attrs, path, FORMAT, FORMAT_VERSION, "checkpoint", RunDirError)
            groups = {
                name: {key: np.asarray(node[()]) for key, node in f[name].items()}
                for name in ("params", "optimizer", "tracker")
            }
            raw = json.loads(attrs["state"])
            optimizer = {**json.loads(attrs["optimizer"]), **groups["optimizer"]}
            tracker_state = {**json.loads(attrs["tracker"]), **groups["tracker"]}
            state = TrainState(
                epoch=int(raw["epoch"]),
                iteration=int(raw["iteration"]),
                history=History(rows=[dict(row) for row in raw["history"]]),
                initial_cost=float(raw["initial_cost"]),
                last_good_cost=float(raw["last_good_cost"]),
                stopped_early=bool(raw["stopped_early"]),
                seconds=float(raw["seconds"]),
                batch_in_epoch=int(raw.get("batch_in_epoch", 0)),  # format 1: always at an epoch's end
                epoch_cost_sum=float(raw.get("epoch_cost_sum", 0.0)),
                epoch_seen=int(raw.get("epoch_seen", 0)),
            )
            if state.batch_in_epoch:
                state.epoch_order = _epoch_order(f, state, path)
            if raw.get("has_tracker"):
                state.tracker = EarlyStopping()
                state.tracker.load_state_dict(tracker_state)
            params = groups["params"]
            if not params or not all(np.all(np.isfinite(v)) for v in params.values()):
                raise RunDirError(f"{path}: the checkpoint's parameters are missing or not finite")
            return Checkpoint(
                params=params,
                optimizer=optimizer,
                rng_state=json.loads(attrs["rng"]),
                state=state,
                data_fingerprint=str(attrs["data_fingerprint"]),
                cwd=str(attrs.get("cwd", ".")),
            )
    except RunDirError:
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: corrupt checkpoint ({str(exc).splitlines()[0]})") from None
