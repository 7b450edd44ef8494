"""Shared helpers for the DDL, drift and apply tests (native Kuzu, and LadybugDB in a child)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemalog.kuzu.drift import drift, user_catalog
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import LADYBUG
from schemalog.model.events import (
    CreateNodeTable,
    CreateRelTable,
    Event,
    RenameProperty,
    RenameTable,
)
from schemalog.model.schema import Applied, SchemaState, apply, empty_state

POOL = 48 * 1024 * 1024  # a node table takes 1 MB of the pool; histories stay far below

_ODD_BACKTICKS = re.compile(r"(?<!`)(?:``)*`(?!`)")


def fresh(engine: str = "kuzu") -> KuzuBackend:
    """An empty in-memory database: Kuzu here, LadybugDB in a child process (see conftest)."""
    if engine == "ladybug":
        from schemalog.kuzu.remote import RemoteBackend

        return RemoteBackend(None, engine=LADYBUG, buffer_pool_size=POOL)
    return NativeKuzuBackend(None, buffer_pool_size=POOL)


def names_in(event: Event) -> tuple[list[str], list[str]]:
    """(table names, property names) an event introduces."""
    c = event.change
    if isinstance(c, CreateNodeTable | CreateRelTable):
        return [c.name], [p.name for p in c.properties]
    if isinstance(c, RenameTable):
        return [c.new_name], []
    if isinstance(c, RenameProperty):
        return [], [c.new_name]
    prop = getattr(c, "property", None)
    return [], [prop.name] if prop is not None else []


def kuzu_can_hold(events: Iterable[Event]) -> bool:
    """Histories Kuzu 0.11.3 can follow, until the core rules forbid the others.

    * (older name rules) '.' in table names and odd backtick runs: the name
      rule forbids both since 011f9dd; the check stays for old logs;
    * renaming a table that has a SERIAL property, or a SERIAL property, leaves
      Kuzu's sequence under the old name: a later DROP TABLE fails and a new
      table with the old name and a SERIAL key collides (test_ddl pins it).
    """
    state = empty_state()
    for event in events:
        c = event.change
        if isinstance(c, RenameTable | RenameProperty):
            table = state.tables[c.table_id]
            if isinstance(c, RenameTable) and any(p.type == "SERIAL" for p in table.properties):
                return False
            if isinstance(c, RenameProperty):
                prop = table.property(c.property_id)
                if prop is not None and prop.type == "SERIAL":
                    return False
        result = apply(state, event)
        assert isinstance(result, Applied)
        state = result.state
        tables, props = names_in(event)
        if any("." in n for n in tables):
            return False
        if any(_ODD_BACKTICKS.search(n) for n in [*tables, *props]):
            return False
    return True


def states(events: Iterable[Event]) -> list[SchemaState]:
    """The state before the first event and after each one."""
    out = [empty_state()]
    for event in events:
        result = apply(out[-1], event)
        assert isinstance(result, Applied), result
        out.append(result.state)
    return out


def assert_matches(backend: KuzuBackend, state: SchemaState, order: bool = True) -> None:
    """The introspected catalog equals the model's schema (names, types, defaults,
    keys, FROM/TO pairs, comments, and, with ``order``, property order)."""
    catalog = backend.catalog()
    report = drift(state, catalog)
    assert report.clean, [str(d) for d in report.differences]
    live = user_catalog(catalog)
    assert sorted(t.name for t in (*live.node_tables, *live.rel_tables)) == sorted(
        t.name for t in state.tables.values()
    )
    for table in state.tables.values():
        info = live.node_table(table.name) or live.rel_table(table.name)
        assert info is not None
        if order:
            assert [p.name for p in info.properties] == [p.name for p in table.properties]


def assert_diff_order(backend: KuzuBackend, source: SchemaState, target: SchemaState) -> None:
    """After a diff: each table's properties the source had, in target order, then the added."""
    live = user_catalog(backend.catalog())
    for table in target.tables.values():
        info = live.node_table(table.name) or live.rel_table(table.name)
        assert info is not None
        before = source.tables.get(table.table_id)
        had = {p.property_id for p in before.properties} if before is not None else set()
        kept = [p.name for p in table.properties if p.property_id in had]
        added = [p.name for p in table.properties if p.property_id not in had]
        assert [p.name for p in info.properties] == kept + added
