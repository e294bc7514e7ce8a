"""``dnn data demo | import | inspect | split``."""

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.table import Table

from dnncli.cli.common import command_app, handle_errors, print_all, warn
from dnncli.cli.render import import_table, inspection_tables, table_split_table
from dnncli.data import inspection
from dnncli.data.demo import make_demo
from dnncli.data.image_import import MODES, ImportOptions, import_folder, parse_size
from dnncli.data.setfile import split_file
from dnncli.data.table_split import split_table
from dnncli.data.tables import is_table
from dnncli.errors import DataError
from dnncli.plots import datagrid
from dnncli.terminal.console import stdout_console
from dnncli.terminal.display import printable
from dnncli.terminal.progress import CountProgress

app = command_app(
    name="data",
    help="Data sets: the embedded demo set (demo), your own images (import), what a file or folder holds (inspect), a test set drawn from a file (split).",
    no_args_is_help=True,
)


@app.command("demo")
@handle_errors
def data_demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("datasets"),
    seed: Annotated[int, typer.Option(help="Seed of the generator: same seed, same files.")] = 0,
    n_train: Annotated[int, typer.Option("--train", min=2, help="Training pictures.")] = 300,
    n_test: Annotated[int, typer.Option("--test", min=2, help="Test pictures.")] = 100,
    samples: Annotated[int, typer.Option(min=0, help="Test pictures also written as PNG files.")] = 6,
    table_rows: Annotated[int, typer.Option("--table-rows", min=2, help="Rows of demo_table.csv.")] = 400,
) -> None:
    """Make the embedded demo set: 64x64 RGB pictures, with or without a disc, in the cat files' layout; and demo_table.csv, a small table of houses.

    [bold]Example:[/bold] dnn data demo && dnn train configs/demo.yaml

    demo_table.csv: id, area, rooms, age, district (numbers and a category with gaps), note (free
    text: commas, quotes, a line break, a formula) and the target sold (yes / no).
    """
    files = make_demo(out, seed=seed, n_train=n_train, n_test=n_test, n_samples=samples, table_rows=table_rows)
    for path in (files.train, files.test, *files.samples, files.table):
        print(path)


class ImageModeChoice(str, enum.Enum):
    rgb = "rgb"
    grayscale = "grayscale"


class ResizeChoice(str, enum.Enum):
    squash = "squash"
    crop = "crop"
    pad = "pad"


def _class_list(text: Optional[str]) -> Optional[list[str]]:
    return None if text is None else [name for name in text.split(",") if name]


def _check_test_fraction(fraction: Optional[float]) -> None:
    if fraction is not None and not 0 < fraction < 1:
        raise DataError(f"--test-fraction {fraction}: expected a number between 0 and 1 (excluded)")


def _print_summary(summary: dict, json_output: bool, render: Callable[[dict], Table] = import_table) -> None:
    """A data file just written: JSON, or its examples per class as a table."""
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        stdout_console().print(render(summary))


SizeOption = Annotated[str, typer.Option("--size", metavar="HxW", help="Height x width of every example, in pixels.")]
ModeOption = Annotated[ImageModeChoice, typer.Option("--mode", help="rgb: (h, w, 3) examples; grayscale: (h, w).")]
ResizeOption = Annotated[ResizeChoice, typer.Option("--resize", help="squash: stretch to the size; crop: the centre at the size's aspect ratio; pad: fit inside, black borders.")]
ClassesOption = Annotated[Optional[str], typer.Option("--classes", metavar="A,B,...", help="Class folders to take, in label order (default: all, sorted by name).", show_default=False)]
FollowLinksOption = Annotated[bool, typer.Option("--follow-links", help="Follow symbolic links that lead out of the folder (by default they are passed over, named).")]
MaxPixelsOption = Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression bombs).")]


