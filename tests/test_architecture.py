"""The rules of docs/ARCHITECTURE.md, checked on the code: imports go one way down the data flow,
no module imports another in a circle (function-level imports included), streamlit only in the
app's UI package, and nothing finds files through the source checkout.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cx_text"
#: the data flow, left to right; a package may import only packages of a lower or equal rank
RANKS = {
    "core": 0,
    "models": 1,
    "io": 2,
    "text": 3,
    "classify": 4,
    "training": 5,
    "store": 5,
    "engines": 6,
    "analytics": 7,
    "themes": 8,
    "loop": 9,
    "reports": 10,
    "api": 11,
    "app": 12,
    "testing": 13,
    "cli": 14,
    "__main__": 15,
    "": 16,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cx_text"):
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, known) - {name} for name, path in known.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_architecture_every_package_has_a_rank() -> None:
    assert {_package(m) for m in _modules()} <= set(RANKS)


def test_architecture_imports_go_down_the_flow() -> None:
    back = sorted(
        (a, b)
        for a, targets in _graph().items()
        for b in targets
        if b != "cx_text" and RANKS[_package(b)] > RANKS[_package(a)]
    )
    assert not back, back


def test_architecture_no_import_cycles() -> None:
    graph, state, cycles = _graph(), defaultdict(int), []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "cx_text" or nxt.startswith("cx_text.__"):
                continue  # the package face re-exports; nothing below imports it
            if state[nxt] == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module, [module])
    assert not cycles, cycles


def test_architecture_nothing_below_imports_the_package_face() -> None:
    offenders = sorted(
        a
        for a, targets in _graph().items()
        if "cx_text" in targets and _package(a) not in ("", "cli", "testing")
    )
    assert not offenders, offenders


def test_architecture_streamlit_only_in_the_app_ui() -> None:
    ui = PACKAGE / "app" / "streamlit"
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "streamlit" for n in names) and ui not in path.parents:
                offenders.append(str(path))
    assert not offenders, offenders


def test_architecture_modules_stay_small() -> None:
    """docs/ARCHITECTURE.md: modules under ~400 lines (split by stage, not by "utils")."""
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not big, big
