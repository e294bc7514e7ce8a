"""The header every HDF5 file dnn writes carries: a format name and version, and the tool's version.

A reader refuses a file of another format, or of a newer version than it knows, in one line.
Model files and checkpoints both write it with :func:`write_format` and read it with
:func:`check_format`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnncli import __version__
from dnncli.errors import DnnError


def write_format(attrs: Any, name: str, version: int, tool_version: str = __version__) -> None:
    """Stamp an open HDF5 file's attributes with the format's name and version and the tool's."""
    attrs["format"] = name
    attrs["format_version"] = version
    attrs["tool_version"] = tool_version


def check_format(
    attrs: dict[str, Any], path: Path, name: str, version: int, what: str, error: type[DnnError]
) -> int:
    """The file's format version, or ``error`` if it is not a ``name`` file this dnn can read."""
    if attrs.get("format") != name:
        raise error(f"{path}: not a dnn {what} (no 'format = {name}' attribute)")
    raw = attrs.get("format_version", 0)
    try:
        found = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{path}: format_version = {str(raw)[:40]!r} is not a version number") from None
    if found > version:
        raise error(
            f"{path}: written by dnn {str(attrs.get('tool_version', '?'))[:40]} in {what} format {found}; "
            f"this dnn ({__version__}) reads format {version}: upgrade dnn"
        )
    return found
