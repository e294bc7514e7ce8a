"""``dnn runs``."""

import sys
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, handle_errors
from dnncli.run.listing import list_runs, output_format
from dnncli.terminal.console import stdout_console

app = command_app()


@app.command()
@handle_errors
def runs(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="DIR | compare RUN RUN", help="A directory of runs (default: runs/) or a sweep's directory; or compare and two or more run directories.", show_default=False)] = None,
    sort: Annotated[Optional[str], typer.Option("--sort", metavar="KEY", help="Sort by a metric (best first), a setting (training.learning_rate), name, date or status.", show_default=False)] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout instead of a table.")] = False,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="A,B,...", help="The table's columns, by header or key (e.g. name,status,learning_rate,val_accuracy). Default: name and status, then what fits the terminal (80 columns in a pipe); --csv and --json have them all.", show_default=False)] = None,
) -> None:
    """List runs (name, date, status, the settings that differ, final metrics), or compare some.

    [bold]Example:[/bold] dnn runs --sort test_accuracy; dnn runs sweeps/lr --csv; dnn runs compare runs/a runs/b
    """
    shown_as = output_format(json_output, csv_output)
    listing = list_runs(args or [], sort, reverse)
    if shown_as != "table":
        sys.stdout.write(listing.text(shown_as))
    elif listing.runs or listing.compared:
        console = stdout_console()
        table, left_out = listing.table(console.width, columns.split(",") if columns else None)
        console.print(table, width=None if not columns else max(console.width, 10_000), crop=False)
        if left_out:
            sys.stderr.write(f"({len(left_out)} more columns: {', '.join(left_out)}; --columns to choose, --csv for all)\n")
    else:
        sys.stderr.write(f"no runs in {listing.directory}\n")
