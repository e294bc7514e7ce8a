"""``dnn train``."""

import enum
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, handle_errors, print_json, warn
from dnncli.cli.render import training_summary
from dnncli.run.launch import TrainRequest, check_strict, findings, launch_training, requested_config
from dnncli.terminal.console import stdout_console

app = command_app()


class PictureFormat(str, enum.Enum):
    png = "png"
    svg = "svg"


@app.command()
@handle_errors
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config file.", show_default=False)] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key, e.g. training.learning_rate=0.01 (repeatable)."),
    ] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config and stop.")] = False,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Write the run here instead of <output.dir>/<name>[-N].")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing dnn run directory (never anything dnn did not write).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout, nothing else.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print 'Cost after iteration N: ...' lines on stderr.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, log lines or warnings on stderr.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when training ends with a warning (cost rose, accuracy at chance): for CI.")] = False,
    resume: Annotated[
        Optional[Path],
        typer.Option("--resume", metavar="RUN_DIR", help="Continue an interrupted run (runs/<name>.partial) from its checkpoint."),
    ] = None,
    plot_format: Annotated[
        Optional[PictureFormat],
        typer.Option("--plot-format", help="Pictures as png (default) or svg (sets output.plot).", show_default=False),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no pictures, and do not load matplotlib (output.plot=none).")] = False,
) -> None:
    """Train the network a YAML config describes and write its run directory.

    [bold]Example:[/bold] dnn train configs/cat_deep.yaml --set training.iterations=500

    The run directory (runs/<name>/, numbered if it exists) holds model.h5, history.csv, loss.png
    (and boundary.png for 2-D inputs), metrics.json and config.yaml; runs/latest points at it.
    Ctrl-C (or SIGTERM) stops after the current update step with a checkpoint in
    runs/<name>.partial: continue with --resume.

    On a terminal a progress bar shows on stderr; otherwise (CI logs) one line at the start, one
    every training.log_every_seconds and one at the end. A run that diverges (a NaN, or a cost
    grown a thousandfold) exits 3; one that ends with a warning still exits 0, unless --strict.
    """
    request = TrainRequest(
        config=config, overrides=set_ or [], run_dir=run_dir, force=force, resume=resume, print_config=print_config,
        plot_format=plot_format.value if plot_format is not None else None, no_plot=no_plot, verbose=verbose, quiet=quiet,
    )
    resolved = requested_config(request)
    if print_config:
        sys.stdout.write(resolved.to_yaml())
        return
    if quiet:
        warnings.simplefilter("ignore")  # within this command only (handle_errors restores the filters)
    metrics = launch_training(resolved, request, terminal=sys.stderr.isatty())
    for finding in findings(metrics):
        warn(finding["message"], quiet)
    if json_output:
        print_json(metrics)
    else:
        stdout_console().print(training_summary(metrics))
    if strict:
        check_strict(metrics)
