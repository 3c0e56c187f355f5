"""Write docs/api/*.md: one page per public module, one entry per name in its ``__all__``.

The pages are generated so that a public name cannot be left out of the reference; the test
suite regenerates them and fails when the committed pages differ (``python tools/api_pages.py``
rewrites them). mkdocstrings renders each ``::: module.name`` from its docstring and signature.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_DIR = ROOT / "docs" / "api"

# (module, page title, one line on what it holds); the order is the site's order.
MODULES: list[tuple[str, str, str]] = [
    ("rnnlab", "rnnlab", "The layers, training, prediction, checkpoints and devices."),
    ("rnnlab.models", "rnnlab.models", "Deep and bidirectional stacks, Dense, Embedding, Dropout."),
    ("rnnlab.cells", "rnnlab.cells", "The reference math of each cell, forward and backward."),
    ("rnnlab.optim", "rnnlab.optim", "Optimisers, gradient clipping and schedules."),
    ("rnnlab.losses", "rnnlab.losses", "Losses with their gradients."),
    ("rnnlab.schedules", "rnnlab.schedules", "Learning-rate schedules."),
    ("rnnlab.callbacks", "rnnlab.callbacks", "Training history and checkpoints during fit."),
    ("rnnlab.diagnostics", "rnnlab.diagnostics", "Divergence and vanishing-gradient checks."),
    ("rnnlab.data", "rnnlab.data", "Data sets and generators, samples first."),
    ("rnnlab.apps", "rnnlab.apps", "The guide's example applications."),
    ("rnnlab.masks", "rnnlab.masks", "Padded batches: masks and last valid steps."),
    ("rnnlab.io", "rnnlab.io", "Checkpoints: safetensors and JSON, never pickle."),
    ("rnnlab.interop", "rnnlab.interop", "PyTorch, Keras and ONNX converters."),
    ("rnnlab.backend", "rnnlab.backend", "Array namespaces and devices (CPU, CUDA)."),
    ("rnnlab.compare", "rnnlab.compare", "The report on the guide's claims."),
]


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        raise SystemExit(f"{module_name} has no __all__: its public names are not declared")
    return [name for name in names if not name.startswith("__")]


def page_name(module_name: str) -> str:
    return module_name.replace("rnnlab.", "") if module_name != "rnnlab" else "index"


def render(module_name: str, title: str, summary: str) -> str:
    lines = [f"# {title}", "", summary, ""]
    module = importlib.import_module(module_name)
    for name in public_names(module_name):
        value = getattr(module, name)
        if type(value).__name__ == "module":
            lines += [f"## {name}", "", f"The module `{value.__name__}`: see its page.", ""]
            continue
        lines += [f"::: {module_name}.{name}", ""]
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    out = {}
    for module_name, title, summary in MODULES:
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue  # an optional part not present in this checkout
        out[API_DIR / f"{page_name(module_name)}.md"] = render(module_name, title, summary)
    return out


def main() -> int:
    API_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in pages().items():
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
