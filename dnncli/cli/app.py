"""The command line: one short Typer function per command, each parsing, calling the library and
rendering. Results go to stdout; progress, logs and errors to stderr.

Library modules are imported inside the commands so that ``dnn --help`` starts fast.
"""

import enum
import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from dnncli import __version__
from dnncli.terminal.console import stderr_console, stdout_console
from dnncli.errors import EXIT_BROKEN_PIPE, EXIT_RUNTIME, EXIT_SIGINT, DnnError
from dnncli.cli.startup import defer_unused_help_modules

defer_unused_help_modules()  # typer's help renderer without rich.markdown and rich.traceback

app = typer.Typer(
    name="dnn",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
data_app = typer.Typer(
    help="Data sets: the embedded demo set (demo), your own images (import), what a file or folder holds (inspect), a test set drawn from a file (split).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
plot_app = typer.Typer(help="Pictures of models and runs: decision boundaries, learning curves compared.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")


# ---- shared plumbing -------------------------------------------------------------------------


def fail(message: str, code: int) -> None:
    """One line on stderr (control characters escaped: it may quote a file's content or name),
    then exit with ``code``, whether or not the line could be written."""
    from dnncli.terminal.display import escape_controls
    from dnncli.terminal.streams import write_stderr

    write_stderr(f"error: {escape_controls(message)}")
    raise typer.Exit(code)


def _one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Python's warnings (NumPy's "overflow encountered in ...") as one line, not two with code."""
    from dnncli.terminal.display import escape_controls
    from dnncli.terminal.streams import write_stderr

    text = str(message).strip().splitlines()
    write_stderr(f"warning: {escape_controls(text[0] if text else category.__name__)}")


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one line on stderr and the documented exit code; make a
    closed or full stdout an error of its own (exit 3) and a closed or full stderr harmless."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import warnings

        from dnncli.errors import io_failure
        from dnncli.terminal.streams import guarded_streams, stdout_closed

        with guarded_streams(), warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            try:
                if sys.stdout is None:
                    raise stdout_closed()
                result = command(*args, **kwargs)
                sys.stdout.flush()  # a full stdout fails here, inside the handler, not at exit
                return result
            except DnnError as exc:
                fail(exc.message, exc.exit_code)
            except KeyboardInterrupt:
                fail("interrupted", EXIT_SIGINT)
            except BrokenPipeError:
                # The reader went away (`dnn predict ... | head`): stop quietly, as `cat` would.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise typer.Exit(EXIT_BROKEN_PIPE)
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except MemoryError:
                fail("out of memory; try a smaller network, fewer examples or float32", EXIT_RUNTIME)
            except OSError as exc:  # an I/O failure no writer named: still one line with the file
                failure = io_failure(exc, exc.filename, "read or write")
                fail(failure.message, failure.exit_code)
            except Exception as exc:  # a bug of ours: still one line, the traceback on request
                if os.environ.get("DNN_DEBUG"):
                    raise
                fail(
                    f"internal error: {type(exc).__name__}: {exc} (set DNN_DEBUG=1 for the traceback)",
                    EXIT_RUNTIME,
                )

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dnn {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Train, evaluate and check deep neural networks written in plain, vectorized NumPy.

    Exit codes: 0 success, 1 check or gate failed, 2 bad usage or input, 3 diverged or runtime failure, 130/143 interrupted, 141 closed pipe.
    """


# ---- dnn train -------------------------------------------------------------------------------


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
    from dnncli.cli import render
    from dnncli.terminal import text as report
    from dnncli.config import load_config
    from dnncli.run.training import resumable_config, resume_training, run_training

    if plot_format is not None and no_plot:
        raise DnnError("--plot-format and --no-plot contradict each other: give one of them")
    if resume is not None:
        if config is not None or set_ or print_config or run_dir is not None or force or plot_format or no_plot:
            raise DnnError(
                "--resume continues a run as it was started: give no config, --set, --run-dir, --force, "
                "--plot-format or --no-plot"
            )
        cfg = resumable_config(resume)
    elif config is None:
        raise DnnError("give a config file (dnn train CONFIG), or --resume RUN_DIR to continue a run")
    else:
        plot = "none" if no_plot else (plot_format.value if plot_format is not None else None)
        cfg = load_config(config, [*(set_ or []), *([f"output.plot={plot}"] if plot else [])])
    if print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    if quiet:
        import warnings

        warnings.simplefilter("ignore")  # within this command only (handle_errors restores the filters)
    terminal = sys.stderr.isatty()
    print_every = (cfg.training.print_every or cfg.training.record_every) if verbose and not quiet else None
    from dnncli.run.progress import TrainingProgress

    progress = TrainingProgress(
        cfg.name,
        show_bar=not quiet and terminal,
        print_every=print_every,
        log_every_seconds=cfg.training.log_every_seconds if not quiet and not terminal else None,
    )
    with progress:
        if resume is not None:
            metrics = resume_training(resume, progress=progress).metrics
        else:
            metrics = run_training(cfg, run_dir=run_dir, force=force, progress=progress, overrides=set_ or []).metrics
    findings = metrics.get("warnings") or []  # the health checks' (dnncli.training.health)
    for finding in findings:
        _warn(finding["message"], quiet)
    if json_output:
        sys.stdout.write(report.to_json(metrics) + "\n")
    else:
        stdout_console().print(render.training_summary(metrics))
    if strict and findings:
        from dnncli.errors import CheckFailed

        raise CheckFailed(
            f"--strict: training ended with {len(findings)} warning(s) "
            f"({', '.join(f['check'] for f in findings)}; see metrics.json in {metrics['run_dir']})"
        )


# ---- dnn sweep, dnn runs ---------------------------------------------------------------------


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
    from dnncli.sweep.driver import SHIP_WITHOUT_SCHEDULER, require

    if ship_data and not scheduler:
        raise DnnError(SHIP_WITHOUT_SCHEDULER)
    require("optuna", *(["distributed"] if scheduler else []))
    from dnncli.terminal import text as report
    from dnncli.sweep import display, results
    from dnncli.sweep.driver import run_sweep
    from dnncli.sweep.spec import load_sweep

    spec = load_sweep(sweep_file)
    for note in spec.notes:
        _warn(note, quiet)
    shown = display.SweepDisplay(stderr_console(), live=sys.stderr.isatty(), quiet=quiet)
    outcome = run_sweep(spec, jobs=jobs, scheduler=scheduler, events=shown, ship_data=ship_data)
    if json_output:
        sys.stdout.write(report.to_json(results.json_records(spec, outcome.records)) + "\n")
        return
    console = stdout_console()
    console.print(display.trials_table(spec, outcome.records, outcome.best))
    if outcome.best is not None:
        from dnncli.terminal.display import escape_controls

        console.print(
            escape_controls(f"best: trial {outcome.best.number}, {spec.metric} {outcome.best.value:.6g}; "
                            f"its config: {spec.directory / 'best.yaml'}"), markup=False, highlight=False,
        )


@app.command()
@handle_errors
def runs(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="DIR | compare RUN RUN", help="A directory of runs (default: runs/) or a sweep's directory; or compare and two or more run directories.", show_default=False)] = None,
    sort: Annotated[Optional[str], typer.Option("--sort", metavar="KEY", help="Sort by a metric (best first), a setting (training.learning_rate), name, date or status.", show_default=False)] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout instead of a table.")] = False,
) -> None:
    """List runs (name, date, status, the settings that differ, final metrics), or compare some.

    [bold]Example:[/bold] dnn runs --sort test_accuracy; dnn runs sweeps/lr --csv; dnn runs compare runs/a runs/b
    """
    from dnncli.terminal import text as report
    from dnncli.run import listing as runlist

    if json_output and csv_output:
        raise DnnError("give --json or --csv, not both")
    args = args or []
    if args[:1] == ["compare"]:
        if sort is not None or reverse:
            raise DnnError("dnn runs compare shows the runs in the order given: no --sort or --reverse")
        chosen = runlist.resolve_runs(args[1:])
        if json_output:
            sys.stdout.write(report.to_json(runlist.comparison(chosen)) + "\n")
        elif csv_output:
            sys.stdout.write(runlist.comparison_csv(chosen))
        else:
            stdout_console().print(runlist.comparison_table(chosen))
        return
    if len(args) > 1:
        raise DnnError(f"dnn runs takes one directory, got {len(args)}: {' '.join(args)} (to put runs side by side: dnn runs compare A B)")
    found = runlist.find_runs(Path(args[0] if args else "runs"))
    if sort is not None:
        found = runlist.sort_runs(found, sort, reverse)
    elif reverse:
        found = found[::-1]
    if json_output:
        sys.stdout.write(report.to_json(runlist.runs_json(found)) + "\n")
    elif csv_output:
        sys.stdout.write(runlist.runs_csv(found))
    elif not found:
        sys.stderr.write(f"no runs in {args[0] if args else 'runs'}\n")
    else:
        stdout_console().print(runlist.runs_table(found))


