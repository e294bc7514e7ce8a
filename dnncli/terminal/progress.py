"""Progress on stderr: a transient bar on a terminal, plain lines elsewhere, durations as text.
A training run's progress (a hook of the training loop) is :mod:`dnncli.run.progress`."""

from __future__ import annotations

import sys
from typing import Any, Self, TextIO

from dnncli.terminal.console import stderr_console


def duration(seconds: float) -> str:
    """``12.3s``, ``4m05s``, ``2h07m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class StderrBar:
    """A transient rich bar on stderr when ``bar`` is set (on a terminal), and lines that do not
    tear it (plain text: never read as markup); without a bar, plain lines on ``stream``."""

    bar: Any = None
    stream: TextIO | None = None

    def __enter__(self) -> Self:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()


class CountProgress(StderrBar):
    """Files done out of a total (``dnn data import``): a bar only on a terminal when shown."""

    def __init__(self, label: str, show: bool) -> None:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(label, markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("left"), TimeRemainingColumn(), console=stderr_console(), transient=True,
            )
            self.task = self.bar.add_task(label, total=None)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def line(self, text: str) -> None:
        self._print(text)