@app.command("import")
@handle_errors
def data_import(
    folder: Annotated[Path, typer.Argument(help="Folder with one subfolder of images per class (or a folder of images: unlabelled).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write.", show_default=False)],
    classes: ClassesOption = None,
    test_fraction: Annotated[Optional[float], typer.Option("--test-fraction", min=0.0, max=1.0, help="Also write a test set: this fraction of each class, drawn with --seed.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the test draw: same seed, same split.")] = 0,
    prefix: Annotated[str, typer.Option("--prefix", help="Keys to write: train (train_set_x, train_set_y) or test (test_set_x, test_set_y: a test file like the course's).")] = "train",
    size: Annotated[Optional[str], typer.Option("--size", metavar="HxW", help="Height x width of every example, in pixels (default: the images' own when they all share one of at most 64x64 pixels, else 64x64).", show_default=False)] = None,
    mode: Annotated[Optional[ImageModeChoice], typer.Option("--mode", help="rgb: (h, w, 3) examples; grayscale: (h, w) (default: the images' own when they are all grayscale or all colour, else rgb).", show_default=False)] = None,
    resize: ResizeOption = ResizeChoice.squash,
    strict: Annotated[bool, typer.Option("--strict", help="A file that cannot be read is an error (nothing written) instead of skipped.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Processes decoding images (default: one per available core).", show_default=False)] = None,
    max_pixels: MaxPixelsOption = 40_000_000,
    follow_links: FollowLinksOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, notes or summary on stderr (skipped files are still named).")] = False,
) -> None:
    """Import a folder of images into an HDF5 set in the course's layout (train_set_x, train_set_y, list_classes).

    [bold]Example:[/bold] dnn data import photos/ -o datasets/photos.h5 --classes non-cat,cat --test-fraction 0.2

    Every image is read exactly as dnn predict reads it (EXIF orientation, modes, 16-bit, bombs)
    and resized by --resize, which is recorded in the file and in models trained on it.
    """
    _check_test_fraction(test_fraction)
    options = ImportOptions(
        size=parse_size(size) if size else None, mode=mode.value if mode else None, resize=resize.value,
        classes=_class_list(classes), test_fraction=test_fraction, seed=seed, strict=strict, jobs=jobs, max_pixels=max_pixels, prefix=prefix,
        follow_links=follow_links,
    )
    with CountProgress("decoding", show=not quiet and sys.stderr.isatty()) as progress:
        skip_line = (lambda m: progress.line(f"error: {m}")) if strict else (lambda m: progress.line(f"warning: skipped {m}"))
        note_line = (lambda m: None) if quiet else (lambda m: progress.line(f"warning: {m}"))
        choice_line = (lambda m: None) if quiet else progress.line
        result = import_folder(
            folder, out, options, progress=progress, on_skip=skip_line, on_note=note_line, on_choice=choice_line, force=force
        )
    if result.skipped and not quiet:
        sys.stderr.write(f"warning: {len(result.skipped)} of {result.files} files were not imported (named above)\n")
    _print_summary(result.as_dict(), json_output)


