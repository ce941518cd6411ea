"""The house rules, checked: one-way imports (import-linter contracts), no import cycles, files of one job."""

import ast
import subprocess
import sys
from pathlib import Path

import grimp

from xrouter import PROJECT_ROOT

MAX_LINES = 320


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    kept = int(done.stdout.split("Contracts:")[1].split("kept")[0])
    assert kept >= 3


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (the import cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_strongly_connected_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("xrouter")
    # a package's __init__ importing its own submodules is not a cycle of the code
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if not m.startswith(i + ".")} for m in graph.modules
    }
    assert strongly_connected(edges) == []


def test_every_module_is_of_one_job_and_says_which():
    too_long, undocumented = {}, []
    for path in sorted((PROJECT_ROOT / "xrouter").rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_LINES:
            too_long[str(path.relative_to(PROJECT_ROOT))] = len(text.splitlines())
        if path.name != "__init__.py" and not ast.get_docstring(ast.parse(text)):
            undocumented.append(str(path.relative_to(PROJECT_ROOT)))
    assert too_long == {} and undocumented == []
