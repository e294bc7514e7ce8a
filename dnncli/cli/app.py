"""The command line's root: ``dnn`` with --version and the completion options, and the registry
of its commands. Results go to stdout; progress, logs and errors to stderr.

Each command lives in its own module (``dnncli/cli/train.py``, ...), which imports the library
at its top. This registry is the one place that defers those imports: ``dnn --help`` and shell
completion list the commands from the registry alone, and a command's module is imported only
when that command runs, completes its arguments or shows its own help.
"""

import importlib
import os
import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from dnncli import __version__
from dnncli.cli.helptext import polish
from dnncli.cli.startup import defer_unused_help_modules
from dnncli.errors import EXIT_BROKEN_PIPE, DnnError
from dnncli.terminal.streams import guarded_streams, stdout_closed, write_stderr

defer_unused_help_modules()  # typer's help renderer without rich.markdown and rich.traceback

# name -> (the module whose `app` holds it, its one-line help), in the order `dnn --help` lists
# them. The one-line help is the first paragraph of the command's own (tests/test_cli_registry.py).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("dnncli.cli.train", "Train the network a YAML config describes and write its run directory."),
    "sweep": ("dnncli.cli.sweep", "Train many variants of a config and find the best: grid, random or TPE search (Optuna)."),
    "runs": ("dnncli.cli.runs", "List runs (name, date, status, the settings that differ, final metrics), or compare some."),
    "predict": ("dnncli.cli.predict", "Predict the class of image files (PNG, JPEG, BMP, GIF, ... any size or mode), or a table's rows."),
    "evaluate": (
        "dnncli.cli.evaluate",
        "Evaluate a model on a labelled HDF5 set or folder of images: accuracy, precision, recall, F1, log loss, confusion matrix.",
    ),
    "gradcheck": ("dnncli.cli.gradcheck", "Check backpropagation against finite differences, in float64; exit 1 on any failure."),
    "info": ("dnncli.cli.info", "Describe a model: layers, parameter counts, input shape and scaling, classes, config, metrics."),
    "export": (
        "dnncli.cli.export",
        "Write a model as an ONNX file that runs without dnn (ONNX Runtime: Python, C, C#, Java, JavaScript, phones).",
    ),
    "data": (
        "dnncli.cli.data",
        "Data sets: the embedded demo set (demo), your own images (import), what a file or folder holds (inspect), a test set drawn from a file (split).",
    ),
    "plot": ("dnncli.cli.plot", "Pictures of models and runs: decision boundaries, learning curves compared."),
    "config": ("dnncli.cli.config", "Config files: their JSON Schema, for editors and validators."),
}


class ListedCommand(TyperCommand):
    """A command as ``dnn --help`` and completion list it: its name and one-line help, its
    module not imported."""


def load_command(name: str) -> Any:  # -> the click command (or group) typer builds
    """Import the command's module and build its command (help reflowed, metavars named)."""
    return polish(typer.main.get_command(importlib.import_module(COMMANDS[name][0]).app))


class RegistryGroup(TyperGroup):
    """The root group: lists the registry's commands, and loads one when it is resolved (to run,
    to complete its arguments, to show its help)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        for name, (_, summary) in COMMANDS.items():
            self.commands.setdefault(name, ListedCommand(name, help=summary))

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:  # the root's own: --version, the completion options, --help
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple[Optional[str], Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, ListedCommand) and name is not None:
            command = self.commands[name] = load_command(name)
        return name, command, rest


app = typer.Typer(
    name="dnn",
    cls=RegistryGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


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


def main() -> None:
    """The ``dnn`` command. What the root writes itself (``--help``, ``--version``, the help of a
    bare ``dnn``) fails as a command's results do: a closed or full stdout is one line, exit 3."""
    with guarded_streams():  # also for click's own messages (usage errors) on a closed or full stderr
        try:
            if sys.stdout is None:
                raise stdout_closed()
            try:
                app(prog_name="dnn")
                code: Any = 0
            except SystemExit as exit:
                code = exit.code
            sys.stdout.flush()  # here, inside the handler: not at exit, as a traceback
        except DnnError as exc:
            write_stderr(f"error: {exc.message}")
            code = exc.exit_code
        except BrokenPipeError:  # the reader went away (`dnn --help | head -1`)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = EXIT_BROKEN_PIPE
    sys.exit(code)
