"""Anchors name the position where two histories part.

``verify`` prints ``N:CHECKSUM``; ``--expect-head`` takes it (or a bare
checksum) and ``--expect-log COPY`` compares a log with an earlier copy record
by record. Each attack below re-links and re-hashes every later record, so the
log verifies on its own; only the anchor or the copy can refuse it, and the
refusal must name the position: truncation at k (anchor and copy), rewrite at
k (the copy names k; the anchor can only say "at or before N-1": a v2 head
commits to everything before it, but one checksum cannot say where), another
log (record 0).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from schemalog.api import SchemaLog
from schemalog.encoding.codec import encode_record
from schemalog.log.store import MemoryStore
from schemalog.log.store.base import line_checksum
from schemalog.log.store.verify import BadAnchor, parse_anchor, verify_bytes
from schemalog.model.events import Event
from schemalog.synth.generator import generate
from test_cli_integrity import each_reader, run, write

N = 60


def chain(events: list[Event]) -> list[bytes]:
    lines: list[bytes] = []
    for event in events:
        lines.append(encode_record(event, line_checksum(lines[-1]) if lines else None))
    return lines


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate(N, origins=2, seed=5))


@pytest.fixture(scope="module")
def lines(events: list[Event]) -> list[bytes]:
    return chain(events)


def data(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def anchor_of(lines: list[bytes]) -> str:
    report = verify_bytes(data(lines))
    assert report.ok and report.anchor is not None
    return report.anchor


def rewritten_at(events: list[Event], k: int) -> list[bytes]:
    """Event k with other content (same id and parents), every later record re-hashed."""
    forged = list(events)
    forged[k] = replace(events[k], workspace=events[k].workspace + "x")
    return chain(forged)


def test_verify_prints_the_anchor_count_and_head(lines: list[bytes]) -> None:
    report = verify_bytes(data(lines))
    assert report.anchor == f"{N}:{line_checksum(lines[-1])}"
    assert report.to_obj()["anchor"] == report.anchor
    assert parse_anchor(report.anchor).records == N
    assert parse_anchor(line_checksum(lines[3])).records is None  # the bare form still reads
    for bad in ["", "0:" + line_checksum(lines[0]), "x:sha256-v2:00", "60:sha256-v9:" + "0" * 64]:
        with pytest.raises(BadAnchor):
            parse_anchor(bad)


@pytest.mark.parametrize("k", [0, 1, 17, N - 1])
def test_truncated_at_k_is_named_by_the_anchor_and_the_copy(
    lines: list[bytes], tmp_path: Path, k: int
) -> None:
    anchor = anchor_of(lines)
    copy = write(tmp_path / "copy.ndjson", lines)
    cut = data(lines[:k])
    for report in (
        verify_bytes(cut, expected_head=anchor),
        verify_bytes(cut, expected_log=copy),
    ):
        assert report.problem is not None and report.problem.position == k, report.problem
        assert f"truncated at record {k}" in report.problem.reason
    assert verify_bytes(cut).ok  # alone, a cut log verifies: only an anchor can tell


@pytest.mark.parametrize("k", [0, 5, 31, N - 1])
def test_rewritten_at_k_is_named_by_the_copy(
    events: list[Event], lines: list[bytes], tmp_path: Path, k: int
) -> None:
    forged = rewritten_at(events, k)
    assert forged[:k] == lines[:k] and forged[k] != lines[k]
    assert verify_bytes(data(forged)).ok  # re-hashed: it verifies on its own
    copy = write(tmp_path / "copy.ndjson", lines)
    report = verify_bytes(data(forged), expected_log=copy)
    assert report.problem is not None and report.problem.position == k
    assert report.problem.event_id == events[k].id
    assert f"record {k} is event {events[k].id}" in report.problem.reason
    assert line_checksum(forged[k]) in report.problem.reason
    assert line_checksum(lines[k]) in report.problem.reason
    # the anchor alone refuses it at its head, and says the histories part at or before
    report = verify_bytes(data(forged), expected_head=anchor_of(lines))
    assert report.problem is not None and report.problem.position == N - 1
    assert f"part at or before record {N - 1}" in report.problem.reason
    # a log that grew holds its copy and its anchor; a forged one that grew holds neither
    more = list(generate(N + 5, origins=2, seed=5))
    assert more[:N] == events
    grown, forged_grown = chain(more), rewritten_at(more, k)
    assert verify_bytes(data(grown), expected_log=copy).ok
    assert verify_bytes(data(grown), expected_head=anchor_of(lines)).ok
    report = verify_bytes(data(forged_grown), expected_log=copy)
    assert report.problem is not None and report.problem.position == k
    report = verify_bytes(data(forged_grown), expected_head=anchor_of(lines))
    assert report.problem is not None and report.problem.position == N - 1


def test_another_log_parts_at_record_0(lines: list[bytes], tmp_path: Path) -> None:
    other = chain(list(generate(N + 10, origins=1, seed=9)))
    copy = write(tmp_path / "copy.ndjson", lines)
    report = verify_bytes(data(other), expected_log=copy)
    assert report.problem is not None and report.problem.position == 0
    assert "share no record" in report.problem.reason
    report = verify_bytes(data(other), expected_head=anchor_of(lines))
    assert report.problem is not None and report.problem.position == N - 1


def test_the_copy_may_be_a_store_or_a_handle(events: list[Event]) -> None:
    ours, theirs = SchemaLog(MemoryStore()), SchemaLog(MemoryStore())
    ours.store.append(events, expected=None)
    theirs.store.append(events[:40], expected=None)
    assert ours.verify(expected_log=theirs).ok  # ours holds theirs and goes on
    report = theirs.verify(expected_log=ours)
    assert report.problem is not None and report.problem.position == 40
    assert theirs.verify(expected_head=ours.verify().anchor).problem is not None
    assert ours.verify(expected_head=theirs.verify().anchor).ok


def test_every_reader_takes_both(
    events: list[Event],
    lines: list[bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = write(tmp_path / "full.ndjson", lines)
    code, out, _ = run(capsys, "verify", str(full))
    anchor = f"{N}:{line_checksum(lines[-1])}"
    assert code == 0 and f"--expect-head {anchor}" in out
    cut = write(tmp_path / "cut.ndjson", lines[:45])
    forged = write(tmp_path / "forged.ndjson", rewritten_at(events, 12))
    for log, flag, value, words in [
        (cut, "--expect-head", anchor, "truncated at record 45"),
        (cut, "--expect-log", str(full), "truncated at record 45"),
        (forged, "--expect-log", str(full), "part here: record 12"),
        (forged, "--expect-head", anchor, f"at or before record {N - 1}"),
    ]:
        for command, (code, text) in each_reader(capsys, tmp_path, log, flag, value).items():
            assert code == 1 and words in text, (command, flag, text)
    for command, (code, text) in each_reader(
        capsys, tmp_path, full, "--expect-head", anchor, "--expect-log", str(full)
    ).items():
        assert code in (0, 1) and "part" not in text and "truncated" not in text, (command, text)
    # replay --on-corrupt skip is not gated: the anchor and the copy are read from raw lines
    code, _, err = run(
        capsys, "replay", str(forged), "--on-corrupt", "skip", "--expect-log", str(full)
    )
    assert code == 1 and "part here: record 12" in err
    code, _, err = run(capsys, "replay", str(cut), "--on-corrupt", "skip", "--expect-head", anchor)
    assert code == 1 and "truncated at record 45" in err
    # usage errors: an anchor that is no anchor, a copy that is not there
    code, out, err = run(capsys, "verify", str(full), "--expect-head", "60:nope", "--json")
    assert code == 2 and "neither N:CHECKSUM" in json.loads(out)["error"]
    code, _, err = run(capsys, "schema", str(full), "--expect-log", str(tmp_path / "gone.ndjson"))
    assert code == 2 and "gone.ndjson: no such log" in err


def test_the_copy_or_the_log_may_be_a_postgresql_log(
    events: list[Event],
    lines: list[bytes],
    tmp_path: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from schemalog.log.store.locate import open_store

    url = f"{pg_url}{'&' if '?' in pg_url else '?'}log=anchors_{tmp_path.name[-12:]}"
    store = open_store(url, create=True)
    store.append(events[:40], expected=None)
    store.close()
    full = write(tmp_path / "full.ndjson", lines)
    cut = write(tmp_path / "cut.ndjson", lines[:30])
    assert run(capsys, "verify", str(full), "--expect-log", url)[0] == 0
    code, _, err = run(capsys, "verify", str(cut), "--expect-log", url)
    assert code == 1 and "truncated at record 30" in err
    code, _, err = run(capsys, "schema", url, "--expect-log", str(full))
    assert code == 1 and "truncated at record 40" in err
    code, _, err = run(capsys, "log", url, "--expect-head", f"{N}:{line_checksum(lines[-1])}")
    assert code == 1 and "truncated at record 40" in err