# ---- dnn data --------------------------------------------------------------------------------


@data_app.command("demo")
@handle_errors
def data_demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("datasets"),
    seed: Annotated[int, typer.Option(help="Seed of the generator: same seed, same files.")] = 0,
    n_train: Annotated[int, typer.Option("--train", min=2, help="Training pictures.")] = 300,
    n_test: Annotated[int, typer.Option("--test", min=2, help="Test pictures.")] = 100,
    samples: Annotated[int, typer.Option(min=0, help="Test pictures also written as PNG files.")] = 6,
) -> None:
    """Make the embedded demo set: 64x64 RGB pictures, with or without a disc, in the cat files' layout.

    [bold]Example:[/bold] dnn data demo && dnn train configs/demo.yaml
    """
    from dnncli.data.demo import make_demo

    files = make_demo(out, seed=seed, n_train=n_train, n_test=n_test, n_samples=samples)
    for path in (files.train, files.test, *files.samples):
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


SizeOption = Annotated[str, typer.Option("--size", metavar="HxW", help="Height x width of every example, in pixels.")]
ModeOption = Annotated[ImageModeChoice, typer.Option("--mode", help="rgb: (h, w, 3) examples; grayscale: (h, w).")]
ResizeOption = Annotated[ResizeChoice, typer.Option("--resize", help="squash: stretch to the size; crop: the centre at the size's aspect ratio; pad: fit inside, black borders.")]
ClassesOption = Annotated[Optional[str], typer.Option("--classes", metavar="A,B,...", help="Class folders to take, in label order (default: all, sorted by name).", show_default=False)]
MaxPixelsOption = Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression bombs).")]


