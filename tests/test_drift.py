"""Drift: change the database behind the log's back in each way; see the report and the repair."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ddl_helpers import assert_matches, fresh
from schemalog.kuzu.apply import DriftDetected, apply_log
from schemalog.kuzu.drift import drift, repair_ddl
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    CommentOnTable,
    Event,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import Applied, SchemaState, apply, empty_state

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


def _log() -> tuple[list[Event], SchemaState]:
    clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
    events: list[Event] = []
    state = empty_state()

    def add(change: object) -> Event:
        nonlocal state
        ev = new_event(clock, "ws", [events[-1].id] if events else [], change)  # type: ignore[arg-type]
        result = apply(state, ev)
        assert isinstance(result, Applied), result
        state = result.state
        events.append(ev)
        return ev

    person = add(build_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id"))
    city = add(build_node_table("City", [("id", "INT64"), ("pop", "INT64", 7)], "id"))
    add(build_rel_table("LivesIn", [(person.id, city.id)], [("since", "DATE")], "MANY_ONE"))
    add(build_add_property(person.id, "age", "INT32", -1))
    add(CommentOnTable(person.id, "people"))
    return events, state


@pytest.fixture
def db() -> Iterator[tuple[NativeKuzuBackend, SchemaState]]:
    _events, state = _log()
    backend = fresh()
    apply_log(backend, state, position=5)
    try:
        yield backend, state
    finally:
        backend.close()


def _kinds(backend: NativeKuzuBackend, state: SchemaState) -> list[tuple[str, str]]:
    report = drift(state, backend.catalog(), applied=state)
    return [(d.kind, d.table) for d in report.differences]


def _repair(backend: NativeKuzuBackend, state: SchemaState, destructive: bool) -> None:
    report = drift(state, backend.catalog(), applied=state)
    assert not report.clean
    plan = repair_ddl(report, allow_destructive=destructive)
    assert plan.complete
    backend.execute(plan.statements)
    assert_matches(backend, state, order=False)


def test_clean_after_apply(db: tuple[NativeKuzuBackend, SchemaState]) -> None:
    backend, state = db
    assert _kinds(backend, state) == []
    assert_matches(backend, state)


@pytest.mark.parametrize(
    ("tamper", "expected", "destructive"),
    [
        (["CREATE NODE TABLE Extra(id INT64, PRIMARY KEY(id))"], [("extra-table", "Extra")], True),
        (["DROP TABLE LivesIn"], [("missing-table", "LivesIn")], False),
        (["ALTER TABLE City RENAME TO Town"], [("renamed-table", "City")], False),
        (["ALTER TABLE Person RENAME name TO fullname"], [("renamed-property", "Person")], False),
        (
            ["ALTER TABLE Person DROP name", "ALTER TABLE Person ADD name INT64"],
            [("property-type", "Person")],
            True,
        ),
        (
            ["ALTER TABLE City DROP pop", "ALTER TABLE City ADD pop INT64 DEFAULT 8"],
            [("property-default", "City")],
            True,
        ),
        (["ALTER TABLE Person DROP age"], [("missing-property", "Person")], False),
        (["ALTER TABLE City ADD x STRING"], [("extra-property", "City")], True),
        (["ALTER TABLE LivesIn ADD FROM City TO Person"], [("extra-connection", "LivesIn")], True),
        (
            [
                "ALTER TABLE LivesIn ADD FROM City TO City",
                "ALTER TABLE LivesIn DROP FROM Person TO City",
            ],
            [("missing-connection", "LivesIn"), ("extra-connection", "LivesIn")],
            True,
        ),
        (["COMMENT ON TABLE Person IS 'someone else'"], [("comment", "Person")], False),
        (["COMMENT ON TABLE City IS 'new'"], [("comment", "City")], False),
    ],
)
def test_each_kind_of_drift_is_reported_and_repaired(
    db: tuple[NativeKuzuBackend, SchemaState],
    tamper: list[str],
    expected: list[tuple[str, str]],
    destructive: bool,
) -> None:
    backend, state = db
    backend.execute(tamper)
    assert _kinds(backend, state) == expected
    report = drift(state, backend.catalog(), applied=state)
    safe = repair_ddl(report)
    if destructive:
        assert safe.withheld and all(s.destructive for s in safe.withheld)
        backend.execute(safe.statements)  # the safe part still runs
        assert not drift(state, backend.catalog(), applied=state).clean
    else:
        assert safe.complete
    _repair(backend, state, destructive)


def test_rename_without_a_record_shows_as_missing_plus_extra_unless_the_shape_pairs_it(
    db: tuple[NativeKuzuBackend, SchemaState],
) -> None:
    backend, state = db
    backend.execute(["ALTER TABLE City RENAME TO Town"])
    # with no record, the expected state is the reference: the shape still pairs them
    report = drift(state, backend.catalog())
    assert [(d.kind, d.actual) for d in report.differences] == [("renamed-table", "Town")]
    plan = repair_ddl(report)
    assert plan.statements == ["ALTER TABLE `Town` RENAME TO `City`"]


def test_apply_refuses_drift_unless_repairing(db: tuple[NativeKuzuBackend, SchemaState]) -> None:
    backend, state = db
    backend.execute(["ALTER TABLE City RENAME TO Town", "ALTER TABLE Person RENAME age TO years"])
    with pytest.raises(DriftDetected) as info:
        apply_log(backend, state, position=5)
    kinds = [d.kind for d in info.value.report.differences]
    assert sorted(kinds) == ["renamed-property", "renamed-table"]
    result = apply_log(backend, state, position=5, repair=True)
    assert result.status == "applied"
    assert result.repaired is not None
    assert result.statements == (
        "ALTER TABLE `Town` RENAME TO `City`",
        "ALTER TABLE `Person` RENAME `years` TO `age`",
    )
    assert_matches(backend, state)
    assert apply_log(backend, state, position=5).status == "up-to-date"


def test_multiplicity_is_invisible(db: tuple[NativeKuzuBackend, SchemaState]) -> None:
    backend, state = db
    backend.execute(
        ["DROP TABLE LivesIn", "CREATE REL TABLE LivesIn(FROM Person TO City, since DATE, ONE_ONE)"]
    )
    assert _kinds(backend, state) == []  # Kuzu 0.11.3 shows no multiplicity anywhere
