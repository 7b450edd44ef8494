"""The demo page's Python side (web/index.html, web/js/main.mjs).

A small API the page calls with JSON strings in and out (results cross the
bridge as one JSON string: cheaper than ``to_js``)::

    reply = await pyodide.pyimport("schemalog.browser.demo").call(method, JSON.stringify(args))
    // {"ok": true, "result": ...} or {"ok": false, "error": {name, message, rule?, ...}}

``call`` is an async function called from JS: a promising entry point, so the
synchronous ports (``Workspace`` over ``SyncKuzuBackend`` and the IndexedDB
``BrowserStore``) can wait with JSPI inside it. The page runs one call at a
time (its own queue). Everything goes through the real path: one kuzu-wasm
Worker per workspace, the IndexedDB log, ``Workspace.change``/``sync``.

Methods (keyword arguments of the JSON object):

* ``open(name, strategy)`` (``open_workspace``): open or create workspace
  ``name``; ``strategy`` resolves conflicts of this tab's concurrent writes
  (``set_strategy`` changes it); ``status()``.
* ``status()``: state (ready/crashed/...), worker wasm memory, node-table
  capacity, Pyodide's heap, log position, state hash, tables.
* ``sync()``: pick up what other tabs appended (live sync calls it).
* ``attach(server, log, token)``: attach the workspace to a served log
  (``browser.attach``); ``remote_sync()`` runs one round (push, pull, offline
  writes merged with the tab's strategy); ``status()["remote"]`` is the
  connection state the page shows; ``catalog()`` what the Kuzu database shows.
* ``change(kind, ...)``: one schema change (see ``_change``), made on what
  the page shows (the workspace's view: no sync first). If another tab
  appended meanwhile, the change is concurrent with those records: its
  conflicts are resolved with the tab's strategy and the Merge events written
  with it (``written`` in the result). A change the view's schema refuses is
  an error ``{"name": "Rejected", "rule", "message"}``.
* ``record_ddl(text, skip_non_ddl)``: Cypher DDL from the page's editor,
  recorded like ``change`` (``Workspace.record_cypher``): all statements or
  none; an error ``{"name": "DdlError", line, column, statement, rule}``.
* ``conflicts()``: every conflict in the workspace's log and how it was
  decided (both sides by tab and summary, the winner, the Merge event);
  ``resolve(key, winner)`` decides an open one (strategy ``reject``).
* ``log(after, limit)``: one page of the log (opaque cursor ``after``).
* ``schema()``: node tables (properties, primary key) and rel tables (FROM/TO
  pairs by name), for the SVG graph.
* ``conflict(table, remote, strategy)``: a simulated second writer makes a
  concurrent change to ``table`` (``remote``: "rename" or "drop") while this
  tab renames it; both branches are merged with ``strategy``; returns the
  conflicts, the resolution events and the merged schema. ``adopt()`` writes
  the simulation into the workspace's log: both concurrent changes and the
  Merge event(s) recording the resolution (other tabs see the merge live).
* ``compat(old, new, mode, level)``: findings between two positions.
* ``metrics(window)``: evolution metrics, plot-ready series.
* ``trace()``: replay of the workspace's log with a ``Tracer``: summary, the
  Trace Event Format JSON (a string), the replay report.
* ``verify()``: re-reads the log from IndexedDB (a fresh connection, not this
  tab's copy) and verifies every record and hash link; names the first problem.
* ``memory_replay(events)``: a synthetic log of ``events`` events written to
  Pyodide's file system (MEMFS: its bytes live in a JS array, not the
  WebAssembly heap), replayed at the 32 MiB chunk budget; the heap growth.

Why one module of about 750 lines: it is the page's whole Python surface,
imported by the page with one ``pyimport`` and called by name from JS; each
function is a thin driver over the layers below.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from schemalog import _compat
from schemalog.analysis.compat import check_pair
from schemalog.analysis.metrics import compute_metrics
from schemalog.browser.bridge import blocking, can_block
from schemalog.errors import SchemalogError
from schemalog.history.merge import ConflictReport, merge_events, replay_merged
from schemalog.history.naming import Named, conflict_in_words, named_by_id
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.log.concurrent_writes import Written, check_strategy
from schemalog.log.replay import replay
from schemalog.log.store.port import RawChunk
from schemalog.log.trace import Tracer
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    CommentOnTable,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.names import validate_token
from schemalog.model.schema import NODE, Rejected, SchemaState, TableState, table_by_name

__all__ = ["Cancelled", "DemoError", "call"]

MIB = 1024 * 1024


class DemoError(SchemalogError):
    """A request the page sent does not make sense (unknown table, empty field...)."""


class Cancelled(DemoError):
    """The page asked a long call to stop (its Cancel button): nothing was kept."""


class _Session:
    def __init__(self) -> None:
        self.ws: Any = None
        self.remote: Any = None  # the workspace's Attachment to a served log (attach.py)
        self.origin = "tab-" + os.urandom(4).hex()
        self.writer2 = "writer-2-" + os.urandom(4).hex()  # the simulated second writer
        self.open_ms: float | None = None
        self.sim: Any = None  # (view, events, strategy) of the last simulation with a winner


_S = _Session()


# ---------------------------------------------------------------- entry point


async def call(method: str, args_json: str = "{}") -> str:
    """Run one API method; always returns a JSON string (errors included)."""
    try:
        fn = _METHODS.get(method)
        if fn is None:
            raise DemoError(f"unknown method {method!r}")
        args = json.loads(args_json or "{}")
        result = fn(**args)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Rejected):
            return json.dumps({"ok": False, "error": _rejected(result)})
        if isinstance(result, DdlError):
            where = (
                f"line {result.line}, column {result.column}: {result.kind}: {result.message}"
                f" (in: {result.statement})"
            )
            error = {**result.to_obj(), "name": "DdlError", "message": where}
            return json.dumps({"ok": False, "error": error})
        return json.dumps({"ok": True, "result": result})
    except Exception as exc:  # every failure is shown in the page's error panel
        return json.dumps({"ok": False, "error": _error(exc)})


def _rejected(r: Rejected) -> dict[str, Any]:
    return {"name": "Rejected", "rule": r.rule, "message": f"rejected ({r.rule}): {r.message}"}


def _error(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"name": type(exc).__name__, "message": str(exc)}
    for key in ("rule", "field", "statement", "kind", "reason"):
        value = getattr(exc, key, None)
        if isinstance(value, (str, int, float, bool)):
            out[key] = value
    return out


def _ws() -> Any:
    if _S.ws is None:
        raise DemoError("no workspace is open: create or open one first")
    return _S.ws


# ---------------------------------------------------------------- workspace


async def open_workspace(name: str, strategy: str = "lww", new_log: bool = False) -> dict[str, Any]:
    """Open workspace ``name``. Its log is remembered by this browser: a log that
    disappeared (deleted, evicted) is ``StoreMissing``, never an empty workspace;
    ``new_log=True`` is the explicit choice to delete what is left and start empty."""
    import js

    from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend
    from schemalog.browser.store import BrowserStore
    from schemalog.browser.workspace import Workspace

    name = validate_token(name.strip(), "workspace name")
    check_strategy(strategy)
    if _S.ws is not None:
        if _S.ws.name == name:
            _S.ws.strategy = strategy
            return status()
        _detach()
        _S.ws.close()
        _S.ws = None
    t0 = time.perf_counter()
    if new_log:
        await BrowserStore.delete_async(name)
    # the log first: a missing log must not leave a worker behind
    store = await BrowserStore.open_async(name, auto_pull=True, remember=True)
    try:
        backend = SyncKuzuBackend(await WasmKuzuBackend.open(name))
    except BaseException:
        store.close()
        raise
    clock = HybridLogicalClock(_S.origin, lambda: int(js.Date.now()))
    ws = Workspace(name, store, backend, clock, strategy=strategy)
    try:
        ws.sync()
    except BaseException:
        ws.close()
        raise
    _S.ws = ws
    _S.open_ms = (time.perf_counter() - t0) * 1000
    return status()


def status() -> dict[str, Any]:
    ws = _S.ws
    out: dict[str, Any] = {"origin": _S.origin, "pyodide_heap": _compat.wasm_heap_bytes()}
    if ws is None:
        return {**out, "workspace": None}
    inner = getattr(ws.backend, "backend", ws.backend)
    state = str(getattr(inner, "state", "ready"))
    cap = inner.capacity() if hasattr(inner, "capacity") else None
    tables = sorted(t.name for t in ws.state.tables.values())
    return {
        **out,
        "workspace": ws.name,
        "strategy": ws.strategy,
        "state": state,
        "generation": getattr(inner, "generation", 1),
        "memory_bytes": getattr(inner, "memory_bytes", None),
        "capacity": None
        if cap is None
        else {
            "node_tables_created": cap.node_tables_created,
            "node_table_limit": cap.node_table_limit,
            "node_tables_left": cap.node_tables_left,
            "limited_by": cap.limited_by,
            "memory_limit_bytes": cap.memory_limit_bytes,
        },
        "unapplied": None if ws.unapplied is None else ws.unapplied.to_obj(),
        "position": ws.position,
        "hash": ws.state_hash,
        "tables": tables,
        "healed": [h.reason for h in ws.healed],
        "open_ms": _S.open_ms,
        "remote": None if _S.remote is None else _S.remote.to_obj(),
    }


def sync() -> dict[str, Any]:
    new = _ws().sync()
    return {**status(), "new": new}


def attach(server: str, log: str, token: str | None = None) -> dict[str, Any]:
    """Attach the open workspace to the served log ``server``/logs/``log`` and run a
    first round (an unreachable service is a state, not an error: writes wait)."""
    from schemalog.browser.attach import Attachment

    ws = _ws()
    name = validate_token(log.strip(), "log name")
    url = f"{server.rstrip('/')}/logs/{name}"
    if _S.remote is not None and _S.remote.url == url:
        return remote_sync()
    _detach()
    _S.remote = Attachment(ws, url, token=token or None)
    return remote_sync()


def remote_sync() -> dict[str, Any]:
    """One sync round with the served log (push local writes, pull others', merge
    offline writes with the tab's strategy); the status with ``remote`` and ``round``."""
    if _S.remote is None:
        raise DemoError("this workspace is not attached to a served log")
    done = _S.remote.round()
    return {**status(), "round": done.to_obj()}


def catalog() -> dict[str, Any]:
    """What the workspace's Kuzu database itself shows (its catalog, in column order;
    our bookkeeping table left out): the truth two attached browsers compare."""
    import dataclasses

    from schemalog.kuzu.drift import user_catalog

    return dataclasses.asdict(user_catalog(_ws().catalog()))


def _detach() -> None:
    if _S.remote is not None:
        _S.remote.close()
        _S.remote = None


def set_strategy(strategy: str) -> dict[str, Any]:
    _ws().strategy = check_strategy(strategy)
    return status()


def rebuild() -> dict[str, Any]:
    healed = _ws().rebuild("asked from the demo page")
    return {**status(), "rebuilt": {"records": healed.records, "statements": healed.statements}}


# ---------------------------------------------------------------- changes


def _table(state: SchemaState, name: str, kind: str | None = None) -> TableState:
    if not name or not name.strip():
        raise DemoError("choose a table")
    table = table_by_name(state, name.strip())
    if table is None:
        raise DemoError(f"no table named {name!r}")
    if kind is not None and table.kind != kind:
        raise DemoError(f"{name!r} is a {table.kind.lower()} table, not a {kind.lower()} table")
    return table


def _property(table: TableState, name: str) -> Any:
    prop = table.property_named(name.strip()) if name else None
    if prop is None:
        raise DemoError(f"table {table.name!r} has no property named {name!r}")
    return prop


def parse_properties(text: str) -> list[tuple[str, str]]:
    """``name TYPE`` per line (the type may contain spaces: ``DECIMAL(10, 2)``)."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().rstrip(",")
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise DemoError(f"property line {number} {raw!r}: write 'name TYPE'")
        out.append((parts[0], parts[1].strip()))
    return out


def change(kind: str, **f: Any) -> dict[str, Any] | Rejected:
    ws = _ws()
    built = _change(ws.state, kind, f)  # on the view the page shows: no sync first
    outcome = ws.change(built)
    if isinstance(outcome, Rejected):
        return outcome
    written = ws.last_write
    events = _all_events()
    return {
        "event": _row(events, outcome.id),
        "written": _written_obj(written),
        # a written change is never an error: applied, or recorded and not yet applied
        "applied": ws.unapplied is None,
        "status": status(),
    }


def record_ddl(text: str, skip_non_ddl: bool = False) -> dict[str, Any] | DdlError:
    """Cypher DDL from the page's editor: all its statements as events, or a
    ``DdlError`` naming line, column, statement and rule (nothing written)."""
    ws = _ws()
    result = ws.record_cypher(text, skip_non_ddl=skip_non_ddl)
    if isinstance(result, DdlError):
        return result
    events = _all_events()
    positions = {e.id: i for i, e in enumerate(events)}
    named = _named(events)
    return {
        "events": [_event_obj(named[e.id], positions[e.id], None) for e in result.events],
        "unchanged": [w.text for w in result.unchanged],
        "skipped": [s.what for s in result.skipped],
        "written": _written_obj(ws.last_write) if result.events else None,
        "status": status(),
    }


def _row(events: list[Event], event_id: str) -> dict[str, Any]:
    """The log row of ``event_id`` (``events``: the whole log, which names it)."""
    for i, e in enumerate(events):
        if e.id == event_id:
            return _event_obj(_named(events[: i + 1])[event_id], i, None)
    raise DemoError(f"event {event_id} is not in the log")


def _change(state: SchemaState, kind: str, f: dict[str, Any]) -> Any:
    if kind == "create_node_table":
        props = parse_properties(f.get("properties", ""))
        if not props:
            raise DemoError("a node table needs at least one property ('name TYPE' lines)")
        pk = (f.get("primary_key") or "").strip() or props[0][0]
        return build_node_table(f.get("name", "").strip(), props, pk)
    if kind == "create_rel_table":
        pairs = []
        for pair in f.get("pairs", []):
            a = _table(state, pair[0], NODE)
            b = _table(state, pair[1], NODE)
            pairs.append((a.table_id, b.table_id))
        if not pairs:
            raise DemoError("a rel table needs at least one FROM/TO pair")
        props = parse_properties(f.get("properties", ""))
        multiplicity = f.get("multiplicity") or "MANY_MANY"
        return build_rel_table(f.get("name", "").strip(), pairs, props, multiplicity)
    table = _table(state, f.get("table", ""))
    if kind == "add_property":
        props = parse_properties(f.get("properties", ""))
        if len(props) != 1:
            raise DemoError("add one property: one 'name TYPE' line")
        return build_add_property(table.table_id, props[0][0], props[0][1])
    if kind == "drop_property":
        return DropProperty(table.table_id, _property(table, f.get("property", "")).property_id)
    if kind == "rename_property":
        prop = _property(table, f.get("property", ""))
        return RenameProperty(table.table_id, prop.property_id, f.get("new_name", "").strip())
    if kind == "rename_table":
        return RenameTable(table.table_id, f.get("new_name", "").strip())
    if kind == "drop_table":
        return DropTable(table.table_id)
    if kind == "comment":
        return CommentOnTable(table.table_id, f.get("comment", ""))
    raise DemoError(f"unknown change kind {kind!r}")


# ---------------------------------------------------------------- the log


def _named(events: list[Event]) -> dict[str, Named]:
    """Every event of ``events`` named as of its own causal past (history/naming.py):
    a concurrent rename reads by the name its writer saw, the same after a reload."""
    return named_by_id(events)


def _event_obj(named: Named, position: int, checksum: str | None) -> dict[str, Any]:
    event = named.event
    return {
        "position": position,
        "id": event.id,
        "origin": event.origin,
        "kind": event.kind,
        "summary": named.text,
        # table names before and after (id -> [before, after]; null: absent then)
        "tables": [list(ba) for ba in named.tables().values()],
        "checksum": checksum,
    }


def log(after: str | None = None, limit: int = 10) -> dict[str, Any]:
    """One page of the log, each row named as of its own causal past: the page's
    names need every record up to its last one (its ancestors are before it)."""
    ws = _ws()
    page = ws.store.read(after, max(1, min(int(limit), 200)))
    last = page.positions[-1] + 1 if page.positions else 0
    events: list[Event] = []
    cursor = None
    while len(events) < last:
        earlier = ws.store.read(cursor, min(1000, last - len(events)))
        if not earlier.records:
            break
        events.extend(r.event for r in earlier.records)
        cursor = earlier.cursor
    named = _named(events)
    rows = [
        _event_obj(named[r.event.id], pos, r.checksum[:19])
        for r, pos in zip(page.records, page.positions, strict=True)
    ]
    return {"rows": rows, "cursor": page.cursor, "total": ws.store.head().position}


def _all_events() -> list[Event]:
    ws = _ws()
    events: list[Event] = []
    cursor = None
    while True:
        page = ws.store.read(cursor, 1000)
        if not page.records:
            return events
        events.extend(r.event for r in page.records)
        cursor = page.cursor


# ---------------------------------------------------------------- the schema


def _schema_obj(state: SchemaState) -> dict[str, Any]:
    nodes, rels = [], []
    for t in sorted(state.tables.values(), key=lambda t: t.name.lower()):
        props = [
            {"name": p.name, "type": p.type, "pk": p.property_id == t.primary_key}
            for p in t.properties
        ]
        if t.kind == NODE:
            nodes.append({"name": t.name, "properties": props, "comment": t.comment})
        else:
            pairs = [
                [state.tables[c.from_table_id].name, state.tables[c.to_table_id].name]
                for c in t.connections
            ]
            rels.append(
                {
                    "name": t.name,
                    "pairs": pairs,
                    "properties": props,
                    "multiplicity": t.multiplicity,
                    "comment": t.comment,
                }
            )
    return {"nodes": nodes, "rels": rels}


def schema() -> dict[str, Any]:
    ws = _ws()
    return {**_schema_obj(ws.state), "hash": ws.state_hash, "position": ws.position}


# ---------------------------------------------------------------- conflicts


def conflict(table: str, remote: str = "rename", strategy: str = "lww") -> dict[str, Any]:
    """This tab renames ``table`` while a second writer (offline, same base)
    renames or drops it; both branches merged with ``strategy``."""
    ws = _ws()
    ws.sync()
    base = _all_events()
    report = ws._known()
    t = _table(ws.state, table)
    check_strategy(strategy)
    # this tab's own clock (its ids stay unique); the second writer a little later: lww picks it
    mine = new_event(ws.clock, ws.name, report.heads, RenameTable(t.table_id, f"{t.name}_here"))
    there = HybridLogicalClock(_S.writer2, lambda: mine.hlc.wall_ms + 1)
    if remote == "drop":
        theirs_change: Any = DropTable(t.table_id)
    elif remote == "rename":
        theirs_change = RenameTable(t.table_id, f"{t.name}_there")
    else:
        raise DemoError(f"unknown second-writer action {remote!r} (rename or drop)")
    theirs = new_event(there, ws.name, report.heads, theirs_change)
    result = merge_events([[*base, mine], [*base, theirs]], strategy)
    merged = replay_merged(result.events)
    named = _named(list(result.events))  # each change by the names its writer saw
    who = {mine.id: f"this tab ({_S.origin})", theirs.id: "second writer (writer-2)"}
    conflicts = []
    # only this simulation's conflicts: the ones the log had are decided there
    own = [c for c in result.conflicts if set(c.conflict.ids) & {mine.id, theirs.id}]
    for c in own:
        obj = c.to_obj()
        obj["element"] = conflict_in_words(c, named)["element"]
        obj["sides"] = [
            {
                "id": eid,
                "who": who.get(eid) or _who(named[eid].event.origin),
                "kind": named[eid].event.kind,
                "summary": named[eid].text,
            }
            for eid in c.conflict.ids
        ]
        obj["winner_who"] = who.get(c.winner or "")
        conflicts.append(obj)
    _S.sim = None
    if any(c.winner for c in own):  # nothing to adopt for a conflict left open
        _S.sim = (report, [mine, theirs], strategy, result.added)
    merged_tables = sorted(t.name for t in merged.state.tables.values())
    return {
        "strategy": strategy,
        "events": [{**_event_obj(named[e.id], -1, None), "who": who[e.id]} for e in (mine, theirs)],
        "conflicts": conflicts,
        "resolutions": [
            {"id": e.id, "summary": named[e.id].text, "parents": list(e.parents)}
            for e in result.added
        ],
        "merged": {
            "hash": merged.state_hash,
            "tables": merged_tables,
            # this simulation's changes that replay leaves out (the log's own are decided)
            "skipped": [
                [named[i].text, _why(why)] for i, why in merged.skipped if i in (mine.id, theirs.id)
            ],
            "schema": _schema_obj(merged.state),
        },
        "current_hash": ws.state_hash,
        "can_adopt": _S.sim is not None,
    }


def adopt() -> dict[str, Any]:
    """Write the last simulation into the log: both concurrent changes, stamped on
    the view they were made on, and the Merge event(s) of its resolution."""
    if _S.sim is None:
        raise DemoError(
            "no resolved conflict to adopt: simulate one with a strategy other than reject"
        )
    (view, events, strategy, _), _S.sim = _S.sim, None
    written = _ws().write_on_view(view, events, strategy)
    return {"written": _written_obj(written), "status": status()}


def _who(origin: str) -> str:
    if origin == _S.origin:
        return f"this tab ({origin})"
    if origin == _S.writer2:
        return f"second writer ({origin})"
    return f"tab {origin}"


def _written_obj(written: Written | None) -> dict[str, Any] | None:
    if written is None:
        return None
    named = _named(_all_events()) if written.conflicts else {}
    return {
        **written.to_obj(),
        "conflicts": [_conflict_obj(r, named) for r in written.conflicts],
    }


def _why(reason: str) -> str:
    """Why replay left a change out, in words (replay's reasons name conflict keys)."""
    if reason.startswith("loser of "):
        return f"it lost the {reason.split()[2].split(':', 1)[0]} conflict"
    if reason.startswith("duplicate of "):
        return "the same change was made concurrently (applied once)"
    if reason.startswith("with loser "):
        return "it needs a change that lost a conflict: " + reason.split(": ", 1)[-1]
    return reason


def _conflict_obj(report: ConflictReport, named: dict[str, Named]) -> dict[str, Any]:
    """A conflict as the page shows it: its element by the names both sides were made
    on, each side by tab and by the names of its own causal past (history/naming.py)."""
    obj = report.to_obj()
    obj["element"] = conflict_in_words(report, named)["element"]
    obj["sides"] = [
        {
            "id": eid,
            "origin": named[eid].event.origin,
            "who": _who(named[eid].event.origin),
            "kind": named[eid].event.kind,
            "summary": named[eid].text,
        }
        for eid in report.conflict.ids
        if eid in named
    ]
    winner = named.get(report.winner or "")
    obj["winner_who"] = _who(winner.event.origin) if winner is not None else None
    return obj


def conflicts() -> dict[str, Any]:
    """Every conflict in the workspace's log and how it stands."""
    ws = _ws()
    events = _all_events()
    reports = ws.conflicts()
    named = _named(events) if reports else {}
    return {
        "conflicts": [_conflict_obj(r, named) for r in reports],
        "open": sum(1 for r in reports if r.winner is None),
        "position": len(events),
        "hash": ws.state_hash,
    }


def resolve(key: str, winner: str) -> dict[str, Any]:
    """Decide an open conflict: the Merge event naming ``winner`` is appended."""
    event = _ws().resolve(key, winner)
    return {"event": _row(_all_events(), event.id), "status": status()}


# ---------------------------------------------------------------- compat, metrics, trace


def compat(
    old: int | str = 0, new: int | str | None = None, mode: str = "BACKWARD", level: str = "DATA"
) -> dict[str, Any]:
    events = _all_events()
    head = len(events)
    old_i = int(old)
    new_i = head if new is None or new == "" else int(new)
    for label, value in (("from", old_i), ("to", new_i)):
        if not 0 <= value <= head:
            raise DemoError(f"no version {value} ({label}): the log has versions 0 to {head}")
    if new_i < old_i:
        raise DemoError(f"version {new_i} (to) is before version {old_i} (from)")
    report = check_pair(events, old_i, new_i, mode, level)
    obj = report.to_obj()
    obj["messages"] = [f.message() for f in report.findings]
    obj["from"], obj["to"] = old_i, new_i
    return obj


def metrics(window: str | None = None) -> dict[str, Any]:
    events = _all_events()
    if not window:
        window = f"{max(1, -(-len(events) // 12))}e"  # about a dozen points
    m = compute_metrics(events, window)
    return m.to_obj()


def trace() -> dict[str, Any]:
    ws = _ws()
    tracer = Tracer(per_event=True, memory=True, slow_s=0.002)
    report = replay(ws.store, tracer=tracer)
    return {
        "summary": tracer.summary(),
        "report": report.to_obj(),
        "trace_json": json.dumps(tracer.trace_events(), separators=(",", ":")),
    }


# ---------------------------------------------------------------- tamper detection


async def verify() -> dict[str, Any]:
    from schemalog.browser.store import BrowserStore
    from schemalog.log.store.verify import verify_bytes

    name = _ws().name
    fresh = await BrowserStore.open_async(name, create=False)  # lines as IndexedDB has them now
    try:
        data = b"".join(
            b"".join(line + b"\n" for line in chunk.lines) for chunk in fresh.iter_raw(0)
        )
    finally:
        fresh.close()
    return verify_bytes(data, f"indexeddb:{name}").to_obj()


# ---------------------------------------------------------------- memory


def memory_replay(events: int = 10_000, budget_mib: int = 32) -> dict[str, Any]:
    """Replay a synthetic log of ``events`` events at a ``budget_mib`` chunk budget."""
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.synth.generator import write_log

    events = int(events)
    if not 1 <= events <= 2_000_000:
        raise DemoError("choose between 1 and 2,000,000 events")
    path = f"/tmp/schemalog-demo-{events}.ndjson"
    generated_s = None
    if not os.path.exists(path):
        t0 = time.perf_counter()

        def generating(done: int) -> None:
            _news("progress", stage="generating", done=done, total=events)
            _turn(f"generating cancelled after {done} of {events} events")

        try:
            write_log(path + ".tmp", events, origins=3, seed=1, overwrite=True, progress=generating)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + ".tmp")  # a cancelled or failed log is not kept half-written
            raise
        os.replace(path + ".tmp", path)
        generated_s = time.perf_counter() - t0
    budget = int(budget_mib) * MIB
    heap_before = _compat.wasm_heap_bytes()
    tracer = Tracer(memory=True)
    store = NdjsonStore.open(path, readonly=True, verify=False)
    t0 = time.perf_counter()

    done = 0

    def chunks() -> Iterator[RawChunk]:
        # read in pieces of at most 4 MiB (within the budget): between two the
        # worker gets a turn, progress goes out and a Cancel comes in
        nonlocal done
        for chunk in store.iter_raw(0, min(budget, 4 * MIB)):
            lines = len(chunk.lines)
            yield chunk
            del chunk  # before the next chunk is read: one chunk in memory, not two
            done += lines
            _news("progress", stage="replaying", done=done, total=events)
            _turn(f"replay cancelled after {done} of {events} events")

    try:
        report = replay(chunks(), max_chunk_bytes=budget, tracer=tracer)
    finally:
        store.close()
    # replay reports what stopped it as a value: a cancel or a failure is never
    # shown as a finished replay of the events before it
    if isinstance(report.error, Cancelled):
        raise report.error
    if report.stopped is not None:
        s = report.stopped
        raise DemoError(f"the replay stopped at record {s.position} ({s.kind}): {s.reason}")
    seconds = time.perf_counter() - t0
    heap_after = _compat.wasm_heap_bytes()
    return {
        "events": report.applied,
        "ok": report.ok,
        "file_bytes": os.path.getsize(path),
        "generated_s": generated_s,
        "seconds": seconds,
        "events_per_s": report.applied / seconds if seconds > 0 else None,
        "budget_bytes": budget,
        "chunks": report.chunks,
        "heap_before": heap_before,
        "heap_after": heap_after,
        "heap_peak": tracer.memory_peak,
        "heap_growth": None
        if heap_before is None or tracer.memory_peak is None
        else max(tracer.memory_peak, heap_after or 0) - heap_before,
        "tables": len(report.state.tables),
        "state_hash": report.state_hash,
        "summary": tracer.summary(),
    }


def _news(event: str, **fields: Any) -> None:
    """News for the page while a call runs (web/js/python-worker.mjs), if it listens."""
    try:
        import js
    except ImportError:
        return
    tell = getattr(js, "schemalogNews", None)
    if tell is not None:
        tell(json.dumps({"event": event, **fields}))


def _turn(cancelled: str) -> None:
    """Give the worker's event loop a turn (JSPI), then stop if the page asked to."""
    if can_block():
        # a 20 ms timer, not sleep(0) or 1 ms: measured in Chromium, a timer that
        # is due at once runs before the page's queued messages (the Cancel among
        # them; it waited 9 s of turns), while 20 ms lets them in at the next turn
        # (about 2% of a turn every 4 MiB or 4096 events)
        blocking(asyncio.sleep(0.02))
    if _cancelled():
        raise Cancelled(cancelled)


def _cancelled() -> bool:
    try:
        import js
    except ImportError:
        return False
    return bool(getattr(js, "schemalogCancel", False))


_METHODS: dict[str, Callable[..., Any]] = {
    "open": open_workspace,
    "status": status,
    "sync": sync,
    "attach": attach,
    "remote_sync": remote_sync,
    "catalog": catalog,
    "rebuild": rebuild,
    "change": change,
    "record_ddl": record_ddl,
    "log": log,
    "schema": schema,
    "conflict": conflict,
    "adopt": adopt,
    "conflicts": conflicts,
    "resolve": resolve,
    "set_strategy": set_strategy,
    "compat": compat,
    "metrics": metrics,
    "trace": trace,
    "verify": verify,
    "memory_replay": memory_replay,
}
