"""Recording DDL through the facade and the CLI: all or nothing, the API's rules,
baselines from a live catalog, and the schema printed as DDL read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ddl_helpers import fresh
from schemalog.api import SchemaLog
from schemalog.cli import main
from schemalog.errors import SchemalogError
from schemalog.kuzu.baseline import BaselineRefused
from schemalog.kuzu.ddl import ddl_for_state
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_record import DdlEvents
from schemalog.kuzu.drift import drift
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.model.events import Event
from schemalog.model.schema import Rejected, SchemaState
from schemalog.model.state_json import state_to_obj
from strategies import histories

SETUP = """
CREATE NODE TABLE Person (id INT64 PRIMARY KEY, name STRING);
CREATE NODE TABLE City (id SERIAL PRIMARY KEY);
CREATE REL TABLE LivesIn (FROM Person TO City, since INT64);
"""


def recorded(log: SchemaLog, text: str, **kw: Any) -> DdlEvents:
    result = log.record_cypher(text, **kw)
    assert isinstance(result, DdlEvents), str(result)
    return result


def refused(log: SchemaLog, text: str) -> DdlError:
    result = log.record_cypher(text)
    assert isinstance(result, DdlError), result
    return result


def shape(state: SchemaState) -> list[Any]:
    """The state without ids: what a schema looks like to someone reading its DDL."""
    obj = state_to_obj(state)
    names = {t["table_id"]: t["name"] for t in obj["tables"]}
    out = []
    for t in obj["tables"]:
        props = {p["property_id"]: p["name"] for p in t["properties"]}
        out.append(
            (
                t["kind"],
                t["name"],
                [(p["name"], p["type"], p["default"]) for p in t["properties"]],
                props.get(t["primary_key"]),
                sorted(
                    (names[c["from_table_id"]], names[c["to_table_id"]]) for c in t["connections"]
                ),
                t["multiplicity"],
                t["comment"],
            )
        )
    return sorted(out, key=lambda t: (t[0], t[1]))


def test_a_text_is_recorded_as_one_event_per_statement_chained() -> None:
    log = SchemaLog.in_memory(origin="t")
    result = recorded(log, SETUP + "ALTER TABLE person ADD age INT8 DEFAULT -(1);")
    assert [e.kind for e in result.events] == [
        "create_node_table",
        "create_node_table",
        "create_rel_table",
        "add_property",
    ]
    assert log.position == 4
    for before, after in zip(result.events, result.events[1:], strict=False):
        assert after.parents == (before.id,)
    assert log.table("Person").property_named("age") is not None
    assert log.state_hash  # the log replays to the state the text describes
    assert shape(result.state) == shape(log.schema)


def test_all_or_nothing_the_first_refusal_names_line_statement_and_rule(tmp_path: Path) -> None:
    log = SchemaLog.open(tmp_path / "log.ndjson", create=True, origin="t")
    recorded(log, SETUP)
    before = (log.position, log.store.head().checksum, (tmp_path / "log.ndjson").read_bytes())
    text = (
        "ALTER TABLE Person ADD age INT64;\n"
        "CREATE NODE TABLE Town (id INT64 PRIMARY KEY);\n"
        "  DROP TABLE Person;\n"  # LivesIn references it
        "DROP TABLE City"
    )
    e = refused(log, text)
    assert (e.kind, e.rule, e.line, e.column) == ("rejected", "table-referenced", 3, 3)
    assert e.statement == "DROP TABLE Person"
    after = (log.position, log.store.head().checksum, (tmp_path / "log.ndjson").read_bytes())
    assert after == before  # nothing of the text was written
    reopened = SchemaLog.open(tmp_path / "log.ndjson")
    assert reopened.position == 3 and reopened.table("Person").property_named("age") is None


@pytest.mark.parametrize(
    ("ddl", "api_call", "rule"),
    [
        ("DROP TABLE Person", lambda log: log.drop_table("Person"), "table-referenced"),
        ("ALTER TABLE Person DROP id", lambda log: log.drop_property("Person", "id"),
         "primary-key-drop"),
        ("CREATE NODE TABLE person (k INT64 PRIMARY KEY)",
         lambda log: log.create_node_table("person", [("k", "INT64")], "k"), "name-taken"),
        ("ALTER TABLE Person ADD NAME STRING", lambda log: log.add_property("Person", "NAME",
         "STRING"), "property-name-taken"),
        ("ALTER TABLE LivesIn ADD n SERIAL", lambda log: log.add_property("LivesIn", "n",
         "SERIAL"), "rel-serial-add"),
        ("ALTER TABLE City RENAME TO Town", lambda log: log.rename_table("City", "Town"),
         "serial-rename"),
        ("ALTER TABLE LivesIn DROP FROM Person TO City",
         lambda log: log.drop_connection("LivesIn", "Person", "City"), "last-connection"),
        ("ALTER TABLE LivesIn ADD FROM Person TO City",
         lambda log: log.add_connection("LivesIn", "Person", "City"), "connection-exists"),
        ("ALTER TABLE Person ADD FROM Person TO City",
         lambda log: log.add_connection("Person", "Person", "City"), "not-rel-table"),
        ("CREATE REL TABLE R2 (FROM Person TO LivesIn)",
         lambda log: log.create_rel_table("R2", [("Person", "LivesIn")]),
         "rel-endpoint-not-node"),
    ],
)  # fmt: skip
def test_the_model_refuses_ddl_as_it_refuses_the_same_api_call(
    ddl: str, api_call: Any, rule: str
) -> None:
    log = SchemaLog.in_memory(origin="t")
    recorded(log, SETUP)
    outcome = api_call(log)
    assert isinstance(outcome, Rejected) and outcome.rule == rule
    e = refused(log, ddl)
    assert (e.kind, e.rule) == ("rejected", rule)
    assert log.position == 3


def test_names_the_schema_does_not_have_and_invalid_values() -> None:
    log = SchemaLog.in_memory(origin="t")
    recorded(log, SETUP)
    assert refused(log, "ALTER TABLE Nobody ADD x INT64").rule == "unknown-table"
    assert refused(log, "ALTER TABLE Person DROP nothing").rule == "unknown-property"
    assert refused(log, "ALTER TABLE Person RENAME nothing TO x").rule == "unknown-property"
    assert refused(log, "CREATE REL TABLE R (FROM Person TO Mars)").rule == "rel-endpoint-missing"
    e = refused(log, "CREATE REL TABLE R (FROM Person TO City, FROM person TO city)")
    assert e.rule == "duplicate-connection"
    e = refused(log, "CREATE NODE TABLE T (id INT64 PRIMARY KEY, ID STRING)")
    assert e.rule is not None and e.rule.endswith(".name") and "duplicates" in e.message
    e = refused(log, "CREATE NODE TABLE _schemalog_x (id INT64 PRIMARY KEY)")
    assert e.rule is not None and "reserved" in e.message
    e = refused(log, "CREATE NODE TABLE T (id INT64, PRIMARY KEY (ID))")  # Kuzu: case matters
    assert "primary_key" in str(e.rule)
    e = refused(log, "CREATE NODE TABLE T (id INTERVAL PRIMARY KEY)")
    assert "cannot be a primary key" in e.message
    assert log.position == 3


def test_if_not_exists_and_if_exists_change_nothing_and_are_listed() -> None:
    log = SchemaLog.in_memory(origin="t")
    recorded(log, SETUP)
    result = recorded(
        log,
        "CREATE NODE TABLE IF NOT EXISTS person (x INT64 PRIMARY KEY);\n"
        "ALTER TABLE Person ADD IF NOT EXISTS NAME INT64;\n"
        "ALTER TABLE Person DROP IF EXISTS nothing;\n"
        "ALTER TABLE LivesIn ADD IF NOT EXISTS FROM person TO city;\n"
        "ALTER TABLE LivesIn DROP IF EXISTS FROM City TO City;\n"
        "DROP TABLE IF EXISTS nobody;",
    )
    assert result.events == () and [w.line for w in result.unchanged] == [1, 2, 3, 4, 5, 6]
    assert log.position == 3
    # still checked whole, as Kuzu binds them: a bad key type is refused even so
    e = refused(log, "CREATE NODE TABLE IF NOT EXISTS person (x BOOL PRIMARY KEY)")
    assert "cannot be a primary key" in e.message


def test_dry_run_and_skip_non_ddl() -> None:
    log = SchemaLog.in_memory(origin="t")
    result = recorded(log, SETUP + "MATCH (n) RETURN n;", skip_non_ddl=True, dry_run=True)
    assert len(result.events) == 3 and [s.what for s in result.skipped] == ["MATCH"]
    assert log.position == 0
    assert refused(log, SETUP + "MATCH (n) RETURN n;").kind == "unsupported"
    assert log.position == 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(histories(min_events=1, max_events=20))
def test_the_head_printed_as_ddl_reads_back_to_the_same_schema(events: list[Event]) -> None:
    source = SchemaLog.in_memory(origin="src")
    source.store.append(events, expected=None)
    source.refresh()
    text = "\n".join(s + ";" for s in ddl_for_state(source.schema))
    copy = SchemaLog.in_memory(origin="copy")
    recorded(copy, text)
    assert shape(copy.schema) == shape(source.schema)
    # the same statements (ids order them: the copy's ids are new, so compare as sets)
    assert sorted(ddl_for_state(copy.schema)) == sorted(ddl_for_state(source.schema))


# ---------------------------------------------------------------- with Kuzu


def test_baseline_of_a_live_database_then_changes_on_top(tmp_path: Path) -> None:
    pytest.importorskip("kuzu")
    with fresh() as db:
        db.execute([s for s in SETUP.split(";") if s.strip()])
        db.execute(["COMMENT ON TABLE Person IS 'people'"])
        log = SchemaLog.open(tmp_path / "log.ndjson", create=True, origin="b")
        result = log.record_baseline(db)
        assert [e.kind for e in result.events] == [
            "create_node_table",
            "create_node_table",
            "create_rel_table",
            "comment_on_table",
        ]
        assert drift(log.schema, db.catalog()).clean
        with pytest.raises(SchemalogError, match="already has events"):
            log.record_baseline(db)
        with pytest.raises(SchemalogError, match="already kept by a schema log"):
            SchemaLog.in_memory().record_baseline(db)
        recorded(log, "ALTER TABLE Person ADD age INT16 DEFAULT 3; ALTER TABLE LivesIn RENAME TO L")
        # the later changes are all that apply sends
        applied = log.apply_to(db)
        assert applied.statements == (
            "ALTER TABLE `LivesIn` RENAME TO `L`",
            "ALTER TABLE `Person` ADD `age` INT16 DEFAULT 3",
        )
        assert drift(log.schema, db.catalog()).clean


def test_baseline_refuses_what_the_model_cannot_hold() -> None:
    pytest.importorskip("kuzu")
    with fresh() as db:
        db.execute(["CREATE NODE TABLE T (id INT64 PRIMARY KEY, x INT64 DEFAULT 1 + 2)"])
        with pytest.raises(BaselineRefused, match=r"T\.x: default '1 \+ 2'"):
            SchemaLog.in_memory().record_baseline(db)


def test_cli_record_schema_cypher_apply_init_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("kuzu")
    log, db = str(tmp_path / "log.ndjson"), str(tmp_path / "db")
    ddl = tmp_path / "schema.cypher"
    ddl.write_text(SETUP + "MATCH (n) RETURN n;\n", encoding="utf-8")

    assert main(["record", log, "-f", str(ddl)]) == 2  # MATCH: refused, nothing written
    err = capsys.readouterr().err
    assert "line 5, column 1: unsupported: MATCH" in err and "nothing was recorded" in err
    assert not Path(log).exists() or Path(log).read_bytes() == b""

    assert main(["record", log, "-f", str(ddl), "--skip-non-ddl", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "dry-run" and len(out["events"]) == 3 and out["position"] == 0

    assert main(["record", log, "-f", str(ddl), "--skip-non-ddl"]) == 0
    captured = capsys.readouterr()
    assert "CREATE NODE TABLE `Person`" in captured.out and "skipped MATCH" in captured.err

    assert main(["record", log, "-e", "ALTER TABLE Person ADD x INT64;\nDROP TABLE City"]) == 1
    assert "line 2, column 1: rejected" in capsys.readouterr().err

    assert main(["schema", log, "--format", "cypher"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("// position 3")
    (tmp_path / "back.cypher").write_text(printed, encoding="utf-8")
    assert main(["record", str(tmp_path / "copy.ndjson"), "-f", str(tmp_path / "back.cypher")]) == 0
    capsys.readouterr()
    assert main(["schema", str(tmp_path / "copy.ndjson"), "--format", "cypher"]) == 0
    assert capsys.readouterr().out == printed

    assert main(["apply", log, "--db", db]) == 0
    assert main(["drift", log, "--db", db]) == 0
    capsys.readouterr()

    # a database Kuzu built from the file, adopted by a new log
    other = str(tmp_path / "other_db")
    with NativeKuzuBackend(other) as direct:
        direct.query(ddl.read_text(encoding="utf-8"))
    base = str(tmp_path / "base.ndjson")
    assert main(["init", base, "--from-db", other, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["events"]) == 3
    assert main(["drift", base, "--db", other]) == 0
    assert main(["init", base, "--from-db", other]) == 2
    assert "already has 3 events" in capsys.readouterr().err
    assert main(["record", base, "-e", "ALTER TABLE Person ADD age INT8"]) == 0
    assert main(["apply", base, "--db", other, "--json"]) == 0
    out_lines = capsys.readouterr().out.splitlines()
    assert json.loads(out_lines[-1])["statements"] == ["ALTER TABLE `Person` ADD `age` INT8"]
    assert main(["drift", base, "--db", other]) == 0


def test_a_workspace_records_ddl_all_or_nothing_and_applies_it() -> None:
    """The demo page's DDL editor: ``Workspace.record_cypher`` over native Kuzu."""
    pytest.importorskip("kuzu")
    from schemalog.browser.workspace import Workspace
    from schemalog.log.store import MemoryStore
    from schemalog.model.clock import HybridLogicalClock

    store = MemoryStore()
    ws = Workspace("w", store, fresh(), HybridLogicalClock("tab", lambda: 1_767_225_600_000))
    try:
        result = ws.record_cypher(SETUP + "MATCH (n) RETURN n;", skip_non_ddl=True)
        assert isinstance(result, DdlEvents) and len(result.events) == 3
        assert drift(ws.state, ws.backend.catalog()).clean  # applied to the database
        e = ws.record_cypher("ALTER TABLE Person ADD age INT8;\nDROP TABLE Person;")
        assert isinstance(e, DdlError) and (e.rule, e.line) == ("table-referenced", 2)
        assert ws.position == 3 and store.head().position == 3
        assert isinstance(ws.record_cypher("ALTER TABLE Person ADD age INT8"), DdlEvents)
        assert ws.backend.catalog().node_table("Person").find_property("age") is not None
    finally:
        ws.close()
