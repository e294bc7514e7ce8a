"""The sweep file: a base config, the metric, the sampler, the budget and the search space.

::

    name: football-lr                  # names sweeps/<name>/ (default: the file's stem)
    base: configs/football.yaml        # the config every trial starts from
    set: [training.iterations=2000]    # fixed overrides of the base, as with dnn train --set
    metric: {name: test_accuracy, goal: maximize}
    sampler: tpe                       # grid | random | tpe
    trials: 40
    space:
      training.learning_rate: {log_uniform: [1.0e-4, 1.0]}
      training.beta: {one_minus_log_uniform: [0.9, 0.999]}
      training.l2_lambda: {uniform: [0, 1]}
      model.hidden: {choice: [[20, 3], [40, 10], [64]]}

The scales are the course's: ``log_uniform`` draws ``10^r`` with ``r`` uniform (a learning rate),
``one_minus_log_uniform`` draws ``1 - 10^r`` (β close to 1: 0.9 to 0.999 is as likely as 0.99 to
0.999), ``uniform``, ``int`` (integers, ends included) and ``choice``. A grid takes every choice and
``steps`` evenly spaced values of a range (on its scale). The file is checked as strictly as a
config: unknown keys, ranges the wrong way round, a log range through 0, a space whose values make
an impossible config, are refused in one line naming the key.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dnncli.config import (
    Config,
    DataConfig,
    ModelConfig,
    TrainingConfig,
    apply_overrides,
    describe_error,
    read_config_file,
    read_yaml_file,
    validate_config,
)
from dnncli.config.messages import loc_text
from dnncli.data.tables import is_table
from dnncli.errors import ConfigError, DataError

# metric -> the goal it has unless the sweep file says otherwise
METRIC_GOALS: dict[str, str] = {
    "val_accuracy": "maximize",
    "val_cost": "minimize",
    "test_accuracy": "maximize",
    "test_cost": "minimize",
    "train_accuracy": "maximize",
    "final_cost": "minimize",
    "val_r2": "maximize",
    "test_r2": "maximize",
    "train_r2": "maximize",
    "val_mae": "minimize",
    "test_mae": "minimize",
    "train_mae": "minimize",
    # a table's regression: in the target's units
    "val_rmse": "minimize",
    "test_rmse": "minimize",
    "train_rmse": "minimize",
}
# metric -> its column in the history rows recorded while training (what a pruner watches)
HISTORY_COLUMNS = {
    "val_accuracy": "val_accuracy",
    "val_cost": "val_cost",
    "test_accuracy": "test_accuracy",
    "test_cost": "test_cost",
    "train_accuracy": "train_accuracy",
    "final_cost": "cost",
}
TEST_SET_WARNING = (
    "metric: {metric} chooses on the test set, which makes the best trial's test score optimistic; "
    "choose on a validation set instead: set: [data.validation_fraction=0.2] and metric: val_{kind}"
)
SCALES = ("log_uniform", "one_minus_log_uniform", "uniform", "int", "choice")
SWEEPABLE_SECTIONS = {"model": ModelConfig, "data": DataConfig, "training": TrainingConfig}
MAX_GRID = 100_000
MAX_TRIALS = 100_000
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=True)


class Dimension(_Strict):
    """One swept key: exactly one scale, and for a grid over a range its number of ``steps``."""

    log_uniform: list[float] | None = Field(
        default=None, description="[a, b]: 10^r with r uniform in [log10 a, log10 b] (a > 0): a learning rate.",
    )
    one_minus_log_uniform: list[float] | None = Field(
        default=None, description="[a, b]: 1 - 10^r, r uniform in [log10(1 - b), log10(1 - a)] (0 <= a < b < 1): a beta from 0.9 to 0.999.",
    )
    uniform: list[float] | None = Field(
        default=None, description="[a, b]: uniform.",
    )
    integer: list[int] | None = Field(
        default=None, alias="int", description="[a, b]: an integer from a to b, both included.",
    )
    choice: list[Any] | None = Field(
        default=None, description="One of these values (numbers, strings, lists such as hidden sizes).",
    )
    steps: int | None = Field(
        default=None, ge=2, le=10_000, description="sampler grid, over a range: this many values, evenly spaced on its scale, ends included.",
    )

    @model_validator(mode="after")
    def _check(self) -> "Dimension":
        given = [scale for scale in SCALES if self.values_of(scale) is not None]
        if len(given) != 1:
            got = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"give exactly one scale ({', '.join(SCALES)}); {got}")
        scale = given[0]
        values = self.values_of(scale)
        if scale == "choice":
            if not values:
                raise ValueError("choice is empty: list at least one value")
            texts = [json.dumps(v, sort_keys=True) for v in values]
            if len(set(texts)) != len(texts):
                raise ValueError(f"choice {values}: a value is listed twice")
            if self.steps is not None:
                raise ValueError("steps applies to ranges; a choice is already a list of values")
            return self
        if len(values) != 2:
            raise ValueError(f"{scale} = {values}: expected a range [low, high]")
        low, high = values
        if not low < high:
            raise ValueError(f"{scale} = {values}: low must be below high")
        if scale == "log_uniform" and low <= 0:
            raise ValueError(
                f"log_uniform = {values}: a log scale needs low > 0 (its range cannot reach 0); "
                "use uniform for a range through 0"
            )
        if scale == "one_minus_log_uniform" and not (0 <= low and high < 1):
            raise ValueError(
                f"one_minus_log_uniform = {values}: draws 1 - 10^r, so the range must lie in [0, 1), "
                "e.g. [0.9, 0.999]"
            )
        return self

    def values_of(self, scale: str) -> list[Any] | None:
        return self.integer if scale == "int" else getattr(self, scale)

    @property
    def scale(self) -> str:
        return next(scale for scale in SCALES if self.values_of(scale) is not None)


class MetricSpec(_Strict):
    name: Literal[tuple(METRIC_GOALS)] = Field(description="The metric: a value of the trial's metrics.json.")  # type: ignore[valid-type]
    goal: Literal["maximize", "minimize"] | None = Field(
        default=None, description="maximize or minimize; default: maximize accuracies and R2, minimize costs and errors.",
    )


class OutputSpec(_Strict):
    dir: str = Field(
        default="sweeps", min_length=1, description="Where sweep directories go: <dir>/<name>/.",
    )


class SweepFile(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    base: str = Field(min_length=1)
    set: list[str] = Field(default_factory=list)
    metric: MetricSpec | None = None
    sampler: Literal["grid", "random", "tpe"] = Field(
        default="tpe", description="grid: every point, in an order shuffled by seed; random; tpe: Optuna's tree-structured Parzen estimator (a constant liar with several trials at once).",
    )
    trials: int | None = Field(
        default=None, ge=1, le=MAX_TRIALS, description="The budget: required for random and tpe; at most the grid's size for grid (its default).",
    )
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="The sampler's seed.",
    )
    pruner: Literal["none", "median", "successive_halving"] = Field(
        default="none", description="median or successive_halving: stop a trial whose recorded metric is clearly worse than the finished trials' at the same point (Optuna's pruners).",
    )
    seeds: int = Field(
        default=1, ge=1, le=100,
        description="Trainings of each trial, with model.seed (and training.seed, if given) + 0, 1, ..., N-1: "
        "the trial's metric is their mean, their standard deviation its spread. Ties between trials are "
        "broken by the mean val_cost, then by the earlier trial.",
    )
    space: dict[str, Dimension]
    output: OutputSpec = Field(default_factory=OutputSpec)

    @model_validator(mode="before")
    @classmethod
    def _metric_shorthand(cls, raw: Any) -> Any:
        # `metric: val_cost` is short for `metric: {name: val_cost}`
        if isinstance(raw, dict) and isinstance(raw.get("metric"), str):
            raw = {**raw, "metric": {"name": raw["metric"]}}
        return raw

    @model_validator(mode="after")
    def _check(self) -> "SweepFile":
        if self.name is not None and not re.fullmatch(NAME_PATTERN, self.name):
            raise ValueError(f"name = {self.name!r}: use letters, digits, '.', '_' or '-' (it names a directory)")
        if not self.space:
            raise ValueError(
                "space is empty: name at least one config key to search, e.g. "
                "training.learning_rate: {log_uniform: [1.0e-4, 1.0]}"
            )
        for key in self.space:
            _check_key(key)
        if self.sampler == "grid":
            for key, dim in self.space.items():
                if dim.scale not in ("choice", "int") and dim.steps is None:
                    raise ValueError(
                        f"space.{key}: a grid over the continuous range {dim.scale} = "
                        f"{dim.values_of(dim.scale)} needs steps (how many values), e.g. steps: 4"
                    )
        else:
            for key, dim in self.space.items():
                if dim.steps is not None:
                    raise ValueError(
                        f"space.{key}.steps: only the grid sampler takes steps (sampler is "
                        f"{self.sampler}); remove it or set sampler: grid"
                    )
            if self.trials is None:
                raise ValueError(f"trials: the {self.sampler} sampler needs a budget, e.g. trials: 20")
        return self


def _check_key(key: str) -> None:
    section, _, name = key.partition(".")
    known_keys = [f"{s}.{k}" for s, model in SWEEPABLE_SECTIONS.items() for k in model.model_fields]
    if section in SWEEPABLE_SECTIONS and name in SWEEPABLE_SECTIONS[section].model_fields:
        return
    close = difflib.get_close_matches(key, known_keys, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else " (a key of model, data or training, e.g. training.learning_rate)"
    raise ValueError(f"space: unknown config key '{key}'{hint}")


# ---- the resolved sweep ----------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One swept config key, its scale, and the value Optuna records for it."""

    key: str
    scale: str
    low: float | int | None = None
    high: float | int | None = None
    steps: int | None = None
    choices: tuple[Any, ...] = ()

    @property
    def study_name(self) -> str:
        # Optuna samples 1 - beta on a log scale: that is the parameter it records
        return f"1-{self.key}" if self.scale == "one_minus_log_uniform" else self.key

    @property
    def log(self) -> bool:
        return self.scale in ("log_uniform", "one_minus_log_uniform")

    def _encoded_choices(self) -> list[Any]:
        # Optuna's choices are scalars: lists (model.hidden) are recorded as their JSON text
        if all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
            return list(self.choices)
        return [json.dumps(c) for c in self.choices]

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.scale == "choice":
            return CategoricalDistribution(self._encoded_choices())
        if self.scale == "int":
            return IntDistribution(int(self.low), int(self.high))
        if self.scale == "one_minus_log_uniform":
            return FloatDistribution(1.0 - float(self.high), 1.0 - float(self.low), log=True)
        return FloatDistribution(float(self.low), float(self.high), log=self.scale == "log_uniform")

    def grid_count(self) -> int:
        """How many values :meth:`grid` gives, counted without building them (an integer range
        of 10^18 is refused by its count, not by the memory its list would take)."""
        if self.scale == "choice":
            return len(self._encoded_choices())
        if self.scale == "int":
            span = int(self.high) - int(self.low) + 1
            if self.steps is None:
                return span
            # with at least as many steps as integers every integer is hit; otherwise (at most
            # 10,000 steps) the rounded values are counted
            return span if self.steps >= span else len(self.grid())
        return int(self.steps or 0)

    def grid(self) -> list[Any]:
        """The values (as Optuna records them) a grid takes: every choice, every integer, or
        ``steps`` values evenly spaced on the range's scale, ends included."""
        if self.scale == "choice":
            return self._encoded_choices()
        if self.scale == "int":
            low, high = int(self.low), int(self.high)
            if self.steps is None:
                return list(range(low, high + 1))
            return sorted({round(low + (high - low) * i / (self.steps - 1)) for i in range(self.steps)})
        dist = self.distribution()
        low, high, n = dist.low, dist.high, self.steps
        if dist.log:
            values = [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (n - 1)) for i in range(n)]
        else:
            values = [low + (high - low) * i / (n - 1) for i in range(n)]
        # 12 significant digits: 0.1, not 0.10000000000000002, in configs and tables
        return [low, *(float(f"{v:.12g}") for v in values[1:-1]), high]

    def config_value(self, recorded: Any) -> Any:
        """The config value of a value Optuna recorded."""
        if self.scale == "choice":
            encoded = self._encoded_choices()
            return self.choices[encoded.index(recorded)]
        if self.scale == "int":
            return int(recorded)
        if self.scale == "one_minus_log_uniform":
            return 1.0 - float(recorded)
        return float(recorded)

    def edge_values(self) -> list[Any]:
        """Config values worth validating before any trial runs: both ends, or every choice."""
        if self.scale == "choice":
            return list(self.choices)
        if self.scale == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


