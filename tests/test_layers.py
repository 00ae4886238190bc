"""Imports flow one way: the CLI over the flows over the service layer over channels, storage and the pure core.

Read from the source (every import statement, also those inside functions and under TYPE_CHECKING),
so a lazy import cannot hide an upward arrow. A module may import its own package or a lower layer;
no two modules may import each other, directly or around a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# highest first; the web app sits under the CLI (which starts it) and above the flows (it emits their events)
LAYERS = ("dripline", "web", "flows", "service", "channels", "storage", "nurture")
RANK = {name: len(LAYERS) - i for i, name in enumerate(LAYERS)}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {
        _module(p): p
        for package in LAYERS
        for p in (ROOT / package).rglob("*.py")
        if "migrations/versions" not in p.as_posix()
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{a.name}" for a in node.names)
                targets.add(node.module)
        graph[name] = {t for t in (_known(t, modules) for t in targets) if t and t != name}
    return graph


def _known(target: str, modules: dict[str, Path]) -> str | None:
    """The project module ``target`` names (``from pkg import module`` names a module, ``from m import f`` m)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _layer(module: str) -> str:
    return module.split(".")[0]


def test_no_module_imports_a_higher_layer():
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if RANK[_layer(target)] > RANK[_layer(source)]
    )
    assert upward == []


def test_no_import_cycles_between_modules():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_check_sees_an_upward_import_and_a_cycle(tmp_path: Path, monkeypatch):
    """The two checks above can fail: a planted upward import and a planted cycle are both reported."""
    for package, body in {
        "nurture": "from service import x\n",
        "service": "import service.y\n",
        "storage": "",
        "channels": "",
        "flows": "",
        "dripline": "",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "x.py").write_text(body)
    (tmp_path / "service" / "y.py").write_text("from service import x\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path, raising=False)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    graph = _graph()
    assert "service.x" in graph["nurture.x"], "nurture.x imports the service layer: an upward arrow"
    assert "service.y" in graph["service.x"] and "service.x" in graph["service.y"], "a two-module circle"
