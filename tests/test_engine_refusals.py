"""Differential on refusals: what the model refuses (a rule), each engine refuses too.

The accepting side is tests/test_ddl_differential.py (every history the model
accepts runs on both engines). Here each model rule gets a minimal case: the
model's ``apply`` rejects the event with that rule, and the engine, holding the
state before it, refuses the statement that would make the change. SET SORTED
BY is refused by the model's rules on both engines and, on Kuzu, by the
engine profile (rule ``set-sorted-by-unsupported``) as by Kuzu's parser.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest

from ddl_helpers import fresh
from schemalog.api import SchemaLog
from schemalog.kuzu.apply import PlanRejected, apply_log
from schemalog.kuzu.ddl import ddl_for_state
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.port import BackendError
from schemalog.kuzu.profile import ENGINES, KUZU
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    Connection,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.names import (
    KUZU_RESERVED_PROPERTY_NAMES,
    catalog_key,
    reserved_property_name,
)
from schemalog.model.schema import Applied, Rejected, SchemaState, apply, empty_state

pytestmark = pytest.mark.kuzu
needs_ladybug = pytest.mark.skipif(
    importlib.util.find_spec("ladybug") is None, reason="the 'ladybug' extra is not installed"
)
ENGINES_TRIED = ["kuzu", pytest.param("ladybug", marks=needs_ladybug)]


class World:
    """Person(id, age), City(id), LivesIn(FROM Person TO City, since)."""

    def __init__(self) -> None:
        self.clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
        self.state = empty_state()
        self.head: list[str] = []
        self.person = self.add(
            build_node_table("Person", [("id", "INT64"), ("age", "INT64")], "id")
        )
        self.city = self.add(build_node_table("City", [("id", "INT64")], "id"))
        self.lives = self.add(
            build_rel_table("LivesIn", [(self.person, self.city)], [("since", "INT64")])
        )

    def event(self, change: object) -> Event:
        return new_event(self.clock, "ws", self.head, change)  # type: ignore[arg-type]

    def add(self, change: object) -> str:
        event = self.event(change)
        result = apply(self.state, event)
        assert isinstance(result, Applied), result
        self.state, self.head = result.state, [event.id]
        return event.id


Case = Callable[[World], tuple[object, str]]  # (change, the statement making it)

CASES: dict[str, Case] = {
    "name-taken": lambda w: (
        build_node_table("PERSON", [("id", "INT64")], "id"),
        "CREATE NODE TABLE PERSON(id INT64, PRIMARY KEY(id))",
    ),
    "name-taken (rename)": lambda w: (
        RenameTable(w.city, "livesin"),
        "ALTER TABLE City RENAME TO livesin",
    ),
    "property-name-taken": lambda w: (
        build_add_property(w.person, "AGE", "STRING"),
        "ALTER TABLE Person ADD AGE STRING",
    ),
    "table-referenced": lambda w: (DropTable(w.city), "DROP TABLE City"),
    "primary-key-drop": lambda w: (
        DropProperty(w.person, w.person + "/p0"),
        "ALTER TABLE Person DROP id",
    ),
    "rel-endpoint-not-node": lambda w: (
        build_rel_table("Bad", [(w.lives, w.city)]),
        "CREATE REL TABLE Bad(FROM LivesIn TO City)",
    ),
    "connection-exists": lambda w: (
        AddConnection(w.lives, Connection(w.person, w.city)),
        "ALTER TABLE LivesIn ADD FROM Person TO City",
    ),
    "reserved-property-name (create node)": lambda w: (
        build_node_table("N", [("id", "INT64"), ("_label", "STRING")], "id"),
        "CREATE NODE TABLE N(id INT64, _label STRING, PRIMARY KEY(id))",
    ),
    "reserved-property-name (node key)": lambda w: (
        build_node_table("N", [("_Id", "INT64")], "_Id"),
        "CREATE NODE TABLE N(_Id INT64, PRIMARY KEY(_Id))",
    ),
    "reserved-property-name (create rel)": lambda w: (
        build_rel_table("R2", [(w.person, w.city)], [("_sRc", "INT64")]),
        "CREATE REL TABLE R2(FROM Person TO City, _sRc INT64)",
    ),
    "reserved-property-name (rel add)": lambda w: (
        build_add_property(w.lives, "_id", "INT64"),
        "ALTER TABLE LivesIn ADD _id INT64",
    ),
    "reserved-property-name (rel rename)": lambda w: (
        RenameProperty(w.lives, w.lives + "/p0", "_iD"),
        "ALTER TABLE LivesIn RENAME since TO `_iD`",
    ),
    "sorted-by-not-node": lambda w: (
        SetSortedBy(w.lives, (SortKey(w.person + "/p0", "ASC"),)),
        "ALTER TABLE LivesIn SET SORTED BY (id ASC)",
    ),
    "unknown-property (sorted by)": lambda w: (
        SetSortedBy(w.person, (SortKey(w.city + "/p0", "ASC"),)),
        "ALTER TABLE Person SET SORTED BY (nope ASC)",
    ),
}


@pytest.mark.parametrize("engine", ENGINES_TRIED)
@pytest.mark.parametrize("case", sorted(CASES))
def test_model_and_engine_refuse_alike(engine: str, case: str) -> None:
    w = World()
    change, statement = CASES[case](w)
    result = apply(w.state, w.event(change))
    assert isinstance(result, Rejected)
    assert result.rule == case.split(" ")[0]
    with fresh(engine) as backend:
        backend.execute(ddl_for_state(w.state))
        before = backend.catalog()
        with pytest.raises(Exception) as info:
            backend.execute([statement])
        assert type(info.value).__name__ == "BackendError"
        assert backend.catalog() == before


def _sorted_state() -> tuple[World, SchemaState]:
    w = World()
    w.add(SetSortedBy(w.person, (SortKey(w.person + "/p1", "DESC"),)))
    return w, w.state


@needs_ladybug
def test_sorted_by_is_refused_with_a_rule_on_kuzu_and_applied_on_ladybug() -> None:
    _, state = _sorted_state()
    with fresh("kuzu") as backend:
        with pytest.raises(PlanRejected) as info:
            apply_log(backend, state, position=4)
        assert info.value.rule == "set-sorted-by-unsupported"
        assert backend.catalog().table_names == frozenset()  # nothing was sent
        # and Kuzu itself refuses the statement the model would have sent
        backend.execute(ddl_for_state(state, None)[:-1])
        with pytest.raises(Exception, match="Parser exception"):
            backend.execute(ddl_for_state(state)[-1:])
    with fresh("ladybug") as backend:
        result = apply_log(backend, state, position=4)
        assert result.status == "applied"
        assert result.statements[-1] == "ALTER TABLE `Person` SET SORTED BY (`age` DESC)"
    assert not KUZU.accepts("set_sorted_by") and ENGINES["ladybug"].accepts("set_sorted_by")


# -- names the engines keep, and FROM/TO pairs given twice ---------------------

_CANDIDATES = sorted(
    {n for r in KUZU_RESERVED_PROPERTY_NAMES for n in (r, r.lower(), r.title(), r.swapcase())}
    | {"_ıd", "_ſrc", "_row_offſet"}  # Kuzu upper-cases with the simple Unicode mapping
    # near misses: other internal words, look-alikes without a one-letter upper case
    | {"ID", "id", "_x", "__ID", "_ID_", "_İD", "_Dﬆ", "_rowid", "label", "src", "KEY", "VALUE"}
    | {"_PID", "_IRI", "_EDGES", "_OFFSET", "_TABLE_ID", "_STAR", "_PROPERTIES", "_TYPE"}
)


@pytest.mark.parametrize("engine", ENGINES_TRIED)
def test_the_reserved_property_names_are_exactly_what_the_engine_refuses(engine: str) -> None:
    """Measured on the engine: CREATE NODE TABLE with each candidate as a property is
    refused ("... is a reserved property name") iff the model's rule names it reserved,
    and no candidate is refused as a table name (``reserved_table_names`` is empty)."""
    profile = ENGINES[engine]
    assert profile.reserved_property_names == KUZU_RESERVED_PROPERTY_NAMES
    assert profile.reserved_table_names == frozenset()
    refused, misjudged = [], []
    tables: set[str] = set()
    for start in range(0, len(_CANDIDATES), 8):  # a few tables per database (its pool is small)
        with fresh(engine) as backend:
            for i, name in enumerate(_CANDIDATES[start : start + 8], start):
                statement = f"CREATE NODE TABLE T{i}(k INT64, `{name}` INT64, PRIMARY KEY(k))"
                try:
                    backend.execute([statement])
                    engine_refuses = False
                except BackendError as exc:
                    engine_refuses = True
                    assert "reserved property name" in str(exc), (name, str(exc))
                    refused.append(name)
                if engine_refuses != (reserved_property_name(name) is not None):
                    misjudged.append(name)
                if catalog_key(name) not in tables:  # (table names fold ASCII case)
                    tables.add(catalog_key(name))
                    backend.execute([f"CREATE NODE TABLE `{name}`(k INT64, PRIMARY KEY(k))"])
    assert not misjudged, f"the engine and the model judge these differently: {misjudged}"
    assert len(refused) > len(KUZU_RESERVED_PROPERTY_NAMES) * 3  # the test saw refusals


@pytest.mark.parametrize("engine", ENGINES_TRIED)
def test_alter_add_of_a_reserved_name_is_taken_by_the_engine_but_cannot_be_rebuilt(
    engine: str,
) -> None:
    """Why the model is stricter than the engine (README "Recording Cypher DDL"): ALTER
    TABLE ... ADD / RENAME TO a reserved name passes on a node table, and the table it
    leaves can then not be created from its own DDL (a compacted apply would fail)."""
    w = World()
    with fresh(engine) as backend:
        backend.execute(ddl_for_state(w.state))
        backend.execute(
            ["ALTER TABLE Person ADD _label STRING", "ALTER TABLE Person RENAME age TO _ID"]
        )
        person = backend.catalog().node_table("Person")
        assert person is not None
        columns = [p.name for p in person.properties]
        assert columns == ["id", "_ID", "_label"]
        with pytest.raises(BackendError, match="reserved property name"):
            backend.execute(
                ["CREATE NODE TABLE Copy(id INT64, _ID INT64, _label STRING, PRIMARY KEY(id))"]
            )
    for change in (
        build_add_property(w.person, "_label", "STRING"),
        RenameProperty(w.person, w.person + "/p1", "_ID"),
    ):
        result = apply(w.state, w.event(change))
        assert isinstance(result, Rejected) and result.rule == "reserved-property-name"


@pytest.mark.parametrize("engine", ENGINES_TRIED)
def test_a_pair_given_twice_is_refused_by_the_api_and_the_engine(engine: str) -> None:
    log = SchemaLog.in_memory()
    log.create_node_table("A", [("id", "INT64")], "id")
    log.create_node_table("B", [("id", "INT64")], "id")
    before = log.store.head()
    outcome = log.create_rel_table("R", [("A", "B"), ("B", "A"), ("a", "B")])
    assert isinstance(outcome, Rejected) and outcome.rule == "duplicate-connection"
    assert "a -> B is given twice" in outcome.message
    assert log.store.head() == before  # nothing written
    text = "CREATE REL TABLE R(FROM A TO B, FROM B TO A, FROM a TO B)"
    refused = log.record_cypher(text)
    assert isinstance(refused, DdlError) and refused.rule == "duplicate-connection"
    with fresh(engine) as backend:
        backend.execute(log.ddl())
        with pytest.raises(BackendError, match="duplicate FROM-TO"):
            backend.execute([text])
        # and a pair the table already has (the model's connection-exists)
        backend.execute(["CREATE REL TABLE R(FROM A TO B)"])
        with pytest.raises(BackendError, match="already exists in R"):
            backend.execute(["ALTER TABLE R ADD FROM A TO B"])
