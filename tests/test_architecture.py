"""The package's shape, checked from its source: imports flow one way, one owner names the
model folder's files, functions stay short, and the docs cite nothing outside the repo."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"
MAX_FUNCTION_LINES = 60
OWNED_NAMES = ("report.json", "eval.json", "device-report.json")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every pipeline module `path` imports, at the top or inside functions."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                deps.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name.split(".")[0] == "pipeline"}
    return {d for d in deps if d in modules}


def import_graph() -> dict[str, set[str]]:
    """module -> the pipeline modules it imports. The package's own `__init__` (a lazy facade
    that imports nothing at load time) is left out: importing `pipeline.x` runs it first anyway."""
    modules = _modules()
    return {name: _imports(path, modules) - {name, "pipeline"} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_imports_have_no_cycle():
    graph = import_graph()
    assert len(graph) > 30  # the walk found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("low, high", [
    ("pipeline.artifacts", "pipeline.flow"), ("pipeline.fidelity", "pipeline.android.device"),
    ("pipeline.report", "pipeline.flow"), ("pipeline.evalset", "pipeline.flow"),
    ("pipeline.sources", "pipeline.flow"), ("pipeline.recipes", "pipeline.sweep"),
])
def test_lower_stages_do_not_reach_up(low, high):
    graph = import_graph()
    seen, todo = set(), [low]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    assert high not in seen, f"{low} imports {high} (directly or through another module)"


def test_only_the_owner_spells_the_model_folder_documents():
    offenders = []
    for name, path in _modules().items():
        if name == "pipeline.artifacts":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                offenders += [f"{name}: {n!r} in {node.value[:60]!r}" for n in OWNED_NAMES if n in node.value]
    assert not offenders, offenders


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants (docs may name the files; code asks the owner)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for name, path in _modules().items():
        if name.endswith("_generated"):  # generated code (the vendored metadata schema)
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    out.append(f"{name}.{node.name} ({length} lines)")
    return out


def test_no_function_is_longer_than_the_limit():
    assert long_functions() == []


def test_docs_and_code_cite_nothing_outside_the_repo():
    # the names are spelt in pieces so that this file does not match its own search
    pattern = re.compile("|".join(("FIELD" + "_NOTES", "HOUSE" + "_STYLE", r"\.\./" + "shared")))
    files = [*PACKAGE.rglob("*.py"), *ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"),
             *(ROOT / "android_app").rglob("*.java"), *(ROOT / "android_app").glob("*.md"),
             ROOT / "tasks.py", ROOT / "pipeline.toml"]
    cited = [str(p.relative_to(ROOT)) for p in files if pattern.search(p.read_text(encoding="utf-8"))]
    assert not cited, cited
