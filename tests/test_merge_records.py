"""Record-level merge: the same bytes, reports and refusals as the event-level reference."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import encode_record
from schemalog.errors import ChainBroken, DecodeError, SchemalogError
from schemalog.history.merge import ForkedEvent, decode_log, merge_events, merge_logs
from schemalog.history.merge_records import merge_files, merge_record_logs
from schemalog.model.events import CommentOnTable, Event
from schemalog.synth.replicas import synth_replicas

STRATS = ["reject", "lww", "fww", "drop-wins", "rename-wins"]


def _lines(events: list[Event] | tuple[Event, ...]) -> list[bytes]:
    out, prev = [], None
    for event in events:
        line = encode_record(event, prev)
        prev = line[13:87].decode("ascii")
        out.append(line)
    return out


def _reference(logs: list[list[bytes]], strategy: str) -> tuple[bytes, list[object]]:
    result = merge_logs([decode_log(lines) for lines in logs], strategy)
    return result.to_bytes(), [r.to_obj() for r in result.conflicts]


def _fast(logs: list[list[bytes]], strategy: str) -> tuple[bytes, list[object]]:
    result = merge_record_logs(logs, strategy)
    return result.to_bytes(), [r.to_obj() for r in result.conflicts]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 3), st.sampled_from(STRATS), st.floats(0.0, 0.6))
def test_fast_path_writes_the_reference_bytes(
    seed: int, replicas: int, strategy: str, rate: float
) -> None:
    logs = [_lines(x) for x in synth_replicas(replicas, 6, 12, seed, conflict_rate=rate)]
    expected = _reference(logs, strategy)
    assert _fast(logs, strategy) == expected
    for perm in itertools.permutations(logs):
        assert _fast(list(perm), strategy)[0] == expected[0]
    # a merged log (with its resolution events) merged again with an input
    merged = expected[0].splitlines()
    assert _fast([merged, logs[0]], strategy) == _reference([merged, logs[0]], strategy)
    assert _fast([merged, merged], strategy)[0] == expected[0]


def test_files_match_lines(tmp_path: Path) -> None:
    logs = [_lines(x) for x in synth_replicas(2, 20, 60, 7, conflict_rate=0.3)]
    paths = []
    for i, lines in enumerate(logs):
        path = tmp_path / f"r{i}.ndjson"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        paths.append(path)
    out = tmp_path / "out.ndjson"
    result = merge_files(paths, out, "lww")
    assert out.read_bytes() == merge_logs([decode_log(x) for x in logs], "lww").to_bytes()
    assert result.events == len(out.read_bytes().splitlines())
    assert result.records == sum(len(x) for x in logs)


def _error(run: object) -> tuple[type, str]:
    try:
        run()  # type: ignore[operator]
    except SchemalogError as exc:
        return type(exc), str(exc)
    raise AssertionError("no error")


def _both(logs: list[list[bytes]]) -> None:
    ref = _error(lambda: _reference(logs, "lww"))
    assert _error(lambda: _fast(logs, "lww")) == ref


@pytest.fixture
def logs() -> list[list[bytes]]:
    return [_lines(x) for x in synth_replicas(2, 5, 15, 3, conflict_rate=0.3)]


def test_tampered_event_is_refused(logs: list[list[bytes]]) -> None:
    line = logs[1][7]
    logs[1][7] = line.replace(b'"ws"', b'"wz"')  # bytes no longer match the checksum
    _both(logs)


def test_forged_checksum_but_invalid_event_is_refused(logs: list[list[bytes]]) -> None:
    # re-signed with a correct sha256, but the event is not valid (bad id)
    import hashlib

    line = logs[0][3]
    start, end = 97, len(line) - 85
    data = line[start:end].replace(b'"format":1', b'"format":2')
    digest = hashlib.sha256(data).hexdigest().encode()
    logs[0][3] = line[:23] + digest + line[87:start] + data + line[end:]
    assert _error(lambda: _fast(logs, "lww"))[0] is DecodeError
    _both(logs)


def test_broken_chain_deleted_and_reordered_records(logs: list[list[bytes]]) -> None:
    deleted = [logs[0], logs[1][:4] + logs[1][5:]]
    assert _error(lambda: _fast(deleted, "lww"))[0] is ChainBroken
    _both(deleted)
    swapped = [logs[0], [*logs[1][:3], logs[1][4], logs[1][3], *logs[1][5:]]]
    _both(swapped)


def test_non_canonical_and_garbage_lines(logs: list[list[bytes]]) -> None:
    for bad in (b"{", b"\xff\xfe", b'{"a":1}', logs[0][2].replace(b":", b": ", 1)):
        _both([[*logs[0][:2], bad, *logs[0][2:]], logs[1]])


def test_forked_event_names_both_logs(logs: list[list[bytes]]) -> None:
    events = synth_replicas(2, 5, 15, 3, conflict_rate=0.3)
    last = events[1][-1]
    table = events[1][0].id  # the first prefix event creates a node table
    other = replace(last, change=CommentOnTable(table, "forked"))  # same id, other content
    forked = [*events[1][:-1], other]
    assert (
        _error(lambda: _fast([_lines(events[0]), _lines(forked), _lines(events[1])], "lww"))[0]
        is ForkedEvent
    )
    _both([_lines(events[0]), _lines(events[1]), _lines(forked)])


def test_missing_parents_and_workspaces() -> None:
    events = synth_replicas(2, 5, 10, 5, conflict_rate=0.3)
    _both([_lines(events[0][7:]), _lines(events[1][8:])])  # both miss their first parents
    ws2 = synth_replicas(1, 3, 0, 6, workspace="other", start_ms=10**12)[0]
    _both([_lines(events[0]), _lines(ws2)])


def test_blank_lines_and_crlf(tmp_path: Path) -> None:
    logs = [_lines(x) for x in synth_replicas(2, 5, 10, 9, conflict_rate=0.3)]
    a = tmp_path / "a.ndjson"
    a.write_bytes(b"\n".join(logs[0][:3]) + b"\n\n" + b"\r\n".join(logs[0][3:]) + b"\r\n")
    b = tmp_path / "b.ndjson"
    b.write_bytes(b"".join(line + b"\n" for line in logs[1]))
    out = tmp_path / "m.ndjson"
    merge_files([a, b], out, "fww")
    expected = merge_logs(
        [decode_log(a.read_bytes().splitlines()), decode_log(logs[1])], "fww"
    ).to_bytes()
    assert out.read_bytes() == expected


def test_resolutions_already_in_a_log_are_not_redone() -> None:
    logs = [_lines(x) for x in synth_replicas(2, 6, 30, 11, conflict_rate=0.5)]
    first = merge_record_logs(logs, "lww")
    data = first.to_bytes()
    assert first.added
    again = merge_record_logs([data.splitlines(), *logs], "lww")
    assert again.to_bytes() == data and again.added == ()
    events = merge_events([[r.event for r in decode_log(x)] for x in logs], "lww")
    assert [e.id for e in events.added] == [e.id for e in first.added]


def test_lines_with_newlines_as_decode_log_takes_them() -> None:
    logs = [_lines(x) for x in synth_replicas(2, 4, 8, 13, conflict_rate=0.3)]
    with_nl = [[line + b"\n" for line in lines] for lines in logs]
    assert _fast(with_nl, "lww") == _reference(logs, "lww") == _reference(with_nl, "lww")


def test_cli_merge_names_the_bad_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemalog.cli import main
    from schemalog.synth.replicas import synth_replicas, write_replicas

    write_replicas(tmp_path, synth_replicas(2, 5, 10, 1))
    bad = tmp_path / "r2.ndjson"
    lines = bad.read_bytes().splitlines()
    bad.write_bytes(b"\n".join([*lines[:3], b"{not json", *lines[3:]]) + b"\n")
    out = tmp_path / "m.ndjson"
    code = main(["merge", str(tmp_path / "r1.ndjson"), str(bad), "-o", str(out)])
    err = capsys.readouterr().err
    # the strict reader (verify's, run by every reader) refuses it: a finding, exit 1
    assert code == 1
    assert f"{bad}:4: record 3" in err and "malformed JSON" in err
    assert not out.exists()
