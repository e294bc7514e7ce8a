"""``dnn predict``."""

import enum
import sys
from typing import Annotated, Optional

import typer

from dnncli.cli.common import ModelOption, command_app, error_line, finite, handle_errors, note, warn
from dnncli.errors import EXIT_BAD_INPUT
from dnncli.model.predict import predict_paths, table
from dnncli.terminal.console import stdout_console

app = command_app()


class PredictFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


@app.command()
@handle_errors
def predict(
    paths: Annotated[list[str], typer.Argument(help="Image files, directories, or - to read paths from stdin (one per line); for a model trained on a table, one table (.csv, .parquet, or - for CSV on stdin).", show_default=False)],
    model: ModelOption = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Also predict the images of subdirectories.")] = False,
    output_format: Annotated[PredictFormat, typer.Option("--format", "-f", help="table, or for pipelines json (one array), jsonl (one object a line) or csv.")] = PredictFormat.table,
    threshold: Annotated[Optional[float], typer.Option(callback=finite, min=0.0, max=1.0, help="Binary models: predict the positive class when its probability is above this (default 0.5).", show_default=False)] = None,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression bombs).")] = 40_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary, warnings or line naming the model read on stderr (unreadable files are still named).")] = False,
    keep: Annotated[Optional[list[str]], typer.Option("--keep", metavar="COLUMN", help="A table model: copy this column of the rows (an id) into the output; may be repeated.", show_default=False)] = None,
    follow_links: Annotated[bool, typer.Option("--follow-links", help="In a directory given, follow symbolic links that lead out of it (by default they are named and not read).")] = False,
) -> None:
    """Predict the class of image files (PNG, JPEG, BMP, GIF, ... any size or mode), or a table's rows.

    [bold]Example:[/bold] find photos -name '*.jpg' | dnn predict - --format jsonl

    Images are converted and resized to the model's input and scaled as its training data was.
    An unreadable file is named on stderr, the others are still predicted, and the exit code is 2.

    A model trained on a table predicts each row of one table (dnn predict rows.csv --keep id):
    the value in the target's units, or the class, its probability and p_<class> of each class.
    A row with a bad value is named on stderr (row, column, value), the others are still predicted.
    """
    outcome = predict_paths(
        model, paths, sys.stdout, output_format=output_format.value, recursive=recursive, threshold=threshold,
        max_pixels=max_pixels, stdin=sys.stdin, on_note=lambda text: warn(text, quiet), on_failure=error_line,
        on_model=lambda line: note(line, quiet),
        keep=keep or (),
        follow_links=follow_links,
    )
    if outcome.table_rows:
        stdout_console().print(table(outcome.table_rows))
    if outcome.failures:
        if outcome.total > 1 and not quiet:
            error_line(f"{outcome.failures} of {outcome.total} {outcome.unit} could not be predicted")
        raise typer.Exit(EXIT_BAD_INPUT)
