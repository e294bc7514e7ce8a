"""The lock of a run directory: an exclusive ``flock`` on ``<directory>/.lock`` held by the one
process writing it (the kernel lets go when that process dies, so a killed run never leaves a
stale lock), and a probe for whether another process holds it (``dnn runs``, a sweep's trials).
Light on purpose: listing runs must not import the training code."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path

from dnncli.errors import RunDirError, io_failure

LOCK_NAME = ".lock"
_HELD = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class RunLock:
    """An exclusive ``flock`` on ``<directory>/.lock``, held while a process writes the directory."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def acquire(cls, directory: Path) -> "RunLock":
        path = directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise io_failure(exc, path, "create the lock file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _HELD:
                raise RunDirError(f"{directory}: cannot lock: {exc.strerror}") from None
            raise RunDirError(
                f"{directory}: in use by another dnn train{_owner(path)}; wait for it to finish "
                "or choose another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd, path)

    def release(self, remove: bool = False) -> None:
        if self.fd < 0:
            return
        if remove:  # only once the directory can no longer be taken for an unfinished run
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


def _owner(lock_file: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(lock_file.read_text().strip())
        return f" (pid {pid})"
    return ""


def held_elsewhere(directory: Path, wait_seconds: float = 0.0) -> bool:
    """Whether another process holds ``directory``'s lock (a run writing it), after waiting up to
    ``wait_seconds`` for it to let go; False without a lock file. Probes with a shared lock on a
    read-only descriptor: it needs no write access, and taking it for an instant disturbs no one."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fd = os.open(directory / LOCK_NAME, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError as exc:
            if exc.errno not in _HELD:
                return False  # a file system without flock: nobody can hold it either
        finally:
            os.close(fd)  # closing releases the shared lock if we took it
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)
