"""The import graph of srcdiff: no cycle, and no module importing one of a later stage.

Every module under ``srcdiff/`` is parsed (not imported), and every import in it counts,
those inside functions included: a function-level import is a dependency that is merely
loaded late. Imports under ``if TYPE_CHECKING:`` do not run and are left out. A package's
``__init__`` is the package itself (``srcdiff.rules``). ``from . import x`` is an import of
the module ``x`` when there is one, else of the package that defines the name ``x``; likewise
``from .pkg import y``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = "srcdiff"
SOURCE = Path(__file__).resolve().parent.parent / ROOT

# The layers, lowest first: a module may import from its own layer and the layers below it,
# never from a layer above. The pipeline's stages are in the order data flows through them
# (docs/design.md); a package stands for all its modules. Every module must be in one layer.
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["srcdiff._version", "srcdiff.errors", "srcdiff.kind", "srcdiff.numba_cache"]),
    ("pytrees", ["srcdiff.pytrees", "srcdiff.attributes"]),  # containers of parameters as values
    ("runtime", ["srcdiff.runtime", "srcdiff.optim"]),  # Numba routines generated code calls
    ("ir", ["srcdiff.ir"]),
    ("rules", ["srcdiff.rules"]),
    ("custom", ["srcdiff.custom"]),
    ("structures", ["srcdiff.structures"]),  # containers of parameters, rewritten away
    ("frontend", ["srcdiff.frontend"]),
    ("python_errors", ["srcdiff.python_errors"]),  # normalize writes the math checks
    ("normalize", ["srcdiff.normalize"]),
    ("analysis", ["srcdiff.analysis"]),
    ("guards", ["srcdiff.guards"]),
    ("differentiation", ["srcdiff.reverse", "srcdiff.forward"]),
    ("optimize", ["srcdiff.optimize"]),
    ("kernels", ["srcdiff.kernels"]),
    ("buffers", ["srcdiff.buffers"]),
    ("codegen", ["srcdiff.codegen"]),
    ("jit", ["srcdiff.jit"]),
    ("backends", ["srcdiff.backends"]),  # chosen by the transform; they print and compile
    ("transform", ["srcdiff.transform"]),
    ("gradient", ["srcdiff.gradient"]),
    ("forward_api", ["srcdiff.forward_api"]),
    ("api", ["srcdiff.api"]),
    ("tools", ["srcdiff.symbolic", "srcdiff.check", "srcdiff.cli", "srcdiff.testing"]),
    ("package", ["srcdiff", "srcdiff.__main__"]),
]

# --- reading the graph --------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST):
    """Every import statement in ``node``, at any depth, except under ``if TYPE_CHECKING:``."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    if isinstance(node, ast.If) and _type_checking_only(node):
        children = node.orelse
    else:
        children = ast.iter_child_nodes(node)
    for child in children:
        yield from _imports(child)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The srcdiff modules that ``name`` imports."""
    found: set[str] = set()
    package = name if is_package(path) else name.rpartition(".")[0]
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
            found |= {
                _longest_known(a.name, known)
                for a in node.names
                if a.name.split(".")[0] == ROOT and a.name not in known
            }
            continue
        if node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        if source.split(".")[0] != ROOT:
            continue
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            found.add(submodule if submodule in known else source)
    found.discard(name)
    return found


def _longest_known(dotted: str, known: set[str]) -> str:
    while dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported_modules(name, path, known) for name, path in found.items()}


def layer_of(module: str) -> int | None:
    matches = [
        (len(declared), index)
        for index, (_, declared_names) in enumerate(LAYERS)
        for declared in declared_names
        if module == declared or (declared != ROOT and module.startswith(declared + "."))
    ]
    return max(matches)[1] if matches else None


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def shortest_cycle(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest way from the group's first module back to itself, through the group."""
    start = group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & set(group)):
                if succ == start:
                    return [*paths[node], start]
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    following.append(succ)
        frontier = following
    raise AssertionError(f"{group} is not a cycle")


# --- the tests ----------------------------------------------------------------------------------


def test_the_graph_is_read_precisely():
    graph = import_graph()
    # from . import runtime: the module; from .rules import PRIMITIVES: the package
    assert {"srcdiff.runtime", "srcdiff.rules", "srcdiff.custom"} <= graph["srcdiff.codegen"]
    # from .analysis.kinds import expr_kind: the module, not the package
    assert "srcdiff.analysis.kinds" in graph["srcdiff.guards"]
    assert "srcdiff.analysis" not in graph["srcdiff.guards"]
    # a function-level import counts
    assert "srcdiff.check" in graph["srcdiff.cli"]


def test_there_is_no_import_cycle():
    graph = import_graph()
    cycles = [shortest_cycle(group, graph) for group in strongly_connected(graph) if len(group) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_is_in_exactly_one_layer():
    unplaced = sorted(m for m in modules() if layer_of(m) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS): {unplaced}"
    declared = [name for _, names in LAYERS for name in names]
    assert len(declared) == len(set(declared))
    stale = sorted(
        n for n in declared if not any(m == n or m.startswith(n + ".") for m in modules())
    )
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(module) is not None
        and layer_of(target) is not None
        and layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import ir", {"srcdiff.ir"}),
        ("from .rules import PRIMITIVES", {"srcdiff.rules"}),
        ("from .rules.arrays import INDEX_READS", {"srcdiff.rules.arrays"}),
        ("from .analysis import kinds", {"srcdiff.analysis.kinds"}),
        ("import srcdiff.rules.arrays", {"srcdiff.rules.arrays"}),
        ("from srcdiff.ir import Name", {"srcdiff.ir"}),
        ("def f():\n    from .transform import generate", {"srcdiff.transform"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .transform import X",
            set(),
        ),
        ("import numpy as np\nfrom math import sin", set()),
    ],
)
def test_import_resolution(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert imported_modules("srcdiff.probe", path, set(modules())) == expected


def test_import_resolution_inside_a_package(tmp_path):
    package = tmp_path / "__init__.py"
    package.write_text("from . import arrays\nfrom .. import ir\nfrom . import defrule")
    expected = {"srcdiff.rules.arrays", "srcdiff.ir"}  # defrule: a name of the package itself
    assert imported_modules("srcdiff.rules", package, set(modules())) == expected
