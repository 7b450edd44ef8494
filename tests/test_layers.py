"""The folder tree is the architecture: imports point down the layers, no cycles.

Every ``import`` and ``from ... import`` of ``schemalog`` in ``pkg/`` is read
with ``ast`` (function-level imports included: a lazy import is still a
dependency). A module may import its own layer and the layers below it; a
cycle between modules is refused even inside one layer.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "pkg" / "schemalog"

# Rank of each top-level room; a module may import ranks <= its own. Rooms of
# one rank are siblings and may not import each other (kuzu and analysis, say).
RANKS = {
    "errors": 0,
    "_compat": 0,
    "_version": 0,
    "model": 1,
    "encoding": 2,
    "history": 3,
    "log": 4,
    "kuzu": 5,
    "analysis": 5,
    "synth": 5,
    "browser": 6,
    "api": 6,
    "server": 6,  # the HTTP sync service over any store (issue 18)
    "cli": 7,
    "__main__": 8,
    "": 8,  # the package itself: its __init__ re-exports the public API
}


def module_name(path: pathlib.Path, root: pathlib.Path = PKG) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The schemalog modules ``path`` imports (``from pkg import mod`` counts as mod)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "schemalog")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "schemalog":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute schemalog.* imports)")
    return out


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph(root: pathlib.Path = PKG) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(files)
    # importing a.b.c runs a/__init__ and a/b/__init__ too, but those are the
    # packages' own business: the edge that matters is to the module named.
    return {m: imports_of(p, modules) - {m} for m, p in files.items()}


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in g.items():
        src = room(mod)
        for dep in deps:
            dst = room(dep)
            if dep == "schemalog" or src == dst:
                continue
            if src not in RANKS or dst not in RANKS:
                bad.append(f"{mod} -> {dep}: room not in the layer table")
            elif RANKS[dst] >= RANKS[src]:
                bad.append(f"{mod} -> {dep}: {dst!r} (rank {RANKS[dst]}) is not below {src!r}")
    return sorted(bad)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in g:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(g[nxt]))))
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_imports_point_down_the_layers() -> None:
    assert upward_imports(graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_every_room_is_in_the_layer_table() -> None:
    rooms = {room(m) for m in graph()}
    assert rooms <= set(RANKS), rooms - set(RANKS)


def _write(root: pathlib.Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def toy(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "schemalog"
    _write(root, "__init__.py", "")
    _write(root, "errors.py", "")
    _write(root, "model/__init__.py", "")
    _write(root, "model/events.py", "from schemalog.errors import X\n")
    _write(root, "encoding/__init__.py", "")
    _write(root, "encoding/codec.py", "from schemalog.model.events import Event\n")
    return root


def test_the_checks_catch_an_upward_import(toy: pathlib.Path) -> None:
    assert upward_imports(graph(toy)) == []
    # a lazy import inside a function is still a dependency
    _write(toy, "model/events.py", "def f():\n    from schemalog.encoding import codec\n")
    assert upward_imports(graph(toy)) == [
        "schemalog.model.events -> schemalog.encoding.codec:"
        " 'encoding' (rank 2) is not below 'model'"
    ]
    assert cycles(graph(toy)) == [["schemalog.encoding.codec", "schemalog.model.events"]]


def test_the_checks_catch_a_cycle_inside_one_layer(toy: pathlib.Path) -> None:
    _write(toy, "model/a.py", "import schemalog.model.b\n")
    _write(toy, "model/b.py", "from schemalog.model import a\n")
    assert upward_imports(graph(toy)) == []
    assert cycles(graph(toy)) == [["schemalog.model.a", "schemalog.model.b"]]
