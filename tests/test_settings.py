"""The engine's settings and hooks (dnncli.training.settings), and how the config's training
section maps onto them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from dnncli.training.settings import HookList, Hooks, TrainPlan

PACKAGE = Path(__file__).resolve().parents[1] / "dnncli"


class Heard(Hooks):
    def __init__(self, name: str, log: list[tuple[str, str, Any]]) -> None:
        self.name, self.log = name, log

    def on_start(self, plan: TrainPlan) -> None:
        self.log.append((self.name, "start", plan.total_steps))

    def on_step(self, iteration: int, cost: float) -> None:
        self.log.append((self.name, "step", iteration))

    def on_epoch(self, epoch: int, cost: float) -> None:
        self.log.append((self.name, "epoch", epoch))

    def on_record(self, row: dict[str, Any]) -> None:
        self.log.append((self.name, "record", row["iteration"]))

    def on_end(self, result: Any) -> None:
        self.log.append((self.name, "end", result))


def test_a_hook_list_tells_every_hook_in_order() -> None:
    log: list[tuple[str, str, Any]] = []
    hooks = HookList(Heard("bar", log), None, Heard("supervisor", log))
    plan = TrainPlan(total_steps=3, total_epochs=3, steps_per_epoch=1, by_epoch=False, budget_in_epochs=False,
                     examples=10, parameters=5, first_layer="plain", first_layer_reason="")
    hooks.on_start(plan)
    hooks.on_step(1, 0.5)
    hooks.on_epoch(1, 0.5)
    hooks.on_record({"iteration": 1, "cost": 0.5})
    hooks.on_end("result")
    assert log == [
        (name, event, value)
        for event, value in [("start", 3), ("step", 1), ("epoch", 1), ("record", 1), ("end", "result")]
        for name in ("bar", "supervisor")
    ]
    assert not hooks.stop_requested()


def test_no_class_defines_a_method_twice() -> None:
    """A second ``def`` of the same name silently replaces the first (HookList.on_record was)."""
    twice = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                names = [f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
                twice += [f"{path.relative_to(PACKAGE.parent)}: {node.name}.{n}" for n in set(names) if names.count(n) > 1]
    assert not twice, twice
