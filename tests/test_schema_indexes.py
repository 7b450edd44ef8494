"""apply's per-table indexes (property ids, catalog keys), kept up to date by the
handlers instead of rebuilt, against states whose indexes are built afresh."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings

from schemalog.encoding.codec import state_hash
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    PropertyDef,
    RenameProperty,
    RenameTable,
    build_add_property,
)
from schemalog.model.names import catalog_key
from schemalog.model.pmap import PMap
from schemalog.model.schema import (
    NODE,
    Applied,
    Rejected,
    SchemaState,
    TableState,
    apply,
    empty_state,
    persistent,
    working_copy,
)
from schemalog.model.state_json import state_from_obj, state_to_obj
from strategies import histories, slow_ok


class _Probes:
    """Probe events: apply reads only ``id`` and ``change``, and a probe may break
    rules an event would be refused for (an added property's id is the event's)."""

    def __init__(self) -> None:
        self.count = 0

    def event(self, change: Any) -> Any:
        self.count += 1
        eid = f"probe@{self.count}.0"
        return SimpleNamespace(id=eid, change=change(eid) if callable(change) else change)


def _probe_changes(state: SchemaState) -> list[Any]:
    """Changes that hit every index path: taken and free names in other cases, known and
    unknown ids, the primary key, own names; most are rejected."""
    tables = sorted(state.tables.values(), key=lambda t: t.table_id)
    out: list[Any] = []
    for table in tables[:4]:
        tid = table.table_id
        props = table.properties
        out.append(build_add_property(tid, "fresh probe", "INT64"))
        out.append(build_add_property(tid, "id".upper(), "INT64"))
        out.append(build_add_property(tid, "s", "SERIAL"))
        out.append(DropProperty(tid, "9@1.0/p9"))
        out.append(RenameProperty(tid, "9@1.0/p9", "x"))
        for i, prop in enumerate(props[:3]):
            other = props[(i + 1) % len(props)]
            out.append(AddProperty(tid, PropertyDef(prop.property_id, "another probe", "INT64")))
            out.append(build_add_property(tid, prop.name.swapcase(), "INT64"))
            out.append(DropProperty(tid, prop.property_id))
            out.append(RenameProperty(tid, prop.property_id, prop.name.swapcase()))
            out.append(RenameProperty(tid, prop.property_id, other.name.upper()))
            out.append(RenameProperty(tid, prop.property_id, "renamed probe"))
        for other_table in tables[:3]:
            out.append(RenameTable(tid, other_table.name.swapcase()))
        out.append(RenameTable(tid, "Renamed probe"))
        out.append(DropTable(tid))
        out.append(CommentOnTable(tid, "probe"))
        nodes = [t.table_id for t in tables if t.kind == NODE][:2]
        for conn in table.connections[:2]:
            out.append(DropConnection(tid, conn))
            out.append(AddConnection(tid, conn))
        for a in nodes:
            out.append(AddConnection(tid, Connection(a, nodes[-1])))
    out.append(DropTable("9@1.0"))
    return out


def _maps(state: SchemaState) -> tuple[dict[Any, Any], ...]:
    return tuple(dict(m.items()) for m in (state.tables, state.names, state.referenced_by))


def _same(a: Applied | Rejected, b: Applied | Rejected) -> None:
    if isinstance(a, Rejected):
        assert b == a
    else:
        assert isinstance(b, Applied), b
        assert persistent(b.state) == persistent(a.state)
        assert state_hash(b.state) == state_hash(a.state)


def _check_indexes(state: SchemaState) -> None:
    for table in state.tables.values():
        ids = tuple(p.property_id for p in table.properties)
        assert table._ids in (None, ids)
        assert table._by_key in (None, {catalog_key(p.name): p for p in table.properties})
        for prop in table.properties:
            assert table.property(prop.property_id) is prop
        assert table.property("9@1.0/p9") is None


@settings(slow_ok, suppress_health_check=list(HealthCheck))  # names() filters many draws
@given(histories(max_events=30, n_origins=2))
def test_updated_indexes_answer_as_fresh_ones(log: list[Event]) -> None:
    """Each state of a history (indexes carried from table to table by the handlers), its
    working copy and the same state rebuilt from JSON (indexes built on first use) give
    the same result for every probe; a rejected probe leaves the working copy as it was."""
    probes = _Probes()
    state = empty_state()
    for event in log:
        fresh = state_from_obj(state_to_obj(state))
        for change in _probe_changes(state):
            probe = probes.event(change)
            result = apply(state, probe)
            _same(result, apply(fresh, probe))
            work = working_copy(state)
            before = _maps(work)
            worked = apply(work, probe)
            _same(result, worked)
            if isinstance(result, Rejected):
                assert _maps(work) == before
            else:
                _check_indexes(result.state)
        applied = apply(state, event)
        assert isinstance(applied, Applied)
        state = applied.state
        _check_indexes(state)


def _odd_state() -> SchemaState:
    """A table apply would never build: two properties share an id, two a catalog key."""
    props = (
        PropertyDef("1@1.0/p0", "id", "INT64"),
        PropertyDef("1@1.0/p1", "a", "STRING"),
        PropertyDef("1@1.0/p1", "b", "STRING"),
        PropertyDef("1@1.0/p2", "C", "STRING"),
        PropertyDef("1@1.0/p3", "c", "STRING"),
    )
    tid = "1@1.0"
    table = TableState(tid, NODE, "T", props, props[0].property_id, (), None)
    return SchemaState(PMap().set(tid, table), PMap().set("t", tid), PMap())


def test_tables_with_equal_ids_or_keys_behave_as_a_scan() -> None:
    tid = "1@1.0"
    probes = _Probes()
    for make in (_odd_state, lambda: working_copy(_odd_state())):
        table = make().tables[tid]
        assert table.property(f"{tid}/p1") is table.properties[1]  # the first, as a scan
        assert table.property_named("c") is table.properties[3]
        dropped = apply(make(), probes.event(DropProperty(tid, f"{tid}/p1")))
        assert isinstance(dropped, Applied)
        after = dropped.state.tables[tid]
        assert [p.name for p in after.properties] == ["id", "C", "c"]  # both with the id
        assert after.property(f"{tid}/p1") is None and after.property_named("a") is None
        renamed = apply(make(), probes.event(RenameProperty(tid, f"{tid}/p1", "z")))
        assert isinstance(renamed, Applied)
        after = renamed.state.tables[tid]
        assert [p.name for p in after.properties] == ["id", "z", "z", "C", "c"]
        assert after.property_named("a") is None and after.property_named("Z") is not None
        # the second of two equal keys: the index keeps the first
        renamed = apply(make(), probes.event(RenameProperty(tid, f"{tid}/p3", "d")))
        assert isinstance(renamed, Applied)
        after = renamed.state.tables[tid]
        assert after.property_named("c") is after.properties[3]
        assert after.property_named("d") is after.properties[4]
        dropped = apply(make(), probes.event(DropProperty(tid, f"{tid}/p3")))
        assert isinstance(dropped, Applied)
        after = dropped.state.tables[tid]
        assert after.property_named("c") is after.properties[3]
        assert after.property(f"{tid}/p3") is None


def test_a_working_copy_of_a_working_state_is_independent() -> None:
    """Replay's commit and rollback copy a working state (dict to dict): updates of the
    copy must not reach the original, nor the original's reach the copy."""
    probes = _Probes()
    tid = "1@1.0"
    first = working_copy(_odd_state())
    before = _maps(first)
    copy = working_copy(first)
    assert _maps(copy) == before
    assert type(copy.tables) is type(first.tables)  # a working state too
    renamed = apply(copy, probes.event(RenameTable(tid, "U")))
    assert isinstance(renamed, Applied) and renamed.state.names.get("u") == tid
    assert _maps(first) == before
    dropped = apply(first, probes.event(DropTable(tid)))
    assert isinstance(dropped, Applied) and len(dropped.state.tables) == 0
    assert copy.tables[tid].name == "U" and copy.names.get("u") == tid
