"""The package's shape, checked: imports point one way, modules stay small, the module map is the code.

The module map in docs/development.md ("The module map") lists every module of ``kldrift/`` in order; a module may
import only modules listed above it. Imports are read from the source (``ast``), function-level and
``TYPE_CHECKING`` imports included, so a cycle hidden inside a function is caught too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kldrift"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def kldrift_imports(source: str, me: str, *, is_package: bool = False) -> set[str]:
    """The kldrift modules that module ``me`` imports anywhere in ``source``.

    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``.
    """
    package = me.split(".") if is_package else me.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    return {m for m in found if m in MODULES and m != me}


GRAPH = {
    name: kldrift_imports(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py")
    for name, path in MODULES.items()
}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None`` if it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_cycle_and_imports_inside_functions() -> None:
    # The checker itself: a graph with a cycle three deep, and the same without its back edge.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}) is None
    source = "def f():\n    from kldrift.pipeline import run\n    import kldrift.scan\n    from . import binning\n"
    assert kldrift_imports(source, "kldrift.divergence") == {"kldrift.pipeline", "kldrift.scan", "kldrift.binning"}
    assert kldrift_imports("from .alerts import x\n", "kldrift.outputs", is_package=True) == {"kldrift.outputs.alerts"}


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(GRAPH) is None, f"import cycle: {' -> '.join(find_cycle(GRAPH) or [])}"


def test_the_lower_layers_never_import_the_upper_ones() -> None:
    # The maths and the counting never see config, outputs or Airflow.
    pure = ["kldrift.divergence", "kldrift.kernels", "kldrift.columns", "kldrift.errors", "kldrift.severity"]
    upper = {m for m in MODULES if m.startswith(("kldrift.outputs", "kldrift.airflow"))} | {
        "kldrift.pipeline",
        "kldrift.cli",
        "kldrift.config",
    }
    for name in pure:
        reach = _reachable(name)
        assert not reach & upper, f"{name} reaches {sorted(reach & upper)}"


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(REPO)} has {lines} lines (at most {MAX_LINES})"


MODULE_MAP = REPO / "docs" / "development.md"


def module_map() -> list[str]:
    """The modules of the map, in the order listed (``kldrift/outputs/alerts.py`` → ``kldrift.outputs.alerts``)."""
    text = MODULE_MAP.read_text(encoding="utf-8")
    section = text.split("\n## The module map\n", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for row in re.findall(r"^\| (.+?) \|", section, flags=re.M):
        for path in re.findall(r"`(kldrift/[\w/]+\.py)`", row):
            names.append(_module_name(REPO / path))
    return names


def test_the_module_map_lists_every_module_once() -> None:
    listed = module_map()
    assert len(listed) == len(set(listed)), "a module is listed twice in docs/development.md's map"
    assert set(listed) == set(MODULES), (
        f"docs/development.md's module map lacks {sorted(set(MODULES) - set(listed))}; "
        f"lists missing {sorted(set(listed) - set(MODULES))}"
    )


def test_every_import_points_up_the_module_map() -> None:
    order = {name: i for i, name in enumerate(module_map())}
    wrong = [
        f"{name} imports {dep}, listed below it"
        for name, deps in GRAPH.items()
        for dep in deps
        if name in order and dep in order and order[dep] > order[name]
    ]
    assert not wrong, "\n".join(wrong)
