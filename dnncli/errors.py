"""Errors a user can cause, each with the exit code the command line documents.

Exit codes: 0 success, 1 a check or quality gate failed, 2 usage error or bad input,
3 training diverged or another runtime failure, 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

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
