"""rnnlab's imports point down and never go round in a circle (STYLE.md, "Layout").

The graph is read from the source with ``ast``, every ``import`` counted, also those inside
functions (a lazy import is still a dependency): cli → compare → apps → train/models → layers →
kernels → cells. Modules outside that chain (backend, validation, io, data, interop, ...) are
checked for cycles only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnlab

SRC = Path(rnnlab.__file__).resolve().parent

#: Rank of each level of the chain, highest first in STYLE.md; a module may import only its own
#: rank or lower. The package root re-exports train and the layers, so it ranks with train.
RANKS = {
    "rnnlab.cli": 7,
    "rnnlab.compare": 6,
    "rnnlab.apps": 5,
    "rnnlab": 4,
    "rnnlab.train": 4,
    "rnnlab.callbacks": 4,
    "rnnlab.diagnostics": 4,
    "rnnlab.models": 4,
    "rnnlab.layers": 3,
    "rnnlab.recurrent": 3,
    "rnnlab.layer_options": 3,
    "rnnlab.gpu": 3,
    "rnnlab.kernels": 2,
    "rnnlab.cells": 1,
}


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every .py file under ``root``."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _resolve(name: str, modules) -> str | None:
    """The module ``name`` lives in: itself, or its nearest parent that is a module."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every import statement, except those under ``if TYPE_CHECKING:`` (never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skip:
            yield node


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the rnnlab modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    modules = module_files(root)
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(a.name, modules) for a in node.names)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                targets.add(full if full in modules else _resolve(source, modules))
        graph[name] = {t for t in targets if t and t.startswith("rnnlab") and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
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


def rank(module: str) -> int | None:
    """The chain level of ``module`` (its longest prefix in RANKS; the root only itself)."""
    if module == "rnnlab":
        return RANKS[module]
    name = module
    while "." in name:
        if name in RANKS:
            return RANKS[name]
        name = name.rpartition(".")[0]
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = rank(source), rank(target)
            if low is not None and high is not None and high > low:
                found.append(f"{source} -> {target}")
    return found


def test_no_import_cycles():
    assert cycles(import_graph(SRC)) == []


def test_no_import_points_up_the_chain():
    assert upward_imports(import_graph(SRC)) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "rnnlab"


def test_checker_finds_a_lazy_cycle_and_an_upward_import(tmp_path):
    """The checks themselves can fail: a planted cycle and upward import are both reported."""
    root = _write(
        tmp_path,
        {
            "rnnlab/__init__.py": "",
            "rnnlab/compare/__init__.py": "",
            "rnnlab/compare/a.py": "from .b import f\n",
            "rnnlab/compare/b.py": "def f():\n    from . import a\n",
            "rnnlab/kernels/__init__.py": "",
            "rnnlab/kernels/k.py": "import rnnlab\nfrom ..cli import main\n",
            "rnnlab/cli/__init__.py": "",
            "rnnlab/cli/main.py": "from rnnlab.kernels import k\n",
            "rnnlab/typed.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from rnnlab.cli import main\n"
            ),
        },
    )
    graph = import_graph(root)
    assert graph["rnnlab.compare.b"] == {"rnnlab.compare.a"}
    assert graph["rnnlab.typed"] == set()
    assert ["rnnlab.compare.a", "rnnlab.compare.b"] in cycles(graph)
    assert ["rnnlab.cli.main", "rnnlab.kernels.k"] in cycles(graph)
    assert upward_imports(graph) == [
        "rnnlab.kernels.k -> rnnlab",
        "rnnlab.kernels.k -> rnnlab.cli.main",
    ]


@pytest.mark.parametrize(
    ("module", "expected"), [("rnnlab.cli.info", 7), ("rnnlab.io", None), ("rnnlab", 4)]
)
def test_rank_reads_the_longest_prefix(module, expected):
    assert rank(module) == expected
