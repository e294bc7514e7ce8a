"""Rich consoles for stdout (results) and stderr (progress, logs): colour only on a terminal,
and with ``NO_COLOR`` set no colour, bold or italic at all."""

from __future__ import annotations

import os


def _console(stderr: bool):  # -> rich.console.Console
    from rich.console import Console

    # rich drops only colours for NO_COLOR; plain text means no bold or italic codes either
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, highlight=False, soft_wrap=True, color_system=None if plain else "auto")


def stderr_console():  # -> rich.console.Console
    return _console(stderr=True)


def stdout_console():
    return _console(stderr=False)