@data_app.command("import")
@handle_errors
def data_import(
    folder: Annotated[Path, typer.Argument(help="Folder with one subfolder of images per class (or a folder of images: unlabelled).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write.", show_default=False)],
    classes: ClassesOption = None,
    test_fraction: Annotated[Optional[float], typer.Option("--test-fraction", min=0.0, max=1.0, help="Also write a test set: this fraction of each class, drawn with --seed.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the test draw: same seed, same split.")] = 0,
    prefix: Annotated[str, typer.Option("--prefix", help="Keys to write: train (train_set_x, train_set_y) or test (test_set_x, test_set_y: a test file like the course's).")] = "train",
    size: SizeOption = "64x64",
    mode: ModeOption = ImageModeChoice.rgb,
    resize: ResizeOption = ResizeChoice.squash,
    strict: Annotated[bool, typer.Option("--strict", help="A file that cannot be read is an error (nothing written) instead of skipped.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Processes decoding images (default: one per available core).", show_default=False)] = None,
    max_pixels: MaxPixelsOption = 40_000_000,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, notes or summary on stderr (skipped files are still named).")] = False,
) -> None:
    """Import a folder of images into an HDF5 set in the course's layout (train_set_x, train_set_y, list_classes).

    [bold]Example:[/bold] dnn data import photos/ -o datasets/photos.h5 --classes non-cat,cat --test-fraction 0.2

    Every image is read exactly as dnn predict reads it (EXIF orientation, modes, 16-bit, bombs)
    and resized by --resize, which is recorded in the file and in models trained on it.
    """
    from dnncli.data.image_import import ImportOptions, import_folder, parse_size
    from dnncli.errors import DataError

    if test_fraction is not None and not 0 < test_fraction < 1:
        raise DataError(f"--test-fraction {test_fraction}: expected a number between 0 and 1 (excluded)")
    options = ImportOptions(
        size=parse_size(size), mode=mode.value, resize=resize.value, classes=_class_list(classes),
        test_fraction=test_fraction, seed=seed, strict=strict, jobs=jobs, max_pixels=max_pixels, prefix=prefix,
    )
    from dnncli.terminal.progress import CountProgress

    with CountProgress("decoding", show=not quiet and sys.stderr.isatty()) as progress:
        skip_line = (lambda m: progress.line(f"error: {m}")) if strict else (lambda m: progress.line(f"warning: skipped {m}"))
        note_line = (lambda m: None) if quiet else (lambda m: progress.line(f"warning: {m}"))
        result = import_folder(folder, out, options, progress=progress, on_skip=skip_line, on_note=note_line, force=force)
    if result.skipped and not quiet:
        sys.stderr.write(f"warning: {len(result.skipped)} of {result.files} files were not imported (named above)\n")
    summary = result.as_dict()
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        from dnncli.cli.render import import_table

        stdout_console().print(import_table(summary))