@dataclass
class Sweep:
    """A validated sweep file, with its base config read and the metric decided."""

    name: str
    source: Path
    base_path: Path
    base_raw: dict[str, Any]  # the base config as written, with `set` applied
    base_config: Config
    fixed: list[str]
    metric: str
    goal: str
    sampler: str
    trials: int  # planned trials
    seed: int
    pruner: str
    params: list[Param]
    directory: Path
    cwd: Path
    notes: list[str] = field(default_factory=list)  # warnings for stderr, and the results' warnings
    seeds: int = 1  # trainings of each trial, with seeds model.seed + 0 .. seeds - 1

    def identity(self) -> dict[str, Any]:
        """What must not change for a rerun to continue the same sweep (the budget may)."""
        return {
            "base": self.base_raw,
            "metric": self.metric,
            "goal": self.goal,
            "sampler": self.sampler,
            "seed": self.seed,
            "pruner": self.pruner,
            "space": [p.__dict__ | {"choices": list(p.choices)} for p in self.params],
            # only when given: a sweep directory started before seeds existed continues
            **({"seeds": self.seeds} if self.seeds > 1 else {}),
        }

    def config_values(self, recorded: dict[str, Any]) -> dict[str, Any]:
        """Config key -> value of one trial, from the parameters Optuna recorded."""
        return {p.key: p.config_value(recorded[p.study_name]) for p in self.params}

    def trial_raw(self, values: dict[str, Any], number: int | str) -> tuple[dict[str, Any], list[str]]:
        """A trial's config (unvalidated) and its overrides (``key=value``, as ``dnn train --set``
        takes them)."""
        overrides = [f"{key}={json.dumps(value)}" for key, value in values.items()]
        raw = copy.deepcopy(self.base_raw)
        if not any(item.startswith("output.plot=") for item in self.fixed):
            # a run's pictures cost more than a small trial's training: trials draw none unless the
            # sweep file's set asks (dnn plot curves draws a sweep's curves afterwards)
            raw.setdefault("output", {})["plot"] = "none"
        apply_overrides(raw, overrides, source=f"{self.source}: space")
        raw["name"] = f"{self.name}-{number}"
        _absolute_data_paths(raw, self.cwd)
        return raw, overrides

    def trial_config(self, values: dict[str, Any], number: int | str) -> tuple[Config, list[str]]:
        raw, overrides = self.trial_raw(values, number)
        return validate_config(raw, f"{self.source}: trial {number} ({', '.join(overrides)})"), overrides

    def grid_size(self) -> int:
        """The number of grid points, counted: nothing is built before the size is checked."""
        return math.prod(p.grid_count() for p in self.params)


