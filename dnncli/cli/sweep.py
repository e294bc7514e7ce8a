"""``dnn sweep``."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, handle_errors, print_json, warn
from dnncli.compute.threads import capped_jobs
from dnncli.errors import DnnError
from dnncli.sweep import display, results
from dnncli.sweep.driver import SHIP_WITHOUT_SCHEDULER, require, run_sweep
from dnncli.sweep.spec import load_sweep
from dnncli.terminal.console import stderr_console, stdout_console
from dnncli.terminal.display import escape_controls

app = command_app()


@app.command()
@handle_errors
def sweep(
    sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP_FILE", help="YAML sweep file: base config, metric, sampler, trials, space.", show_default=False)],
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Trials at once (default: the cores; with --scheduler: the cluster's worker threads). Each local trial gets cores / jobs BLAS threads.", show_default=False)] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", metavar="ADDRESS", help="Run the trials on a Dask cluster, e.g. tcp://HOST:8786 (workers must see the data and the sweep directory at the same paths, or use --ship-data).", show_default=False)] = None,
    ship_data: Annotated[bool, typer.Option("--ship-data", help="With --scheduler: read the data here and send the arrays to the workers once; they train in a private directory and send each trial's files back (workers need none of this machine's files; the data must fit in data.memory_budget_mb; an interrupted trial starts again instead of resuming).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the trials as a JSON array on stdout, nothing else.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live table or messages on stderr.")] = False,
) -> None:
    """Train many variants of a config and find the best: grid, random or TPE search (Optuna).

    [bold]Example:[/bold] dnn sweep sweep.yaml --jobs 2

    Writes sweeps/<name>/: study.db (the Optuna study), trials/<n>/ (one ordinary run directory
    each), results.csv, best.yaml (the base config with the best parameters) and sweep.png. Stopped
    by Ctrl-C, SIGTERM or SIGKILL, the same command continues where it was.
    """
    if ship_data and not scheduler:
        raise DnnError(SHIP_WITHOUT_SCHEDULER)
    require("optuna", *(["distributed"] if scheduler else []))
    spec = load_sweep(sweep_file)
    if not scheduler:  # a cluster's own threads bound its --jobs
        jobs, capped = capped_jobs(jobs)
        spec.notes += [capped] if capped else []
    for note in spec.notes:
        warn(note, quiet)
    shown = display.SweepDisplay(stderr_console(), live=sys.stderr.isatty(), quiet=quiet)
    outcome = run_sweep(spec, jobs=jobs, scheduler=scheduler, events=shown, ship_data=ship_data)
    if json_output:
        print_json(results.summary(spec, outcome.records, outcome.best, outcome.importance))
        return
    console = stdout_console()
    console.print(display.trials_table(spec, outcome.records, outcome.best))
    if outcome.best is not None:
        console.print(escape_controls(f"{results.best_text(spec, outcome.best, outcome.records)}; its config: "
                                      f"{spec.directory / 'best.yaml'}"), markup=False, highlight=False)