@data_app.command("inspect")
@handle_errors
def data_inspect(
    path: Annotated[Path, typer.Argument(help="HDF5 data file, or a folder of images.", show_default=False)],
    grid: Annotated[Optional[Path], typer.Option("--grid", metavar="OUT.png", help="Also write a picture of the first examples of each class, with their labels.", show_default=False)] = None,
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=64, help="With --grid: pictures per class.")] = 8,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="With --grid, for a file: the examples to draw (default: train_set_x, images or test_set_x).", show_default=False)] = None,
    classes: ClassesOption = None,
    size: SizeOption = "64x64",
    mode: ModeOption = ImageModeChoice.rgb,
    resize: ResizeOption = ResizeChoice.squash,
    json_output: Annotated[bool, typer.Option("--json", help="Print the description as JSON on stdout.")] = False,
) -> None:
    """Describe a data file (keys, shapes, dtypes, value ranges, examples per class) or a folder of images.

    [bold]Example:[/bold] dnn data inspect datasets/train_catvnoncat.h5 --grid cats.png

    Files with links to other files or with external or virtual storage are refused before
    anything is read. For a folder, --size, --mode and --resize decode the --grid pictures as
    dnn data import would.
    """
    from dnncli.cli import render
    from dnncli.data import inspection
    from dnncli.plots import datagrid
    from dnncli.data.image_import import MODES, parse_size

    description = inspection.describe(path, _class_list(classes))
    if grid is not None:
        if description["kind"] == "folder":
            channels = MODES[mode.value]
            shape = (*parse_size(size), channels) if channels else parse_size(size)
            pixels = datagrid.grid_from_folder(path, grid, per_class, _class_list(classes), shape, resize.value)
        else:
            pixels = datagrid.grid_from_file(path, grid, per_class, x_key)
        description["grid"] = {"path": str(grid), "width": pixels[0], "height": pixels[1]}
    if json_output:
        sys.stdout.write(json.dumps(description, indent=2) + "\n")
        return
    console = stdout_console()
    for renderable in render.inspection_tables(description):
        console.print(renderable)
    for line in description.get("notes", []) + description.get("unreadable", []) + description.get("passed_over", []):
        _warn(line, False)
    if grid is not None:
        from dnncli.terminal.display import printable

        sys.stderr.write(f"wrote {printable(str(grid))} ({pixels[0]}x{pixels[1]} pixels)\n")


