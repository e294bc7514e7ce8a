"""``dnn export``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, handle_errors
from dnncli.model.export import export_onnx
from dnncli.model.file import load_chosen_model

app = command_app()


@app.command()
@handle_errors
def export(
    model: Annotated[Optional[Path], typer.Argument(envvar="DNN_MODEL", help="Run directory or model file (default: $DNN_MODEL, else runs/latest).", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The ONNX file to write (e.g. model.onnx).", show_default=False)] = ...,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file (a regular file, never anything else).")] = False,
) -> None:
    """Write a model as an ONNX file that runs without dnn (ONNX Runtime: Python, C, C#, Java, JavaScript, phones).

    [bold]Example:[/bold] dnn export runs/mnist -o mnist.onnx

    The graph takes the examples as stored ((N, height, width[, channels]) uint8 pixels for image
    sets; a table model: one (N, 1) input per column, float64 with NaN for a gap or text) and gives
    what dnn predict gives: the probabilities and the label, or a regression's values. Needs the
    onnx extra: pip install -e '.[onnx]' from a clone.
    """
    bundle = load_chosen_model(model)  # a model that fails its checks is refused before anything is written
    typer.echo(str(export_onnx(bundle, output, force=force)))
