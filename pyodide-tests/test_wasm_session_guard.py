"""kuzu-wasm has native Kuzu 0.11.3's session bug, and the workspace never
sends it (issue 22): a property dropped from a rel table, then a FROM/TO pair
added to it, in two commits of one session (one Database in the worker).

Measured in Chromium without the guard (pkg/schemalog/browser/kuzu_wasm.py,
"Known crashes"):

* ``issue``: R(w, v), drop w, add A->C; the next rel row written fails with
  "Assertion failed ... column_chunk_data.cpp ... KU_UNREACHABLE";
* ``trap``: R(w, v), drop v, drop w, add A->C, add x, add y; the next rel
  row written traps the worker ("memory access out of bounds").

Both sequences go through the page's Python ``Workspace`` (change after
change, each one its own commit), then rows are written through it. With the
guard the adapter refuses the pair before sending it (``KnownCrash``) and the
workspace starts a new session (restart, rebuild from the log, compacted DDL):
no worker traps, no Kuzu error, the rows are written, the catalog shows the
log's schema with no drift. (Rows written before the new session are not
kept: the database lives in the worker's memory, as after a crash; the test
writes its rows with MERGE so that it asks the same of both ways.)
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from test_browser_tabs import open_page, py

pytestmark = pytest.mark.page

SETUP = """
import json, js
from schemalog.browser.bridge import import_module
from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend
from schemalog.browser.store import BrowserStore
from schemalog.browser.workspace import Workspace
from schemalog.kuzu.drift import drift
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection, DropProperty, build_add_property, build_node_table, build_rel_table,
)
from schemalog.model.parts import Connection

NAME = {name!r}
backend = SyncKuzuBackend(await WasmKuzuBackend.open(NAME))
ws = Workspace(NAME, BrowserStore.open(NAME), backend,
               HybridLogicalClock("tab", lambda: int(js.Date.now())))
shim = await import_module("/web/js/workspace.mjs")
js.window.crashes = js.Array.new()
js.eval("(ws) => ws.addEventListener('crash', (e) => window.crashes.push(e.detail.error.message))")(
    shim.getWorkspace(NAME))

ids = {{}}
for t in "ABC":
    ids[t] = ws.change(build_node_table(t, [("id", "INT64")], "id")).id
ids["R"] = ws.change(build_rel_table("R", [(ids["A"], ids["B"])],
                                     [("w", "INT64"), ("v", "INT64")])).id
ws.query("CREATE (:A {{id: 1}}), (:B {{id: 2}}), (:C {{id: 3}})")
ws.query("MATCH (a:A {{id: 1}}), (b:B {{id: 2}}) CREATE (a)-[:R {{w: 5, v: 6}}]->(b)")

def prop(name):
    return next(p.property_id for p in ws.state.tables[ids["R"]].properties if p.name == name)

def step(what):
    kind, arg = what
    if kind == "drop":
        change = DropProperty(ids["R"], prop(arg))
    elif kind == "pair":
        change = AddConnection(ids["R"], Connection(ids[arg[0]], ids[arg[1]]))
    else:
        change = build_add_property(ids["R"], arg, "INT64")
    ws.change(change)  # one change, one commit
    return ws.unapplied

unapplied = [step(s) for s in {steps!r}]
rows = []
try:
    ws.query("MERGE (:A {{id: 1}})")
    ws.query("MERGE (:C {{id: 3}})")
    ws.query("MATCH (a:A {{id: 1}}), (c:C {{id: 3}}) CREATE (a)-[:R]->(c)")
    rows = ws.query("MATCH (a:A)-[r:R]->(c:C) RETURN a.id AS a, c.id AS c")
    error = None
except Exception as exc:
    error = f"{{type(exc).__name__}}: {{exc}}"
rel = next(t for t in ws.catalog().rel_tables if t.name == "R")
found = drift(ws.state, ws.catalog(), applied=ws.state)
json.dumps({{
    "crashes": list(js.window.crashes),
    "healed": [h.reason for h in ws.healed],
    "unapplied": [u is not None for u in unapplied],
    "error": error,
    "rows": rows,
    "connections": sorted(map(list, rel.connections)),
    "properties": [p.name for p in rel.properties],
    "drift_clean": found.clean,
    "sessions": backend.sessions,
    "state": backend.state,
}})
"""

SHAPES = {
    "issue": ([("drop", "w"), ("pair", "AC")], ["v"]),
    "trap": (
        [("drop", "v"), ("drop", "w"), ("pair", "AC"), ("add", "x"), ("add", "y")],
        ["x", "y"],
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_drop_then_add_from_across_commits_never_reaches_kuzu_wasm(
    chrome: Any, site_url: str, shape: str
) -> None:
    steps, properties = SHAPES[shape]
    open_page(chrome, site_url)
    name = f"guard-{shape}-{uuid.uuid4().hex[:6]}"
    out = json.loads(py(chrome, SETUP.format(name=name, steps=steps)))
    print(out)
    assert out["crashes"] == [], out  # no worker trapped
    assert out["error"] is None, out  # no Kuzu error on the rows written afterwards
    assert out["rows"] == [{"a": 1, "c": 3}], out
    assert not any(out["unapplied"]), out
    # the guard: one new session, started on purpose before the pair was sent
    assert len(out["healed"]) == 1 and out["healed"][0].startswith("new session"), out
    assert "ADD FROM" in out["healed"][0], out
    assert out["sessions"] == 2 and out["state"] == "ready", out
    assert out["connections"] == [["A", "B"], ["A", "C"]], out
    assert out["properties"] == properties and out["drift_clean"], out
