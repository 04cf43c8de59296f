"""The package layout: data flows one way, so a stage never imports a stage downstream of it.

Every module's imports (top level and inside functions) are read with `ast`; each import of
graphcal.X from package P must have X at or below P in LAYERS.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "graphcal"

# Lowest first. A package may import only itself and the packages before it.
LAYERS = (
    "errors",      # leaf: the project's error type
    "precision",   # leaf: the precision enum
    "data",        # the shipped profiles and grids, found with importlib.resources
    "yamlfile",    # leaf: strict YAML for profiles and grids
    "hardware",    # profiles, host detection, atomic writing, profiles init
    "load",        # MODEL -> OpGraph (specs, trace, graph, file formats, factories)
    "cost",        # OpGraph -> [OpCost]
    "mapper",      # OpCost x profile -> OpTime
    "predict",     # Prediction and its report
    "sweep",       # timing real workloads, the CSV format
    "evaluate",    # sweep rows costed and evaluated, metrics, compare
    "fit",         # coefficients fitted to sweep rows
    "api",         # the public Python functions (graphcal.predict, ...)
    "cli",         # the commands
    "__main__",
)
RANK = {name: i for i, name in enumerate(LAYERS)}


def stage(module: str) -> str | None:
    """The stage of a dotted module name inside graphcal (None for the root package)."""
    parts = module.split(".")
    assert parts[0] == "graphcal", module
    return parts[1] if len(parts) > 1 else None


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every graphcal import in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "graphcal"]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            if node.module and node.module.split(".")[0] == "graphcal":
                if node.module == "graphcal":  # from graphcal import X: X is a stage or a root attribute
                    found += [(node.lineno, f"graphcal.{a.name}") if a.name in RANK else (node.lineno, "graphcal")
                              for a in node.names]
                else:
                    found.append((node.lineno, node.module))
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_every_stage_is_known():
    stages = {stage(module_name(p)) for p in modules()} - {None}
    assert stages <= set(RANK), f"add {sorted(stages - set(RANK))} to LAYERS"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_go_only_upstream(path: Path):
    own = stage(module_name(path))
    if own is None:
        # the root package re-exports the public API (__all__) and the error types, nothing else
        assert {target for _, target in imported(path)} <= {"graphcal.api", "graphcal.errors"}
        return
    wrong = [
        f"{path.name}:{line} imports {target} ({stage(target)} is downstream of {own})"
        for line, target in imported(path)
        if stage(target) is not None and RANK[stage(target)] > RANK[own]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from graphcal.fit import params\n    import graphcal.cli\n")
    assert imported(source) == [(2, "graphcal.fit"), (3, "graphcal.cli")]


def test_a_stage_that_imports_downstream_is_caught(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from graphcal.fit.model import evaluate\n")
    (line, target), = imported(source)
    assert RANK[stage(target)] > RANK["evaluate"]
