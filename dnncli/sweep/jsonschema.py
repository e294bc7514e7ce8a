"""The JSON Schema of a sweep file (``dnn sweep``), from its pydantic models, for editors and
validators. Like the config's (:mod:`dnncli.config.jsonschema`), it checks each key's type, bounds
and choices and refuses an unknown key; the checks across keys (one scale a key, ``steps`` only
with a grid, a budget for random and TPE) are :mod:`dnncli.sweep.spec`'s.
"""

from __future__ import annotations

from typing import Any

from dnncli.config.jsonschema import model_schema
from dnncli.sweep.spec import METRIC_GOALS, NAME_PATTERN, SWEEPABLE_SECTIONS, SweepFile


def sweep_schema() -> dict[str, Any]:
    """The JSON Schema of a ``dnn sweep`` file."""
    schema = model_schema(
        SweepFile,
        "dnn sweep",
        "A dnn sweep: the base config every trial starts from, the metric, the sampler, the "
        "budget and the search space (config key -> one scale).",
    )
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
