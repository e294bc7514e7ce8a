"""``dnn gradcheck``: the engine's own cases, or a config's architecture on a few of its examples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rich.table import Table

from dnncli.config import Config, load_config
from dnncli.network.gradcheck import GradCheckCase, GradCheckResult, PassOptions, engine_cases, gradient_check
from dnncli.network.model import Network
from dnncli.run.prepare import generators, keep_probs, prepare

DEFAULT_EXAMPLES = 5


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


def regularization_options(config: Config, network: Network, m: int) -> PassOptions:
    """The config's L2 penalty and dropout as keyword arguments of the passes. Dropout masks are
    drawn once (from the run's training seed) and held fixed, so that every cost evaluation of
    the check sees the same thinned network."""
    options = PassOptions()
    if config.training.l2_lambda:
        options.cost["l2_lambda"] = options.backward["l2_lambda"] = config.training.l2_lambda
    probs = keep_probs(config, network)
    if probs is not None:
        _, rng = generators(config)
        masks = [rng.random((n, m)) < k for n, k in zip(network.layer_sizes[1:-1], probs)]
        options.forward.update(keep_probs=probs, masks=masks)
    return options


def config_case(config: Config, examples: int = DEFAULT_EXAMPLES) -> GradCheckCase:
    """The config's network, as initialised for training, on its first ``examples`` examples,
    with its regularization."""
    prepared = prepare(config)
    data = prepared.data
    m = min(examples, data.m)
    return GradCheckCase(
        name=config.name,
        network=prepared.network,
        X=np.ascontiguousarray(data.X[:, :m], dtype=np.float64),
        Y=np.ascontiguousarray(data.Y[:, :m], dtype=np.float64),
        options=regularization_options(config, prepared.network, m),
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


@dataclass
class GradCheckReport:
    """What ``dnn gradcheck`` found: the engine's own cases (no config given) or the configs'."""

    checked: list[CheckedCase]
    epsilon: float
    threshold: float
    of_configs: bool

    @property
    def passed(self) -> bool:
        return all(c.result.passed for c in self.checked)

    def as_dict(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "threshold": self.threshold, "passed": self.passed,
                "cases": [c.as_dict() for c in self.checked]}

    def tables(self) -> list[Table]:
        """One table of the engine's cases, or one table of parameters per config."""
        if not self.of_configs:
            return [cases_table(self.checked)]
        return [parameters_table(case) for case in self.checked]

    def failure_message(self) -> str | None:
        return failure_message(self.checked, self.threshold)


def gradcheck(
    configs: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    *,
    epsilon: float = 1e-7,
    threshold: float = 1e-7,
    examples: int = DEFAULT_EXAMPLES,
    max_coordinates: int | None = 200,
) -> GradCheckReport:
    """``dnn gradcheck``: with no config every coordinate of the engine's own cases; with configs
    (each read with ``overrides``, every one read and refused before any is checked) each one's
    network on ``examples`` of its training examples, at most ``max_coordinates`` entries of each
    parameter array."""
    if not configs:
        return GradCheckReport(run_cases(engine_cases(), epsilon, threshold), epsilon, threshold, of_configs=False)
    cases = [config_case(load_config(config, list(overrides)), examples) for config in configs]
    return GradCheckReport(run_cases(cases, epsilon, threshold, max_coordinates), epsilon, threshold, of_configs=True)


# ---- rendering -------------------------------------------------------------------------------


def _verdict(passed: bool) -> str:
    return "[green]pass[/green]" if passed else "[bold red]FAIL[/bold red]"


def cases_table(checked: list[CheckedCase]) -> Table:
    table = Table(
        title="gradient check of the engine (float64; dropout with fixed masks; checked: coordinates)",
        title_justify="left",
    )
    for column in ("case", "rel. difference", "checked", "result"):
        table.add_column(column, justify="left" if column in ("case", "result") else "right", no_wrap=column != "case")
    for c in checked:
        table.add_row(c.case.name, f"{c.result.difference:.3e}", str(c.result.checked), _verdict(c.result.passed))
    return table


def _regularization_text(options: PassOptions) -> str:
    parts = []
    if options.cost.get("l2_lambda"):
        parts.append(f"L2 lambda {options.cost['l2_lambda']:g}")
    if options.forward.get("keep_probs") is not None:
        parts.append(f"dropout keep_prob {options.forward['keep_probs']} with fixed masks")
    return f", {', '.join(parts)}" if parts else ""


def parameters_table(checked: CheckedCase) -> Table:
    network = checked.case.network
    # The verdict is over all coordinates together, as the course computes it: one array of very
    # small gradients (a 0.01-scaled init) can show finite-difference noise of 1e-7 on its own.
    table = Table(
        title=f"gradient check of {checked.case.name}: layers {network.layer_sizes} on "
        f"{checked.case.X.shape[1]} examples{_regularization_text(checked.case.options)} "
        "(float64; the result is over all coordinates)",
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