class TaskChoice(str, enum.Enum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


TargetOption = Annotated[Optional[str], typer.Option("--target", metavar="COLUMN", help="For a table: the label column (inspect: its distribution; split: drawn class by class for a classification).", show_default=False)]
TaskOption = Annotated[TaskChoice, typer.Option("--task", help="For a table with --target: auto (a text target, or whole numbers with few values, is a classification), classification or regression.")]


def _write_grid(path: Path, grid: Path, per_class: int, x_key: Optional[str], classes: Optional[str],
                shape: tuple[str, ImageModeChoice, ResizeChoice], kind: str, follow_links: bool) -> tuple[int, int]:
    """The --grid picture of a folder or a file; (width, height) in pixels."""
    size, mode, resize = shape
    if kind == "table":
        raise DataError(f"--grid draws pictures: {printable(str(path))} is a table")
    if kind == "folder":
        channels = MODES[mode.value]
        return datagrid.grid_from_folder(path, grid, per_class, _class_list(classes),
                                         (*parse_size(size), channels) if channels else parse_size(size), resize.value,
                                         follow_links)
    return datagrid.grid_from_file(path, grid, per_class, x_key)


@app.command("inspect")
@handle_errors
def data_inspect(
    path: Annotated[Path, typer.Argument(help="HDF5 data file, CSV or Parquet table, or a folder of images.", show_default=False)],
    grid: Annotated[Optional[Path], typer.Option("--grid", metavar="OUT.png", help="Also write a picture of the first examples of each class, with their labels.", show_default=False)] = None,
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=64, help="With --grid: pictures per class.")] = 8,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="With --grid, for a file: the examples to draw (default: train_set_x, images or test_set_x).", show_default=False)] = None,
    classes: ClassesOption = None,
    size: SizeOption = "64x64",
    mode: ModeOption = ImageModeChoice.rgb,
    resize: ResizeOption = ResizeChoice.squash,
    target: TargetOption = None,
    task: TaskOption = TaskChoice.auto,
    follow_links: FollowLinksOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the description as JSON on stdout.")] = False,
) -> None:
    """Describe a data file (keys, shapes, dtypes, value ranges, examples per class), a table (its columns, gaps, values, target) or a folder of images.

    [bold]Example:[/bold] dnn data inspect datasets/train_catvnoncat.h5 --grid cats.png

    [bold]Example:[/bold] dnn data inspect housing_train.csv --target median_house_value

    Files with links to other files or with external or virtual storage are refused before
    anything is read. For a folder, --size, --mode and --resize decode the --grid pictures as
    dnn data import would.
    """
    description = inspection.describe(path, _class_list(classes), target, task.value, follow_links)
    if grid is not None:
        pixels = _write_grid(path, grid, per_class, x_key, classes, (size, mode, resize), description["kind"], follow_links)
        description["grid"] = {"path": str(grid), "width": pixels[0], "height": pixels[1]}
    if json_output:
        sys.stdout.write(json.dumps(description, indent=2) + "\n")
        return
    print_all(inspection_tables(description))
    for line in description.get("notes", []) + description.get("unreadable", []) + description.get("passed_over", []):
        warn(line)
    if grid is not None:
        sys.stderr.write(f"wrote {printable(str(grid))} ({pixels[0]}x{pixels[1]} pixels)\n")


@app.command("split")
@handle_errors
def data_split(
    path: Annotated[Path, typer.Argument(help="HDF5 file with a labelled set, or a CSV or Parquet table.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write (train_set_* and test_set_*); for a table, OUT.csv or OUT.parquet: OUT_train and OUT_test are written.", show_default=False)],
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=1.0, help="Fraction of each class drawn for the test set.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the draw: same seed, same split.")] = 0,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="The examples to split (default: train_set_x, else images).", show_default=False)] = None,
    y_key: Annotated[Optional[str], typer.Option("--y-key", help="Their labels (default: the x key's partner, train_set_y or labels).", show_default=False)] = None,
    target: TargetOption = None,
    task: TaskOption = TaskChoice.auto,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings on stderr.")] = False,
) -> None:
    """Split a labelled set, or a table's rows, into stratified train and test sets.

    [bold]Example:[/bold] dnn data split photos.h5 --test-fraction 0.2 --seed 1 -o photos-split.h5

    [bold]Example:[/bold] dnn data split houses.csv --target price --seed 1 -o houses.csv (writes houses_train.csv, houses_test.csv)
    """
    _check_test_fraction(test_fraction)
    if is_table(path):
        if x_key is not None or y_key is not None:
            raise DataError("--x-key and --y-key apply to an HDF5 file; a table's label column is --target")
        _print_summary(split_table(path, out, test_fraction, seed, target, task.value, force), json_output, table_split_table)
        return
    if target is not None:
        raise DataError(f"--target applies to a CSV or Parquet table; for {printable(str(path))} give --y-key")
    summary = split_file(path, out, test_fraction, seed, x_key, y_key, force)
    if summary["not_copied"]:
        warn(f"{printable(str(path))}: also holds {', '.join(map(printable, summary['not_copied']))}, not copied", quiet)
    _print_summary(summary, json_output)
