"""``dnn config schema``."""

from typing import Annotated

import typer

from dnncli.cli.common import command_app, handle_errors, print_json
from dnncli.config.jsonschema import config_schema
from dnncli.sweep.jsonschema import sweep_schema

app = command_app(name="config", no_args_is_help=True)


@app.callback()
def config() -> None:
    """Config files: their JSON Schema, for editors and validators."""
    # a group even with one subcommand, so that `dnn config schema` names it


@app.command("schema")
@handle_errors
def schema(
    sweep: Annotated[bool, typer.Option("--sweep", help="The schema of a sweep file instead of a config file.")] = False,
) -> None:
    """Print the JSON Schema of a config file (or, with --sweep, of a sweep file).

    [bold]Example:[/bold] dnn config schema > dnn-config.schema.json

    Then start a config with: # yaml-language-server: $schema=dnn-config.schema.json
    """
    print_json(sweep_schema() if sweep else config_schema())
