"""What this machine gives a run, and the memory decisions taken from it.

Memory: the physical RAM, the memory available right now (``MemAvailable`` in ``/proc/meminfo``),
and the limits of the control groups the process runs in (cgroup v2 ``memory.max`` or v1
``memory.limit_in_bytes``, of its group and every ancestor). A container started with ``-m 2g``
on a 24 GB host has 2 GB, whatever ``/proc/meminfo`` says.

The training inputs are placed by ONE decision, :func:`place_training_inputs`, from
``data.memory_budget_mb`` resolved by :func:`memory_budget_bytes` (``auto``: half of the memory
available at the start): the float matrix when it fits the budget, else the examples as stored
(uint8) scaled a batch at a time, else (over the budget even as stored) left in the HDF5 file and
read batch by batch (:mod:`dnncli.data.columns`).

Memory estimates are checked before allocating, so an absurd size is refused with a clear line
instead of ending in a MemoryError (or the kernel's OOM killer) minutes later.

Every reading takes ``root`` (``/`` by default): a test points it at a made-up ``proc`` and
``sys/fs/cgroup`` tree.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

GIB = 1024**3
MB = 1_000_000
ROOT = Path("/")

# data.memory_budget_mb: auto is this share of the memory available when the run starts; the
# other half is left to the test and validation sets, activations, the Gram matrix, the rest of
# the machine
AUTO_BUDGET_SHARE = 0.5
# where the platform tells nothing about its memory
FALLBACK_AVAILABLE = 2 * GIB
# cgroup files write "no limit" as max or as a number near 2**63
NO_LIMIT = 1 << 60

# where the training inputs are kept (see place_training_inputs)
IN_MEMORY, AS_STORED, IN_FILE = "float", "stored", "file"


# ---- reading the machine -------------------------------------------------------------------


def physical_memory() -> int | None:
    """Total RAM in bytes, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _number(path: Path) -> int | None:
    """A cgroup file holding one number (None: absent, unreadable, or no limit)."""
    text = _read(path)
    if text is None:
        return None
    text = text.split()[0] if text.split() else ""
    if not text.lstrip("-").isdigit():
        return None  # "max"
    value = int(text)
    return value if 0 <= value < NO_LIMIT else None


def _stat_value(path: Path, *keys: str) -> int:
    """The first of ``keys`` in a ``memory.stat`` file (0 when absent)."""
    text = _read(path) or ""
    values = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
    for key in keys:
        if values.get(key, "").isdigit():
            return int(values[key])
    return 0


