"""The interop modules import downwards only: no module imports one that imports it back
(issue 14: onnx <-> onnx_import was such a cycle), counting imports inside functions too."""

import ast
from pathlib import Path

import rnnlab.interop

PACKAGE = Path(rnnlab.interop.__file__).parent


def _imports(path: Path) -> set[str]:
    """Sibling modules of rnnlab.interop that ``path`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & {p.stem for p in PACKAGE.glob("*.py")}


def test_interop_import_graph_has_no_cycle():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert graph["onnx"] >= {"onnx_import"}  # the check sees real edges

    def visit(module, path):
        assert module not in path, f"import cycle: {' -> '.join([*path, module])}"
        for target in graph.get(module, ()):
            visit(target, [*path, module])

    for module in graph:
        visit(module, [])
