"""The strict reader folded into replay (log/replay/strict.py) changes no finding.

`replay`, `schema`, `apply` and `drift` read their LOG once: their replay
watches the strict reader's remaining rules, and the strict reader itself
runs only when the watch cannot vouch for the log. Each log below, sound or
damaged the ways the strict reader refuses, is run through each command
twice -- folded, and with the strict reader forced to run first as before --
and the two runs must print the same and exit alike. A sound log must not
reach the strict reader at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import schemalog.cli as cli
import schemalog.log.store.verify as verify_module
from schemalog.cli import main
from schemalog.encoding.codec import canonical_bytes, checksum, encode_record, record_checksum
from schemalog.synth.generator import generate

COMMANDS: dict[str, list[str]] = {
    "replay": [],
    "schema": [],
    "apply": ["--dry-run", "--db", "{tmp}/db"],
    # fails after its replay (no such database), and before it (a folder that is not there)
    "drift": ["--db", "{tmp}/no-db"],
    "apply/before": ["--dry-run", "--db", "{tmp}/no-folder/db"],
}


def chain(events: list[Any]) -> list[bytes]:
    lines, prev = [], None
    for event in events:
        line = encode_record(event, prev)
        lines.append(line)
        prev = line[13:87].decode()
    return lines


def relink(objs: list[dict[str, Any]]) -> list[bytes]:
    """Records of these event objects, chained (only the causal rules can refuse them)."""
    out: list[bytes] = []
    prev = None
    for obj in objs:
        data = canonical_bytes(obj)
        sum_ = record_checksum(prev, data)
        out.append(canonical_bytes({"checksum": sum_, "event": obj, "prev": prev}))
        prev = sum_
    return out


@pytest.fixture(scope="module")
def events() -> list[Any]:
    return list(generate(80, origins=2, seed=7))


def _objs(events: list[Any]) -> list[dict[str, Any]]:
    return [e.to_obj() for e in events]


def _logs(events: list[Any]) -> dict[str, tuple[bytes, list[str]]]:
    """name -> (file bytes, extra options)."""
    lines = chain(events)
    objs = _objs(events)
    body = b"".join(line + b"\n" for line in lines)
    orphan = {
        **objs[10],
        "change": {"kind": "tag", "name": "orphan"},
        "id": "q@5.0",
        "origin": "q",
        "hlc": {"logical": 0, "wall_ms": 5},
        "parents": ["nowhere@1.0"],
    }
    twin = {**objs[5], "change": {"kind": "tag", "name": "other payload"}}
    # an event the schema rejects in place of another, and a twin id after it
    rejected = {**objs[12], "change": {"kind": "drop_table", "table_id": "zz@1.0"}}
    swapped = [*lines[:20], lines[21], lines[20], *lines[22:]]
    flipped = bytearray(lines[30])
    flipped[-30] ^= 1
    v1, prev = [], None
    for obj in objs:
        sum_ = checksum(canonical_bytes(obj))
        v1.append(canonical_bytes({"checksum": sum_, "event": obj, "prev": prev}))
        prev = sum_
    anchor = lines[40][13:87].decode()
    foreign = "sha256-v2:" + "ab" * 32

    def join(ls: list[bytes]) -> bytes:
        return b"".join(line + b"\n" for line in ls)

    return {
        "sound": (body, []),
        "anchored": (body, ["--expect-head", anchor]),
        "not-anchored": (body, ["--expect-head", foreign]),
        "orphan": (join(relink([*objs[:20], orphan, *objs[20:]])), []),
        "twin": (join(relink([*objs[:30], twin, *objs[30:]])), []),
        "same-twice": (join(relink([*objs[:30], objs[4], *objs[30:]])), []),
        "rejected-then-twin": (join(relink([*objs[:12], rejected, *objs[13:50], objs[3]])), []),
        "crlf": (b"".join(line + b"\r\n" for line in lines), []),
        "blank": (join([*lines[:3], b"", *lines[3:]]), []),
        "torn": (body + lines[0][:40], []),
        "torn-allowed": (body + lines[0][:40], ["--allow-torn-tail"]),
        "swapped": (join(swapped), []),
        "flipped": (join([*lines[:30], bytes(flipped), *lines[31:]]), []),
        "v1": (join(v1), []),
        "empty": (b"", []),
    }


def _run(capsys: Any, tmp_path: Path, command: str, log: Path, extra: list[str]) -> Any:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    code = main([command.split("/")[0], str(log), *argv, *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("name", list(_logs(list(generate(80, origins=2, seed=7)))))
def test_folded_and_gated_readers_say_the_same(
    name: str,
    events: list[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, extra = _logs(events)[name]
    log = tmp_path / "log.ndjson"
    log.write_bytes(data)
    for command in COMMANDS:
        folded = _run(capsys, tmp_path, command, log, extra)
        with monkeypatch.context() as m:
            m.setattr(cli, "FOLDED", ())  # the strict reader first, as before the fold
            gated = _run(capsys, tmp_path, command, log, extra)
        assert folded == gated, (name, command)
        sound = name in ("sound", "anchored", "v1", "empty", "torn-allowed")
        if command in ("drift", "apply/before"):
            assert folded[0] == (2 if sound else 1), (name, command, folded)
        elif sound:
            assert folded[0] == 0, (name, command, folded)
        elif name != "rejected-then-twin" or command == "replay":
            assert folded[0] == 1, (name, command, folded)


def test_a_sound_log_is_read_once(
    events: list[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "log.ndjson"
    lines = chain(events)
    log.write_bytes(b"".join(line + b"\n" for line in lines))

    def no_second_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the strict reader ran as a pass of its own")

    monkeypatch.setattr(verify_module, "verify_log", no_second_pass)
    monkeypatch.setattr(verify_module, "verify_store", no_second_pass)
    for command in ("replay", "schema", "apply"):
        for extra in ([], ["--expect-head", lines[-1][13:87].decode()]):
            code, out, err = _run(capsys, tmp_path, command, log, extra)
            assert code == 0, (command, out, err)
    code, out, _ = _run(capsys, tmp_path, "replay", log, ["--json"])
    assert code == 0 and json.loads(out)["applied"] == len(lines)
