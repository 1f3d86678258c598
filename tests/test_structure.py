"The package's shape: no import circle between midt's modules (module-level or inside functions), and notebooks whose exported cells stay readable."
import ast
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def import_graph(top_level_only: bool) -> dict[str, set[str]]:
    "module -> the midt modules it imports (relative imports resolved)."
    graph = {}
    for p in sorted((ROOT/"midt").rglob("*.py")):
        if p.name == "_modidx.py" or "_shipped" in p.parts: continue
        name = ".".join(p.with_suffix("").relative_to(ROOT).parts).removesuffix(".__init__")
        pkg = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(p.read_text())
        deps = set()
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.ImportFrom):
                parts = pkg.split(".")
                target = ".".join(parts[:len(parts) - node.level + 1] + [node.module or ""]).strip(".") if node.level else node.module or ""
                deps.add(target)
            elif isinstance(node, ast.Import): deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d.startswith("midt") and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in graph: continue
            if state.get(d) == 1: found.append(stack[stack.index(d):] + [d])
            elif not state.get(d): visit(d)
        stack.pop(); state[m] = 2
    for m in sorted(graph):
        if not state.get(m): visit(m)
    return found


def test_no_import_circle():
    for top in (True, False):
        g = import_graph(top)
        assert "midt.training.checkpoint" in g and "midt.data.windows" in g["midt.data.dataset"]
        assert cycles(g) == [], cycles(g)


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_exported_cells_are_method_sized():
    long = []
    for p in sorted((ROOT/"nbs").glob("*.ipynb")):
        for i, c in enumerate(nbformat.read(p, as_version=4).cells):
            if c.cell_type == "code" and c.source.lstrip().startswith("#| export") and len(c.source.splitlines()) > 90:
                long.append(f"{p.name} cell {i}: {len(c.source.splitlines())} lines")
    assert not long, long
