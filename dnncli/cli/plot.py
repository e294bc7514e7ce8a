"""``dnn plot boundary | curves``."""

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from dnncli.cli.common import ModelOption, command_app, handle_errors, print_json
from dnncli.model.file import load_chosen_model
from dnncli.model.predict import decision_threshold
from dnncli.plots.commands import plot_boundary as draw_boundary
from dnncli.plots.commands import plot_curves as draw_curves
from dnncli.plots.figure import picture_format

app = command_app(
    name="plot", help="Pictures of models and runs: decision boundaries, learning curves compared.", no_args_is_help=True
)

PictureOption = Annotated[Path, typer.Option("--output", "-o", help="The picture to write: a .png or .svg file name.")]


def _print_written(payload: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(payload)
    else:
        for path in payload["files"]:
            print(path)


@app.command("boundary")
@handle_errors
def plot_boundary(
    data: Annotated[Path, typer.Argument(help="HDF5 file with 2-D points and their labels.", show_default=False)],
    model: ModelOption = None,
    output: PictureOption = Path("boundary.png"),
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="Draw this set only (default: every set of the file the model's config or the course's layout names: train and test).", show_default=False)] = None,
    y_key: Annotated[Optional[str], typer.Option("--y-key", help="Key of its labels (default: the one paired with --x-key).", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Binary models: the decision threshold (default 0.5).", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the file written and each set's accuracy as JSON on stdout.")] = False,
) -> None:
    """Draw a 2-D model's decision regions with the data's points coloured by class.

    [bold]Example:[/bold] dnn plot boundary --model runs/football_l2 datasets/football2d.h5 -o boundary.png
    """
    fmt = picture_format(output)
    bundle = load_chosen_model(model)
    threshold = decision_threshold(bundle, threshold)
    _print_written(draw_boundary(bundle, data, output, fmt, x_key=x_key, y_key=y_key, threshold=threshold), json_output)


@app.command("curves")
@handle_errors
def plot_curves(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or directories of runs (a sweep, runs/).", show_default=False)],
    output: PictureOption = Path("compare.png"),
    json_output: Annotated[bool, typer.Option("--json", help="Print the file written and the runs drawn as JSON on stdout.")] = False,
) -> None:
    """Compare runs: their training and validation cost (and accuracy) on one figure, one colour per run.

    [bold]Example:[/bold] dnn plot curves runs/cat_deep runs/cat_deep-2 -o compare.png
    """
    _print_written(draw_curves(runs, output, picture_format(output)), json_output)
