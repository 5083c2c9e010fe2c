"""Imports run one way: graph/ on top, then tools/ and trainers/, then scoring/ and memory/, then
records/ and llms/ at the bottom; the ``cli.py`` of each package is the command layer, above all.
Checked on the source, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"graph": 4, "tools": 3, "trainers": 3, "scoring": 2, "memory": 2, "records": 1, "llms": 0}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_imports_a_layer_above_or_beside_its_own():
    wrong = []
    for package, level in LAYERS.items():
        for path in sorted((ROOT / package).glob("*.py")):
            if path.name == "cli.py":
                continue  # the command layer drives everything
            for name in imports_of(path) & set(LAYERS):
                if name != package and LAYERS[name] >= level:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_langgraph_json_names_every_graph():
    import json

    from graph.runs import GRAPHS

    graphs = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert set(graphs) == set(GRAPHS)
    for name, target in graphs.items():
        module, _, attr = target.partition(":")
        assert module == GRAPHS[name] and attr == "graph"