@data_app.command("split")
@handle_errors
def data_split(
    path: Annotated[Path, typer.Argument(help="HDF5 file with a labelled set.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write (train_set_* and test_set_*).", show_default=False)],
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=1.0, help="Fraction of each class drawn for the test set.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the draw: same seed, same split.")] = 0,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="The examples to split (default: train_set_x, else images).", show_default=False)] = None,
    y_key: Annotated[Optional[str], typer.Option("--y-key", help="Their labels (default: the x key's partner, train_set_y or labels).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings on stderr.")] = False,
) -> None:
    """Split a labelled set into stratified train and test sets in a new file.

    [bold]Example:[/bold] dnn data split photos.h5 --test-fraction 0.2 --seed 1 -o photos-split.h5
    """
    from dnncli.cli.render import import_table
    from dnncli.data.setfile import split_file
    from dnncli.errors import DataError
    from dnncli.terminal.display import printable

    if not 0 < test_fraction < 1:
        raise DataError(f"--test-fraction {test_fraction}: expected a number between 0 and 1 (excluded)")
    summary = split_file(path, out, test_fraction, seed, x_key, y_key, force)
    if summary["not_copied"]:
        _warn(f"{printable(str(path))}: also holds {', '.join(map(printable, summary['not_copied']))}, not copied", quiet)
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        stdout_console().print(import_table(summary))


# ---- dnn predict, evaluate, gradcheck, info --------------------------------------------------

ModelOption = Annotated[
    Optional[Path],
    typer.Option(
        "--model", "-m", envvar="DNN_MODEL", show_default=False,
        help="Model file or run directory (default: $DNN_MODEL, else runs/latest).",
    ),
]


