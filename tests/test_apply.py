"""apply_log: incremental, recorded, tamper-noticing, dry runs send nothing, pre-checks."""

from __future__ import annotations

import pytest

from ddl_helpers import assert_matches, fresh, states
from schemalog.encoding.codec import state_hash
from schemalog.kuzu.apply import (
    BOOKKEEPING_TABLE,
    DriftDetected,
    PlanRejected,
    RecordMissing,
    StaleLog,
    apply_log,
    check_steps,
    read_record,
)
from schemalog.kuzu.ddl import Step, model_of_state, plan_diff
from schemalog.kuzu.port import BackendError
from schemalog.model.events import DropProperty, DropTable
from schemalog.model.schema import Applied, apply
from test_drift import _log

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


def test_incremental_apply_sends_only_the_delta() -> None:
    events, _ = _log()
    path = states(events)
    backend = fresh()
    try:
        first = apply_log(backend, path[3], position=3, head_checksum=None)
        assert first.status == "applied" and first.from_position is None
        assert len(first.statements) == 3
        record = read_record(backend)
        assert record is not None and record.position == 3
        assert record.state_hash == state_hash(path[3])
        second = apply_log(backend, path[5], position=5)
        assert second.from_position == 3
        assert second.statements == (
            "ALTER TABLE `Person` ADD `age` INT32 DEFAULT -(1)",
            "COMMENT ON TABLE `Person` IS 'people'",
        )
        assert_matches(backend, path[5])
        assert apply_log(backend, path[5], position=5).status == "up-to-date"
        # the bookkeeping table is ours: not part of the user catalog or the drift
        assert BOOKKEEPING_TABLE in backend.catalog().table_names
        with pytest.raises(StaleLog):
            apply_log(backend, path[3], position=3)
    finally:
        backend.close()


def test_dry_run_sends_nothing() -> None:
    _, state = _log()
    backend = fresh()
    try:
        result = apply_log(backend, state, position=5, dry_run=True)
        assert result.status == "dry-run"
        assert result.statements and result.bookkeeping
        assert backend.catalog().table_names == frozenset()
        assert read_record(backend) is None
    finally:
        backend.close()


def test_tampering_is_noticed() -> None:
    _, state = _log()
    backend = fresh()
    try:
        apply_log(backend, state, position=5)
        backend.execute(["ALTER TABLE Person DROP name"])
        with pytest.raises(DriftDetected) as info:
            apply_log(backend, state, position=5)
        assert [d.kind for d in info.value.report.differences] == ["missing-property"]
    finally:
        backend.close()


def test_destructive_changes_are_withheld_without_the_flag() -> None:
    events, state = _log()
    person, rel = events[0].id, events[2].id
    person_name = state.tables[person].properties[1].property_id
    after = state
    for change in (DropTable(rel), DropProperty(person, person_name)):
        from schemalog.model.clock import HybridLogicalClock
        from schemalog.model.events import new_event

        ev = new_event(HybridLogicalClock("o2", lambda: 1_800_000_000_000), "ws", [], change)
        result = apply(after, ev)
        assert isinstance(result, Applied)
        after = result.state
    backend = fresh()
    try:
        apply_log(backend, state, position=5)
        held = apply_log(backend, after, position=7)
        assert held.status == "withheld"
        assert [s.op for s in held.plan.withheld] == ["drop_table", "drop_property"]
        assert read_record(backend).position == 5  # type: ignore[union-attr]
        done = apply_log(backend, after, position=7, allow_destructive=True)
        assert done.status == "applied"
        assert_matches(backend, after)
    finally:
        backend.close()


def test_precheck_rejects_what_kuzu_would_refuse() -> None:
    events, state = _log()
    model = model_of_state(state)
    drop_city = Step("drop_table", "DROP TABLE `City`", ("City",), True)
    with pytest.raises(PlanRejected) as info:
        check_steps(model, [drop_city])
    assert info.value.rule == "table-referenced"
    taken = Step("rename_table", "ALTER TABLE `City` RENAME TO `person`", ("City", "person"))
    with pytest.raises(PlanRejected) as info:
        check_steps(model, [taken])
    assert info.value.rule == "name-taken"
    # every plan we make passes its own check
    check_steps({}, plan_diff({}, model).steps)
    check_steps(model, plan_diff(model, {}, allow_destructive=True).steps)
    del events


def test_a_blocked_repair_sends_nothing() -> None:
    _, state = _log()
    backend = fresh()
    try:
        backend.execute(["CREATE NODE TABLE person(id INT64, PRIMARY KEY(id))"])
        # not drift-checked on purpose: repair=True starts from the catalog, whose
        # extra table blocks "Person"; keeping it withholds the whole plan
        result = apply_log(backend, state, position=5, repair=True)
        assert result.status == "withheld" and result.statements == ()
        with pytest.raises(RecordMissing):  # tables and no record: still nothing written
            read_record(backend)
    finally:
        backend.close()


class _FailingAtCommit:
    """A backend whose execute adds a statement Kuzu refuses at the end of the batch."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def execute(self, statements: list[str]) -> None:
        self.inner.execute([*statements, "DROP TABLE nope"])  # type: ignore[attr-defined]


def test_failure_rolls_back_ddl_and_record_together() -> None:
    events, _ = _log()
    path = states(events)
    backend = fresh()
    try:
        apply_log(backend, path[2], position=2)
        with pytest.raises(BackendError):
            apply_log(_FailingAtCommit(backend), path[5], position=5)  # type: ignore[arg-type]
        record = read_record(backend)
        assert record is not None and record.position == 2
        assert_matches(backend, path[2])
    finally:
        backend.close()
