"""``dnn gradcheck``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnncli.cli.common import command_app, finite, handle_errors, print_all, print_json
from dnncli.errors import CheckFailed
from dnncli.run.gradcheck import gradcheck as check_gradients

app = command_app()


@app.command()
@handle_errors
def gradcheck(
    configs: Annotated[Optional[list[Path]], typer.Argument(metavar="[CONFIG]...", help="YAML configs to check (default: the engine's own cases).", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key, in every config given (repeatable).")] = None,
    epsilon: Annotated[float, typer.Option(callback=finite, min=1e-12, max=1.0, help="Step of the two-sided finite differences.")] = 1e-7,
    threshold: Annotated[float, typer.Option(callback=finite, min=1e-15, help="Largest relative difference that passes.")] = 1e-7,
    examples: Annotated[int, typer.Option(min=1, help="With a config: how many of its training examples.")] = 5,
    max_coordinates: Annotated[int, typer.Option("--max-coordinates", min=1, help="With a config: at most this many entries of each parameter array, sampled.")] = 200,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Check backpropagation against finite differences, in float64; exit 1 on any failure.

    [bold]Example:[/bold] dnn gradcheck && dnn gradcheck configs/cat_deep.yaml configs/football_l2.yaml --examples 3

    With no config: every hidden activation with every output and loss on small random networks.
    With configs: each one's network as initialised for training, each layer's W and b.
    """
    report = check_gradients(
        configs or [], set_ or [], epsilon=epsilon, threshold=threshold, examples=examples, max_coordinates=max_coordinates,
    )
    if json_output:
        print_json(report.as_dict())
    else:
        print_all(report.tables())
    message = report.failure_message()
    if message:
        raise CheckFailed(message)
