"""Memory estimates checked before allocating, so an absurd size is refused with a clear line
instead of ending in a MemoryError (or the kernel's OOM killer) minutes later."""

from __future__ import annotations

import os

GIB = 1024**3


def physical_memory() -> int | None:
    """Total RAM in bytes, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


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
    total = physical_memory()
    return total is None or n_bytes <= total