def _finite(value: Optional[float]) -> Optional[float]:
    """Typer's min/max let NaN through (every comparison with it is false), and inf past max=None."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


class PredictFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def _warn(message: str, quiet: bool) -> None:
    if not quiet:
        from dnncli.terminal.display import escape_controls
        from dnncli.terminal.streams import write_stderr

        write_stderr(f"warning: {escape_controls(message)}")


@app.command()
@handle_errors
def predict(
    paths: Annotated[list[str], typer.Argument(help="Image files, directories, or - to read paths from stdin (one per line).", show_default=False)],
    model: ModelOption = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Also predict the images of subdirectories.")] = False,
    output_format: Annotated[PredictFormat, typer.Option("--format", "-f", help="table, or for pipelines json (one array), jsonl (one object a line) or csv.")] = PredictFormat.table,
    threshold: Annotated[Optional[float], typer.Option(callback=_finite, min=0.0, max=1.0, help="Binary models: predict the positive class when its probability is above this (default 0.5).", show_default=False)] = None,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression bombs).")] = 40_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary or warnings on stderr (unreadable files are still named).")] = False,
) -> None:
    """Predict the class of image files (PNG, JPEG, BMP, GIF, ... any size or mode).

    [bold]Example:[/bold] find photos -name '*.jpg' | dnn predict - --format jsonl

    Images are converted and resized to the model's input and scaled as its training data was.
    An unreadable file is named on stderr, the others are still predicted, and the exit code is 2.
    """
    from dnncli.model import predict as predicting
    from dnncli.terminal.display import escape_controls
    from dnncli.errors import EXIT_BAD_INPUT, ConfigError
    from dnncli.terminal.streams import write_stderr
    from dnncli.model.file import load_chosen_model

    bundle = load_chosen_model(model)
    if threshold is not None and not bundle.is_binary:
        raise ConfigError("--threshold applies to binary (one sigmoid output) models only")
    note = predicting.input_note(bundle)
    if note:
        _warn(note, quiet)
    records = predicting.predict_files(
        bundle, predicting.expand_paths(paths, recursive, sys.stdin), 0.5 if threshold is None else threshold,
        max_pixels=max_pixels,
    )
    collected, failures, total = [], 0, 0
    if output_format == PredictFormat.csv:
        sys.stdout.write(predicting.csv_header_line(bundle))
    for record in records:
        total += 1
        if isinstance(record, predicting.Failure):
            failures += 1
            write_stderr(f"error: {escape_controls(record.message)}")
        elif output_format == PredictFormat.csv:
            sys.stdout.write(predicting.csv_row(record))
        elif output_format == PredictFormat.jsonl:
            sys.stdout.write(predicting.jsonl_row(record))
        else:
            collected.append(record)
    if output_format == PredictFormat.json:
        sys.stdout.write(json.dumps([r.as_dict() for r in collected], indent=2) + "\n")
    elif output_format == PredictFormat.table and collected:
        stdout_console().print(predicting.table(collected))
    if total == 0:
        raise ConfigError("no image paths given (standard input was empty)")
    if failures:
        if total > 1 and not quiet:
            write_stderr(f"error: {failures} of {total} files could not be predicted")
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@handle_errors
def evaluate(
    data: Annotated[Optional[Path], typer.Argument(help="HDF5 file with examples and labels, or a folder with one subfolder of images per class (named as the model's classes); default: the model's own test set.", show_default=False)] = None,
    model: ModelOption = None,
    x_key: Annotated[Optional[str], typer.Option("--x-key", help="Key of the examples (default: the model's test or training key, else test_set_x or train_set_x).", show_default=False)] = None,
    y_key: Annotated[Optional[str], typer.Option("--y-key", help="Key of the labels (default: the one paired with the examples' key).", show_default=False)] = None,
    range_: Annotated[Optional[str], typer.Option("--range", metavar="START:STOP", help="Evaluate examples START..STOP-1 of the file (default: the model's recorded test range of a file it was trained from, else all).", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(callback=_finite, min=0.0, max=1.0, help="Binary models: decision threshold (default 0.5).", show_default=False)] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", callback=_finite, min=0.0, max=1.0, help="Quality gate: exit 1 if the accuracy is lower.", show_default=False)] = None,
    min_f1: Annotated[Optional[float], typer.Option("--min-f1", callback=_finite, min=0.0, max=1.0, help="Quality gate: exit 1 if F1 (positive class, or macro) is lower.", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings on stderr.")] = False,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="A folder of images is decoded once and cached here.")] = Path("runs/.cache"),
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
    from dnncli.terminal import text as report
    from dnncli.model import evaluate as evaluation
    from dnncli.model.selection import select_examples
    from dnncli.errors import ConfigError
    from dnncli.model.file import load_chosen_model
    from dnncli.plots.figure import picture_format

    pictures = {
        name: (path, picture_format(path, f"--{name}"))
        for name, path in (("errors", errors), ("confusion", confusion)) if path is not None
    }
    bundle = load_chosen_model(model)
    if threshold is not None and not bundle.is_binary:
        raise ConfigError("--threshold applies to binary (one sigmoid output) models only")
    if pictures:
        from dnncli.plots.commands import check_evaluation_pictures

        check_evaluation_pictures(bundle, errors, confusion)
    selection = select_examples(bundle, data, x_key, y_key, range_, cache_dir)
    result, dataset = evaluation.evaluate_selection(bundle, selection, 0.5 if threshold is None else threshold)
    label_key = selection.y_key
    for message in result.warnings:
        _warn(message, quiet)
    written: dict[str, Any] = {}
    if pictures:
        from dnncli.plots.commands import evaluation_pictures

        written = evaluation_pictures(
            bundle, dataset, label_key, result, errors=pictures.get("errors"), errors_limit=errors_limit,
            confusion=pictures.get("confusion"), threshold=0.5 if threshold is None else threshold,
        )
    if json_output:
        sys.stdout.write(report.to_json({**result.as_dict(), **written}) + "\n")
    else:
        console = stdout_console()
        for table in evaluation.tables(result):
            console.print(table)
        if not quiet:
            for path in written.get("files", {}).values():
                sys.stderr.write(f"wrote {path}\n")
    evaluation.check_gates(result, min_accuracy, min_f1)


@app.command()
@handle_errors
def gradcheck(
    configs: Annotated[Optional[list[Path]], typer.Argument(metavar="[CONFIG]...", help="YAML configs to check (default: the engine's own cases).", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key, in every config given (repeatable).")] = None,
    epsilon: Annotated[float, typer.Option(callback=_finite, min=1e-12, max=1.0, help="Step of the two-sided finite differences.")] = 1e-7,
    threshold: Annotated[float, typer.Option(callback=_finite, min=1e-15, help="Largest relative difference that passes.")] = 1e-7,
    examples: Annotated[int, typer.Option(min=1, help="With a config: how many of its training examples.")] = 5,
    max_coordinates: Annotated[int, typer.Option("--max-coordinates", min=1, help="With a config: at most this many entries of each parameter array, sampled.")] = 200,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Check backpropagation against finite differences, in float64; exit 1 on any failure.

    [bold]Example:[/bold] dnn gradcheck && dnn gradcheck configs/cat_deep.yaml configs/football_l2.yaml --examples 3

    With no config: every hidden activation with every output and loss on small random networks.
    With configs: each one's network as initialised for training, each layer's W and b.
    """
    from dnncli.terminal import text as report
    from dnncli.run import gradcheck as checks
    from dnncli.errors import CheckFailed
    from dnncli.network.gradcheck import engine_cases

    if not configs:
        checked = checks.run_cases(engine_cases(), epsilon, threshold)
    else:
        from dnncli.config import load_config

        # every config is read (and refused) before any is checked
        cases = [checks.config_case(load_config(config, set_ or []), examples) for config in configs]
        checked = checks.run_cases(cases, epsilon, threshold, max_coordinates)
    if json_output:
        payload = {"epsilon": epsilon, "threshold": threshold, "passed": all(c.result.passed for c in checked),
                   "cases": [c.as_dict() for c in checked]}
        sys.stdout.write(report.to_json(payload) + "\n")
    elif not configs:
        stdout_console().print(checks.cases_table(checked))
    else:
        console = stdout_console()
        for case in checked:
            console.print(checks.parameters_table(case))
    message = checks.failure_message(checked, threshold)
    if message:
        raise CheckFailed(message)