def mem_available(root: Path = ROOT) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes: free memory plus what the kernel can reclaim."""
    for line in (_read(root / "proc" / "meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * (1024 if parts[-1].lower() == "kb" else 1)
    return None


def _mounts(root: Path) -> list[tuple[str, Path, str, set[str]]]:
    """cgroup mounts as (root inside the hierarchy, mount point, fstype, super options)."""
    found = []
    for line in (_read(root / "proc" / "self" / "mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((fields[3], root / fields[4].lstrip("/"), tail[0], set(tail[2].split(","))))
    return found


def cgroup_dirs(controller: str, root: Path = ROOT) -> Iterator[Path]:
    """The directories of this process's control group for ``controller`` (``memory``, ``cpu``),
    from its own group up to the hierarchy's root: cgroup v2 and v1, as ``/proc/self/cgroup`` and
    ``/proc/self/mountinfo`` name them (a group that is not visible, as in a container whose
    namespace shows its own group as the root, is read at the mount point)."""
    groups: list[tuple[str, str]] = []  # (cgroup path, "v2" or "v1")
    for line in (_read(root / "proc" / "self" / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            groups.append((path, "v2"))
        elif controller in controllers.split(","):
            groups.append((path, "v1"))
    mounts = _mounts(root)
    seen: set[Path] = set()
    for path, version in groups:
        for mount_root, point, fstype, options in mounts:
            if version == "v2" and fstype != "cgroup2":
                continue
            if version == "v1" and (fstype != "cgroup" or controller not in options):
                continue
            relative = os.path.relpath(path, mount_root) if path.startswith(mount_root) else "."
            start = point if relative in (".", "") or relative.startswith("..") else point / relative
            if not start.is_dir():
                start = point
            directory = start
            while True:
                if directory not in seen:
                    seen.add(directory)
                    yield directory
                if directory == point or point not in directory.parents:
                    break
                directory = directory.parent


def cgroup_memory(root: Path = ROOT) -> tuple[int | None, int | None]:
    """``(limit, available)`` in bytes from the memory control groups: the smallest limit over
    the group and its ancestors, and the smallest ``limit - (usage - inactive file cache)``
    (page cache the kernel can drop is counted as available, as MemAvailable does). None: no limit."""
    limit = available = None
    for directory in cgroup_dirs("memory", root):
        if (directory / "memory.max").exists():  # v2
            cap, used = _number(directory / "memory.max"), _number(directory / "memory.current")
            cache = _stat_value(directory / "memory.stat", "inactive_file")
        else:  # v1
            cap, used = _number(directory / "memory.limit_in_bytes"), _number(directory / "memory.usage_in_bytes")
            cache = _stat_value(directory / "memory.stat", "total_inactive_file", "inactive_file")
        if cap is None:
            continue
        free = max(0, cap - max(0, (used or 0) - cache))
        limit = cap if limit is None else min(limit, cap)
        available = free if available is None else min(available, free)
    return limit, available


def available_memory(root: Path = ROOT) -> int | None:
    """Bytes this process can still use: the least of ``MemAvailable`` and what its control
    groups leave (None where the platform says neither)."""
    values = [v for v in (mem_available(root), cgroup_memory(root)[1]) if v is not None]
    return min(values) if values else None


def memory_capacity(root: Path = ROOT) -> int | None:
    """The most memory this process could ever have: physical RAM, or its cgroup limit if lower."""
    values = [v for v in (physical_memory(), cgroup_memory(root)[0]) if v is not None]
    return min(values) if values else None


def cpu_quota(root: Path = ROOT) -> float | None:
    """Cores' worth of CPU time the control groups allow (cgroup v2 ``cpu.max``, v1
    ``cpu.cfs_quota_us / cpu.cfs_period_us``; the least over the ancestors); None: no quota."""
    quota: float | None = None
    for directory in cgroup_dirs("cpu", root):
        text = _read(directory / "cpu.max")
        if text is not None:  # v2: "max 100000" or "150000 100000"
            parts = text.split()
            share = int(parts[0]) / int(parts[1]) if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and int(parts[1]) > 0 else None
        else:  # v1: a quota of -1 is none
            q, period = _number(directory / "cpu.cfs_quota_us"), _number(directory / "cpu.cfs_period_us")
            share = q / period if q is not None and q > 0 and period else None
        if share is not None:
            quota = share if quota is None else min(quota, share)
    return quota


# ---- the memory budget and where the training inputs go -------------------------------------


def memory_budget_bytes(setting: float | str, available: int | None = None) -> int:
    """``data.memory_budget_mb`` in bytes: a number of MB as given; ``auto``: half of the memory
    available now (``available``, or :func:`available_memory` when None), in whole MB."""
    if setting != "auto":
        return int(float(setting) * MB)
    if available is None:
        available = available_memory()
    if available is None:
        available = physical_memory() or FALLBACK_AVAILABLE
    return max(1, int(available * AUTO_BUDGET_SHARE) // MB) * MB


def stays_in_file(stored_bytes: int, budget: int) -> bool:
    """Whether examples taking ``stored_bytes`` as stored are left in their file (over the budget)."""
    return stored_bytes > budget


@dataclass(frozen=True)
class InputPlacement:
    """Where the training inputs live: ``float`` (the float matrix in memory), ``stored`` (the
    examples as stored, in memory, scaled a batch at a time) or ``file`` (read from the HDF5 file
    batch by batch), decided against ``budget`` bytes."""

    where: str
    budget: int
    float_bytes: int
    stored_bytes: int

    @property
    def floats_in_memory(self) -> bool:
        return self.where == IN_MEMORY

    def describe(self) -> str:
        what = {IN_MEMORY: "in memory as floats", AS_STORED: "in memory as stored, scaled a batch at a time",
                IN_FILE: "read from the file a batch at a time"}[self.where]
        return f"{what} ({self.float_bytes / MB:.0f} MB as floats, memory budget {self.budget / MB:.0f} MB)"


def place_training_inputs(
    m: int, n_x: int, stored_itemsize: int, float_itemsize: int, budget: int, *, in_file: bool = False
) -> InputPlacement:
    """The one decision on the training inputs: the ``(n_x, m)`` float matrix when it fits
    ``budget`` bytes, else the examples as stored when those fit, else in the file (``in_file``:
    the loader already left them there, by :func:`stays_in_file`)."""
    float_bytes = int(m) * int(n_x) * int(float_itemsize)
    stored_bytes = int(m) * int(n_x) * int(stored_itemsize)
    if in_file or stays_in_file(stored_bytes, budget):
        where = IN_FILE
    elif float_bytes <= budget:
        where = IN_MEMORY
    else:
        where = AS_STORED
    return InputPlacement(where, int(budget), float_bytes, stored_bytes)


# a scoring pass whose activations would exceed the memory budget goes this many examples at a time
SCORE_BLOCK = 4096


def score_block(layer_sizes: list[int], m: int, itemsize: int, budget: int) -> int | None:
    """Examples a scoring pass over the training set (a history row's cost, the final metrics)
    takes at once: all of them (None) while what the pass holds over the ``m`` examples fits
    ``budget`` bytes (every layer's Z and A, and the next layer's temporaries: four values a unit,
    as measured), else :data:`SCORE_BLOCK`, keeping only the outputs (825,600 rows of a table
    through two layers of 64 units peaked at 3.8 GB beside their 92 MB of inputs)."""
    held = 4 * sum(int(n) for n in layer_sizes[1:]) * int(m) * int(itemsize)
    return None if held <= budget else SCORE_BLOCK


# ---- estimates checked before allocating ----------------------------------------------------


def parameter_count(layer_sizes: list[int]) -> int:
    return sum(n * n_prev + n for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:]))


def training_bytes(
    layer_sizes: list[int], m: int, itemsize: int, batch: int | None = None, input_columns: int | None = None
) -> int:
    """A lower bound on what training needs: the inputs (``input_columns`` of them held as floats:
    all ``m`` unless they are scaled a batch at a time) and targets in columns, the parameters,
    their gradients, up to two optimizer slots (Adam), the two snapshots kept for a divergence
    (:mod:`dnncli.run.supervisor`), and Z and A of every layer for a batch."""
    columns = batch if batch else m
    held = m if input_columns is None else min(input_columns, m)
    data = layer_sizes[0] * held + layer_sizes[-1] * m
    params = 6 * parameter_count(layer_sizes)
    activations = 2 * sum(layer_sizes[1:]) * columns
    return itemsize * (data + params + activations)


def describe_bytes(n: int) -> str:
    if n >= GIB:
        return f"{n / GIB:.3g} GiB"
    return f"{n / 1024**2:.3g} MiB"


def fits_in_memory(n_bytes: int) -> bool:
    total = memory_capacity()
    return total is None or n_bytes <= total


def cores_from_quota(quota: float | None, cores: int) -> int:
    """``cores``, at most the whole cores a CPU quota allows (at least one)."""
    if quota is None:
        return max(1, cores)
    return max(1, min(cores, math.floor(quota + 1e-9)))
