"""Canonical bytes, checksums, stored records and the hash chain.

Canonical encoding is RFC 8785 (JCS) restricted to what events need: strings,
ints within +-(2**53-1), booleans, null, arrays and objects. No floats, NaN or
Infinity, no lone surrogates. For that subset JCS is exactly
``json.dumps(ensure_ascii=False, separators=(",", ":"))`` with object keys
sorted by UTF-16 code units (both escape only ``"``, ``\\``, and controls below
U+0020 -- as ``\\b \\f \\n \\r \\t`` or lower-case ``\\u00xx`` -- and leave U+2028,
U+2029 and U+007F raw), encoded as UTF-8. tests/test_codec.py checks this
against the ``rfc8785`` package.

Content hash = ``"sha256-v1:" + hex(sha256(canonical bytes))`` (``checksum``):
an event's identity, a state's hash, a snapshot's hash.

A stored record is one NDJSON line, the canonical JSON of
``{"checksum": ..., "event": {...}, "prev": <checksum of the previous record in
this log, or null for the first>}``. Because the line is canonical, the
event's canonical bytes are a slice of it: decoding parses once, re-encodes
once to prove canonicality, and hashes the slice, with no second encoder pass.

Record format v2 (written): the record checksum is cumulative,
``"sha256-v2:" + hex(sha256(P + b"\n" + sha256(event bytes)))`` where ``P`` is
the ``prev`` text (the previous record's checksum, ASCII) or empty for the
first record and the inner digest is the 32 raw bytes. A record therefore
commits to every record before it: a log's head commits to its whole history,
and changing, deleting or inserting any record needs every later checksum
recomputed. Record format v1 (read, never written): the checksum was the
content hash of the event alone, so ``prev`` links could be re-pointed
without trace. One log holds one format: a v2 record's ``prev`` is null or
v2, a v1 record's null or v1 (``upgrade.upgrade_lines`` rewrites v1 as v2).

Decoding returns a value (``Record`` or ``DecodeFailure``) so that replay can
skip a bad record and carry on; ``decode_record_or_raise`` raises DecodeError.
``ChainVerifier``/``verify_chain`` name the first position where the hash link
breaks (a deleted, inserted, reordered or rewritten record).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.fast_event import event_from_obj
from schemalog.encoding.fast_record import read as read_common
from schemalog.errors import ChainBroken, DecodeError, InvalidEvent, SchemalogError
from schemalog.model.events import Event
from schemalog.model.parts import unchecked
from schemalog.model.schema import SchemaState, empty_state
from schemalog.model.state_json import ordered_tables, state_to_obj, table_to_obj

__all__ = [
    "CHECKSUM_PREFIX",
    "DEFAULT_MAX_EVENT_BYTES",
    "V1_PREFIX",
    "ChainVerifier",
    "DecodeFailure",
    "EventTooLarge",
    "LegacyLog",
    "NotCanonical",
    "Record",
    "canonical_bytes",
    "check_chain",
    "checksum",
    "decode_record",
    "decode_record_or_raise",
    "encode_record",
    "event_bytes",
    "record_checksum",
    "record_version",
    "state_hash",
    "too_deep",
    "verify_chain",
]

CHECKSUM_PREFIX = "sha256-v2:"  # what encode_record writes: the cumulative record checksum
V1_PREFIX = "sha256-v1:"  # content hashes, and record checksums of format v1 logs
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
MAX_SAFE_INT = 2**53 - 1

_CHECKSUM_RE = re.compile(r"sha256-v[12]:[0-9a-f]{64}\Z")
_V2 = CHECKSUM_PREFIX
_ALGORITHM_RE = re.compile(r"([A-Za-z0-9_-]+):")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_dumps_sorted = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode


def _unencodable(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _canonical_encoder() -> Any:
    """``_dumps_sorted`` for parsed JSON, minus the per-call setup of ``JSONEncoder.encode``.

    The canonicality check re-encodes every decoded line. Values fresh from the
    parser cannot be circular, so the C encoder runs without the marker dict,
    built once. Same output as ``_dumps_sorted`` for every value the parser returns.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the plain encoder
        return _dumps_sorted
    encode = make(
        None, _unencodable, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda value: "".join(encode(value, 0))


_dumps_canonical = _canonical_encoder()


class NotCanonical(SchemalogError):
    """A value outside the canonical subset was given to the encoder."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot encode {path}: {reason}")


class EventTooLarge(SchemalogError):
    """An event's canonical bytes exceed the configured maximum."""

    def __init__(self, event_id: str, size: int, limit: int) -> None:
        self.event_id = event_id
        self.size = size
        self.limit = limit
        super().__init__(f"event {event_id} is {size} bytes, more than the maximum {limit}")


# ---------------------------------------------------------------- encoding


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _prepare(value: Any, path: str) -> Any:
    """Check ``value`` is in the canonical subset; return it with objects in JCS key order."""
    t = type(value)
    if t is str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise NotCanonical(path, "string contains a lone surrogate") from None
        return value
    if t is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise NotCanonical(path, f"integer {value} is outside +-(2**53-1)")
        return value
    if value is None or t is bool:
        return value
    if t is list or t is tuple:
        return [_prepare(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t is dict:
        for key in value:
            if type(key) is not str:
                raise NotCanonical(path, f"object key {key!r} is not a string")
        return {k: _prepare(value[k], f"{path}.{k}") for k in sorted(value, key=_utf16_key)}
    if t is float:
        raise NotCanonical(path, "floats are not allowed (use an int or a decimal string)")
    raise NotCanonical(path, f"{t.__name__} is not JSON")


def canonical_bytes(value: Any) -> bytes:
    """The one canonical UTF-8 byte form (RFC 8785 on the restricted subset)."""
    return _dumps(_prepare(value, "$")).encode("utf-8")


class LegacyLog(SchemalogError):
    """A record of format v1 would be written: v1 logs are read, never extended."""

    def __init__(self, prev: str) -> None:
        self.prev = prev
        super().__init__(
            f"the log ends in a record format v1 checksum ({prev}): its chain is not "
            "cumulative and takes no new records; rewrite it with `schemalog upgrade LOG -o OUT`"
        )


def checksum(data: bytes) -> str:
    """Content hash of canonical bytes (``sha256-v1:``): identity of an event or state."""
    return V1_PREFIX + hashlib.sha256(data).hexdigest()


def record_checksum(prev: str | None, data: bytes) -> str:
    """The v2 record checksum of event bytes ``data`` after a record with checksum ``prev``."""
    inner = hashlib.sha256(data).digest()
    return (
        _V2
        + hashlib.sha256(
            (b"" if prev is None else prev.encode("ascii")) + b"\n" + inner
        ).hexdigest()
    )


def record_version(sum_: str) -> int:
    """1 or 2: the record format of a well-formed record checksum."""
    return 2 if sum_.startswith(_V2) else 1


def event_bytes(event: Event) -> bytes:
    return canonical_bytes(event.to_obj())


def encode_record(
    event: Event, prev: str | None, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> bytes:
    """One stored record line (canonical, without the trailing newline)."""
    data = event_bytes(event)
    if len(data) > max_event_bytes:
        raise EventTooLarge(event.id, len(data), max_event_bytes)
    if prev is not None and _CHECKSUM_RE.match(prev) is None:
        raise NotCanonical("prev", f"{prev!r} is not a {CHECKSUM_PREFIX} checksum")
    if prev is not None and not prev.startswith(_V2):
        raise LegacyLog(prev)
    return _record_bytes(record_checksum(prev, data), data, prev)


def _record_bytes(sum_: str, data: bytes, prev: str | None) -> bytes:
    prev_json = "null" if prev is None else f'"{prev}"'
    return b'{"checksum":"%s","event":%s,"prev":%s}' % (
        sum_.encode("ascii"),
        data,
        prev_json.encode("ascii"),
    )


# ---------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded, checksum-verified record (its hash link is checked by ChainVerifier)."""

    event: Event
    checksum: str
    prev: str | None
    size: int  # bytes of the line, without newline


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why the record at ``position`` did not decode; ``field`` is a path or None."""

    position: int
    field: str | None
    reason: str

    def to_error(self) -> DecodeError:
        return DecodeError(self.position, self.field, self.reason)

    def __str__(self) -> str:
        return str(self.to_error())


def _reject_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text} (floats are not allowed)")


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


# Built once: json.loads with hooks would build a new decoder per call.
_DECODER = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant)
_decode_json = _DECODER.decode
# The scanner under ``decode``: a canonical line has no whitespace around the
# value, so when it consumes the whole text it returns what ``decode`` would.
_scan_json = _DECODER.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__

_RECORD_KEYS = frozenset(("checksum", "event", "prev"))
_new_record = unchecked(Record)  # its fields are proven by decode_record
# The last checksum decode_record verified: usually the next record's prev.
_last_checksum: str | None = None
_RECORD_OVERHEAD = len(_record_bytes(CHECKSUM_PREFIX + "0" * 64, b"", CHECKSUM_PREFIX + "0" * 64))


def decode_record(
    line: bytes, position: int, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Record | DecodeFailure:
    """Decode and verify one stored line (a single trailing ``\\n`` is allowed)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    # Fast path (record_fast.py): a record of a common kind, proved canonical
    # and valid by its shape; anything else, or any doubt, takes the checked
    # path below, the one source of failures.
    try:
        found = read_common(line.decode("utf-8"))
    except UnicodeDecodeError:
        found = None
    if found is not None:
        sum_, prev, event = found
        end = len(line) - (13 if prev is None else 11 + len(prev))
        if (
            end - 97 <= max_event_bytes  # 97 = 23 + len(sum_), as below
            and (prev is None or prev[8] == sum_[8])  # one format per log
            and _computed(sum_, prev, line[97:end]) == sum_
        ):
            global _last_checksum
            _last_checksum = sum_
            return _new_record(event, sum_, prev, len(line))
    return _decode_checked(line, position, max_event_bytes)


def _decode_checked(line: bytes, position: int, max_event_bytes: int) -> Record | DecodeFailure:
    """``decode_record`` by parsing, re-encoding and validating (``line`` without newline)."""
    if len(line) > max_event_bytes + _RECORD_OVERHEAD:
        return DecodeFailure(
            position, "event", f"record of {len(line)} bytes exceeds the maximum event size"
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DecodeFailure(position, None, f"not valid UTF-8 at byte {exc.start}")
    if too_deep(text):
        return DecodeFailure(
            position, None, f"JSON nested deeper than {MAX_NESTING} levels (an event needs 6)"
        )
    try:
        obj, end = _scan_json(text, 0)
    except Exception:  # anything odd: ``_decode_json`` below says what (or raises the same)
        end = -1
    if end != len(text):
        try:
            obj = _decode_json(text)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            return DecodeFailure(position, None, f"malformed JSON: {exc}")
    if _dumps_canonical(obj) != text:
        return DecodeFailure(position, None, _why_not_canonical(text))
    if type(obj) is not dict or obj.keys() != _RECORD_KEYS:
        got = sorted(obj) if type(obj) is dict else type(obj).__name__
        return DecodeFailure(
            position, None, f"record must have exactly checksum, event, prev; got {got}"
        )
    sum_, prev, event_obj = obj["checksum"], obj["prev"], obj["event"]
    # Fast path: a checksum equal to the hash is well-formed, and ``prev`` is
    # usually the checksum of the record just decoded. Else the checks below,
    # in their order, find the first problem.
    global _last_checksum
    if type(sum_) is str and (prev is None or prev == _last_checksum):
        start = 23 + len(sum_)
        data = line[start : len(line) - (13 if prev is None else 11 + len(prev))]
        if (
            len(data) <= max_event_bytes
            and (prev is None or prev[8:9] == sum_[8:9])
            and _computed(sum_, prev, data) == sum_
        ):
            _last_checksum = sum_
            try:
                event = event_from_obj(event_obj)
            except InvalidEvent as exc:
                return DecodeFailure(position, f"event.{exc.field}", exc.reason)
            return _new_record(event, sum_, prev, len(line))
    problem = _check_sum_field(sum_, "checksum")
    if problem is None and prev is not None:
        problem = _check_sum_field(prev, "prev")
    if problem is not None:
        return DecodeFailure(position, *problem)
    # The line is canonical, so the event's canonical bytes sit between fixed ends.
    start = 23 + len(sum_)  # len('{"checksum":"') + len(sum) + len('","event":')
    end = len(line) - (9 + (4 if prev is None else len(prev) + 2))  # ',"prev":' ... '}'
    data = line[start:end]
    if len(data) > max_event_bytes:
        return DecodeFailure(
            position, "event", f"event of {len(data)} bytes exceeds the maximum {max_event_bytes}"
        )
    if prev is not None and prev[8] != sum_[8]:
        return DecodeFailure(
            position,
            "prev",
            f"a record format v{sum_[8]} record cannot follow a v{prev[8]} checksum "
            "(one format per log)",
        )
    actual = _computed(sum_, prev, data)
    if actual != sum_:
        what = "prev and event hash" if sum_[8] == "2" else "event hashes"
        return DecodeFailure(
            position, "checksum", f"checksum mismatch: record says {sum_}, {what} to {actual}"
        )
    _last_checksum = sum_
    try:
        event = event_from_obj(event_obj)
    except InvalidEvent as exc:
        return DecodeFailure(position, f"event.{exc.field}", exc.reason)
    return Record(event, sum_, prev, len(line))


def _computed(sum_: str, prev: str | None, data: bytes) -> str:
    """The checksum a record of ``sum_``'s format must carry (``sum_`` well-formed)."""
    if sum_[8:9] == "2":
        inner = hashlib.sha256(data).digest()
        return (
            _V2
            + hashlib.sha256(
                (b"" if prev is None else prev.encode("ascii")) + b"\n" + inner
            ).hexdigest()
        )
    return V1_PREFIX + hashlib.sha256(data).hexdigest()


# A record nests 6 levels deep at most (record, event, change, properties,
# a property, ...); the parser recurses per level and would raise
# RecursionError on a line of a few KB of brackets. Deeper is a decode error.
MAX_NESTING = 32
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET_RE = re.compile(r"[\[\]{}]")


def too_deep(text: str, bound: int = MAX_NESTING) -> bool:
    """Whether the JSON ``text`` nests arrays/objects deeper than ``bound`` (strings ignored)."""
    if text.count("[") + text.count("{") <= bound:
        return False
    depth = 0
    for ch in _BRACKET_RE.findall(_STRING_RE.sub("", text)):
        if ch == "[" or ch == "{":
            depth += 1
            if depth > bound:
                return True
        else:
            depth -= 1
    return False


def _check_sum_field(value: object, field: str) -> tuple[str, str] | None:
    if type(value) is not str:
        return field, f"must be a string, got {type(value).__name__}"
    if _CHECKSUM_RE.match(value) is None:
        m = _ALGORITHM_RE.match(value)
        if m is not None and m.group(1) not in ("sha256-v1", "sha256-v2"):
            return field, f"unknown checksum algorithm {m.group(1)!r}"
        return field, f"{value!r} is not a {CHECKSUM_PREFIX} checksum"
    return None


def _why_not_canonical(text: str) -> str:
    try:
        json.loads(text, object_pairs_hook=_reject_duplicates)
    except ValueError as exc:
        return f"malformed JSON: {exc}"
    return "not canonical (re-encoding differs: key order, whitespace, escapes or number form)"


def decode_record_or_raise(
    line: bytes, position: int, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Record:
    result = decode_record(line, position, max_event_bytes)
    if isinstance(result, DecodeFailure):
        raise result.to_error()
    return result


# ---------------------------------------------------------------- hash chain


class ChainVerifier:
    """Checks hash links one record at a time; remembers the head checksum."""

    __slots__ = ("head", "position")

    def __init__(self, head: str | None = None, position: int = 0) -> None:
        self.head = head  # checksum the next record's prev must carry
        self.position = position

    def feed(self, record: Record) -> ChainBroken | None:
        """Accept ``record`` as the next one, or return where the chain breaks."""
        if record.prev != self.head:
            return ChainBroken(self.position, record.event.id, self.head, record.prev)
        self.head = record.checksum
        self.position += 1
        return None

    def finish(self, expected_head: str | None) -> ChainBroken | None:
        """Detect records lost at the end: the last checksum must be ``expected_head``."""
        if self.head != expected_head:
            return ChainBroken(self.position, None, expected_head, self.head)
        return None


def verify_chain(
    records: Iterable[Record], start: str | None = None, expected_head: str | None = None
) -> ChainBroken | None:
    """The first break in the chain, or None. ``expected_head`` also catches truncation."""
    verifier = ChainVerifier(start)
    for record in records:
        broken = verifier.feed(record)
        if broken is not None:
            return broken
    return verifier.finish(expected_head) if expected_head is not None else None


def check_chain(
    records: Iterable[Record], start: str | None = None, expected_head: str | None = None
) -> None:
    """Raising variant of ``verify_chain``."""
    broken = verify_chain(records, start, expected_head)
    if broken is not None:
        raise broken


def _state_frame() -> tuple[bytes, bytes]:
    """What a state's encoding holds before its first table and after its last."""
    head, _, tail = canonical_bytes(state_to_obj(empty_state())).rpartition(b"[]")
    return head + b"[", b"]" + tail


_STATE_FRAME = _state_frame()


def state_hash(state: SchemaState) -> str:
    """``sha256-v1:`` content hash of the canonical encoding of ``state_to_obj``.

    Hashed table by table, never the whole state's JSON at once (1.4 MB of JSON
    took about 7 MB while it was encoded: the peak of a replay at 8 MiB): the
    same bytes, since an array's encoding is its items' joined by commas; the
    frame around them is an empty state's encoding (tests/test_schema.py).
    """
    head, tail = _STATE_FRAME
    digest = hashlib.sha256(head)
    sep = b""
    for table in ordered_tables(state):
        digest.update(sep)
        digest.update(canonical_bytes(table_to_obj(table)))
        sep = b","
    digest.update(tail)
    return V1_PREFIX + digest.hexdigest()
