"""pydantic's validation errors as one readable line each, naming the key, what it got and what
was expected, and where the value came from (the file, or ``--set KEY=VALUE``)."""

from __future__ import annotations

import difflib
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from dnncli.config.schema import Config, DataConfig, ModelConfig, OutputConfig, TrainingConfig
from dnncli.errors import ConfigError


_SECTIONS: dict[str, type[BaseModel]] = {
    "": Config,
    "model": ModelConfig,
    "data": DataConfig,
    "training": TrainingConfig,
    "output": OutputConfig,
}


def loc_text(loc: tuple[Any, ...]) -> str:
    """A validation error's location as the key it names (``training.keep_prob[1]``), without the
    names pydantic gives the branches of a union it tried (``float``, ``literal[...]``)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or part in ("float", "int", "str", "function-after")):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    section = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
    model = _SECTIONS.get(section)
    return list(model.model_fields) if model else []


def _describe(error: dict[str, Any]) -> str:
    # pydantic adds the branch tried (e.g. 'float', 'literal[...]') to the location of union errors
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str"))))
    return describe_error(error, loc_text(loc), lambda: _known_keys(loc))


def describe_error(error: dict[str, Any], where: str, known_keys: Callable[[], list[str]]) -> str:
    """One of pydantic's validation errors as one line: ``where`` names the key (``training.beta``),
    ``known_keys`` gives the keys its section allows (for an unknown key's hint)."""
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = known_keys()
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
        return f"unknown key '{where}'{hint}"
    if kind == "missing":
        return f"missing required key '{where}'"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where}: expected an integer, got {got!r}"
    if kind in ("float_type", "float_parsing"):
        return f"{where}: expected a number, got {got!r}"
    if kind in ("string_type",):
        return f"{where}: expected a string, got {got!r}"
    if kind in ("list_type",):
        return f"{where}: expected a list, got {got!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: expected a mapping of keys, got {got!r}"
    if kind == "literal_error":
        return f"{where}: expected {ctx.get('expected')}, got {got!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "> ", "greater_than_equal": ">= ", "less_than": "< ", "less_than_equal": "<= "}[kind]
        limit = next(iter(ctx.values()), "")
        return f"{where}: must be {bound}{limit}, got {got!r}"
    if kind == "bool_type":
        return f"{where}: expected true or false, got {got!r}"
    if kind == "string_too_short":
        return f"{where}: must not be empty"
    if kind == "string_too_long":
        return f"{where}: at most {ctx.get('max_length')} characters, got {len(str(got))}"
    if kind == "finite_number":
        return f"{where}: expected a finite number, got {got!r}"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        return f"{where}: {message}" if where else message
    return f"{where}: {error['msg']}" if where else error["msg"]


def _dedupe_union_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # a union (e.g. scale: 'auto' | 'none' | float) reports one error per branch; keep one per key
    seen: set[str] = set()
    kept = []
    for error in errors:
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str")))
        )
        key = loc_text(loc)
        if key in seen:
            # 'auto' | float: the literal's message also names the number it could have been
            first = next(e for e in kept if e["_key"] == key)
            if first["type"] == "literal_error" and error["type"] in ("float_type", "float_parsing"):
                expected = str(first["ctx"]["expected"]).replace(" or ", ", ")
                first["ctx"] = {**first["ctx"], "expected": f"{expected} or a number"}
            continue
        seen.add(key)
        kept.append({**error, "_key": key})
    return kept


def _blame(error: dict[str, Any], source: str, overridden: dict[str, str]) -> str:
    """Where a wrong key or value came from: an override (``--set KEY=VALUE``) or the file."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str"))))
    where = loc_text(loc)
    for key, item in overridden.items():
        if where == key or where.startswith((key + ".", key + "[")):
            return f"--set {item}"
    # a check across keys (a section's, or the whole config's) that an override took part in
    related = [item for key, item in overridden.items() if not where or key.startswith(where + ".")]
    return f"{source} with --set {', --set '.join(related)}" if related else source


def validate_config(raw: dict[str, Any], source: str, overridden: dict[str, str] | None = None) -> Config:
    """The config ``raw`` read from ``source``; errors name the key, and ``--set KEY=VALUE``
    instead of the file for a key that an override gave (``overridden``: key -> override)."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        by_source: dict[str, list[str]] = {}
        for error in _dedupe_union_errors(exc.errors()):
            by_source.setdefault(_blame(error, source, overridden or {}), []).append(_describe(error))
        raise ConfigError("; ".join(f"{where}: {'; '.join(messages)}" for where, messages in by_source.items())) from None
