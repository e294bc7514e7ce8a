"""`dnn --help` starts fast because it lists the commands from a registry, without importing
them or the heavy libraries they use (no timing asserted here: what is imported is what decides
the start-up time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "h5py", "matplotlib", "PIL", "pydantic", "yaml")


def _in_a_fresh_interpreter(code: str) -> str:
    """What ``code`` prints, run by a new Python (nothing imported yet); it must succeed."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _imported_after(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    return _in_a_fresh_interpreter(probe).split()


def test_help_and_version_import_no_heavy_library() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from dnncli.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'train' in result.output, result.output\n"
        "result = CliRunner().invoke(app, ['--version'])\n"
        "assert result.exit_code == 0 and result.output.startswith('dnn '), result.output"
    )
    assert _imported_after(code) == []


def test_help_and_version_import_no_command_module() -> None:
    """The root's help lists the commands from the registry (dnncli.cli.app.COMMANDS) alone."""
    code = (
        "from typer.testing import CliRunner\n"
        "from dnncli.cli.app import app\n"
        "for args in (['--help'], ['--version'], []):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code in (0, 2), (args, result.output)\n"
        "import sys\n"
        "print(' '.join(m for m in sys.modules if m.startswith('dnncli.cli.') and m not in ('dnncli.cli.app', 'dnncli.cli.startup', 'dnncli.cli.helptext')))"
    )
    assert _in_a_fresh_interpreter(code).split() == []


@pytest.mark.parametrize(
    "args, module",
    [(["train", "--help"], "train"), (["data", "--help"], "data"), (["plot", "boundary", "--help"], "plot"),
     (["predict"], "predict")],  # a usage error: the command's own message
)
def test_a_command_imports_its_own_module_only(args: list[str], module: str) -> None:
    """A command's help (or its run) imports that command's module, which imports the library
    at its top; no other command's module."""
    code = (
        "from typer.testing import CliRunner\n"
        "from dnncli.cli.app import COMMANDS, app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code in (0, 2), result.output\n"
        "import sys\n"
        "print(' '.join(name for name, (m, _) in COMMANDS.items() if m in sys.modules))"
    )
    assert _in_a_fresh_interpreter(code).split() == [module]


def test_help_leaves_out_the_markdown_renderer_and_a_later_import_gets_the_real_one() -> None:
    """typer's help renderer imports rich.markdown and rich.traceback without using them in
    dnn's markup mode: dnncli.cli.startup lends it stand-ins, which leave sys.modules afterwards."""
    code = (
        "from typer.testing import CliRunner\n"
        "from dnncli.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'Commands' in result.output, result.output\n"
        "import sys\n"
        "assert 'typer.rich_utils' in sys.modules\n"
        "print('rendered', ' '.join(m for m in ('rich.markdown', 'rich.traceback', 'markdown_it', 'pygments') if m in sys.modules))\n"
        "from rich.markdown import Markdown\n"
        "from rich.console import Console\n"
        "import typer.rich_utils as ru\n"
        "import io\nconsole = Console(record=True, width=40, file=io.StringIO())\n"
        "console.print(Markdown('# Title'), ru.Markdown('*one* two'))\n"
        "text = console.export_text()\n"
        "assert 'Title' in text and 'one two' in text, text\n"
        "assert isinstance(ru.Markdown('x'), Markdown)\n"
    )
    assert _in_a_fresh_interpreter(code).split() == ["rendered"]


def test_a_help_renderer_that_needs_more_than_the_stand_ins_gets_the_real_modules(tmp_path) -> None:
    """Should a later typer import more from rich.markdown, --help still works: the renderer's
    module is run again with the real modules."""
    (tmp_path / "renderer_taking_more.py").write_text("from rich.markdown import Markdown, Heading\n")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import dnncli.cli.startup as startup\n"
        "startup.HELP_RENDERER = 'renderer_taking_more'\n"
        "startup.defer_unused_help_modules()\n"
        "import renderer_taking_more, rich.markdown\n"
        "assert renderer_taking_more.Markdown is rich.markdown.Markdown\n"
        "assert renderer_taking_more.Heading is rich.markdown.Heading\n"
    )
    _in_a_fresh_interpreter(code)


def test_only_a_table_imports_pyarrow(tmp_path) -> None:
    """pyarrow (a fifth of a second with its CSV, Parquet and compute modules) is imported when a
    table is first read, not by the modules of training, prediction or sweeps (dnncli.data.arrow)."""
    modules = ("pyarrow", "pyarrow.compute", "pyarrow.csv", "pyarrow.parquet")
    code = (
        "import dnncli.cli.train, dnncli.cli.predict, dnncli.cli.evaluate, dnncli.cli.sweep, dnncli.cli.data\n"
        "import dnncli.sweep.worker, dnncli.model.file, dnncli.model.table_graph, dnncli.data.inspection"
    )
    assert _imported_after(code, modules) == []
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n")
    reading = f"from dnncli.data.tables import open_table, read_table\nprint(read_table(open_table({str(table)!r})).num_rows)"
    printed = _imported_after(reading, modules)
    assert printed[0] == "2" and {"pyarrow", "pyarrow.csv"} <= set(printed[1:])  # CSV: not Parquet's module
