"""Schema model: one test per rule, the rename cascade, persistence, hashes, snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from schemalog.encoding.codec import canonical_bytes, checksum, state_hash
from schemalog.errors import InvalidState
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import (
    NODE,
    REL,
    Applied,
    Rejected,
    SchemaState,
    apply,
    empty_state,
    persistent,
    rel_references,
    table_by_name,
    working_copy,
)
from schemalog.model.state_json import state_from_obj, state_to_obj
from schemalog.synth.generator import generate
from strategies import forked_histories, histories, slow_ok


class Log:
    """Builds and applies events on one origin; keeps the state."""

    def __init__(self, origin: str = "o") -> None:
        self.wall = 1_000
        self.clock = HybridLogicalClock(origin, self.now)
        self.state = empty_state()
        self.head: list[str] = []

    def now(self) -> int:
        self.wall += 1
        return self.wall

    def event(self, change: Any) -> Event:
        return new_event(self.clock, "ws", self.head, change)

    def ok(self, change: Any) -> Event:
        event = self.event(change)
        result = apply(self.state, event)
        assert isinstance(result, Applied), result
        self.state = result.state
        self.head = [event.id]
        return event

    def rejected(self, change: Any, rule: str, words: str = "") -> Rejected:
        before = self.state
        event = self.event(change)
        result = apply(self.state, event)
        assert isinstance(result, Rejected), result
        assert result.rule == rule and result.event_id == event.id
        assert words in result.message, result.message
        assert rule in str(result) and event.id in str(result)
        assert self.state is before and state_hash(before) == state_hash(self.state)
        return result

    def node(self, name: str, *props: tuple[str, str]) -> str:
        return self.ok(build_node_table(name, [("id", "INT64"), *props], "id")).id

    def rel(self, name: str, *pairs: tuple[str, str]) -> str:
        return self.ok(build_rel_table(name, pairs)).id


def test_create_tables_and_query_by_name() -> None:
    log = Log()
    person = log.node("Person", ("name", "STRING"))
    knows = log.rel("Knows", (person, person))
    table = table_by_name(log.state, "PERSON")
    assert table is not None and table.table_id == person and table.kind == NODE
    rel = table_by_name(log.state, "knows")
    assert rel is not None and rel.kind == REL and rel.connections == (Connection(person, person),)
    assert table_by_name(log.state, "nobody") is None
    assert rel_references(log.state, person) == ((knows, Connection(person, person)),)


def test_rule_table_exists() -> None:
    log = Log()
    event = log.ok(build_node_table("A", [("id", "INT64")], "id"))
    result = apply(log.state, event)
    assert isinstance(result, Rejected) and result.rule == "table-exists"


def test_rule_name_taken_across_node_and_rel_case_insensitive() -> None:
    log = Log()
    a = log.node("Person")
    log.rejected(build_node_table("person", [("id", "INT64")], "id"), "name-taken", "'person'")
    log.rejected(build_rel_table("PERSON", [(a, a)]), "name-taken")
    log.node("Ärger")
    log.node("ärger")  # Kuzu folds ASCII letters only
    b = log.node("Other")
    log.rejected(RenameTable(b, "pErSoN"), "name-taken")
    log.ok(RenameTable(a, "PERSON"))  # a case change of its own name is fine


def test_rule_property_name_taken_and_exists() -> None:
    log = Log()
    a = log.node("A", ("name", "STRING"))
    log.rejected(build_add_property(a, "NAME", "INT64"), "property-name-taken", "'NAME'")
    prop = log.ok(build_add_property(a, "age", "INT64", 1)).id + "/p0"
    log.rejected(RenameProperty(a, prop, "Name"), "property-name-taken")
    log.ok(RenameProperty(a, prop, "AGE"))


def test_rule_rel_endpoint_missing_and_not_node() -> None:
    log = Log()
    a = log.node("A")
    log.rejected(build_rel_table("R", [(a, "x@1.0")]), "rel-endpoint-missing", "TO table x@1.0")
    r = log.rel("R", (a, a))
    log.rejected(build_rel_table("S", [(r, a)]), "rel-endpoint-not-node", "FROM table 'R'")
    log.rejected(AddConnection(r, Connection(a, "x@1.0")), "rel-endpoint-missing")
    log.rejected(AddConnection(r, Connection(a, r)), "rel-endpoint-not-node")


def test_rule_table_referenced() -> None:
    log = Log()
    a, b = log.node("A"), log.node("B")
    r = log.rel("R", (a, b))
    log.rejected(DropTable(b), "table-referenced", "['R']")
    log.ok(DropTable(r))
    log.ok(DropTable(b))
    assert rel_references(log.state, a) == ()
    assert a not in log.state.referenced_by


def test_rule_primary_key_drop() -> None:
    log = Log()
    event = log.ok(build_node_table("A", [("id", "INT64"), ("x", "STRING")], "id"))
    log.rejected(DropProperty(event.id, f"{event.id}/p0"), "primary-key-drop", "'id'")
    log.ok(DropProperty(event.id, f"{event.id}/p1"))
    table = log.state.tables[event.id]
    assert [p.name for p in table.properties] == ["id"]


def test_rule_unknown_table_property_connection() -> None:
    log = Log()
    a = log.node("A")
    for change in (
        RenameTable("x@1.0", "B"),
        DropTable("x@1.0"),
        CommentOnTable("x@1.0", "hi"),
        build_add_property("x@1.0", "p", "INT64"),
    ):
        log.rejected(change, "unknown-table", "x@1.0")
    log.rejected(DropProperty(a, "x@1.0/p0"), "unknown-property")
    log.rejected(RenameProperty(a, "x@1.0/p0", "n"), "unknown-property")
    r = log.rel("R", (a, a))
    log.rejected(DropConnection(r, Connection(a, r)), "unknown-connection")


def test_rule_not_rel_table() -> None:
    log = Log()
    a = log.node("A")
    log.rejected(AddConnection(a, Connection(a, a)), "not-rel-table")
    log.rejected(DropConnection(a, Connection(a, a)), "not-rel-table")


def test_rule_connection_exists_and_last_connection() -> None:
    log = Log()
    a, b = log.node("A"), log.node("B")
    r = log.rel("R", (a, b))
    log.rejected(AddConnection(r, Connection(a, b)), "connection-exists")
    log.rejected(DropConnection(r, Connection(a, b)), "last-connection")
    log.ok(AddConnection(r, Connection(b, b)))
    log.ok(DropConnection(r, Connection(a, b)))
    assert rel_references(log.state, a) == ()
    assert rel_references(log.state, b) == ((r, Connection(b, b)),)
    log.ok(DropTable(a))  # no longer referenced


def test_rename_cascades_through_several_rel_tables_and_pairs() -> None:
    log = Log()
    person, city, company = log.node("Person"), log.node("City"), log.node("Company")
    lives = log.rel("LivesIn", (person, city), (company, city))
    works = log.rel("WorksAt", (person, company), (person, person), (company, person))
    log.rel("Near", (city, city))
    log.ok(RenameTable(person, "Mensch"))
    log.ok(RenameTable(city, "Stadt; 'DROP'"))

    def endpoints(rel_id: str) -> list[tuple[str, str]]:
        tables = log.state.tables
        return [
            (tables[c.from_table_id].name, tables[c.to_table_id].name)
            for c in tables[rel_id].connections
        ]

    assert sorted(endpoints(lives)) == [("Company", "Stadt; 'DROP'"), ("Mensch", "Stadt; 'DROP'")]
    assert sorted(endpoints(works)) == [
        ("Company", "Mensch"),
        ("Mensch", "Company"),
        ("Mensch", "Mensch"),
    ]
    refs = rel_references(log.state, person)
    assert {rel for rel, _ in refs} == {lives, works}
    assert len(refs) == 4
    assert table_by_name(log.state, "person") is None
    assert table_by_name(log.state, "mensch").table_id == person  # type: ignore[union-attr]
    log.rejected(DropTable(person), "table-referenced", "['LivesIn', 'WorksAt']")
    # the old name is free again
    log.node("Person")


def test_comment_merge_and_tag() -> None:
    log = Log()
    a = log.node("A")
    log.ok(CommentOnTable(a, "people\nand more"))
    assert log.state.tables[a].comment == "people\nand more"
    before = log.state
    log.ok(Tag("v1"))
    assert log.state is before
    other = Log("p")
    remote = other.ok(Tag("x"))
    log.head = [log.head[0], remote.id]
    log.ok(Merge())
    assert log.state is before


def test_apply_leaves_input_state_unchanged_and_shares_structure() -> None:
    log = Log()
    a = log.node("A")
    b = log.node("B")
    snapshot = state_to_obj(log.state)
    old = log.state
    log.ok(RenameTable(a, "A2"))
    assert state_to_obj(old) == snapshot
    assert old.tables[a].name == "A"
    assert log.state.tables[b] is old.tables[b]


@slow_ok
@given(histories(max_events=20, n_origins=2))
def test_snapshot_round_trip_and_hash_determinism(log: list[Event]) -> None:
    state = empty_state()
    for event in log:
        result = apply(state, event)
        assert isinstance(result, Applied)
        state = result.state
    obj = state_to_obj(state)
    restored = state_from_obj(obj)
    assert state_to_obj(restored) == obj
    assert state_hash(restored) == state_hash(state)
    assert restored.tables == state.tables and restored.names == state.names
    assert restored.referenced_by == state.referenced_by


def test_state_hash_changes_with_names_and_is_stable() -> None:
    log = Log()
    a = log.node("A")
    h1 = state_hash(log.state)
    assert h1.startswith("sha256-v1:") and h1 == state_hash(state_from_obj(state_to_obj(log.state)))
    log.ok(RenameTable(a, "B"))
    assert state_hash(log.state) != h1
    assert state_hash(empty_state()) == state_hash(empty_state())


@pytest.mark.parametrize("events", [0, 1, 7, 60, 400])
def test_state_hash_is_the_hash_of_the_whole_state_encoding(events: int) -> None:
    """``state_hash`` hashes table by table: the same digest as the whole canonical
    encoding of ``state_to_obj``, on states of 0 to many tables of every kind."""
    state = empty_state()
    for event in generate(events, origins=3, seed=events):
        result = apply(state, event)
        if isinstance(result, Applied):
            state = result.state
    assert len(state.tables) > 0 or events == 0
    whole = checksum(canonical_bytes(state_to_obj(state)))
    assert state_hash(state) == whole


def test_snapshot_with_broken_invariants_is_rejected() -> None:
    log = Log()
    a = log.node("A")
    b = log.node("B")
    log.rel("R", (a, b))
    obj = state_to_obj(log.state)
    dangling = [t for t in obj["tables"] if t["table_id"] != b]
    with pytest.raises(InvalidState, match="does not exist"):
        state_from_obj({"format": 1, "tables": dangling})
    twice = obj["tables"] + [dict(obj["tables"][0], table_id="z@5.0")]
    with pytest.raises(InvalidState):
        state_from_obj({"format": 1, "tables": twice})
    with pytest.raises(InvalidState, match="unknown state format"):
        state_from_obj({"format": 2, "tables": []})
    bad_name = [dict(obj["tables"][0], name="a\nb"), *obj["tables"][1:]]
    with pytest.raises(InvalidState, match=r"tables\[0\]\.name"):
        state_from_obj({"format": 1, "tables": bad_name})


@slow_ok
@given(forked_histories())
def test_forked_histories_apply_branch_by_branch(
    fork: tuple[list[Event], list[Event], list[Event]],
) -> None:
    prefix, left, right = fork
    for branch in (left, right):
        state = empty_state()
        for event in prefix + branch:
            result = apply(state, event)
            assert isinstance(result, Applied), result
            state = result.state
    if left and right:
        assert left[0].origin != right[0].origin
        assert left[0].parents == right[0].parents == tuple(e.id for e in prefix[-1:])


def test_rule_rel_serial_add() -> None:
    log = Log()
    a = log.node("A")
    r = log.ok(build_rel_table("R", [(a, a)], [("n", "SERIAL")])).id  # allowed at create
    log.rejected(build_add_property(r, "m", "SERIAL"), "rel-serial-add", "'m'")
    # nor to a node table: Kuzu 0.11.3 could not drop it afterwards (test_cypher_differential)
    log.rejected(build_add_property(a, "m", "SERIAL"), "serial-add", "'m'")


def test_serial_tables_and_properties_cannot_be_renamed() -> None:
    """kuzu 0.11.3 keeps a SERIAL sequence under its old name (tests/test_ddl.py pins it)."""
    state = empty_state()
    clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
    create = new_event(
        clock, "ws", (), build_node_table("Ticket", [("id", "SERIAL"), ("t", "STRING")], "id")
    )
    state = apply(state, create).state  # type: ignore[union-attr]
    table = state.tables[create.id]
    serial, text = table.properties
    for change in (
        RenameTable(create.id, "Issue"),
        RenameProperty(create.id, serial.property_id, "number"),
    ):
        result = apply(state, new_event(clock, "ws", (create.id,), change))
        assert isinstance(result, Rejected) and result.rule == "serial-rename", result
    ok = apply(
        state,
        new_event(clock, "ws", (create.id,), RenameProperty(create.id, text.property_id, "title")),
    )
    assert isinstance(ok, Applied)


# ---------------------------------------------------------------- working copies


def _maps(state: SchemaState) -> tuple[dict[Any, Any], ...]:
    return tuple(dict(m.items()) for m in (state.tables, state.names, state.referenced_by))


@settings(slow_ok, suppress_health_check=list(HealthCheck))  # forks filter many draws
@given(forked_histories())
def test_a_working_copy_applies_as_the_persistent_state_does(
    fork: tuple[list[Event], list[Event], list[Event]],
) -> None:
    """Replay's open batch applies to a working copy (dicts updated in place): same states,
    same rejections, and a rejected event leaves the working copy as it was. Both branches
    one after the other, each event twice: the second try of most events is rejected."""
    prefix, left, right = fork
    state = empty_state()
    work = working_copy(state)
    for event in [*prefix, *left, *right] * 2:
        before = _maps(work)
        result, worked = apply(state, event), apply(work, event)
        if isinstance(result, Applied):
            assert isinstance(worked, Applied)
            state, work = result.state, worked.state
            assert persistent(work) == state and state_hash(work) == state_hash(state)
        else:
            assert worked == result
            assert _maps(work) == before
    assert persistent(state) is state


def test_a_working_copy_does_not_touch_its_source() -> None:
    log = Log()
    a = log.node("A")
    source = log.state
    work = working_copy(source)
    result = apply(work, log.event(RenameTable(a, "B")))
    assert isinstance(result, Applied)
    assert table_by_name(source, "A") is not None and table_by_name(source, "B") is None
    assert table_by_name(work, "B") is not None  # updated in place
    log.node("C")
    work = working_copy(log.state)
    before = _maps(work)
    rejected = apply(work, log.event(RenameTable(a, "c")))
    assert isinstance(rejected, Rejected) and rejected.rule == "name-taken"
    assert _maps(work) == before


RESERVED_SPELLINGS = ["_ID", "_id", "_Label", "_sRc", "_DST", "_nodes", "_Rels", "_length",
                      "_direction", "_place_holder", "_row_offset", "_SRC_OFFSET", "_dst_Offset",
                      "_ıd", "_ſrc"]  # fmt: skip
NOT_RESERVED = ["ID", "id", "_x", "__ID", "_ID_", "_İD", "_Dﬆ", "_rowid", "label", "_PID", "_KEY"]


@pytest.mark.parametrize("name", RESERVED_SPELLINGS)
def test_rule_reserved_property_name_everywhere_a_name_is_made(name: str) -> None:
    """Kuzu 0.11.3 refuses these in CREATE (tests/test_kuzu_facts.py measures the list);
    the model refuses them in every change that names a property."""
    log = Log()
    why = "property name Kuzu reserves"
    log.rejected(build_node_table("A", [("k", "INT64"), (name, "INT64")], "k"), RULE_RESERVED, why)
    log.rejected(build_node_table("A", [(name, "INT64")], name), RULE_RESERVED, why)
    a = log.ok(build_node_table("A", [("k", "INT64"), ("p", "INT64")], "k")).id
    log.rejected(build_rel_table("R", [(a, a)], [(name, "INT64")]), RULE_RESERVED, why)
    r = log.ok(build_rel_table("R", [(a, a)], [("q", "INT64")])).id
    for table, prop in ((a, f"{a}/p1"), (r, f"{r}/p0")):
        log.rejected(build_add_property(table, name, "INT64"), RULE_RESERVED, why)
        log.rejected(RenameProperty(table, prop, name), RULE_RESERVED, why)


@pytest.mark.parametrize("name", NOT_RESERVED)
def test_near_misses_of_reserved_names_are_names(name: str) -> None:
    log = Log()
    a = log.ok(build_node_table("A", [("k", "INT64"), (name, "INT64")], "k")).id
    log.ok(RenameProperty(a, f"{a}/p1", name + "2"))
    log.ok(build_add_property(a, name, "INT64"))


RULE_RESERVED = "reserved-property-name"


def test_rule_duplicate_connection_on_the_pairs_a_change_is_built_from() -> None:
    from schemalog.errors import InvalidEvent
    from schemalog.model.schema import duplicate_connection

    assert duplicate_connection([("a", "b"), ("b", "a"), ("a", "b")]) == 2
    assert duplicate_connection([("a", "b"), ("b", "a")]) is None
    log = Log()
    a = log.ok(build_node_table("A", [("k", "INT64")], "k")).id
    # the builder refuses the pair given twice; it no longer drops it without a word
    with pytest.raises(InvalidEvent, match="given twice"):
        log.event(build_rel_table("R", [(a, a), (a, a)]))
    r = log.ok(build_rel_table("R", [(a, a)])).id
    log.rejected(AddConnection(r, Connection(a, a)), "connection-exists")