@app.command()
@handle_errors
def info(
    model: Annotated[Optional[Path], typer.Argument(envvar="DNN_MODEL", help="Model file or run directory (default: $DNN_MODEL, else runs/latest).", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the description as JSON on stdout.")] = False,
) -> None:
    """Describe a model: layers, parameter counts, input shape and scaling, classes, config, metrics.

    [bold]Example:[/bold] dnn info runs/cat_deep --json | jq .metrics.test_accuracy
    """
    from dnncli.terminal import text as report
    from dnncli.model import info as modelinfo
    from dnncli.model.file import load_chosen_model

    description = modelinfo.describe(load_chosen_model(model))
    if json_output:
        sys.stdout.write(report.to_json(description) + "\n")
        return
    console = stdout_console()
    for table in modelinfo.tables(description):
        console.print(table)
    if description["config"]:
        from dnncli.terminal.display import shown

        console.print("[bold]training config[/bold]")
        console.print(shown(description["config"].rstrip(), keep_newlines=True))


# ---- dnn plot ----------------------------------------------------------------------------------

PictureOption = Annotated[Path, typer.Option("--output", "-o", help="The picture to write: a .png or .svg file name.")]


def _print_written(payload: dict[str, Any], json_output: bool) -> None:
    from dnncli.terminal import text as report

    if json_output:
        sys.stdout.write(report.to_json(payload) + "\n")
    else:
        for path in payload["files"]:
            print(path)


@plot_app.command("boundary")
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
    from dnncli.errors import ConfigError
    from dnncli.model.file import load_chosen_model
    from dnncli.plots.commands import plot_boundary as draw
    from dnncli.plots.figure import picture_format

    fmt = picture_format(output)
    bundle = load_chosen_model(model)
    if threshold is not None and not bundle.is_binary:
        raise ConfigError("--threshold applies to binary (one sigmoid output) models only")
    payload = draw(bundle, data, output, fmt, x_key=x_key, y_key=y_key, threshold=0.5 if threshold is None else threshold)
    _print_written(payload, json_output)


@plot_app.command("curves")
@handle_errors
def plot_curves(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or directories of runs (a sweep, runs/).", show_default=False)],
    output: PictureOption = Path("compare.png"),
    json_output: Annotated[bool, typer.Option("--json", help="Print the file written and the runs drawn as JSON on stdout.")] = False,
) -> None:
    """Compare runs: their training and validation cost (and accuracy) on one figure, one colour per run.

    [bold]Example:[/bold] dnn plot curves runs/cat_deep runs/cat_deep-2 -o compare.png
    """
    from dnncli.plots.commands import plot_curves as draw
    from dnncli.plots.figure import picture_format

    fmt = picture_format(output)
    _print_written(draw(runs, output, fmt), json_output)


def main() -> None:
    from dnncli.terminal.streams import guarded_streams

    with guarded_streams():  # also for click's own messages (usage errors) on a closed or full stderr
        app(prog_name="dnn")
