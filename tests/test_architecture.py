"""The layout the README's Architecture section draws, enforced: packages in layers, each importing
only the layers below it; no import cycle between modules or packages; no function over 60 lines;
every command a short function that parses, calls the library and renders.

Read from the source (``ast``), not by importing it: an import inside a function counts as well
as one at the top, and one under ``if TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dnncli"

# Lowest first. A package may import its own modules and those of the layers below it, never one
# above. The bottom layer's packages are ordered among themselves the same way.
LAYERS = [
    "errors",
    "compute",  # threads, the machine's resources, the matrix kernels
    "terminal",  # consoles, escaping, streams, plain progress, numbers and JSON as text
    "files",  # atomic writes, the format header, run locks, user HDF5 opened safely
    "network",  # the math: activations, losses, initializers, the Network, gradient check
    "training",  # the engine: train(network, data, settings)
    "data",  # readers and writers of data sets
    "model",  # what a trained model does: its file, predict, evaluate, info
    "config",  # the YAML config: schema, safe YAML, overrides, messages
    "plots",  # every picture
    "run",  # a training run on disk, the run list, gradcheck of a config
    "sweep",  # many runs
    "cli",  # the commands
]
# the engine knows nothing of files, configs, runs or the command line
ENGINE_MAY_IMPORT = {"network": {"network", "compute", "errors"}, "training": {"network", "training", "compute", "errors"}}
# the one place the project's own modules may be imported lazily: the command registry (it does so
# with importlib), so that `dnn --help` lists the commands without importing them
LAZY_IMPORT_PLACES = {"dnncli.cli.app"}
MAX_FUNCTION_LINES = 60
MAX_COMMAND_LINES = 30


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(dnncli)"


def imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project's modules an import statement names (a package's __init__ for a package)."""
    known = modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.split(".")
            is_package = (PACKAGE.parent / Path(*here) / "__init__.py").exists()
            here = here if is_package else here[:-1]
            base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    found = []
    for name in names:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name.startswith("dnncli") and name in known and name != module:
            found.append(name)
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(t for t in imported(module, node) if t != "dnncli")
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    return [
        (module, node)
        for module, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_every_package_is_in_a_layer() -> None:
    unplaced = sorted({layer_of(m) for m in modules()} - set(LAYERS) - {"(dnncli)", "__main__"})
    assert not unplaced, f"packages in no layer: {unplaced} (add them to LAYERS and the README's diagram)"


def test_imports_point_down_the_layers_only() -> None:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(module) in rank and layer_of(target) in rank and rank[layer_of(target)] > rank[layer_of(module)]
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_the_engine_imports_only_the_math_and_the_compute_layer() -> None:
    outside = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if layer_of(module) in ENGINE_MAY_IMPORT
        for target in targets
        if layer_of(target) not in ENGINE_MAY_IMPORT[layer_of(module)]
    ]
    assert not outside, "\n".join(sorted(outside))


def test_no_module_cycles_and_no_package_cycles() -> None:
    graph = import_graph()
    assert cycles(graph) == []
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        packages[layer_of(module)].update(layer_of(t) for t in targets if layer_of(t) != layer_of(module))
    assert cycles(packages) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_projects_own_imports_are_at_the_top_of_modules() -> None:
    """Inside a function an import hides the real dependency graph; the command registry is the
    one place that defers them (so that `dnn --help` stays fast)."""
    hidden = [
        f"{module}:{inner.lineno} {function.name}() imports {', '.join(names)}"
        for module, function in functions()
        if module not in LAZY_IMPORT_PLACES
        for inner in ast.walk(function)
        if isinstance(inner, (ast.Import, ast.ImportFrom)) and (names := imported(module, inner))
    ]
    assert not hidden, f"{len(hidden)} imports inside functions:\n" + "\n".join(sorted(set(hidden)))


def test_no_function_is_longer_than_60_lines() -> None:
    long = sorted(
        (body_lines(f), f"{module}.{f.name}") for module, f in functions()
        if body_lines(f) > MAX_FUNCTION_LINES
    )
    assert not long, "\n".join(f"{name}: {n} lines" for n, name in reversed(long))


def test_every_command_is_at_most_30_lines() -> None:
    commands = [
        (module, f)
        for module, f in functions()
        if layer_of(module) == "cli"
        and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
            for d in f.decorator_list
        )
    ]
    assert len(commands) >= 13, [f.name for _, f in commands]
    long = [
        f"{module}.{f.name}: {body_lines(f)} lines" for module, f in commands
        if body_lines(f) > MAX_COMMAND_LINES
    ]
    assert not long, "\n".join(long)


def test_the_training_loop_has_no_gram_specific_code() -> None:
    source = (PACKAGE / "training" / "loop.py").read_text()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):  # docstrings blanked by their lines: indented ones too
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) \
                and ast.get_docstring(node) is not None:
            lines[node.body[0].lineno - 1 : node.body[0].end_lineno] = [""] * (node.body[0].end_lineno - node.body[0].lineno + 1)
    code = "\n".join(line.split("#", 1)[0] for line in lines)
    assert "gram" not in code.lower()


def test_the_documented_layers_are_the_enforced_ones() -> None:
    """docs/explanation/architecture.md draws the layers top first; the README points at it."""
    page = (PACKAGE.parent / "docs" / "explanation" / "architecture.md").read_text()
    drawing = page.split("```text", 1)[1].split("```", 1)[0]
    drawn = [line.split()[0] for line in drawing.strip().splitlines()]
    assert drawn == LAYERS[::-1]
    assert "docs/explanation/architecture.md" in (PACKAGE.parent / "README.md").read_text()


@pytest.mark.parametrize("rule", ["layers", "cycles"])
def test_the_checks_catch_a_bad_import(rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer and cycle checks fail on the kind of import they exist to refuse."""
    trees = dict(modules())
    if rule == "layers":  # the engine reaching up to the config
        trees["dnncli.training.loop"] = ast.parse("from dnncli.config import Config\n" + ast.unparse(trees["dnncli.training.loop"]))
    else:  # a module importing one that imports it back
        trees["dnncli.errors"] = ast.parse("import dnncli.terminal.display\n")
        trees["dnncli.terminal.display"] = ast.parse("import dnncli.errors\n")
    monkeypatch.setattr(f"{__name__}.modules", lambda: trees)
    check = test_imports_point_down_the_layers_only if rule == "layers" else test_no_module_cycles_and_no_package_cycles
    with pytest.raises(AssertionError):
        check()
