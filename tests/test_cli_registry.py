"""The command registry (dnncli.cli.app.COMMANDS): `dnn --help` and shell completion list the
commands from it without importing them, so what it says must be what the commands say."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnncli.cli import app as root
from dnncli.cli.app import COMMANDS, app, load_command

NOT_COMMANDS = {"__init__", "app", "common", "helptext", "render", "startup"}  # dnncli/cli's other modules


def _first_paragraph(text: str | None) -> str:
    return inspect.cleandoc(text or "").split("\n\n")[0].strip()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_registry_says_what_the_command_says(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name][1] == _first_paragraph(command.help)


def test_every_command_module_is_registered() -> None:
    modules = {p.stem for p in Path(root.__file__).parent.glob("*.py")} - NOT_COMMANDS
    assert {f"dnncli.cli.{m}" for m in modules} == {module for module, _ in COMMANDS.values()}


def _complete(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the last one being completed)."""
    env = {"_DNN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = CliRunner().invoke(app, [], env=env, prog_name="dnn")
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_completion_lists_commands_groups_subcommands_and_options() -> None:
    assert _complete("dnn ") == list(COMMANDS)
    assert _complete("dnn t") == ["train"]
    assert _complete("dnn data i") == ["import", "inspect"]
    assert _complete("dnn plot ") == ["boundary", "curves"]
    assert "--format" in _complete("dnn predict --")
    assert _complete("dnn predict --format j") == ["json", "jsonl"]


def test_a_misspelt_command_gets_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["trian"])
    assert result.exit_code == 2
    assert "No such command 'trian'. Did you mean 'train'?" in result.output
    result = CliRunner().invoke(app, ["data", "imprt"])
    assert result.exit_code == 2 and "Did you mean 'import'?" in result.output


def _listed(args: list[str]) -> dict[str, str]:
    """The commands a help screen lists (its last panel), each with its one-line help, on a
    terminal wide enough for no line to wrap."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    panel = result.stdout[result.stdout.rindex("╭─ Commands"):].splitlines()
    return dict(line.strip("│ ").split(None, 1) for line in panel if line.startswith("│"))


def test_the_roots_help_lists_every_command_with_its_one_line_help() -> None:
    assert _listed(["--help"]) == {name: summary for name, (_, summary) in COMMANDS.items()}


@pytest.mark.parametrize("group, subcommands", [("data", ["demo", "import", "inspect", "split"]), ("plot", ["boundary", "curves"])])
def test_a_groups_help_lists_its_subcommands(group: str, subcommands: list[str]) -> None:
    commands = load_command(group).commands
    assert _listed([group, "--help"]) == {name: _first_paragraph(commands[name].help) for name in subcommands}


def _all_commands(command, path: str = "dnn"):
    yield path, command
    for name in getattr(command, "commands", {}):
        yield from _all_commands(command.commands[name], f"{path} {name}")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_reads_well_at_80_columns(name: str) -> None:
    """Each paragraph of a command's help is one flowing line (the terminal wraps it, never the
    docstring's line breaks), and no option shows typer's `<bool>` or `<list[str]>` labels."""
    for path, command in _all_commands(load_command(name), f"dnn {name}"):
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, (path, paragraph)
        shown = CliRunner().invoke(app, [*path.split()[1:], "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
        assert shown.exit_code == 0, shown.output
        assert max(len(line) for line in shown.output.splitlines()) <= 80
        assert "<bool>" not in shown.output and "<list[" not in shown.output and "<str>" not in shown.output, path


def test_the_root_help_names_no_type_for_its_flags() -> None:
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0 and "<bool>" not in shown.output and "--install-completion" in shown.output
