"""The header every HDF5 file dnn writes carries: a format name and version, and the tool's version.

A reader refuses a file of another format, or of a newer version than it knows, in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnncli import __version__
from dnncli.errors import DnnError


def check_format(
    attrs: dict[str, Any], path: Path, name: str, version: int, what: str, error: type[DnnError]
) -> int:
    """The file's format version, or ``error`` if it is not a ``name`` file this dnn can read."""
    if attrs.get("format") != name:
        raise error(f"{path}: not a dnn {what} (no 'format = {name}' attribute)")
    found = int(attrs.get("format_version", 0))
    if found > version:
        raise error(
            f"{path}: written by dnn {attrs.get('tool_version', '?')} in {what} format {found}; "
            f"this dnn ({__version__}) reads format {version}: upgrade dnn"
        )
    return found