def _absolute_data_paths(raw: dict[str, Any], cwd: Path) -> None:
    # a trial may run in another directory (a Dask worker): its data paths are made absolute
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in ("train", "test", "validation", "cache_dir"):
        value = data.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            data[key] = str(cwd / value)


# ---- reading ---------------------------------------------------------------------------------


def _describe(error: dict[str, Any]) -> str:
    where = loc_text(error["loc"])
    if error["type"] == "value_error":  # the space's and the budget's own checks name their keys
        message = str((error.get("ctx") or {}).get("error", error["msg"]))
        return f"{where}: {message}" if where and not message.startswith(("space", "trials")) else message
    return describe_error(error, where, lambda: _known_keys(error["loc"][:-1]))


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    known = (
        list(SweepFile.model_fields) if not parent
        else ["name", "goal"] if parent == ("metric",)
        else ["dir"] if parent == ("output",)
        else [*SCALES, "steps"] if parent[0] == "space"
        else []
    )
    return [("int" if k == "integer" else k) for k in known]


def read_sweep_file(path: Path) -> SweepFile:
    raw = read_yaml_file(path, "sweep")
    if not isinstance(raw, dict) or not raw:
        what = "empty" if not raw else f"a {type(raw).__name__}"
        raise ConfigError(f"{path}: the sweep file is {what}; expected keys base, metric, sampler, trials, space")
    try:
        return SweepFile.model_validate(raw)
    except ValidationError as exc:
        seen, messages = set(), []
        for error in exc.errors():
            message = _describe(error)
            if message not in seen:
                seen.add(message)
                messages.append(message)
        raise ConfigError(f"{path}: " + "; ".join(messages)) from None


