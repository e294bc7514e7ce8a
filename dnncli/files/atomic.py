"""Atomic file writes: write beside the target, flush, fsync, rename.

A reader (or a crash at any moment) sees either the old file or the complete new one, never a
half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from dnncli.errors import IOFailure, io_failure


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    An I/O failure (no space, file too large, read-only, name too long, a file where the directory
    should be) becomes one line naming ``target`` (:func:`dnncli.errors.io_failure`); the previous
    ``target`` is left as it was."""
    target = Path(target)
    refuse_unless_regular(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_failure(exc, target.parent, "create the directory") from None
    remove_stale_temporaries(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=suffix + ".tmp", dir=target.parent)
    except OSError as exc:
        raise io_failure(exc, target, "write") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        refuse_unless_regular(target)  # again: something may have taken its place meanwhile
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except (OSError, RuntimeError) as exc:  # the writer's, or ours: a write that failed half-way is not kept
        system = system_error(exc)
        if system is None:
            raise
        raise io_failure(system, target, "write") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


_ERRNO_IN_TEXT = re.compile(r"errno = (\d+)")


def system_error(exc: BaseException) -> OSError | None:
    """The system's error behind a writer's exception: HDF5 reports "File too large" as a
    RuntimeError (or an OSError without errno) whose text holds ``errno = 27``; that errno, with
    the system's own words for it, so the message names the file and the cause, not HDF5's stack."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    found = _ERRNO_IN_TEXT.search(str(exc))
    if found:
        number = int(found.group(1))
        return OSError(number, os.strerror(number))
    return exc if isinstance(exc, OSError) else None


def refuse_unless_regular(target: Path) -> None:
    """Refuse to replace anything but a regular file (or a link to one): a device, a FIFO, a
    socket or a directory named as an output is the user's, never ours to turn into a file."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        if not target.is_symlink():
            return
        mode = target.lstat().st_mode  # a dangling link: replacing it would lose the user's link
    except OSError:
        return  # unreachable (a loop, no permission): the write itself names the problem
    if not stat.S_ISREG(mode):
        raise IOFailure(f"{target}: is {_kind(mode)}, not a regular file: refusing to replace it", 2)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a dangling link"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


STALE_SECONDS = 24 * 3600  # untouched this long, a temporary file's writer is long gone


def remove_stale_temporaries(target: Path) -> None:
    """Remove what a writer of ``target`` killed mid-write (SIGKILL, a power cut) left: our own
    temporary files beside it (``.NAME.*.tmp``), untouched for a day; a live writer keeps its
    file's time fresh, so a racing write is never disturbed."""
    prefix = f".{target.name[:200]}."
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(target: str | Path, writer: Callable[[Path], None], suffix: str = "") -> None:
    with atomic_path(target, suffix) as tmp:
        writer(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_public(path: Path, mode: int = 0o777) -> None:
    """Give a file or directory made by ``tempfile`` the permissions a plain one would have."""
    os.chmod(path, mode & ~_umask())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
