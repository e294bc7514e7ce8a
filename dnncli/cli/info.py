"""``dnn info``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, handle_errors, print_all, print_json
from dnncli.model.info import describe_path

app = command_app()


@app.command()
@handle_errors
def info(
    model: Annotated[Optional[Path], typer.Argument(envvar="DNN_MODEL", help="Model file, run directory or exported .onnx file (default: $DNN_MODEL, else runs/latest).", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the description as JSON on stdout.")] = False,
) -> None:
    """Describe a model: layers, parameter counts, input shape and scaling, classes, config, metrics.

    [bold]Example:[/bold] dnn info runs/cat_deep --json | jq .metrics.test_accuracy

    An exported file (dnn info model.onnx): its inputs, outputs, opset and metadata.
    """
    description, shown = describe_path(model)
    if json_output:
        print_json(description)
    else:
        print_all(shown)