def _params(spec: SweepFile) -> list[Param]:
    params = []
    for key, dim in spec.space.items():
        values = dim.values_of(dim.scale)
        if dim.scale == "choice":
            params.append(Param(key, "choice", choices=tuple(values)))
        else:
            params.append(Param(key, dim.scale, values[0], values[1], dim.steps))
    return params


def _default_metric(config: Config) -> tuple[str, str | None]:
    """Validation accuracy where there is a validation set, else the test set's, else training's."""
    output = config.model.activations[-1] if config.model.activations else config.model.output_activation
    kind = "r2" if output == "linear" else "accuracy"
    if config.data.validation is not None or config.data.validation_fraction is not None:
        return f"val_{kind}", None
    if config.data.test is not None or config.data.test_range is not None:
        return f"test_{kind}", (
            f"metric: test_{kind} (the base config has no validation set, so the sweep chooses on the "
            "test set, which makes its score optimistic; set data.validation_fraction to avoid that)"
        )
    return f"train_{kind}", f"metric: train_{kind} (the base config has neither a validation nor a test set)"


def _check_metric(metric: str, config: Config, source: Path) -> None:
    data = config.data
    if metric.startswith("val_") and data.validation is None and data.validation_fraction is None:
        raise ConfigError(
            f"{source}: metric.name = {metric} needs a validation set in the base config: "
            "add set: [data.validation_fraction=0.2] (or data.validation: a file)"
        )
    if metric.startswith("test_") and data.test is None and data.test_range is None:
        raise ConfigError(f"{source}: metric.name = {metric} needs a test set (data.test) in the base config")
    output = config.model.activations[-1] if config.model.activations else config.model.output_activation
    regression_metric = metric.endswith(("_r2", "_mae", "_rmse"))
    if metric.endswith("_rmse") and not is_table(data.train):
        raise ConfigError(
            f"{source}: metric.name = {metric} is a table's regression score (in the target's units); "
            f"the base config trains on {data.train}: choose {metric.replace('_rmse', '_mae')} or "
            f"{metric.replace('_rmse', '_r2')}"
        )
    if output is not None and regression_metric != (output == "linear"):
        kind = "a regression (linear output)" if output == "linear" else "a classifier"
        raise ConfigError(f"{source}: metric.name = {metric} does not apply to {kind}")


