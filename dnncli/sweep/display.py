"""What a sweep shows while it runs (stderr) and at the end (stdout).

On a terminal: a live table of the latest trials (number, parameters, metric, state) under a line
with the progress and the best so far. Elsewhere (a pipe, a log file): one line per finished
trial. ``--quiet``: nothing.
"""

from __future__ import annotations

import time
from typing import Any

from dnncli.sweep.results import TrialRecord, best_record, format_value
from dnncli.sweep.spec import Sweep
from dnncli.terminal.display import escape_controls, shown

LIVE_ROWS = 15
STATE_STYLE = {"complete": "green", "running": "cyan", "pruned": "yellow", "failed": "red", "interrupted": "magenta"}


def _short(key: str) -> str:
    return key.split(".", 1)[-1]


def _value_text(record: TrialRecord) -> str:
    """The trial's metric, with its spread over the seeds (seeds > 1)."""
    text = format_value(record.value)
    return f"{text} ± {record.spread:.2g}" if record.spread is not None and record.value is not None else text


def trials_table(
    sweep: Sweep, records: list[TrialRecord], best: TrialRecord | None, running_since: dict[int, float] | None = None
) -> Any:
    from rich.table import Table

    headers = ["trial", *[_short(p.key) for p in sweep.params], sweep.metric, "seconds", "state"]
    rows = []
    for r in records:
        marker = " *" if best is not None and r.number == best.number else ""
        state = r.state
        if r.state == "failed" and r.error:
            state += f": {r.error[:60]}"
        seconds = r.seconds
        if r.state == "running" and running_since and r.number in running_since:
            seconds = round(time.perf_counter() - running_since[r.number], 1)
        rows.append([
            f"{r.number}{marker}", *[format_value(r.params.get(p.key)) for p in sweep.params],
            _value_text(r), format_value(seconds), state,
        ])
    # every cell shown literally (values and messages may come from files: no markup, no controls)
    cells = [[escape_controls(cell) for cell in row] for row in rows]
    table = Table(header_style="bold")
    # never squeezed into "…": a wide table is wider than the terminal, not unreadable
    for i, header in enumerate(headers):
        width = max([len(header)] + [len(row[i]) for row in cells])
        table.add_column(shown(header), justify="left" if i == len(headers) - 1 else "right", no_wrap=True,
                         min_width=width)
    for row, record in zip(cells, records):
        table.add_row(*[shown(c) for c in row[:-1]], shown(row[-1], STATE_STYLE.get(record.state, "")))
    return table


def summary_line(sweep: Sweep, records: list[TrialRecord], planned: int) -> str:
    done = sum(r.state in ("complete", "pruned", "failed") for r in records)
    running = sum(r.state == "running" for r in records)
    best = best_record(sweep, records)
    line = f"sweep {sweep.name}: {done}/{planned} trials done, {running} running"
    if best is not None:
        line += f"; best {sweep.metric} {best.value:.4g} (trial {best.number})"
    return line


class SweepDisplay:
    """The driver's events, rendered on stderr."""

    def __init__(self, console: Any, live: bool, quiet: bool) -> None:
        self.console, self.quiet = console, quiet
        self.live_enabled = live and not quiet
        self.live: Any = None
        self.records: dict[int, TrialRecord] = {}
        self.sweep: Sweep | None = None
        self.planned = 0
        self.started_at = time.perf_counter()
        self.running_since: dict[int, float] = {}

    def begin(self, sweep: Sweep, records: dict[int, TrialRecord], planned: int) -> None:
        self.sweep, self.records, self.planned = sweep, records, planned
        done = sum(r.state in ("complete", "pruned", "failed") for r in records.values())
        if not self.quiet:
            where = f"{sweep.directory}"
            again = f", {done} finished before" if done else ""
            self.console.print(escape_controls(f"sweep {sweep.name}: {planned} trials ({sweep.sampler}) in {where}{again}"),
                               markup=False, highlight=False)
        if self.live_enabled:
            from rich.live import Live

            # Live renders this object again at every refresh (__rich__): the clocks keep moving
            self.live = Live(self, console=self.console, transient=True, refresh_per_second=2)
            self.live.start()

    def __rich__(self) -> Any:
        return self._render()

    def _render(self) -> Any:
        from rich.console import Group

        assert self.sweep is not None
        records = [self.records[n] for n in sorted(self.records)]
        best = best_record(self.sweep, records)
        running = [r for r in records if r.state == "running"]
        latest = (running + [r for r in records if r.state != "running"][::-1])[:LIVE_ROWS]
        latest.sort(key=lambda r: r.number)
        return Group(
            shown(summary_line(self.sweep, records, self.planned) + f" ({time.perf_counter() - self.started_at:.0f} s)"),
            trials_table(self.sweep, latest, best, self.running_since),
        )

    def started(self, record: TrialRecord) -> None:
        self.running_since[record.number] = time.perf_counter()
        if self.live is not None:
            self.live.refresh()

    def note(self, line: str) -> None:
        """A line a trial's run wrote on stderr (a warning), shown once, above the live table."""
        if not self.quiet:
            self.console.print(escape_controls(line), markup=False, highlight=False)

    def finished(self, record: TrialRecord) -> None:
        self.running_since.pop(record.number, None)
        if self.live is not None:
            self.live.refresh()
        elif not self.quiet and self.sweep is not None:
            params = " ".join(f"{_short(k)}={format_value(v)}" for k, v in record.params.items())
            value = f" {self.sweep.metric}={_value_text(record)}" if record.value is not None else ""
            error = f" ({record.error})" if record.error and record.state != "complete" else ""
            done = sum(r.state in ("complete", "pruned", "failed") for r in self.records.values())
            self.console.print(
                escape_controls(f"trial {record.number} {record.state}: {params}{value}, "
                                f"{format_value(record.seconds)} s{error} [{done}/{self.planned}]"),
                markup=False, highlight=False,
            )

    def end(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
