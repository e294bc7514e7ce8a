"""YAML a user hands in (configs, sweep files, ``--set`` values), read safely and bounded: no
Python objects, at most :data:`MAX_CONFIG_BYTES`, at most :data:`MAX_YAML_VALUES` values once
anchors and aliases are expanded ("billion laughs"); ``1e-3`` read as a number."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dnncli.errors import ConfigError
from dnncli.files.userfile import read_regular_text

MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000  # after expanding anchors and aliases ("billion laughs")


class _Loader(yaml.SafeLoader):
    """Safe YAML that also reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``)."""


# libyaml's parser, where PyYAML was built with it: ten times faster, for files that are only read
# (``dnn runs`` reads every run's config.yaml); its messages differ, so configs a user hands in
# keep the pure-Python one. Both give the same nodes and values; libyaml refuses nesting over 1000.
_CLoader = type("_CLoader", (yaml.CSafeLoader,), {}) if getattr(yaml, "__with_libyaml__", False) else _Loader

_FLOAT = (
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
for _loader in {_Loader, _CLoader}:
    _loader.add_implicit_resolver(*_FLOAT)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], source: str) -> int:
    """How many values ``node`` becomes once every alias is expanded (memoized: linear time)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f"{source}: an alias refers to itself (a recursive structure); not a config")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes, source)
        if total > MAX_YAML_VALUES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_YAML_VALUES} values through anchors and "
                "aliases; refused (no config needs that many)"
            )
    open_nodes.discard(key)
    sizes[key] = total
    return total


_YAML = "tag:yaml.org,2002:"
# scalars whose constructor returns the value itself (no generator, no objects)
_PLAIN_SCALARS = {_YAML + name for name in ("null", "bool", "int", "float", "str", "timestamp")}


def _plain_values(loader: yaml.BaseLoader, node: yaml.Node, seen: set[int]) -> tuple[Any] | None:
    """``(value,)`` of a document of plain mappings, lists and scalars, built directly (the safe
    constructor's generators cost more than the parse); None for anything else (an alias, a merge
    key, another tag, more than :data:`MAX_YAML_VALUES` values), left to the safe constructor."""
    if id(node) in seen or len(seen) >= MAX_YAML_VALUES:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _PLAIN_SCALARS:
            return None
        return (node.value if node.tag == _YAML + "str" else loader.yaml_constructors[node.tag](loader, node),)
    if isinstance(node, yaml.SequenceNode) and node.tag == _YAML + "seq":
        items = [_plain_values(loader, child, seen) for child in node.value]
        return None if None in items else ([item[0] for item in items],)
    if isinstance(node, yaml.MappingNode) and node.tag == _YAML + "map":
        pairs = [(_plain_values(loader, key, seen), _plain_values(loader, value, seen))
                 for key, value in node.value if isinstance(key, yaml.ScalarNode)]
        if len(pairs) < len(node.value) or any(key is None or value is None for key, value in pairs):
            return None
        return ({key[0]: value[0] for key, value in pairs},)
    return None


def parse_yaml(text: str, source: str, fast: bool = False) -> Any:
    """Safe YAML (no tags that build objects) with bounded size, nesting and alias expansion;
    ``fast``: read by libyaml where PyYAML has it (the same values, other messages)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters is too large for a config (limit {MAX_CONFIG_BYTES})")
    try:
        loader = (_CLoader if fast else _Loader)(text)  # refuses control characters (ESC, NUL, BEL) here, as a ReaderError
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {_problem(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # checked before constructing: the constructed objects share aliased lists, but anything
        # walking them (validation, dumping) would walk every expanded copy
        plain = _plain_values(loader, node, set()) if fast else None
        if plain is not None:
            return plain[0]
        _expanded_size(node, {}, set(), source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}:{where}: not valid YAML: {_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    finally:
        loader.dispose()


def _problem(exc: yaml.YAMLError) -> str:
    """What is wrong, in one line; a character YAML refuses is named by its code, never echoed."""
    if isinstance(exc, yaml.reader.ReaderError):
        return f"the character #x{ord(exc.character) if isinstance(exc.character, str) else exc.character:04x} at position {exc.position} is not allowed in YAML ({exc.reason})"
    return getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]


def read_yaml_file(path: str | Path, what: str = "config", fast: bool = False) -> Any:
    """A YAML file a user hands in (a config, a sweep file), read bounded and safely: what it
    holds, or one line naming the file (``fast``: :func:`parse_yaml`'s)."""
    path = Path(path)
    # bounded (a config is never megabytes long), a regular file only (never a FIFO's wait)
    text = read_regular_text(path, MAX_CONFIG_BYTES, ConfigError, f"a {what} file")
    return parse_yaml(text, str(path), fast)


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    raw = read_yaml_file(path)
    if raw is None:
        raise ConfigError(f"{path}: the config is empty; expected keys such as model, data, training")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (name, model, data, training), "
            f"got a {type(raw).__name__}"
        )
    return raw
