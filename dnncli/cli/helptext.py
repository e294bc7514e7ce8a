"""Help that reads well at any width: each paragraph of a command's help one flowing line (its
docstring's line breaks are the source's, not sentences'), and option metavars that say what a
value is (``FLOAT``, ``PATH``, ``[png|svg]``; none for a flag) instead of ``<bool>`` or
``<list[str]>``. Applied to every command as the registry builds it (:mod:`dnncli.cli.app`)."""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer import _click as click  # typer's own copy of click, whose objects it builds

# typer's type labels (``<float>``, ``<list[str]>``) -> a metavar
METAVARS = {
    "float": "FLOAT", "float range": "FLOAT", "int": "INTEGER", "int range": "INTEGER", "str": "TEXT",
    "path": "PATH", "file": "FILE", "directory": "DIRECTORY",
}


def reflowed(text: str | None) -> str | None:
    """Paragraphs (separated by a blank line) joined into one line each; a paragraph click must
    not rewrap (``\\b``) kept as it is."""
    if not text:
        return text
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    return "\n\n".join(p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def metavar(param: click.Parameter, ctx: click.Context) -> str:
    """What the help shows for a parameter's value: nothing for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    shown = param.display_type(ctx).strip("<>")
    many = shown.startswith("list[") and shown.endswith("]")
    label = shown[5:-1] if many else shown
    label = f"[{label}]" if "|" in label else METAVARS.get(label, label.upper())
    return label


def polish(command: Any, ctx: click.Context | None = None) -> Any:
    """``command`` (and a group's subcommands) with reflowed help and meaningful metavars."""
    ctx = ctx or click.Context(command, info_name=command.name)
    command.help = reflowed(command.help)
    for param in command.params:
        if param.param_type_name == "argument":  # its name says what it is: no type beside it
            param.display_type_rich = lambda ctx: ""
        elif param.metavar is None:
            param.metavar = metavar(param, ctx)
    show_help = command.get_help_option

    def help_option(ctx: click.Context) -> Any:  # click makes --help anew for each context
        option = show_help(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        polish(sub, click.Context(sub, info_name=sub.name, parent=ctx))
    return command
