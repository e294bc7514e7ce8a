"""MkDocs hook: the reference generated from the code at build time, so it never drifts from it.

A page asks for a generated block with a marker line of its own, ``<!-- dnn:NAME -->``:

- ``cli``: every command and option, walked from the Typer app through click's API only
  (``list_commands`` / ``resolve_command``, ``get_params``, ``get_help_record``), so that it keeps
  working when the commands are loaded lazily;
- ``config-keys`` and ``sweep-keys``: every key of a config and a sweep file, from their JSON
  Schemas (themselves from the pydantic models): type, default, meaning;
- ``exit-codes``: the ``EXIT_*`` constants of :mod:`dnncli.errors`;
- ``bench``: the benchmark's last table, ``bench/results/latest.md``.

An unknown marker, a key without a meaning in :data:`EXIT_MEANINGS`, or a missing file fails the
build. The JSON Schemas are also published beside the pages, as ``schema/config.json`` and
``schema/sweep.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import typer
from mkdocs.structure.files import File, Files
from rich.errors import MarkupError
from rich.text import Text

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- dnn:([a-z-]+) -->$", re.MULTILINE)
SCHEMA_FILES = {"schema/config.json": "config_schema", "schema/sweep.json": "sweep_schema"}

# What each exit code means to a user; a new EXIT_* constant without a line here fails the build.
EXIT_MEANINGS = {
    "EXIT_CHECK_FAILED": "a check or quality gate failed: `dnn gradcheck`, `dnn evaluate --min-accuracy` / "
    "`--min-f1`, `dnn train --strict` with a warning",
    "EXIT_BAD_INPUT": "usage error or bad input: a config, a sweep file, data, a model file, an image, "
    "a place that cannot be written (a file where a directory belongs, no permission)",
    "EXIT_RUNTIME": "training diverged, stdout closed or full, a file that could not be written (no space, "
    "file too large, read-only file system), or another runtime failure",
    "EXIT_SIGINT": "interrupted by SIGINT (Ctrl-C); a run keeps a checkpoint to `--resume` from",
    "EXIT_SIGTERM": "stopped by SIGTERM; a run keeps a checkpoint to `--resume` from",
    "EXIT_BROKEN_PIPE": "the program reading stdout exited first (`dnn predict ... | head`): a quiet stop",
}


# ---- the hook's events -----------------------------------------------------------------------


def on_files(files: Files, config: Any) -> Files:
    """Publish the JSON Schemas beside the pages."""
    for path, function in SCHEMA_FILES.items():
        files.append(File.generated(config, path, content=json.dumps(_schemas()[function], indent=2) + "\n"))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace each ``<!-- dnn:NAME -->`` line by the block NAME generates."""

    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_uri}: unknown generated block {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)


# ---- text -------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Help text as the terminal shows it: Rich markup (``[bold]``) applied, so removed here."""
    try:
        return Text.from_markup(text).plain
    except MarkupError:
        return text


def escape(text: str) -> str:
    """Text for a Markdown paragraph or table cell, shown literally."""
    text = text.replace("\\", "\\\\")
    for char in "*_`[]|":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """An inline code span (a pipe inside one does not split a table's cell)."""
    return "`" + text + "`"


# ---- commands ----------------------------------------------------------------------------------


def cli_reference() -> str:
    from dnncli.cli.app import app

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="dnn")
    return "\n".join(_command_section(root, context, level=2))


def _command_section(command: Any, context: Any, level: int) -> list[str]:
    lines = [f"{'#' * min(level, 6)} {context.command_path}", ""]
    usage = " ".join([context.command_path, *command.collect_usage_pieces(context)])
    lines += ["```text", usage, "```", ""]
    lines += _help_paragraphs(command.help or "")
    rows = [_param_row(param, context) for param in command.get_params(context)]
    rows = [row for row in rows if row]
    if rows:
        lines += ["| argument or option | meaning |", "| --- | --- |", *rows, ""]
    for name in getattr(command, "list_commands", lambda _: [])(context):
        # resolve_command, not get_command: the root lists its commands without loading them
        sub = command.resolve_command(context, [name])[1]
        if sub is None or getattr(sub, "hidden", False):
            continue
        lines += _command_section(sub, sub.context_class(sub, info_name=name, parent=context), level + 1)
    return lines


def _help_paragraphs(help_text: str) -> list[str]:
    """Paragraphs as Typer shows them: lines of a paragraph joined, ``\\b`` blocks kept as they
    are, and a paragraph that starts with ``Example:`` shown as a shell command."""
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", plain(help_text).strip()):
        if not paragraph.strip():
            continue
        if paragraph.startswith("\b"):
            lines += ["```text", paragraph.lstrip("\b\n"), "```", ""]
            continue
        joined = " ".join(line.strip() for line in paragraph.splitlines())
        example = re.match(r"Examples?:\s*(.+)", joined)
        if example:
            lines += ["Example:", "", "```sh", example.group(1), "```", ""]
        else:
            lines += [escape(joined), ""]
    return lines


