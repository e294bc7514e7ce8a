"""``dnn evaluate``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import ModelOption, command_app, finite, handle_errors, note, print_all, print_json, warn
from dnncli.model.evaluate import check_gates, tables
from dnncli.plots.evaluation import EvaluationRequest, evaluate_model

app = command_app()


@app.command()
@handle_errors
def evaluate(
    data: Annotated[Optional[Path], typer.Argument(help="HDF5 file with examples and labels, or a folder with one subfolder of images per class (named as the model's classes); default: the model's own test set.", show_default=False)] = None,
    model: ModelOption = None,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="Key of the examples (default: the model's test or training key, else test_set_x or train_set_x).", show_default=False)] = None,
    y_key: Annotated[Optional[str], typer.Option("--y-key", help="Key of the labels (default: the one paired with the examples' key).", show_default=False)] = None,
    range_: Annotated[Optional[str], typer.Option("--range", metavar="START:STOP", help="Evaluate examples START..STOP-1 of the file (default: the model's recorded test range of a file it was trained from, else all).", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(callback=finite, min=0.0, max=1.0, help="Binary models: decision threshold (default 0.5).", show_default=False)] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", callback=finite, min=0.0, max=1.0, help="Quality gate: exit 1 if the accuracy is lower.", show_default=False)] = None,
    min_f1: Annotated[Optional[float], typer.Option("--min-f1", callback=finite, min=0.0, max=1.0, help="Quality gate: exit 1 if F1 (positive class, or macro) is lower.", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings, and no line naming the model read, on stderr.")] = False,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="A folder of images is decoded once and cached here.")] = Path("runs/.cache"),
    follow_links: Annotated[bool, typer.Option("--follow-links", help="A folder of images: follow symbolic links that lead out of it (by default they are named and not read).")] = False,
    errors: Annotated[
        Optional[Path],
        typer.Option("--errors", metavar="PICTURE", help="Write the misclassified examples (images, or the points on the boundary for 2-D inputs) to this .png or .svg.", show_default=False),
    ] = None,
    errors_limit: Annotated[int, typer.Option("--errors-limit", min=1, max=400, help="--errors: at most this many images, the most confident errors first.")] = 36,
    confusion: Annotated[
        Optional[Path],
        typer.Option("--confusion", metavar="PICTURE", help="Write the confusion matrix as a heatmap (counts and row percentages) to this .png or .svg.", show_default=False),
    ] = None,
) -> None:
    """Evaluate a model on a labelled HDF5 set or folder of images: accuracy, precision, recall, F1, log loss, confusion matrix.

    [bold]Example:[/bold] dnn evaluate --min-accuracy 0.75 --json

    Without DATA: the model's own test set, as its model file records it. With a file the model
    was trained from: its recorded test range. Training examples only with an explicit --range,
    and with a warning. The report says which examples it used (data, keys, range, examples).

    A folder (photos/cat/*.jpg, photos/non-cat/*.png) is read as the model's training images
    were: same size, mode and resize; its subfolders are named as the model's classes.

    [bold]Pictures:[/bold] dnn evaluate datasets/test_catvnoncat.h5 --errors errors.png --confusion confusion.png
    """
    request = EvaluationRequest(
        data=data, x_key=x_key, y_key=y_key, range_text=range_, threshold=threshold, cache_dir=cache_dir,
        errors=errors, errors_limit=errors_limit, confusion=confusion, follow_links=follow_links,
    )
    report = evaluate_model(
        model, request, on_warning=lambda message: warn(message, quiet), on_model=lambda line: note(line, quiet)
    )
    if json_output:
        print_json(report.as_dict())
    else:
        print_all(tables(report.result))
        for path in report.files:
            note(f"wrote {path}", quiet)
    check_gates(report.result, min_accuracy, min_f1)
