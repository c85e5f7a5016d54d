"""The package's floors, read from its imports with ``ast``: no cycle, no import pointing up.

``mtbus/__init__.py`` states the layering; this test holds the code to it. Every import
counts, type-only ones (under ``TYPE_CHECKING``) and those inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mtbus"

#: Each sub-package's floor. A module imports its own sub-package or lower floors only;
#: two sub-packages on one floor (``_emitter`` and ``backends``) import neither each other.
#: ``starlette`` is a module (mtbus.starlette, the web integration), on the top floor too.
FLOORS = {
    "_core": 1,
    "_emitter": 2,
    "backends": 2,
    "_channel": 3,
    "_cli": 4,
    "testing": 4,
    "starlette": 4,
}
#: ``mtbus/__init__.py`` and ``__main__.py``: the face, above everything.
TOP = 5

Graph = dict[str, set[str]]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, modules: set[str], root: Path = PACKAGE) -> set[str]:
    """The modules of the package at *root* that *path* imports, anywhere in it."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` names a submodule, not an attribute.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules and module != name}


def package_graph() -> Graph:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def floor(module: str) -> tuple[int, str]:
    """A module's floor, and the sub-package that places it there."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return TOP, ""
    return FLOORS[parts[1]], parts[1]


def upward_imports(graph: Graph) -> list[str]:
    wrong = []
    for importer, imported in sorted(graph.items()):
        level, part = floor(importer)
        for module in sorted(imported):
            other_level, other_part = floor(module)
            if other_level > level or (other_level == level and other_part != part):
                wrong.append(f"{importer} (floor {level}) imports {module} (floor {other_level})")
    return wrong


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_sub_package_has_a_floor() -> None:
    inside = {name.split(".")[1] for name in package_graph() if "." in name}
    assert inside - {"__main__"} == set(FLOORS)


def test_no_import_points_up() -> None:
    assert upward_imports(package_graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(package_graph()) == []


def test_the_floor_imports_nothing_else_of_mtbus() -> None:
    graph = package_graph()
    outside = {
        module: sorted(other for other in imported if not other.startswith("mtbus._core"))
        for module, imported in graph.items()
        if module.startswith("mtbus._core")
    }
    assert all(not others for others in outside.values()), outside


# -- the checks themselves catch what they should -----------------------------------------


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("mtbus._core._event", "mtbus._emitter._dispatch"),  # the floor reaching up
        ("mtbus.backends._redis", "mtbus._channel._subscriber"),  # a backend into channels
        ("mtbus._emitter._dispatch", "mtbus.backends._base"),  # one floor, two wings
    ],
)
def test_an_upward_import_is_reported(importer: str, imported: str) -> None:
    graph: Graph = {importer: {imported}, imported: set()}
    assert upward_imports(graph) == [
        f"{importer} (floor {floor(importer)[0]}) imports {imported} (floor {floor(imported)[0]})"
    ]


def test_a_cycle_is_reported() -> None:
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_type_only_and_function_level_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "mtbus" / "_core" / "_sample.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .._emitter._dispatch import EmitterCore\n"
        "def later():\n"
        "    from .. import _channel\n",
        encoding="utf-8",
    )
    modules = {"mtbus._emitter._dispatch", "mtbus._channel", "mtbus._core._sample"}
    found = imported_modules(source, modules, tmp_path / "mtbus")
    assert found == {"mtbus._emitter._dispatch", "mtbus._channel"}
