"""``dnn sweep --scheduler ADDRESS --ship-data``: trials on Dask workers that see none of the
driver's files.

The driver reads each data set a trial needs once (the project's loaders, exactly as ``dnn train``
reads them: :func:`dnncli.run.prepare.load_data`) and sends it to the cluster once, as one Dask
future that every trial with the same ``data`` section shares (``Client.scatter`` with
``broadcast=True``: a copy on every worker, so that losing a worker loses no data). Trials of a
sweep over data keys (another file, another range) get one shipment per distinct data section.

A worker trains in a private temporary directory and returns the run directory's files; the
driver writes them into ``trials/<n>/`` (or ``trials/<n>.partial/`` for a diverged trial's last
good parameters) under a temporary name, then renames: a trial directory appears complete or not
at all, with the same files a local trial leaves.

Shipping is bounded: a trial's arrays must fit in the memory budget (``data.memory_budget_mb``,
resolved on the driver), since a worker cannot stream examples from a file it cannot open.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dnncli.compute import resources
from dnncli.config import Config
from dnncli.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, DnnError
from dnncli.files import atomic
from dnncli.run.directory import partial_path, point_latest
from dnncli.run.prepare import LoadedData, load_data
from dnncli.sweep.trial import TrialFiles

# data keys that change how examples are used, not which are read: trials differing only in these
# share one shipment
NOT_READ = ("validation_fraction", "scale", "memory_budget_mb")


def data_key(config: Config) -> str:
    """What decides which examples a config reads (its ``data`` section, and where images are cached)."""
    data = config.data.model_dump(mode="json")
    for key in NOT_READ:
        data.pop(key, None)
    for key in ("train", "test", "validation", "cache_dir"):  # the base's paths may be relative, a trial's are not
        if isinstance(data.get(key), str):
            data[key] = os.path.abspath(data[key])
    return json.dumps([data, os.path.abspath(config.output.dir)], sort_keys=True)


def _parts(config: Config) -> str:
    data = config.data
    named = [f"data.train {data.train}"]
    if data.test:
        named.append(f"data.test {data.test}")
    if data.validation:
        named.append(f"data.validation {data.validation}")
    return ", ".join(named)


def read_for_shipping(config: Config) -> LoadedData:
    """The examples ``config`` names, read on the driver; refused in one line when they cannot be
    shipped (more than the memory budget)."""
    budget = resources.memory_budget_bytes(config.data.memory_budget_mb)
    loaded = load_data(config, budget=budget)
    size = loaded.nbytes()  # as stored: an h5py dataset left in its file says it too
    if not loaded.in_memory() or size > budget:
        raise DnnError(
            f"--ship-data: the examples of {_parts(config)} take {_size(size)}, more than the "
            f"memory budget ({_size(budget)}, data.memory_budget_mb) a worker may hold; give "
            "the workers the files at the driver's paths (a shared file system) and run without --ship-data",
            exit_code=EXIT_BAD_INPUT,
        )
    return loaded


class ShipmentRefused(DnnError):
    """The cluster could not take the data (a worker that cannot deserialize it, say)."""

    exit_code = EXIT_RUNTIME


class DataShipments:
    """One Dask future per distinct data section, read and scattered the first time a trial needs it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.read: dict[str, LoadedData] = {}  # data key -> its examples (kept: a lost shipment is sent again)
        self.futures: dict[str, Any] = {}

    def add(self, config: Config) -> None:
        """Read ``config``'s examples now (to refuse before any trial starts)."""
        key = data_key(config)
        if key not in self.read:
            self.read[key] = read_for_shipping(config)

    def future_for(self, config: Config) -> Any:
        key = data_key(config)
        self.add(config)
        future = self.futures.get(key)
        if future is None or future.status in ("error", "lost", "cancelled"):
            # the first time, or every worker that held it is gone: send it (again)
            try:
                future = self.client.scatter(self.read[key], broadcast=True, hash=False)
            except Exception as exc:  # Dask re-raises a worker's failure as a bare Exception
                text = str(exc).strip().splitlines()
                raise ShipmentRefused(
                    f"--ship-data: the Dask workers could not take the data ({text[-1] if text else type(exc).__name__}); "
                    "they need the driver's dnn version and its dependencies"
                ) from None
            self.futures[key] = future
        return future


INCOMING = ".incoming-"  # a trial's files being written: .<n>.incoming-XXXX/, renamed to <n>/ once complete


def remove_incoming_leftovers(trials: Path) -> None:
    """Trial files a killed driver was writing (only a driver, holding the sweep's lock, writes them)."""
    if trials.is_dir():
        for leftover in trials.glob(f".*{INCOMING}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def place_trial_files(trial_dir: Path, sent: TrialFiles | None) -> Path | None:
    """Write a trial's files, sent back by a worker, as ``trial_dir`` (finished) or its
    ``.partial`` twin; the directory written (None: nothing was sent)."""
    if sent is None or not sent.files:
        return None
    finished = sent.finished
    target = trial_dir if finished else partial_path(trial_dir)
    trial_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{trial_dir.name}{INCOMING}", dir=trial_dir.parent))
    try:
        atomic.make_public(tmp)
        for name, content in sent.files.items():
            if "/" in name or name in ("", ".", ".."):
                raise DnnError(f"{trial_dir}: a worker sent a file named {name!r}, which no run writes")
            (tmp / name).write_bytes(content)
            atomic.make_public(tmp / name, 0o666)  # as a run writes its files
        for name in sent.files:
            with open(tmp / name, "rb") as written:
                os.fsync(written.fileno())
        old = None
        if target.exists():  # an earlier attempt's (a diverged run written again, say)
            old = trial_dir.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if finished:
        # an unfinished attempt of another dnn sweep run (without --ship-data) is superseded
        shutil.rmtree(partial_path(trial_dir), ignore_errors=True)
        point_latest(trial_dir)
    return target


def _size(n: int) -> str:
    return resources.describe_bytes(n) if n >= 1024**2 else f"{n:,} bytes"

