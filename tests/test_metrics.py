"""metrics: figures known by construction (hand-built logs and the synthetic generator's mix)."""

from __future__ import annotations

import json

import pytest

from _compat_log import LogBuilder
from schemalog.analysis.metrics import compute_metrics, parse_window
from schemalog.errors import SchemalogError
from schemalog.model.events import (
    AddConnection,
    Connection,
    DropProperty,
    DropTable,
    Merge,
    RenameProperty,
    RenameTable,
    Resolution,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR  # aligned to an hour


def _known_log() -> tuple[LogBuilder, str, str, str]:
    """Hour 0: 2 node tables, 1 rel, 2 renames, 1 add. Hour 1: drop prop, rename, tag.
    Hour 2: a merge with 2 resolutions and a drop of the rel table."""
    log = LogBuilder(start_ms=T0)
    a = log.add(build_node_table("A", [("id", "INT64"), ("x", "STRING")], "id"), at_ms=T0 + 1)
    b = log.add(build_node_table("B", [("id", "INT64")], "id"), at_ms=T0 + 2)
    r = log.add(build_rel_table("R", [(a.id, b.id)]), at_ms=T0 + 3)
    log.add(RenameTable(a.id, "A2"), at_ms=T0 + 4)
    log.add(RenameTable(a.id, "A3"), at_ms=T0 + 5)
    log.add(build_add_property(b.id, "y", "INT32", 0), at_ms=T0 + 6)
    log.add(DropProperty(a.id, f"{a.id}/p1"), at_ms=T0 + HOUR + 1)
    log.add(RenameProperty(b.id, f"{b.id}/p0", "key"), at_ms=T0 + HOUR + 2)
    log.add(Tag("v1"), at_ms=T0 + HOUR + 3)
    return log, a.id, b.id, r.id


def _merge(log: LogBuilder, at_ms: int) -> None:
    other = LogBuilder(origin="b", start_ms=at_ms - 10)
    side = new_event(other.clock, "ws", [log.events[-1].id], Tag("side"))
    log.wall = at_ms
    losers = (log.events[-1].id,)
    change = Merge((Resolution("k1", side.id, losers), Resolution("k2", side.id, losers)))
    merge = new_event(log.clock, "ws", [log.events[-1].id, side.id], change)
    log.events.append(merge)


def test_figures_by_hour() -> None:
    log, a, _, r = _known_log()
    _merge(log, T0 + 2 * HOUR + 1)
    log.add(DropTable(r), at_ms=T0 + 2 * HOUR + 2)
    m = compute_metrics(log.events, "1h")
    assert m.events == 11
    w0, w1, w2 = m.windows
    assert (w0.start, w1.start, w2.start) == (T0, T0 + HOUR, T0 + 2 * HOUR)
    assert (w0.events, w1.events, w2.events) == (6, 3, 2)
    assert w0.kinds == {
        "create_node_table": 2,
        "create_rel_table": 1,
        "rename_table": 2,
        "add_property": 1,
    }
    assert (w0.table_renames, w1.property_renames) == (2, 1)
    assert w0.breaking == {"TABLE_RENAMED": 2}
    assert w1.breaking == {"PROPERTY_REMOVED": 1, "PROPERTY_RENAMED": 1}
    assert w2.breaking == {"TABLE_REMOVED": 1}
    assert (w2.merges, w2.resolutions, w2.merges_with_conflicts) == (1, 2, 1)
    # schema at the end of each window
    assert (w0.size.node_tables, w0.size.rel_tables, w0.size.properties) == (2, 1, 4)
    assert (w0.size.connections, w0.size.max_fanout, w0.size.max_rename_depth) == (1, 1, 2)
    assert w0.size.complexity == 3 + 1 + 4 / 4 + 1 + 2
    assert (w1.size.properties, w1.size.max_rename_depth) == (3, 2)
    assert (w2.size.rel_tables, w2.size.connections, w2.size.max_fanout) == (0, 0, 0)
    assert m.size == w2.size
    # churn: A was created, renamed twice, lost a property = 4 records
    assert m.top_tables[0] == {"churn": 4, "id": a, "kind": "NODE", "live": True, "name": "A3"}
    dropped = next(t for t in m.top_tables if t["id"] == r)
    assert dropped["live"] is False and dropped["churn"] == 2
    totals = m.totals()
    assert (totals["table_renames"], totals["property_renames"], totals["breaking"]) == (2, 1, 5)
    series = m.series()
    assert [p["window_start"] for p in series] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert series[0]["window_end"] == T0 + HOUR and series[0]["renames"] == 2
    json.dumps(m.to_obj())  # JSON-able


def test_event_windows_and_single_window() -> None:
    log, *_ = _known_log()
    m = compute_metrics(log.events, "4e")
    assert [(w.start, w.events) for w in m.windows] == [(0, 4), (4, 4), (8, 1)]
    whole = compute_metrics(log.events)
    assert len(whole.windows) == 1 and whole.windows[0].events == 9
    assert whole.windows[0].to_obj(whole.window)["window_end"] is None
    rows = whole.table_rows()
    assert rows[0][0] == "all" and rows[0][1] == 9


def test_fanout_counts_distinct_neighbours() -> None:
    log = LogBuilder()
    ids = [log.add(build_node_table(n, [("id", "INT64")], "id")).id for n in "ABCD"]
    rel = log.add(build_rel_table("R", [(ids[0], ids[1]), (ids[0], ids[2])])).id
    log.add(build_rel_table("S", [(ids[0], ids[1]), (ids[0], ids[0])]))
    log.add(AddConnection(rel, Connection(ids[0], ids[3])))
    m = compute_metrics(log.events)
    assert m.size.max_fanout == 4  # A reaches B, C, D and itself
    assert m.size.connections == 5


@pytest.mark.parametrize("text", ["", "0h", "1y", "h", "-1d", "1.5h"])
def test_bad_windows(text: str) -> None:
    if text == "":
        assert parse_window(text).by == "all"
        return
    with pytest.raises(SchemalogError):
        parse_window(text)


def test_synthetic_mix_figures() -> None:
    from schemalog.synth.generator import generate

    mix = {"create_node_table": 3, "add_property": 5, "rename_table": 2, "rename_property": 2,
           "drop_property": 1, "comment_on_table": 1, "tag": 1}  # fmt: skip
    gen = generate(600, 1, seed=11, mix=mix)
    events = list(gen)
    counts = gen.summary.counts
    m = compute_metrics(events, "100e")
    totals = m.totals()
    assert totals["kinds"] == {k: v for k, v in counts.items() if v}
    assert totals["table_renames"] == counts["rename_table"]
    assert totals["property_renames"] == counts["rename_property"]
    # every rename and every drop is breaking at level DATA, nothing else is
    assert totals["breaking_by_rule"] == {
        k: v
        for k, v in {
            "TABLE_RENAMED": counts["rename_table"],
            "PROPERTY_RENAMED": counts["rename_property"],
            "PROPERTY_REMOVED": counts["drop_property"],
        }.items()
        if v
    }
    assert m.size.node_tables == gen.summary.node_tables
    assert len(m.windows) == 6 and all(w.events == 100 for w in m.windows)
