"""The import graph: no circles, and imports only go downhill (study → trainables → evaluation;
inside trainables: loop → methods → scoring → core, data, networks). Every import counts, also
those inside functions (a lazy import still ties the two modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "trainables", "evaluation")

# Each layer may import the layers after it (and itself), never those before it.
LAYERS = [
    "study",
    "trainables.restore",
    "trainables.loop|trainables.checkpoint|trainables.registry",
    "trainables.methods",
    "trainables.scoring",
    "trainables.core",
    "trainables.networks|trainables.data",
    "evaluation",
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that `path` imports (`from pkg import mod` resolves to pkg.mod)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` ties to pkg.mod; `from mod import name` to mod
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known
                     else node.module for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(p, known) - {m} for m, p in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def layer(module: str) -> int:
    for i, spec in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in spec.split("|")):
            return i
    return -1  # package roots (`trainables`) belong to no layer


def test_the_project_has_no_import_circle():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " → ".join(cycle)


def test_imports_go_downhill_only():
    uphill = [f"{m} → {n}" for m, targets in graph().items() for n in targets
              if -1 < layer(n) < layer(m)]
    assert not uphill, "imports against the layering:\n" + "\n".join(sorted(uphill))


@pytest.mark.parametrize("edges", [{"a": {"b"}, "b": {"c"}, "c": {"a"}}, {"a": {"a"}}])
def test_the_cycle_finder_finds_a_planted_circle(edges):
    assert find_cycle(edges) is not None


def test_trainables_top_level_holds_at_most_eight_files():
    files = [p.name for p in (ROOT / "trainables").glob("*.py")]
    assert len(files) <= 8, sorted(files)