def _param_row(param: Any, context: Any) -> str | None:
    record = param.get_help_record(context)
    if record is None or getattr(param, "hidden", False):
        return None
    names, record_help = record
    help_text = getattr(param, "help", None) or ""
    # the record appends click's extras ([default: ...], [required], ranges) to the help text
    extras = record_help[len(help_text):].strip() if record_help.startswith(help_text) else record_help
    text = escape(" ".join(plain(help_text).split()))
    if extras and extras != text:
        text = f"{text} {escape(extras)}".strip()
    return f"| {code(names)} | {text} |"


# ---- config and sweep files -------------------------------------------------------------------


def _schemas() -> dict[str, dict[str, Any]]:
    from dnncli.config.jsonschema import config_schema
    from dnncli.sweep.jsonschema import sweep_schema

    return {"config_schema": config_schema(), "sweep_schema": sweep_schema()}


def config_keys() -> str:
    return _keys_reference(_schemas()["config_schema"])


def sweep_keys() -> str:
    return _keys_reference(_schemas()["sweep_schema"])


def _keys_reference(schema: dict[str, Any]) -> str:
    """One table of a file's top-level keys, then one per section (a key whose value is an
    object of keys of its own: ``model``, ``training``, a scale of the sweep's space)."""
    defs = schema.get("$defs", {})
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    sections: list[tuple[str, dict[str, Any]]] = []
    for key, prop in schema["properties"].items():
        target = _section_of(prop, defs)
        if target is not None:
            # a map's values (the sweep's space) are named by their key: space.KEY.uniform
            is_map = isinstance(prop.get("additionalProperties"), dict)
            sections.append((f"{key}.KEY" if is_map else key, target))
        lines.append(_key_row(key, prop, key in schema.get("required", []), defs))
    for key, section in sections:
        lines += ["", f"### `{key}`", ""]
        if section.get("description"):
            lines += [escape(" ".join(section["description"].split())), ""]
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        required = section.get("required", [])
        lines += [_key_row(f"{key}.{name}", prop, name in required, defs) for name, prop in section["properties"].items()]
    return "\n".join(lines) + "\n"


def _section_of(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a key holds (directly, or as a map's values), if it has keys of its own."""
    for candidate in (prop, prop.get("additionalProperties"), *prop.get("anyOf", [])):
        if isinstance(candidate, dict) and "$ref" in candidate:
            target = defs[candidate["$ref"].rsplit("/", 1)[-1]]
            if "properties" in target:
                return target
    return None


def _key_row(key: str, prop: dict[str, Any], required: bool, defs: dict[str, Any]) -> str:
    if "default" in prop:
        default = code(json.dumps(prop["default"]))
    elif required:
        default = "required"
    elif _section_of(prop, defs) is not None:
        default = "its keys' defaults"
    else:
        default = code("[]") if prop.get("type") == "array" else "none"
    meaning = escape(" ".join(prop.get("description", "").split()))
    if _section_of(prop, defs) is not None and not meaning:
        meaning = f"the keys below, `{key}.*`"
    return f"| {code(key)} | {type_text(prop, defs)} | {default} | {meaning} |"


def type_text(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON Schema type in a few words: ``integer ≥ 1``, ``relu`` \\| ``tanh``, list of ..."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return "mapping" if "properties" in defs.get(name, {}) else type_text(defs[name], defs)
    if "anyOf" in prop:
        return " or ".join(type_text(option, defs) for option in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(code(json.dumps(v) if not isinstance(v, str) else v) for v in prop["enum"])
    if "const" in prop:
        return code(str(prop["const"]))
    kind = prop.get("type", "any value")
    if kind == "array":
        items = prop.get("items") or {}
        return f"list of {type_text(items, defs)}" if items else "list"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"mapping of key to {type_text(values, defs)}" if isinstance(values, dict) else "mapping"
    return " ".join([{"null": "`null`", "number": "number"}.get(kind, kind), *_bounds(prop)]).strip()


def _bounds(prop: dict[str, Any]) -> list[str]:
    signs = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
    words = [f"{sign} {_number(prop[key])}" for key, sign in signs.items() if key in prop]
    words = [", ".join(words)] if words else []
    if "maxLength" in prop:
        words.append(f"({prop.get('minLength', 0)} to {prop['maxLength']} characters)")
    elif prop.get("minLength") == 1:
        words.append("(not empty)")
    if "pattern" in prop:
        words.append(f"matching {code(prop['pattern'])}")
    return words


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---- exit codes and the benchmark -------------------------------------------------------------


def exit_codes() -> str:
    from dnncli import errors

    codes = {name: getattr(errors, name) for name in dir(errors) if name.startswith("EXIT_")}
    missing = sorted(set(codes) - set(EXIT_MEANINGS))
    if missing:
        raise ValueError(f"docs/hooks/reference.py: no meaning for the exit codes {missing}: add them to EXIT_MEANINGS")
    lines = ["| code | name | meaning |", "| --- | --- | --- |", "| 0 | | success |"]
    lines += [f"| {value} | {code(name)} | {EXIT_MEANINGS[name]} |" for name, value in sorted(codes.items(), key=lambda kv: kv[1])]
    return "\n".join(lines) + "\n"


def bench_table() -> str:
    return (ROOT / "bench" / "results" / "latest.md").read_text(encoding="utf-8").strip() + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "config-keys": config_keys,
    "sweep-keys": sweep_keys,
    "exit-codes": exit_codes,
    "bench": bench_table,
}
