"""Record format v2: the cumulative chain, attacked the way the issue describes.

A forger deletes, rewrites, swaps or splices records and re-links the next
record's ``prev`` each time (and re-hashes the records it wrote itself: the
checksum has no secret). Under v2 the re-linked record no longer hashes, so
``verify`` fails at the first position whose bytes the forger could not keep
consistent; a forger who rewrites *every* later record gets a consistent log
with another head, which ``expected_head`` (``--expect-head``) refuses. The
same attacks on a v1 log pass ``verify`` -- the hole the v2 format closes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemalog.encoding.codec import (
    canonical_bytes,
    checksum,
    decode_record_or_raise,
    encode_record,
    event_bytes,
    record_checksum,
)
from schemalog.log.store.verify import verify_bytes
from schemalog.model.events import Event
from strategies import histories, slow_ok


def fixed_history() -> list[Event]:
    from test_golden import build_golden_events

    return [event for _, event in build_golden_events()]


def encode_log(log: list[Event]) -> list[bytes]:
    lines, prev = [], None
    for event in log:
        line = encode_record(event, prev)
        lines.append(line)
        prev = line[13:87].decode()
    return lines


def encode_v1(log: list[Event]) -> list[bytes]:
    """The same events as a format v1 log (checksum = the event's content hash)."""
    lines, prev = [], None
    for event in log:
        data = event_bytes(event)
        sum_ = checksum(data)
        lines.append(canonical_bytes({"checksum": sum_, "event": event.to_obj(), "prev": prev}))
        prev = sum_
    return lines


def parts(line: bytes) -> tuple[str, dict[str, Any], str | None]:
    obj = json.loads(line)
    return obj["checksum"], obj["event"], obj["prev"]


def relink(line: bytes, prev: str | None) -> bytes:
    """The record with another ``prev``, its checksum left as it was."""
    sum_, event, _ = parts(line)
    return canonical_bytes({"checksum": sum_, "event": event, "prev": prev})


def rehash(line: bytes, prev: str | None, event: dict[str, Any] | None = None) -> bytes:
    """The record re-signed as a forger would: after ``prev``, optionally another event."""
    sum_, old_event, _ = parts(line)
    event = old_event if event is None else event
    data = canonical_bytes(event)
    new = record_checksum(prev, data) if sum_.startswith("sha256-v2:") else checksum(data)
    return canonical_bytes({"checksum": new, "event": event, "prev": prev})


def sum_of(line: bytes) -> str:
    return parts(line)[0]


def verdict(lines: list[bytes], expected_head: str | None = None) -> tuple[bool, int | None]:
    report = verify_bytes(b"".join(line + b"\n" for line in lines), expected_head=expected_head)
    return report.ok, None if report.problem is None else report.problem.position


def delete(lines: list[bytes], i: int) -> tuple[list[bytes], int]:
    """Delete record i and re-link the next one to record i-1."""
    out = lines[:i] + lines[i + 1 :]
    if i < len(out):
        out[i] = relink(out[i], sum_of(out[i - 1]) if i else None)
    return out, i


def rewrite(lines: list[bytes], i: int) -> tuple[list[bytes], int]:
    """Rewrite record i's event, re-hash it, re-link record i+1."""
    out = list(lines)
    _, event, prev = parts(out[i])
    out[i] = rehash(out[i], prev, {**event, "workspace": "forged"})
    if i + 1 < len(out):
        out[i + 1] = relink(out[i + 1], sum_of(out[i]))
    return out, i + 1


def swap(lines: list[bytes], i: int) -> tuple[list[bytes], int]:
    """Swap records i and i+1, re-hash both in their new places, re-link record i+2."""
    out = list(lines)
    out[i], out[i + 1] = out[i + 1], out[i]
    out[i] = rehash(out[i], sum_of(out[i - 1]) if i else None)
    out[i + 1] = rehash(out[i + 1], sum_of(out[i]))
    if i + 2 < len(out):
        out[i + 2] = relink(out[i + 2], sum_of(out[i + 1]))
    return out, i + 2


def splice(lines: list[bytes], i: int, foreign: bytes) -> tuple[list[bytes], int]:
    """Insert a record of another log at i, re-hashed to link, and re-link the one after."""
    out = list(lines)
    out.insert(i, rehash(foreign, sum_of(out[i - 1]) if i else None))
    if i + 1 < len(out):
        out[i + 1] = relink(out[i + 1], sum_of(out[i]))
    return out, i + 1


ATTACKS = ("delete", "rewrite", "swap", "splice")


def attack(name: str, lines: list[bytes], i: int, foreign: bytes) -> tuple[list[bytes], int | None]:
    """The attacked log and where verify must fail (None: only the head can tell)."""
    if name == "delete":
        out, at = delete(lines, i)
    elif name == "rewrite":
        out, at = rewrite(lines, i)
    elif name == "swap":
        out, at = swap(lines, min(i, len(lines) - 2))
    else:
        out, at = splice(lines, i, foreign)
    return out, (at if at < len(out) else None)


@slow_ok
@given(
    histories(min_events=3, max_events=8),
    histories(min_events=1, max_events=2),
    st.sampled_from(ATTACKS),
    st.data(),
)
def test_relinked_attacks_fail_at_the_relinked_record_or_at_the_head(
    log: list[Event], other: list[Event], name: str, data: Any
) -> None:
    lines = encode_log(log)
    head = sum_of(lines[-1])
    i = data.draw(st.integers(0, len(lines) - 1))
    damaged, at = attack(name, lines, i, encode_log(other)[-1])
    ok, position = verdict(damaged)
    changed = min(i, len(lines) - 2) if name == "swap" else i
    if at is not None:
        # the re-linked record's checksum covers its old prev: it no longer hashes.
        # A moved or foreign record may be refused before it (a parent not yet
        # stored), never before the first changed record.
        assert not ok and position is not None, name
        assert changed <= position <= at, (name, changed, position, at)
        if name in ("delete", "rewrite"):
            assert position == at, name
    else:
        # the change reached the last record: the chain holds (the causal facts may
        # still refuse a moved or foreign record), the head moved
        assert not ok or sum_of(damaged[-1]) != head
    anchored_ok, _ = verdict(damaged, expected_head=head)
    assert not anchored_ok  # the original head is no longer in the log


@slow_ok
@given(histories(min_events=3, max_events=8), st.data())
def test_a_forger_who_rewrites_every_later_record_is_caught_by_the_head(
    log: list[Event], data: Any
) -> None:
    # (deleting or moving a record that others name as parent is caught by the
    # known-parents rule already; a rewrite keeps every id in place)
    lines = encode_log(log)
    head = sum_of(lines[-1])
    i = data.draw(st.integers(0, len(lines) - 2))
    damaged, _ = attack("rewrite", lines, i, lines[0])
    for k in range(1, len(damaged)):  # re-hash everything after the change
        if k >= i:
            damaged[k] = rehash(damaged[k], sum_of(damaged[k - 1]))
    assert verdict(damaged) == (True, None)  # self-consistent
    assert verdict(damaged, expected_head=head)[0] is False
    assert verdict(lines, expected_head=head) == (True, None)
    # a log that grew past the anchored head still contains it
    last = log[-1]
    later = {
        **last.to_obj(),
        "change": {"kind": "tag", "name": "later"},
        "hlc": {"logical": last.hlc.logical + 1, "wall_ms": last.hlc.wall_ms},
        "id": f"{last.origin}@{last.hlc.wall_ms}.{last.hlc.logical + 1}",
        "parents": [last.id],
    }
    more = [*lines, rehash(lines[0], head, later)]
    assert verdict(more) == (True, None)
    assert verdict(more, expected_head=head)[0] is True


def test_the_same_attacks_pass_a_v1_log() -> None:
    """Why v2: on format v1 re-linking leaves no trace (verify warns that v1 is weak)."""
    log = fixed_history()
    v1 = encode_v1(log)
    assert verify_bytes(b"".join(line + b"\n" for line in v1)).format == 1
    damaged, _ = attack("rewrite", v1, 2, v1[0])
    assert verdict(damaged) == (True, None)
    v2, _ = attack("rewrite", encode_log(log), 2, v1[0])
    assert verdict(v2) == (False, 3)
    # truncation: v1 and v2 alike only a kept head tells
    assert verdict(v1[:-2], expected_head=sum_of(v1[-1]))[0] is False


def test_one_format_per_log() -> None:
    log = fixed_history()
    v1, v2 = encode_v1(log), encode_log(log)
    # a v2 record after a v1 one (re-hashed to link) is refused as a mix
    mixed = [v1[0], rehash(v2[1], sum_of(v1[0]))]
    report = verify_bytes(b"".join(line + b"\n" for line in mixed))
    assert not report.ok and report.problem is not None
    assert report.problem.position == 1 and "one format per log" in report.problem.reason
    assert decode_record_or_raise(v2[1], 1).checksum == sum_of(v2[1])
