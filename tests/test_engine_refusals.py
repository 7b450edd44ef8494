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
from schemalog.kuzu.apply import PlanRejected, apply_log
from schemalog.kuzu.ddl import ddl_for_state
from schemalog.kuzu.profile import ENGINES, KUZU
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    Connection,
    DropProperty,
    DropTable,
    Event,
    RenameTable,
    SetSortedBy,
    SortKey,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import Applied, Rejected, SchemaState, apply, empty_state

pytestmark = pytest.mark.kuzu
needs_ladybug = pytest.mark.skipif(
    importlib.util.find_spec("ladybug") is None, reason="the 'ladybug' extra is not installed"
)
ENGINES_TRIED = ["kuzu", pytest.param("ladybug", marks=needs_ladybug)]


class World:
    """Person(id, age), City(id), LivesIn(FROM Person TO City)."""

    def __init__(self) -> None:
        self.clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
        self.state = empty_state()
        self.head: list[str] = []
        self.person = self.add(
            build_node_table("Person", [("id", "INT64"), ("age", "INT64")], "id")
        )
        self.city = self.add(build_node_table("City", [("id", "INT64")], "id"))
        self.lives = self.add(build_rel_table("LivesIn", [(self.person, self.city)]))

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