def load_sweep(path: str | Path, cwd: Path | None = None) -> Sweep:
    """Read and check a sweep file and its base config; every error is one line naming the key."""
    path = Path(path)
    cwd = cwd or Path.cwd()
    spec = read_sweep_file(path)
    name = spec.name or path.stem
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(f"{path}: the sweep's name {name!r} (the file's stem) cannot name a directory; set name:")
    base_path = Path(spec.base)
    base_raw = read_config_file(base_path)
    base_raw.setdefault("name", base_path.stem)
    apply_overrides(base_raw, spec.set, source=f"{path}: set")
    base_config = validate_config(copy.deepcopy(base_raw), f"{base_path} (the base of {path})")

    notes: list[str] = []
    if spec.metric is None:
        metric, note = _default_metric(base_config)
        if note:
            notes.append(note)
        goal = METRIC_GOALS[metric]
    else:
        metric, goal = spec.metric.name, spec.metric.goal or METRIC_GOALS[spec.metric.name]
        if metric.startswith("test_"):
            notes.append(TEST_SET_WARNING.format(metric=metric, kind=metric.removeprefix("test_")))
    _check_metric(metric, base_config, path)
    if spec.pruner != "none" and metric not in HISTORY_COLUMNS:
        raise ConfigError(
            f"{path}: pruner: {spec.pruner} watches the metric while training, but {metric} is only known at "
            f"the end; choose a metric among {', '.join(HISTORY_COLUMNS)} or pruner: none"
        )

    params = _params(spec)
    sweep = Sweep(
        name=name, source=path, base_path=base_path, base_raw=base_raw, base_config=base_config,
        fixed=list(spec.set), metric=metric, goal=goal, sampler=spec.sampler, trials=spec.trials or 0,
        seed=spec.seed, pruner=spec.pruner, params=params,
        directory=Path(spec.output.dir) / name, cwd=cwd, notes=notes, seeds=spec.seeds,
    )
    if spec.sampler == "grid":
        size = sweep.grid_size()
        if size > MAX_GRID:
            raise ConfigError(f"{path}: the grid has {size:,} points, more than {MAX_GRID:,}; use fewer steps or choices")
        if spec.trials is not None and spec.trials > size:
            raise ConfigError(f"{path}: trials = {spec.trials} but the grid has only {size} points; leave trials out")
        sweep.trials = spec.trials or size
    _check_space_values(sweep)
    _check_data_paths(sweep.base_config)
    return sweep


def _check_space_values(sweep: Sweep) -> None:
    """Every edge of the space must make a valid config, before any trial runs."""
    first = {p.key: p.edge_values()[0] for p in sweep.params}
    for param in sweep.params:
        for value in param.edge_values():
            raw, _ = sweep.trial_raw({**first, param.key: value}, "check")
            try:
                validate_config(raw, "-")
            except ConfigError as exc:
                reason = exc.message.removeprefix("-: ")
                if param.key == "model.hidden" and sweep.base_config.model.layers is not None:
                    reason += " (the base gives model.layers: add set: [model.layers=null, model.activations=null])"
                raise ConfigError(
                    f"{sweep.source}: space.{param.key} = {json.dumps(value)} makes an invalid config: {reason}"
                ) from None


def _check_data_paths(config: Config) -> None:
    for key in ("train", "test", "validation"):
        value = getattr(config.data, key)
        if value is not None and not os.path.exists(value):
            raise DataError(f"{value}: no such file or folder (data.{key} of the sweep's base config)")
