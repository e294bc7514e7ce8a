"""The engine's settings and hooks (dnncli.training.settings), and how the config's training
section maps onto them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from dnncli.config import Config, ModelConfig, TrainingConfig
from dnncli.network.activations import DEFAULT_LEAKY_SLOPE
from dnncli.network.initializers import DEFAULT_RANDOM_SCALE
from dnncli.network.model import Network
from dnncli.run.prepare import train_settings
from dnncli.training.settings import DEFAULT_ITERATIONS, HookList, Hooks, TrainPlan, TrainSettings

PACKAGE = Path(__file__).resolve().parents[1] / "dnncli"

# A new engine setting must be added here, to the config's training section (with its description;
# its default comes from TrainSettings), and to NOT_THE_DEFAULTS below.
ENGINE_SETTINGS = {
    "learning_rate", "iterations", "epochs", "optimizer", "beta", "beta1", "beta2", "epsilon", "schedule",
    "decay_rate", "decay_steps", "batch_size", "shuffle", "record_every", "l2_lambda", "keep_prob",
    "early_stopping", "patience", "min_delta", "keep_best", "first_layer", "gram_budget_mb",
}
# what a run needs beyond the engine: the run's seed, the float type, printing and checkpoints
CONFIG_ONLY = {"seed", "dtype", "print_every", "checkpoint_every", "log_every_seconds", "checkpoint_min_seconds"}
# a valid training section in which every engine setting differs from its default
NOT_THE_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.05, "iterations": None, "epochs": 3, "optimizer": "momentum", "beta": 0.8, "beta1": 0.85,
    "beta2": 0.99, "epsilon": 1e-7, "schedule": "step", "decay_rate": 0.5, "decay_steps": 2, "batch_size": 16,
    "shuffle": False, "record_every": 5, "l2_lambda": 0.1, "keep_prob": [0.8, 0.9], "early_stopping": True,
    "patience": 3, "min_delta": 0.01, "keep_best": True, "first_layer": "gram", "gram_budget_mb": 64.0,
}


def test_the_engine_has_the_expected_settings() -> None:
    assert set(TrainSettings.names()) == ENGINE_SETTINGS


def test_the_config_has_every_engine_setting_and_the_expected_others() -> None:
    assert set(TrainingConfig.model_fields) == ENGINE_SETTINGS | CONFIG_ONLY


@pytest.mark.parametrize("name", sorted(ENGINE_SETTINGS))
def test_every_config_default_is_the_engines(name: str) -> None:
    engine = getattr(TrainSettings(), name)
    declared = TrainingConfig.model_fields[name].default
    used = getattr(TrainingConfig(), name)
    # the type too: a default of 512 where the config reads 512.0 would change --print-config
    assert (type(declared), declared) == (type(used), used) == (type(engine), engine)


def test_the_model_section_takes_the_networks_defaults() -> None:
    model = ModelConfig()
    assert (model.init_scale, model.leaky_relu_slope) == (DEFAULT_RANDOM_SCALE, DEFAULT_LEAKY_SLOPE)


def test_the_default_budget_is_iterations_unless_epochs_are_given() -> None:
    assert TrainSettings().iterations == TrainingConfig().iterations == DEFAULT_ITERATIONS
    assert TrainSettings(epochs=4).iterations is None and TrainingConfig(epochs=4).iterations is None
    with pytest.raises(ValueError, match="not both"):
        TrainSettings(iterations=10, epochs=4)


def test_the_engine_trains_with_every_setting_the_config_gives() -> None:
    assert set(NOT_THE_DEFAULTS) == ENGINE_SETTINGS
    config = Config.model_validate({
        "data": {"train": "train.h5", "validation_fraction": 0.2}, "training": NOT_THE_DEFAULTS,
    })
    network = Network.create([4, 3, 2, 1], ["relu", "relu", "sigmoid"])
    settings = train_settings(config, network)
    defaults = TrainSettings()
    for name, value in NOT_THE_DEFAULTS.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(settings, name) == expected != getattr(defaults, name), name
    assert settings.rate(4) == 0.05 * 0.5**2  # the schedule is the config's


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
