"""The command line: one short Typer function per command, each parsing, calling the library and
rendering. Results go to stdout; progress, logs and errors to stderr.

Library modules are imported inside the commands so that ``dnn --help`` starts fast.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from dnncli import __version__
from dnncli.errors import EXIT_RUNTIME, EXIT_SIGINT, DnnError

app = typer.Typer(
    name="dnn",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Make and inspect data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


# ---- shared plumbing -------------------------------------------------------------------------


def stderr_console():  # -> rich.console.Console
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> None:
    """One line on stderr, then exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DnnError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_SIGINT)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except MemoryError:
            fail("out of memory; try a smaller network, fewer examples or float32", EXIT_RUNTIME)
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

    Exit codes: 0 success, 1 a check or quality gate failed, 2 usage error or bad input,
    3 training diverged or another runtime failure, 130/143 interrupted.
    """


# ---- dnn train -------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on stderr and/or the course's 'Cost after iteration N' lines."""

    def __init__(self, total: int, show_bar: bool, print_every: int | None) -> None:
        self.total, self.print_every = total, print_every
        self.step = max(1, total // 400)
        self.bar = None
        if show_bar:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("cost {task.fields[cost]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.task = self.bar.add_task("training", total=total, cost="-")

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, iteration: int, cost: float) -> None:
        done = iteration - 1  # the cost belongs to the parameters before this update
        if self.print_every and done % self.print_every == 0:
            line = f"Cost after iteration {done}: {cost}"
            self.bar.console.print(line) if self.bar is not None else print(line, file=sys.stderr)
        if self.bar is not None and (iteration % self.step == 0 or iteration == self.total):
            self.bar.update(self.task, completed=iteration, cost=f"{cost:.6f}")


@app.command()
@handle_errors
def train(
    config: Annotated[Path, typer.Argument(help="YAML config file.", show_default=False)],
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key, e.g. training.learning_rate=0.01 (repeatable)."),
    ] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config and stop.")] = False,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Write the run here instead of <output.dir>/<name>[-N].")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run directory.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout, nothing else.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print 'Cost after iteration N: ...' lines on stderr.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or messages on stderr.")] = False,
) -> None:
    """Train the network a YAML config describes and write its run directory.

    [bold]Example:[/bold] dnn train configs/cat_deep.yaml --set training.iterations=500

    The run directory (runs/<name>/, numbered if it exists) holds model.h5, history.csv, loss.png,
    metrics.json and config.yaml; runs/latest points at it.
    """
    from dnncli import report
    from dnncli.config import load_config
    from dnncli.runs import run_training

    cfg = load_config(config, set_ or [])
    if print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    show_bar = not quiet and sys.stderr.isatty()
    print_every = (cfg.training.print_every or cfg.training.record_every) if verbose and not quiet else None
    with _Progress(cfg.training.iterations, show_bar, print_every) as progress:
        metrics, _, _ = run_training(cfg, run_dir=run_dir, force=force, progress=progress)
    if json_output:
        sys.stdout.write(report.to_json(metrics) + "\n")
    else:
        stdout_console().print(report.training_summary(metrics))


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


def main() -> None:
    app(prog_name="dnn")
