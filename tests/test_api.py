"""The public facade, driven as a user would: names in, events and values out."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemalog import Rejected, SchemaLog, UnknownName
from schemalog.log.store import MemoryStore
from schemalog.model.events import Event


def fixed_clock(start: int = 1_700_000_000_000):
    wall = [start]

    def now() -> int:
        wall[0] += 1000
        return wall[0]

    return now


def people(log: SchemaLog) -> None:
    log.create_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id")
    log.create_node_table("City", [("id", "INT64"), ("zip", "STRING")], "id")
    log.create_rel_table("LivesIn", [("Person", "City")], [("since", "DATE")])


def test_changes_by_name_and_the_rename_cascade() -> None:
    log = SchemaLog.in_memory(origin="laptop", now_ms=fixed_clock())
    people(log)
    assert isinstance(log.rename_table("City", "Town"), Event)
    assert isinstance(log.rename_property("Person", "name", "full_name"), Event)
    assert isinstance(log.add_property("Town", "population", "INT64", 0), Event)
    assert log.position == 6
    assert log.ddl() == [
        "CREATE NODE TABLE `Person`(`id` INT64, `full_name` STRING, PRIMARY KEY(`id`))",
        "CREATE NODE TABLE `Town`(`id` INT64, `zip` STRING, `population` INT64 DEFAULT 0,"
        " PRIMARY KEY(`id`))",
        "CREATE REL TABLE `LivesIn`(FROM `Person` TO `Town`, `since` DATE, MANY_MANY)",
    ]


def test_a_refused_change_is_a_value_and_writes_nothing() -> None:
    log = SchemaLog.in_memory(origin="laptop", now_ms=fixed_clock())
    people(log)
    before = (log.position, log.state_hash)
    outcome = log.drop_table("City")
    assert isinstance(outcome, Rejected) and outcome.rule == "table-referenced"
    assert (log.position, log.state_hash) == before
    with pytest.raises(UnknownName, match="no property named 'nope' in table 'Person'"):
        log.drop_property("Person", "nope")
    with pytest.raises(UnknownName, match="no table named 'Nowhere'"):
        log.rename_table("Nowhere", "Somewhere")
    assert log.position == before[0]


def test_a_file_log_reopens_to_the_same_schema_and_two_writers_share_it(tmp_path: Path) -> None:
    path = tmp_path / "schema.ndjson"
    first = SchemaLog.open(path, create=True, origin="tab-1", now_ms=fixed_clock())
    people(first)
    second = SchemaLog.open(path, origin="tab-2", now_ms=fixed_clock(1_700_000_020_000))
    assert second.state_hash == first.state_hash
    second.add_property("City", "name", "STRING")  # the second writer builds on the first
    first.comment("City", "where people live")  # and the first sees it before writing
    reopened = SchemaLog.open(path, create=False)
    assert reopened.state_hash == first.state_hash
    assert [p.name for p in reopened.table("City").properties] == ["id", "zip", "name"]
    assert reopened.table("City").comment == "where people live"
    assert reopened.verify().ok


def test_merge_of_two_instances_reports_the_conflict_and_lww_resolves_it() -> None:
    base = SchemaLog.in_memory(origin="base", now_ms=fixed_clock())
    people(base)
    a = SchemaLog(MemoryStore(), origin="a", now_ms=fixed_clock(1_700_000_010_000))
    b = SchemaLog(MemoryStore(), origin="b", now_ms=fixed_clock(1_700_000_020_000))
    for replica in (a, b):
        replica.store.append(list(base.events()), expected=None)
        replica.refresh()
    a.rename_table("City", "Town")
    b.rename_table("City", "Village")
    rejected = a.merge(b)
    assert [c.conflict.kind for c in rejected.unresolved] == ["rename-rename"]
    merged, result = SchemaLog.merge_into(MemoryStore(), [a, b], strategy="lww")
    assert result.unresolved == () and len(result.added) == 1
    again, _ = SchemaLog.merge_into(MemoryStore(), [b, a], strategy="lww")
    assert merged.store.read(limit=100).records == again.store.read(limit=100).records
    # the replayed merged log follows the resolution: b renamed last, a first
    assert [t.name for t in merged.tables()] == ["Person", "Village", "LivesIn"]
    first, _ = SchemaLog.merge_into(MemoryStore(), [a, b], strategy="fww")
    assert [t.name for t in first.tables()] == ["Person", "Town", "LivesIn"]
    # compat and metrics walk the same effective stream: the losing rename is not counted
    assert first.metrics().totals()["table_renames"] == 1
    assert [f.name for f in first.compat("BACKWARD").findings] == ["Town"]


def test_compat_names_the_rename_and_metrics_count_it() -> None:
    log = SchemaLog.in_memory(origin="laptop", now_ms=fixed_clock())
    people(log)
    log.rename_table("City", "Town")
    report = log.compat("BACKWARD", 3, 4)
    assert not report.compatible
    assert [f.rule for f in report.findings] == ["TABLE_RENAMED"]
    assert log.metrics().totals()["table_renames"] == 1


def test_apply_to_a_native_kuzu_database() -> None:
    pytest.importorskip("kuzu")
    from schemalog.kuzu.native import NativeKuzuBackend

    log = SchemaLog.in_memory(origin="laptop", now_ms=fixed_clock())
    people(log)
    with NativeKuzuBackend() as db:
        log.apply_to(db)
        log.rename_table("City", "Town")
        log.apply_to(db)
        names = sorted(row["name"] for row in db.query("CALL show_tables() RETURN *"))
    assert names == ["LivesIn", "Person", "Town", "_schemalog_applied"]


def test_sorted_by_is_recorded_and_applies_to_ladybug_only() -> None:
    pytest.importorskip("kuzu")
    import importlib.util

    if importlib.util.find_spec("ladybug") is None:
        pytest.skip("the 'ladybug' extra is not installed")
    from schemalog.kuzu.apply import PlanRejected
    from schemalog.kuzu.engines import open_backend
    from schemalog.kuzu.native import NativeKuzuBackend

    log = SchemaLog.in_memory(origin="laptop", now_ms=fixed_clock())
    people(log)
    assert isinstance(log.set_sorted_by("Person", [("name", "DESC"), ("id", "ASC")]), Event)
    outcome = log.set_sorted_by("LivesIn", [("since", "ASC")])
    assert isinstance(outcome, Rejected) and outcome.rule == "sorted-by-not-node"
    with pytest.raises(UnknownName, match="no property named 'nope'"):
        log.set_sorted_by("Person", [("nope", "ASC")])
    assert log.ddl()[-1] == "ALTER TABLE `Person` SET SORTED BY (`name` DESC, `id` ASC)"
    with open_backend(None, "ladybug") as db:  # a child process: kuzu holds this one
        assert log.apply_to(db).status == "applied"
    with NativeKuzuBackend() as db, pytest.raises(PlanRejected) as info:
        log.apply_to(db)
    assert info.value.rule == "set-sorted-by-unsupported"
