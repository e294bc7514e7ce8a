"""stdout and stderr that fail the way the exit codes say.

* **stdout carries the results**: if it is closed (``dnn predict ... >&-``) or cannot be written
  (``> /dev/full``: no space left), the command fails with its own error, exit 3, one line on
  stderr, instead of exiting 0 with the results lost or ending in an internal error.
  A reader that went away (``| head``) stays a broken pipe (exit 141, see :mod:`dnncli.cli.common`).
* **stderr carries messages, best effort**: when it is closed or full, messages are dropped and
  the exit code stays the one the failure deserves (never 1 or 120 because a message could not
  be written).
* Text that cannot be encoded for the stream (a file name that is not UTF-8 on a strict UTF-8
  stdout) is written with backslash escapes rather than failing.

:func:`guarded_streams` installs both for the duration of a command.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any, Iterator

from dnncli.errors import EXIT_RUNTIME, DnnError


class OutputError(DnnError):
    """The results could not be written to standard output."""

    exit_code = EXIT_RUNTIME


def stdout_closed() -> OutputError:
    return OutputError(
        "standard output is closed, so the results cannot be written; redirect it to a file "
        "(> results.txt) or to /dev/null"
    )


def _silence(fd: int) -> None:
    """Point ``fd`` at /dev/null, so that what is still buffered for it can be flushed at exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class _Guarded:
    """A text stream wrapper: everything not overridden is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _encodable(self, text: str) -> str:
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


class GuardedStdout(_Guarded):
    """Write failures other than a broken pipe become :class:`OutputError` (exit 3)."""

    def _fail(self, exc: OSError) -> OutputError:
        fd = _fileno(self._stream)
        if fd is not None:
            _silence(fd)  # what stays buffered must not fail again at exit
        reason = exc.strerror or str(exc) or type(exc).__name__
        return OutputError(f"cannot write the results to standard output: {reason}")

    def write(self, text: str) -> int:
        try:
            raw = self._unbuffered()
            if raw is not None:
                return self._write_all(raw, text)
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                return self._stream.write(self._encodable(text))
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: written after being closed
            raise self._fail(exc if isinstance(exc, OSError) else OSError(errno.EBADF, "closed")) from None

    def _unbuffered(self) -> io.RawIOBase | None:
        """The raw file under an unbuffered stdout (``python -u``, ``PYTHONUNBUFFERED``), whose
        short writes (a file-size limit reached half-way) the text layer would silently drop."""
        buffer = getattr(self._stream, "buffer", None)
        return buffer if isinstance(buffer, io.RawIOBase) else None

    def _write_all(self, raw: io.RawIOBase, text: str) -> int:
        """Every byte of ``text`` or an OSError: a short write is retried, so that the next
        attempt reports why the rest could not be written (``File too large``)."""
        self._stream.flush()
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        view = memoryview(text.encode(encoding, "backslashreplace"))
        while view:
            written = raw.write(view)
            if not written:  # None (would block) or 0: nothing more will go
                raise OSError(errno.EIO, "the results could not be written in full")
            view = view[written:]
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise self._fail(exc if isinstance(exc, OSError) else OSError(errno.EBADF, "closed")) from None


class GuardedStderr(_Guarded):
    """Messages are best effort: a closed or full stderr drops them and nothing else changes."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.broken = False

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        try:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                return self._stream.write(self._encodable(text))
        except (OSError, ValueError):
            self._give_up()
            return len(text)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        fd = _fileno(self._stream)
        if fd is not None:
            _silence(fd)


class _NullStderr:
    """Stands for a stderr that was closed before we started (``sys.stderr is None``)."""

    broken = True
    encoding = "utf-8"

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` fail as described above."""
    old_out, old_err = sys.stdout, sys.stderr
    if old_out is not None and not isinstance(old_out, GuardedStdout):
        sys.stdout = GuardedStdout(old_out)
    if old_err is None:
        sys.stderr = _NullStderr()
    elif not isinstance(old_err, GuardedStderr):
        sys.stderr = GuardedStderr(old_err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old_out, old_err


def write_stderr(line: str) -> None:
    """One line on stderr, best effort (never raises)."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(line if line.endswith("\n") else line + "\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass
