"""`schemalog compat` and `schemalog metrics` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _compat_log import LogBuilder
from schemalog.cli import main
from schemalog.encoding.codec import encode_record
from schemalog.model.events import (
    CommentOnTable,
    DropProperty,
    RenameTable,
    Tag,
    build_add_property,
    build_node_table,
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _write(path: Path, log: LogBuilder) -> Path:
    prev = None
    with open(path, "wb") as f:
        for event in log.events:
            line = encode_record(event, prev)
            prev = line[13:87].decode("ascii")
            f.write(line + b"\n")
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    b = LogBuilder()
    person = b.add(build_node_table("Person", [("id", "INT64"), ("age", "INT32")], "id")).id
    b.add(Tag("v1"))  # 2
    b.add(build_add_property(person, "nick", "STRING"))  # 3: STRICT only
    b.add(CommentOnTable(person, "@alias Person"))  # 4
    b.add(RenameTable(person, "People"))  # 5: aliased
    b.add(Tag("v2"))  # 6
    b.add(CommentOnTable(person, "@alias People"))  # 7: drops the Person alias
    b.add(Tag("v3"))  # 8
    b.add(DropProperty(person, f"{person}/p1"))  # 9
    return _write(tmp_path / "log.ndjson", b)


def test_compatible_range_exits_0(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compat", str(log), "--mode", "BACKWARD", "--to", "v3")
    assert code == 0 and "compatible" in out
    code, out, _ = run(capsys, "compat", str(log), "--mode", "FULL", "--from", "v1", "--to", "v2")
    assert code == 0, out


def test_transitive_names_version_and_exits_1(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "compat", str(log), "--mode", "BACKWARD_TRANSITIVE", "--to", "v3")
    assert code == 1
    assert "TABLE_RENAMED" in out and "'Person'" in out
    assert "version 7 vs 1..4" in out  # the alias went at 7; 'Person' was valid 1..4
    code, out, _ = run(capsys, "compat", str(log), "--mode", "BACKWARD_TRANSITIVE", "--to", "v3",
                       "--json")  # fmt: skip
    report = json.loads(out)
    assert report["compatible"] is False and report["total"] == 1
    [f] = report["findings"]
    assert (f["rule"], f["old"]["position"], f["old_first"], f["new"]["position"]) == (
        "TABLE_RENAMED",
        4,
        1,
        7,
    )


def test_pairwise_levels_and_ignores(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["compat", str(log), "--mode", "BACKWARD", "--from", "v1"]
    code, out, _ = run(capsys, *base)
    assert code == 1 and "PROPERTY_REMOVED" in out and "TABLE_RENAMED" in out
    code, out, _ = run(capsys, *base, "--level", "STRICT", "--json")
    rules = sorted(f["rule"] for f in json.loads(out)["findings"])
    assert rules == ["PROPERTY_ADDED_WITHOUT_DEFAULT", "PROPERTY_REMOVED", "TABLE_RENAMED"]
    code, out, _ = run(capsys, *base, "--ignore", "PROPERTY_REMOVED", "--ignore", "TABLE_RENAMED")
    assert code == 0 and "ignoring PROPERTY_REMOVED, TABLE_RENAMED" in out
    code, out, _ = run(capsys, "compat", str(log), "--mode", "NONE")
    assert code == 0


def test_versions_by_tag(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compat", str(log), "--mode", "BACKWARD", "--versions", "tag",
                       "--to", "head", "--json")  # fmt: skip
    report = json.loads(out)
    assert code == 1 and report["versions"] == 5  # 0, v1, v2, v3, head
    assert [f["rule"] for f in report["findings"]] == ["PROPERTY_REMOVED"]


def test_rules_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compat", "--rules", "--json")
    rules = json.loads(out)
    assert code == 0 and {r["id"] for r in rules} >= {"TABLE_REMOVED", "PROPERTY_RENAMED"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--mode", "FULL", "--to", "nope"], "no Tag event"),
        (["--mode", "FULL", "--to", "99"], "positions 0..9"),
        (["--mode", "FULL", "--from", "v3", "--to", "v1"], "is after"),
    ],
)
def test_usage_errors_exit_2(
    log: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(capsys, "compat", str(log), *argv)
    assert code == 2 and needle in err and "Traceback" not in err


def test_unreadable_logs_exit_2(
    tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "compat", str(tmp_path / "missing.ndjson"), "--mode", "FULL")
    assert code == 2 and "no such log" in err
    bad = tmp_path / "bad.ndjson"
    lines = log.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"Person"', b'"PersoN"')  # checksum no longer matches
    bad.write_bytes(b"\n".join(lines))
    code, _, err = run(capsys, "compat", str(bad), "--mode", "FULL")
    assert code == 1 and "record 0" in err and "Traceback" not in err  # verify's finding
    code, _, err = run(capsys, "metrics", str(bad))
    assert code == 1 and "record 0" in err
    code, _, err = run(capsys, "metrics", str(log), "--window", "1y")
    assert code == 2 and "window" in err


def test_metrics_text_and_json(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "metrics", str(log), "--window", "3e")
    assert code == 0 and "9 records" in out and "complexity" in out
    code, out, _ = run(capsys, "metrics", str(log), "--window", "3e", "--json", "--level", "QUERY")
    data = json.loads(out)
    assert [p["window_start"] for p in data["series"]] == [0, 3, 6]
    assert data["totals"]["breaking_by_rule"] == {"PROPERTY_REMOVED": 1}
    assert data["totals"]["table_renames"] == 1
