"""Opening a file a user named (a table, an image, a run's metrics.json, a config) for reading,
without letting the name stand for something that is not a file of data: the one place that does.

The name is followed as any program follows it (a symbolic link to a file elsewhere is read as
that file: the user named it), but what is opened must be a regular file with bytes in it: a FIFO
or a socket would be read forever (or block the open itself), a device such as ``/dev/zero`` or
``/dev/urandom`` never ends, a directory is not a file, and ``/proc`` files report 0 bytes yet hold
the process's environment. The file is opened first (without blocking, so a FIFO with no writer
cannot hang us) and the open descriptor is checked, so nothing can swap the file between the
check and the read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from dnncli.errors import DataError, DnnError
from dnncli.terminal.display import printable


def _open_error(path: Path, exc: OSError, what: str, error: type[DnnError]) -> DnnError:
    shown = printable(path)
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            return error(f"{shown}: a symbolic link that leads nowhere, expected {what}")
        return error(f"{shown}: no such {what.removeprefix('an ').removeprefix('a ')}")
    if exc.errno == errno.ELOOP:
        return error(f"{shown}: a loop of symbolic links, expected {what}")
    if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, a FIFO opened without a writer
        return error(f"{shown}: not a regular file (a pipe, socket or device), expected {what}")
    return error(f"{shown}: cannot read: {printable(exc.strerror or str(exc))}")


def open_regular(
    path: str | Path, what: str = "a file", error: type[DnnError] = DataError, *,
    max_bytes: int | None = None, allow_empty: bool = False,
) -> BinaryIO:
    """``path`` opened for binary reading; refused in one line (``error``) when it is missing, a
    link that leads nowhere or loops, a directory, a FIFO, socket or device, empty (unless
    ``allow_empty``) or over ``max_bytes``. ``what`` names the kind of file expected, with its
    article ("a CSV or Parquet table")."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(path, exc, what, error) from None
    try:
        _check_opened(path, os.fstat(fd), what, error, max_bytes, allow_empty)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_opened(
    path: Path, info: os.stat_result, what: str, error: type[DnnError], max_bytes: int | None, allow_empty: bool
) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{printable(path)}: is a directory, expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{printable(path)}: not a regular file (a pipe, socket or device), expected {what}")
    if info.st_size == 0 and not allow_empty:
        raise error(f"{printable(path)}: is empty (0 bytes), expected {what}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{printable(path)}: {info.st_size:,} bytes is too large for {what} (limit {max_bytes:,})")


def read_regular(
    path: str | Path, max_bytes: int, what: str = "a file", error: type[DnnError] = DataError, *,
    allow_empty: bool = False,
) -> bytes:
    """The bytes of ``path``, read once, at most ``max_bytes`` (one that grew past it since it was
    checked is refused too); refused in one line as :func:`open_regular` says."""
    with open_regular(path, what, error, max_bytes=max_bytes, allow_empty=allow_empty) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{printable(path)}: cannot read: {printable(exc.strerror or str(exc))}") from None
    if len(data) > max_bytes:
        raise error(f"{printable(path)}: more than {max_bytes:,} bytes is too large for {what}")
    return data


def read_regular_text(path: str | Path, max_bytes: int, error: type[DnnError], what: str = "a file") -> str:
    """A small text file a user or another program may have tampered with (a run's
    ``metrics.json``, ``config.yaml``, ``history.csv``, a config): its UTF-8 text, or ``error`` in
    one line. An empty file is text."""
    data = read_regular(path, max_bytes, what, error, allow_empty=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{printable(path)}: not a text file, expected {what}") from None
