"""The house drawing, checked on the source (so a lazy import inside a function counts too):

- Imports run one way: graph/ on top, then tools/ and trainers/, then scoring/ and memory/, then
  llms/, and records/ (reading rows, the JSON store) at the bottom; only cli.py (the entry point, outside every package) drives
  them all. Every module of every subpackage is walked.
- Inside graph/, the shared core (its flat modules) never imports a graph's subpackage, and no
  graph's subpackage imports another's: a helper two graphs need lives in the core.
- No import circles between modules (imports under ``if TYPE_CHECKING:`` are annotations only).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"graph": 4, "tools": 3, "trainers": 3, "scoring": 2, "memory": 2, "llms": 1, "records": 0}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imported_modules(path: Path) -> set[str]:
    """Full dotted names this file imports (relative imports resolved), TYPE_CHECKING-only ones left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip, here = _type_checking_blocks(tree), module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def project_files() -> list[Path]:
    return sorted(p for package in LAYERS for p in (ROOT / package).rglob("*.py"))


def test_every_package_is_walked_with_its_subpackages():
    walked = {module_name(p) for p in project_files()}
    assert {"graph.improve.graph", "graph.refine.steps", "graph.tasks.load"} <= walked


def test_no_module_imports_a_layer_above_or_beside_its_own():
    wrong = []
    for path in project_files():
        package = module_name(path).split(".")[0]
        for name in {m.split(".")[0] for m in imported_modules(path)} & set(LAYERS):
            if name != package and LAYERS[name] >= LAYERS[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_the_graph_core_imports_no_graph_and_no_graph_imports_another():
    subpackages = {p.parent.name for p in (ROOT / "graph").glob("*/__init__.py")}
    wrong = []
    for path in (ROOT / "graph").rglob("*.py"):
        parts = module_name(path).split(".")
        own = parts[1] if len(parts) > 2 or path.name == "__init__.py" and len(parts) == 2 else None
        for m in imported_modules(path):
            mp = m.split(".")
            if mp[0] == "graph" and len(mp) > 1 and mp[1] in subpackages and mp[1] != own:
                wrong.append(f"{path.relative_to(ROOT)} imports {m}")
    assert wrong == []


def test_no_import_circles():
    files = {module_name(p): p for p in project_files()}
    edges = {m: {d for d in imported_modules(p) if d in files and d != m} for m, p in files.items()}
    # a package's __init__ is what `import pkg.mod` runs first; imports of a package count as its __init__
    done, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in done:
            return
        stack.append(m)
        for d in sorted(edges[m]):
            visit(d)
        stack.pop()
        done.add(m)

    for m in sorted(edges):
        visit(m)
    assert cycles == []


def test_langgraph_json_names_every_graph():
    import json

    from graph.runs import GRAPHS

    graphs = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert set(graphs) == set(GRAPHS)
    for name, target in graphs.items():
        module, _, attr = target.partition(":")
        assert module == GRAPHS[name] and attr == "graph"
