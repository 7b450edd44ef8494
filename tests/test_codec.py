"""Canonical encoding (vs rfc8785), checksums, records, and the hash chain."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from schemalog.encoding.codec import (
    DEFAULT_MAX_EVENT_BYTES,
    ChainVerifier,
    DecodeFailure,
    EventTooLarge,
    NotCanonical,
    Record,
    canonical_bytes,
    check_chain,
    checksum,
    decode_record,
    decode_record_or_raise,
    encode_record,
    event_bytes,
    record_checksum,
    verify_chain,
)
from schemalog.errors import ChainBroken, DecodeError
from schemalog.model.events import CommentOnTable, Event
from strategies import events, histories, slow_ok

# ---------------------------------------------------------------- encoding vs RFC 8785

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=4)
    ),
    max_leaves=12,
)


@slow_ok
@given(json_values)
def test_encoder_equals_rfc8785_on_any_value_in_the_subset(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@slow_ok
@given(events())
def test_encoder_equals_rfc8785_on_generated_events(event: Event) -> None:
    assert event_bytes(event) == rfc8785.dumps(event.to_obj())


def test_escapes_and_key_order_match_jcs() -> None:
    value = {
        "\U0001f600": 1,  # UTF-16: D83D DE00 sorts before U+FFFF
        "\uffff": 2,
        "s": '\x00\x08\t\n\x0b\x0c\r\x1f\x7f\u2028\u2029/"\\é😀',
    }
    assert canonical_bytes(value) == rfc8785.dumps(value)
    # code-point order would put U+FFFF first; JCS (UTF-16 units) puts the emoji first
    assert canonical_bytes(value).endswith('"\U0001f600":1,"\uffff":2}'.encode())
    assert b'"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\x7f' in canonical_bytes(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1.5, "floats are not allowed"),
        (float("nan"), "floats are not allowed"),
        (float("inf"), "floats are not allowed"),
        (2**53, "outside"),
        (-(2**53), "outside"),
        ("a\ud800", "lone surrogate"),
        ({1: "x"}, "not a string"),
        (b"x", "bytes is not JSON"),
    ],
)
def test_encoder_rejects_values_outside_the_subset(value: Any, reason: str) -> None:
    with pytest.raises(NotCanonical, match=reason):
        canonical_bytes({"k": [value]})


# ---------------------------------------------------------------- records


def encode_log(log: list[Event]) -> list[bytes]:
    lines, prev = [], None
    for event in log:
        line = encode_record(event, prev)
        lines.append(line)
        prev = record_checksum(prev, event_bytes(event))
    return lines


def first_problem(lines: list[bytes], expected_head: str | None = None) -> int | None:
    """Position of the first record that fails to decode or to link, else None."""
    verifier = ChainVerifier()
    for position, line in enumerate(lines):
        result = decode_record(line, position)
        if isinstance(result, DecodeFailure):
            return position
        if verifier.feed(result) is not None:
            return position
    if expected_head is not None and verifier.finish(expected_head) is not None:
        return len(lines)
    return None


@slow_ok
@given(histories(min_events=1, max_events=15, n_origins=2))
def test_round_trip_through_records(log: list[Event]) -> None:
    lines = encode_log(log)
    records = [decode_record_or_raise(line + b"\n", i) for i, line in enumerate(lines)]
    assert [r.event for r in records] == log
    assert records[0].prev is None
    assert verify_chain(records) is None
    prev = None
    for line, record in zip(lines, records, strict=True):
        assert record.checksum == record_checksum(prev, event_bytes(record.event))
        assert record.prev == prev
        prev = record.checksum
        assert record.size == len(line)
        obj = json.loads(line)
        assert rfc8785.dumps(obj) == line


@slow_ok
@given(histories(min_events=1, max_events=6), st.data())
def test_any_single_byte_change_is_detected_at_that_record(log: list[Event], data: Any) -> None:
    lines = encode_log(log)
    index = data.draw(st.integers(0, len(lines) - 1))
    line = bytearray(lines[index])
    offset = data.draw(st.integers(0, len(line) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != line[offset]))
    line[offset] = new_byte
    tampered = [*lines[:index], bytes(line), *lines[index + 1 :]]
    assert first_problem(tampered) == index


@slow_ok
@given(histories(min_events=2, max_events=8), st.data())
def test_deletion_is_detected(log: list[Event], data: Any) -> None:
    lines = encode_log(log)
    head = decode_record_or_raise(lines[-1], 0).checksum
    i = data.draw(st.integers(0, len(lines) - 1))
    damaged = lines[:i] + lines[i + 1 :]
    # deleting the last record is only visible against the known head
    assert first_problem(damaged, expected_head=head) == i


@slow_ok
@given(histories(min_events=2, max_events=8), histories(min_events=1, max_events=3), st.data())
def test_insertion_is_detected(log: list[Event], other: list[Event], data: Any) -> None:
    lines = encode_log(log)
    i = data.draw(st.integers(0, len(lines)))
    foreign = data.draw(st.sampled_from(encode_log(other) + lines))
    damaged = [*lines[:i], foreign, *lines[i:]]
    # The inserted record is itself consistent only if it links to record i-1;
    # then the break shows at the record after it (or at the head).
    prev_at_i = None if i == 0 else decode_record_or_raise(lines[i - 1], 0).checksum
    linked = decode_record_or_raise(foreign, i).prev == prev_at_i
    head = decode_record_or_raise(lines[-1], 0).checksum
    assert first_problem(damaged, expected_head=head) == (i + 1 if linked else i)


@slow_ok
@given(histories(min_events=2, max_events=8), st.data())
def test_swap_is_detected(log: list[Event], data: Any) -> None:
    lines = encode_log(log)
    i = data.draw(st.integers(0, len(lines) - 2))
    j = data.draw(st.integers(i + 1, len(lines) - 1))
    damaged = list(lines)
    damaged[i], damaged[j] = damaged[j], damaged[i]
    assert first_problem(damaged) == i


def test_chain_errors_name_position_and_values() -> None:
    log = [_comment(n) for n in range(3)]
    records = [decode_record_or_raise(line, i) for i, line in enumerate(encode_log(log))]
    broken = verify_chain([records[0], records[2]])
    assert isinstance(broken, ChainBroken)
    assert (broken.position, broken.event_id) == (1, log[2].id)
    assert broken.expected == records[0].checksum and broken.actual == records[1].checksum
    assert "record 1" in str(broken) and log[2].id in str(broken)
    with pytest.raises(ChainBroken):
        check_chain(records[1:])
    assert verify_chain(records[1:], start=records[0].checksum) is None
    truncated = verify_chain(records[:2], expected_head=records[2].checksum)
    assert truncated is not None and truncated.position == 2


# ---------------------------------------------------------------- bad input


def _comment(n: int, text: str = "c") -> Event:
    from schemalog.model.clock import Timestamp

    hlc = Timestamp(1_000 + n, 0, "o")
    parents = (f"o@{999 + n}.0",) if n else ()
    return Event(f"o@{1000 + n}.0", "ws", "o", hlc, parents, 1, CommentOnTable("o@1.0", text))


GOOD = encode_record(_comment(0), None)


def resign(event_obj: dict[str, Any]) -> bytes:
    """A canonical record around an arbitrary event object, with a correct checksum."""
    data = canonical_bytes(event_obj)
    return canonical_bytes({"checksum": checksum(data), "event": event_obj, "prev": None})


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (GOOD[:-5], None, "malformed JSON"),
        (GOOD + b"x", None, "malformed JSON: Extra data"),
        (GOOD + b" ", None, "not canonical"),
        (b"", None, "malformed JSON"),
        (b"\xff" + GOOD, None, "not valid UTF-8 at byte 0"),
        (b'{"a":NaN}', None, "NaN is not JSON"),
        (b'{"a":-Infinity}', None, "-Infinity is not JSON"),
        (b'{"a":1.0}', None, "floats are not allowed"),
        (b'{"a":1e3}', None, "floats are not allowed"),
        (b'{"a":1,"a":2}', None, "duplicate key 'a'"),
        (b'{"b":1,"a":2}', None, "not canonical"),
        (b'{"a": 1}', None, "not canonical"),
        (b'{"a":-0}', None, "not canonical"),
        (b'{"a":"\\/"}', None, "not canonical"),
        (b'{"a":"\\u001F"}', None, "not canonical"),
        (b'{"a":"\\ud800"}', None, "not canonical"),
        (b"[1]", None, "exactly checksum, event, prev"),
        (GOOD.replace(b"sha256-v2:", b"sha512-v9:"), "checksum", "unknown checksum algorithm"),
        (GOOD.replace(b'"prev":null', b'"prev":"x"'), "prev", "is not a sha256-v2: checksum"),
        (GOOD.replace(b'"c"', b'"d"'), "checksum", "checksum mismatch"),
        (resign({**_comment(0).to_obj(), "format": 2}), "event.format", "unknown format"),
        (
            resign({**_comment(0).to_obj(), "change": {"kind": "nope"}}),
            "event.change.kind",
            "unknown change kind 'nope'",
        ),
        (
            resign({**_comment(0).to_obj(), "hlc": {"logical": True, "wall_ms": 1000}}),
            "event.hlc.logical",
            "must be an int, got bool",
        ),
        (
            resign({**_comment(0).to_obj(), "hlc": {"logical": 0, "wall_ms": 0}}),
            "event.hlc.wall_ms",
            "outside 1..2**53-1",
        ),
        (
            resign({**_comment(0).to_obj(), "hlc": {"logical": 0, "wall_ms": -5}}),
            "event.hlc.wall_ms",
            "outside",
        ),
        (
            resign({**_comment(0).to_obj(), "parents": ["o@1000.0"]}),
            "event.parents",
            "names the event itself",
        ),
    ],
)
def test_bad_lines_give_a_failure_naming_what_and_where(
    line: bytes, field: str | None, reason: str
) -> None:
    result = decode_record(line, 7)
    assert isinstance(result, DecodeFailure)
    assert result.position == 7 and result.field == field
    assert reason in result.reason, result.reason
    with pytest.raises(DecodeError) as info:
        decode_record_or_raise(line, 7)
    assert info.value.position == 7 and "record 7" in str(info.value)


def test_wall_time_2_pow_63_cannot_even_be_encoded() -> None:
    obj = {**_comment(0).to_obj(), "hlc": {"logical": 0, "wall_ms": 2**63}}
    with pytest.raises(NotCanonical, match="outside"):
        resign(obj)
    raw = GOOD.replace(b'"wall_ms":1000', b'"wall_ms":9223372036854775808')
    result = decode_record(raw, 0)
    assert isinstance(result, DecodeFailure) and result.field == "checksum"


def test_event_size_limit() -> None:
    big = _comment(0, "x" * 4000)
    with pytest.raises(EventTooLarge) as info:
        encode_record(big, None, max_event_bytes=1000)
    assert info.value.limit == 1000 and info.value.size > 4000
    assert big.id in str(info.value)
    line = encode_record(big, None)
    assert isinstance(decode_record(line, 0), Record)
    result = decode_record(line, 3, max_event_bytes=1000)
    assert isinstance(result, DecodeFailure)
    assert result.field == "event" and "exceeds the maximum" in result.reason
    assert DEFAULT_MAX_EVENT_BYTES == 64 * 1024


@slow_ok
@given(histories(min_events=2, max_events=6), st.data())
def test_rewritten_and_resigned_record_breaks_the_link_after_it(
    log: list[Event], data: Any
) -> None:
    # A forger who rewrites record i and recomputes its checksum keeps record i
    # self-consistent; the chain shows the break at i + 1 (or at the head).
    lines = encode_log(log)
    i = data.draw(st.integers(0, len(lines) - 1))
    record = decode_record_or_raise(lines[i], i)
    forged_event = {**record.event.to_obj(), "workspace": "forged"}
    data_bytes = canonical_bytes(forged_event)
    forged = canonical_bytes(
        {
            "checksum": record_checksum(record.prev, data_bytes),
            "event": forged_event,
            "prev": record.prev,
        }
    )
    damaged = [*lines[:i], forged, *lines[i + 1 :]]
    head = decode_record_or_raise(lines[-1], 0).checksum
    assert first_problem(damaged, expected_head=head) == i + 1
