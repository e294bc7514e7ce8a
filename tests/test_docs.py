"""The JSON Schemas of config and sweep files (what editors check configs with), and the
documentation's promises that the code can keep: every file it names ships, every test it cites
exists, every command and config key has its generated reference entry. (`make test` builds the
site itself with `mkdocs build --strict`.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer

from dnncli.cli.app import app
from dnncli.config import read_config_file, read_yaml_file
from dnncli.config.jsonschema import config_schema
from dnncli.sweep.jsonschema import sweep_schema

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
DOCS = ROOT / "docs"


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(schema: dict[str, Any], document: Any) -> list[str]:
    return [error.message for error in _validator(schema).iter_errors(document)]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid_against_the_schema(path: Path) -> None:
    assert _errors(config_schema(), read_config_file(path)) == []


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_is_valid_against_the_sweep_schema(path: Path) -> None:
    assert _errors(sweep_schema(), read_yaml_file(path)) == []


def test_the_schema_refuses_a_misspelt_key_and_a_wrong_value() -> None:
    good = read_config_file(CONFIGS / "cat_deep.yaml")
    assert _errors(config_schema(), good) == []
    misspelt = {**good, "training": {**good["training"], "learnin_rate": 0.01}}
    assert any("learnin_rate" in message for message in _errors(config_schema(), misspelt))
    assert _errors(config_schema(), {**good, "trainig": {}}) != []
    wrong = {**good, "training": {**good["training"], "learning_rate": "fast"}}
    assert _errors(config_schema(), wrong) != []
    assert _errors(config_schema(), {**good, "model": {**good["model"], "init": "glorot"}}) != []
    assert _errors(config_schema(), {k: v for k, v in good.items() if k != "data"}) != []


def test_the_sweep_schema_refuses_a_misspelt_key_and_an_unknown_config_key() -> None:
    good = read_yaml_file(CONFIGS / "sweeps" / "football.yaml")
    assert _errors(sweep_schema(), {**good, "sampeler": "tpe"}) != []
    assert _errors(sweep_schema(), {**good, "space": {"training.learnin_rate": {"uniform": [0, 1]}}}) != []
    assert _errors(sweep_schema(), {**good, "space": {"training.l2_lambda": {"uniformm": [0, 1]}}}) != []
    # the shorthand `metric: NAME` is as valid as {name: NAME}; an unknown metric is not
    assert _errors(sweep_schema(), {**good, "metric": "val_cost"}) == []
    assert _errors(sweep_schema(), {**good, "metric": "val_costs"}) != []


def _reference() -> Any:
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command_paths(command: Any, context: Any) -> list[str]:
    paths = [context.command_path]
    for name in getattr(command, "list_commands", lambda _: [])(context):
        sub = command.resolve_command(context, [name])[1]  # the command itself, not its listing
        paths += _command_paths(sub, sub.context_class(sub, info_name=name, parent=context))
    return paths


def test_every_command_option_and_config_key_has_a_generated_reference_entry() -> None:
    reference = _reference()
    cli = reference.cli_reference()
    root = typer.main.get_command(app)
    paths = _command_paths(root, root.context_class(root, info_name="dnn"))
    assert {"dnn train", "dnn data import", "dnn plot curves"} <= set(paths)
    for path in paths:
        assert re.search(rf"^#+ {re.escape(path)}$", cli, re.MULTILINE), path
    for option in ("--set KEY=VALUE", "--resume", "--scheduler", "--min-accuracy", "--install-completion"):
        assert option in cli
    keys = reference.config_keys()
    for section in ("model", "data", "training", "output"):
        schema = config_schema()["$defs"][f"{section.capitalize()}Config"]
        for key in schema["properties"]:
            assert f"| `{section}.{key}` |" in keys
    assert "| `space` |" in reference.sweep_keys() and "| 141 |" in reference.exit_codes()


def _docs_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(DOCS.rglob("*.md")))


def test_every_config_the_docs_name_is_shipped() -> None:
    named = set(re.findall(r"configs/[\w./-]+\.yaml", _docs_text()))
    assert "configs/sweeps/football.yaml" in named and "configs/cat_logreg.yaml" in named
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


def test_every_test_the_guarantees_cite_exists() -> None:
    """Each guarantee names the test that checks it: `file.py::name`, or `::name` in that file."""
    page = (DOCS / "explanation" / "guarantees.md").read_text(encoding="utf-8")
    cited = 0
    for row in (line for line in page.splitlines() if line.startswith("| ") and "::" in line):
        current = None
        for file, name in re.findall(r"`(test_\w+\.py)?::(test_\w+)`", row):
            current = file or current
            assert current, row
            assert re.search(rf"^\s*(async )?def {name}\(", (ROOT / "tests" / current).read_text(), re.MULTILINE), f"{current}::{name}"
            cited += 1
    assert cited > 40
