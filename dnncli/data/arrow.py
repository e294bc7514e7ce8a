"""pyarrow, imported on first use.

Importing pyarrow with its compute, CSV and Parquet modules takes about 0.2 s, and most runs never
touch a table (HDF5 sets, folders of images, a sweep's driver, ``dnn predict image.png``): the
modules below stand for ``pyarrow``, ``pyarrow.compute``, ``pyarrow.csv`` and
``pyarrow.parquet``, and import them when a table is first read or written.
"""

from __future__ import annotations

import importlib
from typing import Any


class _OnFirstUse:
    """A module imported the first time one of its attributes is read; each attribute, once read,
    is kept here, so later reads cost what a module's do."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<{self.__name__}, imported on first use>"


pa: Any = _OnFirstUse("pyarrow")
pc: Any = _OnFirstUse("pyarrow.compute")
pa_csv: Any = _OnFirstUse("pyarrow.csv")
pq: Any = _OnFirstUse("pyarrow.parquet")
