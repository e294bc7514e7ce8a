"""Errors a user can cause, each with the exit code the command line documents.

Exit codes: 0 success, 1 a check or quality gate failed, 2 usage error or bad input,
3 training diverged or another runtime failure, 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

import errno

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the program reading our stdout exited first
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class DnnError(Exception):
    """An error with a one-line message meant for the user, and an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(DnnError):
    """The YAML config, or an override of it, is malformed or impossible."""


class DataError(DnnError):
    """A data file is missing, unreadable or does not fit the model."""


class ModelFileError(DnnError):
    """A model file is missing, corrupt or from an incompatible version."""


class RunDirError(DnnError):
    """The run directory cannot be used (exists, locked, not writable)."""


class TrainingDiverged(DnnError):
    """The cost or the parameters stopped being finite."""

    exit_code = EXIT_RUNTIME


class CheckFailed(DnnError):
    """A gradient check or a quality gate did not pass."""

    exit_code = EXIT_CHECK_FAILED


class Interrupted(DnnError):
    """SIGINT or SIGTERM stopped training (after a checkpoint); exit 130 or 143."""

    exit_code = EXIT_SIGINT


class IOFailure(DnnError):
    """A file could not be written or read: the device is full, the file too large, the name too
    long, the file system read-only (exit 3); or the place given cannot hold it (exit 2)."""

    exit_code = EXIT_RUNTIME


# the place named is wrong (a file where a directory belongs, no permission): the user's input
_BAD_PLACE = {
    errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOENT, errno.ELOOP,
}


def io_failure(exc: OSError, path: object, operation: str) -> IOFailure:
    """One line naming ``path`` and the ``operation`` that failed, and why; exit 2 when the place
    given is unusable, 3 when the system failed (no space, file too large, name too long,
    read-only file system, I/O error)."""
    reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    code = EXIT_BAD_INPUT if exc.errno in _BAD_PLACE else EXIT_RUNTIME
    where = f"{path}: " if path not in (None, "") else ""
    return IOFailure(f"{where}cannot {operation}: {reason}", code)
