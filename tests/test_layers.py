"""The package's stages import downward only and never in a cycle (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pipeline"
# Lowest first. A module may import modules of its own layer or of lower layers, never of a higher one.
LAYERS = (
    ("pipeline", "pipeline.errors", "pipeline.atomic", "pipeline.fixedpoint", "pipeline.jsonfmt", "pipeline.resources"),
    ("pipeline.tflite",),
    ("pipeline.keras",),
    ("pipeline.quant",),
    ("pipeline.cref",),
    ("pipeline.firmware",),
    ("pipeline.deploy", "pipeline.evaluate", "pipeline.report", "pipeline.sweep"),
    ("pipeline.cli",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer of a module: the longest prefix listed in LAYERS."""
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    if best is None or (best[1] == len("pipeline") and module != "pipeline"):
        raise LookupError(module)
    return best[0]


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The pipeline modules `path` imports, at module level or inside functions (relative imports resolved)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("pipeline"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("pipeline"):
                continue
            for alias in node.names:  # `from pkg import module` names a module; `from module import name` does not
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    found.discard(here)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE_DIR.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def test_every_module_has_a_layer():
    unplaced = [m for m in import_graph() if not _placed(m)]
    assert not unplaced, f"modules outside every layer of LAYERS (place them): {unplaced}"


def _placed(module: str) -> bool:
    try:
        layer_of(module)
    except LookupError:
        return False
    return True


def test_no_upward_imports():
    upward = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
              for m, deps in import_graph().items() for d in sorted(deps)
              if _placed(m) and _placed(d) and layer_of(d) > layer_of(m)]
    assert not upward, "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"a"}}, ["a", "a"]),
])
def test_cycle_finder(graph, expected):
    assert find_cycle(graph) == expected


def test_layer_lookup():
    assert layer_of("pipeline.errors") == 0
    assert layer_of("pipeline.quant.wess") == 3
    assert layer_of("pipeline.cli.main") == 7
    with pytest.raises(LookupError):
        layer_of("pipeline.somewhere_new")
