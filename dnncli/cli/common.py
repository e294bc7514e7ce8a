"""What the commands share: the library's errors as one line on stderr and the documented exit
code, Python's warnings as one line, the options several commands take, and results on stdout."""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, NoReturn, Optional

import typer
from rich.console import RenderableType

from dnncli.errors import EXIT_BROKEN_PIPE, EXIT_RUNTIME, EXIT_SIGINT, DnnError, io_failure
from dnncli.terminal.console import stdout_console
from dnncli.terminal.display import escape_controls
from dnncli.terminal.streams import guarded_streams, stdout_closed, write_stderr
from dnncli.terminal.text import to_json


def command_app(**settings: Any) -> typer.Typer:
    """The Typer app of one command's module (or of a group: ``data``, ``plot``). The root app
    (:mod:`dnncli.cli.app`) lends the commands its completion options and help flags."""
    return typer.Typer(add_completion=False, **settings)


# ---- errors and warnings -----------------------------------------------------------------------


def error_line(message: str) -> None:
    """``error: ...`` on stderr (control characters escaped: it may quote a file's content or name)."""
    write_stderr(f"error: {escape_controls(message)}")


def fail(message: str, code: int) -> NoReturn:
    """One error line, then exit with ``code``, whether or not the line could be written."""
    error_line(message)
    raise typer.Exit(code)


def warn(message: str, quiet: bool = False) -> None:
    """``warning: ...`` on stderr, unless ``quiet``."""
    if not quiet:
        write_stderr(f"warning: {escape_controls(message)}")


def note(message: str, quiet: bool = False) -> None:
    """A line for people on stderr (which model was read, which file was written), unless ``quiet``."""
    if not quiet:
        write_stderr(escape_controls(message))


def _one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Python's warnings (NumPy's "overflow encountered in ...") as one line, not two with code."""
    text = str(message).strip().splitlines()
    warn(text[0] if text else category.__name__)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one line on stderr and the documented exit code; make a
    closed or full stdout an error of its own (exit 3) and a closed or full stderr harmless."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guarded_streams(), warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            try:
                if sys.stdout is None:
                    raise stdout_closed()
                result = command(*args, **kwargs)
                sys.stdout.flush()  # a full stdout fails here, inside the handler, not at exit
                return result
            except DnnError as exc:
                fail(exc.message, exc.exit_code)
            except KeyboardInterrupt:
                fail("interrupted", EXIT_SIGINT)
            except BrokenPipeError:
                # The reader went away (`dnn predict ... | head`): stop quietly, as `cat` would.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise typer.Exit(EXIT_BROKEN_PIPE)
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except MemoryError:
                fail("out of memory; try a smaller network, fewer examples or float32", EXIT_RUNTIME)
            except OSError as exc:  # an I/O failure no writer named: still one line with the file
                failure = io_failure(exc, exc.filename, "read or write")
                fail(failure.message, failure.exit_code)
            except Exception as exc:  # a bug of ours: still one line, the traceback on request
                if os.environ.get("DNN_DEBUG"):
                    raise
                fail(
                    f"internal error: {type(exc).__name__}: {exc} (set DNN_DEBUG=1 for the traceback)",
                    EXIT_RUNTIME,
                )

    return wrapper


# ---- options ---------------------------------------------------------------------------------

ModelOption = Annotated[
    Optional[Path],
    typer.Option(
        "--model", "-m", envvar="DNN_MODEL", show_default=False,
        help="Model file or run directory (default: $DNN_MODEL, else runs/latest).",
    ),
]


def finite(value: Optional[float]) -> Optional[float]:
    """Typer's min/max let NaN through (every comparison with it is false), and inf past max=None."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


# ---- results on stdout -----------------------------------------------------------------------


def print_json(payload: Any) -> None:
    """``payload`` as JSON on stdout (NaN and infinity as null)."""
    sys.stdout.write(to_json(payload) + "\n")


def print_all(renderables: list[RenderableType]) -> None:
    """Tables (and text) for people on stdout, one after another."""
    console = stdout_console()
    for renderable in renderables:
        console.print(renderable)
