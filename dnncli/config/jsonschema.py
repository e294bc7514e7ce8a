"""The JSON Schema of a config file, from the pydantic models, for editors that check and complete
YAML (``# yaml-language-server: $schema=...``) and for any tool that validates configs.

The schema says what a key may hold (its type, bounds, choices, default, meaning) and refuses an
unknown key; checks that span several keys (``layers`` or ``hidden``, one activation per layer, a
budget in iterations or epochs) are dnn's own and stay in :mod:`dnncli.config.schema`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dnncli.config.schema import Config

DRAFT = "https://json-schema.org/draft/2020-12/schema"

def model_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    """The JSON Schema of a pydantic model as a file is validated against it (aliases, inputs)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DRAFT, "title": title, "description": description, **_without_title(schema)}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a ``dnn train`` config file."""
    schema = model_schema(
        Config,
        "dnn config",
        "A dnn training config: the network (model), the data, the training settings and where "
        "the run goes (output).",
    )
    # A run's name defaults to the config file's stem (load_config), not to the model's default.
    schema["properties"]["name"].pop("default", None)
    schema["properties"]["name"]["pattern"] = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    schema["properties"]["name"]["description"] = (
        "Names the run directory: letters, digits, '.', '_', '-'; not 'latest', not ending in "
        "'.partial'. Default: the config file's stem."
    )
    return schema


def _without_title(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated ``title`` of every property (the key name capitalised): it
    adds nothing to a key's description in an editor's tooltip."""
    if isinstance(schema, dict):
        return {k: _without_title(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_without_title(v) for v in schema]
    return schema
