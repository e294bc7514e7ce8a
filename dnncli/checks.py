"""``dnn gradcheck``: the engine's own cases, or a config's architecture on a few of its examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dnncli.config import Config
from dnncli.network.gradcheck import GradCheckCase, GradCheckResult, PassOptions, gradient_check

DEFAULT_EXAMPLES = 5
DEFAULT_MAX_COORDINATES = 200


@dataclass
class CheckedCase:
    case: GradCheckCase
    result: GradCheckResult
    max_coordinates: int | None

    def checked_of(self, name: str) -> int:
        size = int(self.case.network.params[name].size)
        return size if self.max_coordinates is None else min(size, self.max_coordinates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.name,
            "difference": self.result.difference,
            "passed": self.result.passed,
            "checked": self.result.checked,
            "parameters": {
                name: {"difference": value, "checked": self.checked_of(name), "size": int(self.case.network.params[name].size)}
                for name, value in self.result.per_parameter.items()
            },
        }


def regularization_options(config: Config) -> PassOptions:
    """The config's regularization as keyword arguments of the passes (none yet in this config)."""
    return PassOptions()


def config_case(config: Config, examples: int = DEFAULT_EXAMPLES) -> GradCheckCase:
    """The config's network, as initialised for training, on its first ``examples`` examples."""
    from dnncli.runs import prepare

    prepared = prepare(config)
    m = min(examples, prepared.X.shape[1])
    return GradCheckCase(
        name=config.name,
        network=prepared.network,
        X=np.ascontiguousarray(prepared.X[:, :m], dtype=np.float64),
        Y=np.ascontiguousarray(prepared.Y[:, :m], dtype=np.float64),
        options=regularization_options(config),
    )


def run_cases(
    cases: list[GradCheckCase], epsilon: float, threshold: float, max_coordinates: int | None = None
) -> list[CheckedCase]:
    return [
        CheckedCase(
            case,
            gradient_check(case.network, case.X, case.Y, epsilon, threshold, max_coordinates, options=case.options),
            max_coordinates,
        )
        for case in cases
    ]


def failure_message(checked: list[CheckedCase], threshold: float) -> str | None:
    failed = [c.case.name for c in checked if not c.result.passed]
    if not failed:
        return None
    return (
        f"gradient check failed: {len(failed)} of {len(checked)} case(s) have a relative difference "
        f"above {threshold:g} ({', '.join(failed)})"
    )


# ---- rendering -------------------------------------------------------------------------------


def _verdict(passed: bool) -> str:
    return "[green]pass[/green]" if passed else "[bold red]FAIL[/bold red]"


def cases_table(checked: list[CheckedCase]):  # -> rich.table.Table
    from rich.table import Table

    table = Table(title="gradient check of the engine (float64)", title_justify="left")
    for column in ("case", "relative difference", "coordinates", "result"):
        table.add_column(column, justify="left" if column in ("case", "result") else "right")
    for c in checked:
        table.add_row(c.case.name, f"{c.result.difference:.3e}", str(c.result.checked), _verdict(c.result.passed))
    return table


def parameters_table(checked: CheckedCase):
    from rich.table import Table

    network = checked.case.network
    # The verdict is over all coordinates together, as the course computes it: one array of very
    # small gradients (a 0.01-scaled init) can show finite-difference noise of 1e-7 on its own.
    table = Table(
        title=f"gradient check of {checked.case.name}: layers {network.layer_sizes} on "
        f"{checked.case.X.shape[1]} examples (float64; the result is over all coordinates)",
        title_justify="left",
    )
    for column in ("parameter", "shape", "relative difference", "coordinates", "result"):
        table.add_column(column, justify="left" if column in ("parameter", "shape", "result") else "right")
    for name, value in checked.result.per_parameter.items():
        shape = "x".join(map(str, network.params[name].shape))
        size = network.params[name].size
        table.add_row(name, shape, f"{value:.3e}", f"{checked.checked_of(name)} of {size}", "")
    table.add_row("all", "", f"{checked.result.difference:.3e}", str(checked.result.checked),
                  _verdict(checked.result.passed), style="bold")
    return table
