"""The package's import graph keeps its layout (issue 16, parts 2-4).

Every ``eqprop_hw/**/*.py`` is parsed with :mod:`ast`; every ``import`` and ``from ... import``
that names an ``eqprop_hw`` module counts, at module level or inside a function alike (relative
imports resolved). ``from pkg import name`` is an edge to ``pkg.name`` when that is a module,
else to ``pkg`` itself. Imports under ``if TYPE_CHECKING:`` never run (annotations only) and
are left out of the runtime graph. Importing ``eqprop_hw.x`` also runs the package's
``__init__`` (which re-exports the API); that side effect is not an edge of ``x``.

Checked: no import cycles; the reference (``learning/reference.py``) reaches no backend and only
the small modules listed in :data:`REFERENCE_MAY_REACH`; ``lc/`` and ``thermal/`` do not import
each other; ``cli.py`` is imported by nothing but ``__main__.py``; no module imports a private
name (``_x``) from another module. Each check first runs on a small made-up package, so that a
check that could never fail shows up as a failing test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "eqprop_hw"

#: Everything the reference may reach through its imports, with why it is no shared physics.
REFERENCE_MAY_REACH = {
    "eqprop_hw.errors": "error classes",
    "eqprop_hw.circuit.graph": "the circuit description both sides read (elements, values)",
    "eqprop_hw.circuit.spice_grammar": "name grammar, used by graph validation",
    "eqprop_hw.circuit.transistors": "transistor element grammar, used by graph validation",
    "eqprop_hw.circuit.batch": "shape/finiteness checks of inputs and targets, no physics",
    "eqprop_hw.learning.losses": "the loss being minimised (the objective, not a device law)",
    "eqprop_hw.learning.ep": "the local rule, applied by software EP to the model's own states",
}

#: Cycles other slices of issue 16 are removing (lc/cli.py <-> lc/train.py; the API's
#: networks import the api module back). A new cycle fails; delete an entry once it is gone.
KNOWN_CYCLES = []

#: Private names imported across modules in files owned by other slices (importer, exporter,
#: name). A new one fails; delete an entry once its importer uses a public name.
KNOWN_PRIVATE_IMPORTS: set = set()   # none left: every import across modules is public


# -- the import graph --------------------------------------------------------------------------------
def module_files(package: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` below ``package`` (``__init__`` is the
    package's own name)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else \
                test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _from_target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(package: Path):
    """``(edges, private)``: ``{module: {imported module}}`` at run time, and the set of
    ``(importer, module, name)`` for every private name imported from another module."""
    modules = module_files(package)
    root = package.name
    edges: dict[str, set] = {name: set() for name in modules}
    private = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges[module].update(a.name for a in node.names
                                     if a.name.split(".")[0] == root)
            elif isinstance(node, ast.ImportFrom):
                target = _from_target(module, path.name == "__init__.py", node)
                if target.split(".")[0] != root:
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in modules:
                        edges[module].add(full)
                        continue
                    edges[module].add(target)
                    if alias.name.startswith("_") and target != module:
                        private.add((module, target, alias.name))
    return {m: {t for t in targets if t != m} for m, targets in edges.items()}, private


def cycles(edges: dict) -> list[set]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start), on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child), on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def reachable(edges: dict, start: str) -> set:
    """Every module ``start`` imports, directly or through others (``start`` excluded)."""
    seen, todo = set(), [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen and target != start:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.fixture(scope="module")
def graph():
    return import_graph(PACKAGE)


# -- the checks run on a made-up package first -------------------------------------------------------
def write_package(tmp_path: Path, files: dict) -> Path:
    for name, text in files.items():
        path = tmp_path / "eqprop_hw" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "eqprop_hw"


def test_the_graph_sees_function_relative_and_private_imports(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "def f():\n    from eqprop_hw.b import _hidden\n",
        "b.py": "from . import c\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from eqprop_hw.a import f\nimport eqprop_hw.d\n",
        "d.py": "from .a import f\n",
        "sub/__init__.py": "",
        "sub/e.py": "from ..b import c\nfrom . import f\n",
        "sub/f.py": "",
    })
    edges, private = import_graph(package)
    assert edges["eqprop_hw.a"] == {"eqprop_hw.b"}
    assert edges["eqprop_hw.b"] == {"eqprop_hw.c"}
    assert edges["eqprop_hw.c"] == {"eqprop_hw.d"}              # TYPE_CHECKING left out
    assert edges["eqprop_hw.sub.e"] == {"eqprop_hw.b", "eqprop_hw.sub.f"}
    assert private == {("eqprop_hw.a", "eqprop_hw.b", "_hidden")}
    assert cycles(edges) == [{"eqprop_hw.a", "eqprop_hw.b", "eqprop_hw.c", "eqprop_hw.d"}]
    assert reachable(edges, "eqprop_hw.sub.e") == {"eqprop_hw.a", "eqprop_hw.b", "eqprop_hw.c",
                                                   "eqprop_hw.d", "eqprop_hw.sub.f"}


# -- the package -------------------------------------------------------------------------------------
def test_no_new_import_cycles(graph):
    edges, _ = graph
    new = [sorted(c) for c in cycles(edges) if not any(c == known for known in KNOWN_CYCLES)]
    assert not new, f"import cycles: {new}"


def test_reference_reaches_no_backend_and_no_shared_physics(graph):
    edges, _ = graph
    reached = reachable(edges, "eqprop_hw.learning.reference")
    backends = sorted(m for m in reached if m.startswith("eqprop_hw.backends"))
    assert not backends, f"learning/reference.py reaches {backends}"
    assert reached <= set(REFERENCE_MAY_REACH), \
        f"learning/reference.py reaches {sorted(reached - set(REFERENCE_MAY_REACH))}"
    assert "eqprop_hw.learning.ep" in reached        # the check sees imports inside functions


def test_lc_and_thermal_do_not_import_each_other(graph):
    edges, _ = graph
    crossing = sorted((m, t) for m, targets in edges.items() for t in targets
                      for a, b in (("lc", "thermal"), ("thermal", "lc"))
                      if m.startswith(f"eqprop_hw.{a}") and t.startswith(f"eqprop_hw.{b}"))
    assert not crossing, f"lc/ and thermal/ import each other: {crossing}"


def test_cli_is_imported_by_nothing_but_main(graph):
    edges, _ = graph
    importers = sorted(m for m, targets in edges.items() if "eqprop_hw.cli" in targets)
    assert importers == ["eqprop_hw.__main__"]


def test_no_new_private_imports_across_modules(graph):
    _, private = graph
    new = sorted(private - KNOWN_PRIVATE_IMPORTS)
    assert not new, "private names imported from another module (importer, module, name): " \
        f"{new}"
