"""Command-line overrides of a config: ``--set section.key=value``, values read as YAML."""

from __future__ import annotations

from typing import Any

from dnncli.config.safe_yaml import parse_yaml
from dnncli.errors import ConfigError


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, str]:
    """Apply ``section.key=value`` overrides in place; values are read as YAML (``0.01``, ``[4, 1]``).
    Returns each overridden key (dotted) with the override as given, for error messages.

    ``model.hidden`` replaces the config's ``model.layers`` (and ``model.layers`` its
    ``model.hidden``); activations given per layer then become ``hidden_activation`` and
    ``output_activation``, so that they fit the new number of layers."""
    applied: dict[str, str] = {}
    for item in overrides:
        key, sep, value_text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{source} {item!r}: expected KEY=VALUE, e.g. training.learning_rate=0.01")
        parts = key.split(".")
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"{source} {item!r}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = parse_yaml(value_text, f"{source} {key}")
        applied[key] = item
    _follow_architecture(raw, applied, source)
    return applied


def _follow_architecture(raw: dict[str, Any], applied: dict[str, str], source: str) -> None:
    """After ``--set model.hidden=...`` (or ``model.layers``), drop the other way of giving the
    sizes, and turn per-layer activations the new sizes no longer fit into hidden and output ones."""
    model = raw.get("model")
    if not isinstance(model, dict):
        return
    if "model.hidden" in applied and "model.layers" not in applied and model.get("hidden") is not None:
        model.pop("layers", None)
        n_layers = len(model["hidden"]) + 1 if isinstance(model["hidden"], list) else None
        given = "model.hidden"
    elif "model.layers" in applied and "model.hidden" not in applied and model.get("layers") is not None:
        model.pop("hidden", None)
        n_layers = len(model["layers"]) - 1 if isinstance(model["layers"], list) else None
        given = "model.layers"
    else:
        return
    activations = model.get("activations")
    if "model.activations" in applied or not isinstance(activations, list) or not activations:
        return
    if given == "model.layers" and len(activations) == n_layers:
        return  # same depth: the config's activations still fit
    del model["activations"]
    if "model.output_activation" not in applied:
        model["output_activation"] = activations[-1]
    hidden = activations[:-1]
    if hidden and "model.hidden_activation" not in applied:
        if len(set(map(str, hidden))) > 1:
            raise ConfigError(
                f"{source} {applied[given]!r}: the config's model.activations {activations} mix hidden "
                f"activations, so they cannot follow the new sizes; also {source} model.activations=[...] "
                "with one per layer"
            )
        model["hidden_activation"] = hidden[0]
