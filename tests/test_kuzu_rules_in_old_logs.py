"""A log written before the model knew Kuzu's reserved property names still reads.

Such a log was recordable (the API took ``_label``) and could never be applied
(Kuzu refuses it). The decision (README "Recording Cypher DDL"): the event is
kept as it is and still decodes, verifies, lists and merges; the schema model
refuses it with its rule wherever a schema is built from the log (replay,
schema, a merged replay), at its position, so the failure names the rule and the
event instead of surfacing as a BackendError in apply. ``--on-corrupt skip``
reads on past it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.history.merge import replay_merged
from schemalog.log.replay import replay
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, build_add_property, build_node_table, new_event

RULE = "reserved-property-name"


def old_log(path: Path) -> list[Event]:
    """A, with a reserved property name; a property added to A; an unrelated table B."""
    wall = itertools.count(1_700_000_000_000, 1000)
    clock = HybridLogicalClock("old", lambda: next(wall))
    a = new_event(
        clock, "ws", [], build_node_table("A", [("id", "INT64"), ("_Label", "STRING")], "id")
    )
    x = new_event(clock, "ws", [a.id], build_add_property(a.id, "x", "INT64"))
    b = new_event(clock, "ws", [x.id], build_node_table("B", [("id", "INT64")], "id"))
    store = NdjsonStore.open(path, create=True)
    store.append([a, x, b], expected=None)  # the store takes what the model refuses
    store.close()
    return [a, x, b]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_old_log_with_a_reserved_name_reads_and_names_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.ndjson"
    a, x, b = old_log(path)
    assert cli(capsys, "verify", str(path))[0] == 0  # the records are intact
    code, out, _ = cli(capsys, "log", str(path))
    assert code == 0 and a.id in out and b.id in out
    code, out, err = cli(capsys, "replay", str(path), "--json")
    report = json.loads(out)
    assert code == 1 and report["stopped"]["position"] == 0 and RULE in report["stopped"]["reason"]
    code, _, err = cli(capsys, "schema", str(path))
    assert code == 2 and RULE in err and a.id in err  # (schema: a log that does not replay)
    # skip reads on: the table is left out, what needed it is named, the rest applies
    code, out, _ = cli(capsys, "replay", str(path), "--on-corrupt", "skip", "--json")
    report = json.loads(out)
    kinds = {s["event_id"]: s["kind"] for s in report["skipped"]}
    assert kinds == {a.id: "rejected", x.id: "dependent"} and report["applied"] == 1


def test_a_merge_keeps_the_event_and_its_replay_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, x, b = old_log(tmp_path / "old.ndjson")
    # another instance that saw A and added to it: the merge unites the records
    clock = HybridLogicalClock("other", lambda: 1_700_000_100_000)
    y = new_event(clock, "ws", [a.id], build_add_property(a.id, "y", "INT64"))
    other = NdjsonStore.open(tmp_path / "other.ndjson", create=True)
    other.append([a, y], expected=None)
    other.close()
    out = tmp_path / "merged.ndjson"
    code, _, err = cli(
        capsys,
        "merge",
        str(tmp_path / "old.ndjson"),
        str(tmp_path / "other.ndjson"),
        "-o",
        str(out),
    )
    assert code == 0, err
    code, text, _ = cli(capsys, "replay", str(out), "--json")
    stopped = json.loads(text)["stopped"]
    assert code == 1 and stopped["event_id"] == a.id and RULE in stopped["reason"]
    merged = replay_merged([a, x, b])
    reasons = dict(merged.skipped)
    assert RULE in reasons[a.id] and a.id not in {t for t in merged.state.tables}
    assert [t.name for t in merged.state.tables.values()] == ["B"]
    store = NdjsonStore.open(tmp_path / "old.ndjson")
    report = replay(store)
    assert report.stopped is not None and report.stopped.position == 0
    assert RULE in report.stopped.reason
