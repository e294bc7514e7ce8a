"""Small text files a user or another program may have tampered with (a run's ``metrics.json``
and ``config.yaml``, ``history.csv``, a config): regular files only, of a bounded size.

A FIFO would make a plain ``open`` wait forever for a writer, a link to ``/dev/zero`` would read
until memory runs out: the file is opened without waiting (``O_NONBLOCK``) and its kind and size
are checked on the descriptor opened, before a byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dnncli.errors import DnnError


def read_regular_text(path: str | Path, max_bytes: int, error: type[DnnError], what: str = "file") -> str:
    """The text of ``path``, or ``error`` in one line: no such file, not a regular file (a FIFO,
    socket, device or directory), more than ``max_bytes``, not UTF-8, unreadable."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: is a directory, expected a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file (a FIFO, socket or device), expected a {what}")
        if info.st_size > max_bytes:
            raise error(f"{path}: {info.st_size:,} bytes is too large for a {what} (limit {max_bytes:,})")
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew since it was checked
        raise error(f"{path}: more than {max_bytes:,} bytes is too large for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file, expected a {what}") from None
