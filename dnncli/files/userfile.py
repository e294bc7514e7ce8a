"""Opening a file a user named (a table, a list of rows to predict) for reading, without letting the
name stand for something that is not a file of data.

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
            return error(f"{shown}: a symbolic link that leads nowhere, expected a {what}")
        return error(f"{shown}: no such {what}")
    if exc.errno == errno.ELOOP:
        return error(f"{shown}: a loop of symbolic links, expected a {what}")
    if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, a FIFO opened without a writer
        return error(f"{shown}: not a regular file (a pipe, socket or device), expected a {what}")
    return error(f"{shown}: cannot read: {printable(exc.strerror or str(exc))}")


def open_regular(path: str | Path, what: str = "file", error: type[DnnError] = DataError) -> BinaryIO:
    """``path`` opened for binary reading; refused in one line (``error``) when it is missing, a
    link that leads nowhere or loops, a directory, a FIFO, socket or device, or empty. ``what``
    names the kind of file expected ("CSV or Parquet table")."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(path, exc, what, error) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{printable(path)}: is a directory, expected a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{printable(path)}: not a regular file (a pipe, socket or device), expected a {what}")
        if info.st_size == 0:
            raise error(f"{printable(path)}: is empty (0 bytes), expected a {what}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
