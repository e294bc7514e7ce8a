"""The JSON Schema of a sweep file (``dnn sweep``), from its pydantic models, for editors and
validators. Like the config's (:mod:`dnncli.config.jsonschema`), it checks each key's type, bounds
and choices and refuses an unknown key; the checks across keys (one scale a key, ``steps`` only
with a grid, a budget for random and TPE) are :mod:`dnncli.sweep.spec`'s.
"""

from __future__ import annotations

from typing import Any

from dnncli.config.jsonschema import fill_descriptions, model_schema
from dnncli.sweep.spec import METRIC_GOALS, NAME_PATTERN, SWEEPABLE_SECTIONS, SweepFile


# Meanings of the keys whose Field in dnncli/sweep/spec.py has no description yet: used only where
# the model gives none (see dnncli.config.jsonschema.MISSING_DESCRIPTIONS).
MISSING_DESCRIPTIONS = {
    "SweepFile": {
        "sampler": "grid: every point, in an order shuffled by seed; random; tpe: Optuna's tree-structured "
        "Parzen estimator (a constant liar with several trials at once).",
        "trials": "The budget: required for random and tpe; at most the grid's size for grid (its default).",
        "seed": "The sampler's seed.",
        "pruner": "median or successive_halving: stop a trial whose recorded metric is clearly worse than the "
        "finished trials' at the same point (Optuna's pruners).",
    },
    "MetricSpec": {
        "name": "The metric: a value of the trial's metrics.json.",
        "goal": "maximize or minimize; default: maximize accuracies and R2, minimize costs and errors.",
    },
    "Dimension": {
        "log_uniform": "[a, b]: 10^r with r uniform in [log10 a, log10 b] (a > 0): a learning rate.",
        "one_minus_log_uniform": "[a, b]: 1 - 10^r, r uniform in [log10(1 - b), log10(1 - a)] "
        "(0 <= a < b < 1): a beta from 0.9 to 0.999.",
        "uniform": "[a, b]: uniform.",
        "int": "[a, b]: an integer from a to b, both included.",
        "choice": "One of these values (numbers, strings, lists such as hidden sizes).",
        "steps": "sampler grid, over a range: this many values, evenly spaced on its scale, ends included.",
    },
    "OutputSpec": {"dir": "Where sweep directories go: <dir>/<name>/."},
}


def sweep_schema() -> dict[str, Any]:
    """The JSON Schema of a ``dnn sweep`` file."""
    schema = model_schema(
        SweepFile,
        "dnn sweep",
        "A dnn sweep: the base config every trial starts from, the metric, the sampler, the "
        "budget and the search space (config key -> one scale).",
    )
    fill_descriptions(schema, MISSING_DESCRIPTIONS)
    schema["$defs"]["Dimension"]["description"] = (
        "One swept key: exactly one scale (log_uniform, one_minus_log_uniform, uniform, int, choice), "
        "and with the grid sampler over a range its number of steps."
    )
    properties = schema["properties"]
    properties["name"]["pattern"] = f"^{NAME_PATTERN}$"
    properties["name"]["description"] = "Names the sweep's directory, <output.dir>/<name>/. Default: the file's stem."
    properties["base"]["description"] = "The config every trial starts from (a path, from the current directory)."
    properties["set"]["description"] = "KEY=VALUE overrides of the base, as dnn train --set takes them."
    properties["set"]["items"]["pattern"] = r"^[a-z_]+(\.[a-z_0-9]+)+="
    # `metric: val_cost` is short for `metric: {name: val_cost}` (SweepFile's before-validator)
    metric_names = {"enum": list(METRIC_GOALS)}
    properties["metric"] = {
        "anyOf": [metric_names, {"$ref": "#/$defs/MetricSpec"}, {"type": "null"}],
        "default": None,
        "description": "The metric to optimize, by name or as {name, goal}. Default: val_accuracy with a "
        "validation set, else test_accuracy.",
    }
    properties["space"]["description"] = "Config key (of model, data or training) -> one scale."
    properties["space"]["propertyNames"] = {"enum": _sweepable_keys()}
    return schema


def _sweepable_keys() -> list[str]:
    return [f"{section}.{key}" for section, model in SWEEPABLE_SECTIONS.items() for key in model.model_fields]
