"""The one strict reader: full verification of an NDJSON log, read-only and streaming.

Every command that reads a LOG (verify, replay, log, schema, apply, drift,
merge, compat, metrics, upgrade) accepts exactly what this accepts: the CLI
runs ``check_log`` before its own work and stops with this report's problem.

Per line: framing (no blank line, no CR, a newline after every record but a
torn tail), the record itself (UTF-8, canonical JSON within the nesting
bound, record shape, checksum, event validity: ``codec.decode_record``), its
hash link to the record before (across segments), one record format per log,
and the causal facts (``history.known_ids``): every parent is an earlier
record, every id is stored once. The first problem is reported with its file,
1-based line number, position, event id (when the bytes still name one) and
reason. A deleted, duplicated, swapped or rewritten record of a v2 log shows
up at the first record that no longer hashes; a log rewritten from some
record to its end, or truncated, only against a known head: ``expected_head``
(``--expect-head``) must be the checksum of one of its records.

A torn tail (bytes after the last newline: a crashed append) is a problem,
or with ``allow_torn_tail`` a warning naming the bytes ignored. A format v1
log verifies with a warning: its chain is not cumulative.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from schemalog.encoding.codec import ChainVerifier, DecodeFailure, decode_record, record_version
from schemalog.errors import SchemalogError
from schemalog.history.known_ids import KnownIds, id_digest
from schemalog.log.store.base import line_id
from schemalog.log.store.ndjson import BLOCK_BYTES, segment_paths
from schemalog.log.store.port import EventStore

__all__ = [
    "V1_WARNING",
    "LogRefused",
    "Problem",
    "VerifyReport",
    "check_log",
    "verify_bytes",
    "verify_log",
    "verify_store",
]

V1_WARNING = (
    "record format v1: each checksum covers its event only, so the chain is not "
    "cumulative (records can be removed or rewritten without trace); "
    "rewrite it with `schemalog upgrade LOG -o OUT`"
)


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line_number: int
    position: int
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        eid = f" (event {self.event_id})" if self.event_id else ""
        return f"{self.path}:{self.line_number}: record {self.position}{eid}: {self.reason}"

    def to_obj(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "line_number": self.line_number,
            "path": self.path,
            "position": self.position,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    path: str
    records: int  # records verified good before the first problem (all, when ok)
    bytes: int
    head: str | None  # checksum of the last good record
    problem: Problem | None
    format: int | None = None  # record format of the log (1 or 2), None when empty
    warnings: tuple[str, ...] = ()
    torn_bytes: int = 0  # bytes of a torn tail ignored (allow_torn_tail)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_obj(self) -> dict[str, Any]:
        p = self.problem
        return {
            "bytes": self.bytes,
            "format": self.format,
            "head": self.head,
            "ok": self.ok,
            "path": self.path,
            "problem": None if p is None else p.to_obj(),
            "records": self.records,
            "torn_bytes": self.torn_bytes,
            "warnings": list(self.warnings),
        }


class LogRefused(SchemalogError):
    """A log that does not verify, raised by ``check_log`` (the report says where)."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        assert report.problem is not None
        self.problem = report.problem
        super().__init__(str(report.problem))


def _guess_id(line: bytes) -> str | None:
    try:
        return line_id(line).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


def verify_log(
    path: str | os.PathLike[str],
    *,
    expected_head: str | None = None,
    allow_torn_tail: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the log at ``path`` (a file or a directory of segments).

    Raises StoreMissing / NotALog (a FIFO, a device, a folder of other files).
    """
    path = os.fspath(path)
    paths = segment_paths(path)
    return _verify(
        path, paths, _file_lines(paths, _open_file), expected_head, allow_torn_tail, progress
    )


def check_log(
    path: str | os.PathLike[str],
    *,
    expected_head: str | None = None,
    allow_torn_tail: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """``verify_log``, raising LogRefused when the log does not verify."""
    report = verify_log(
        path, expected_head=expected_head, allow_torn_tail=allow_torn_tail, progress=progress
    )
    if report.problem is not None:
        raise LogRefused(report)
    return report


def verify_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    expected_head: str | None = None,
    allow_torn_tail: bool = False,
) -> VerifyReport:
    """Verify a log held in memory (one segment): same rules as ``verify_log``."""
    source = _file_lines([name], lambda _: io.BytesIO(data))
    return _verify(name, [name], source, expected_head, allow_torn_tail, None)


def verify_store(store: EventStore, *, expected_head: str | None = None) -> VerifyReport:
    """Verify the records of any store (memory, IndexedDB, ...): same rules as ``verify_log``."""
    name = getattr(store, "name", "<store>")

    def source() -> Iterator[tuple[int, bytes, bool]]:
        for chunk in store.iter_raw(0):
            for line in chunk.lines:
                yield 0, line, True

    return _verify(name, [name], source, expected_head, False, None)


def _open_file(path: str) -> BinaryIO:
    return open(path, "rb")


LineSource = Callable[[], Iterator[tuple[int, bytes, bool]]]


def _file_lines(paths: list[str], opener: Callable[[str], BinaryIO]) -> LineSource:
    return lambda: _lines(paths, opener)


def _lines(
    paths: list[str], opener: Callable[[str], BinaryIO]
) -> Iterator[tuple[int, bytes, bool]]:
    """(segment index, line, complete) for every line; an incomplete one only at a segment's end."""
    for seg_index, seg in enumerate(paths):
        with opener(seg) as f:
            carry = b""
            while True:
                block = f.read(BLOCK_BYTES)
                if not block:
                    break
                buf = carry + block if carry else block
                lines = buf.split(b"\n")
                carry = lines.pop()
                for line in lines:
                    yield seg_index, line, True
            if carry:
                yield seg_index, carry, False


def _first_with_id(source: LineSource, event_id: bytes, stop: int) -> tuple[int, bytes] | None:
    """(position, line) of the first record before ``stop`` with ``event_id`` (error path)."""
    for position, (_, line, _) in enumerate(source()):
        if position >= stop:
            return None
        try:
            if line_id(line) == event_id:
                return position, line
        except ValueError:
            continue
    return None


def _event_slice(line: bytes) -> bytes:
    return line[97 : len(line) - (13 if line.endswith(b',"prev":null}') else 85)]


def _verify(
    path: str,
    paths: list[str],
    source: LineSource,
    expected_head: str | None,
    allow_torn_tail: bool,
    progress: Callable[[int], None] | None,
) -> VerifyReport:
    chain = ChainVerifier()
    known = KnownIds()
    position = 0
    total = 0
    fmt: int | None = None
    anchored = expected_head is None
    warnings: list[str] = []
    torn = 0
    line_no = 0
    seg_index = -1

    def report(line: bytes | None, reason: str, eid: str | None = None) -> VerifyReport:
        if eid is None and line is not None:
            eid = _guess_id(line)
        problem = Problem(paths[seg_index], line_no, position, eid, reason)
        return VerifyReport(path, position, total, chain.head, problem, fmt, tuple(warnings))

    for index, line, complete in source():
        if index != seg_index:
            seg_index, line_no = index, 0
        line_no += 1
        if not complete:
            last = seg_index == len(paths) - 1
            if last and allow_torn_tail:
                torn = len(line)
                warnings.append(
                    f"{paths[seg_index]}:{line_no}: torn last line: {torn} bytes without a "
                    "trailing newline ignored"
                )
                break
            why = "torn last line" if last else "segment ends without a newline"
            return report(line, f"{why}: {len(line)} bytes without a trailing newline")
        if not line:
            return report(line, "empty line (blank lines are not records)")
        if line.endswith(b"\r"):
            return report(line, "line ends with a carriage return (CRLF line endings)")
        result = decode_record(line, position)
        if isinstance(result, DecodeFailure):
            where = f" ({result.field})" if result.field else ""
            return report(line, f"{result.reason}{where}")
        broken = chain.feed(result)
        if broken is not None:
            return report(
                line,
                f"hash link broken: prev is {broken.actual}, expected {broken.expected} "
                "(a record before it is missing, duplicated, reordered or rewritten)",
            )
        event = result.event
        digest = id_digest(event.id)
        if digest in known:
            first = _first_with_id(source, event.id.encode("utf-8"), position)
            if first is not None:
                same = _event_slice(first[1]) == _event_slice(line)
                what = "the same event again" if same else "another payload"
                return report(
                    line,
                    f"event id {event.id} is stored twice: at record {first[0]} and here "
                    f"({what}; one record per id)",
                    event.id,
                )
        for parent in event.parents:
            if id_digest(parent) not in known:
                return report(
                    line,
                    f"parent {parent} is in no earlier record (a log holds its events in "
                    "causal order: parents first)",
                    event.id,
                )
        known.add(digest)
        if fmt is None:
            fmt = record_version(result.checksum)
        if not anchored and result.checksum == expected_head:
            anchored = True
        position += 1
        total += len(line) + 1
        if progress is not None and position % 65536 == 0:
            progress(position)
    if progress is not None:
        progress(position)
    if fmt == 1:
        warnings.insert(0, V1_WARNING)
    if not anchored:
        problem = Problem(
            paths[-1] if paths else path,
            line_no,
            position,
            None,
            f"expected head {expected_head} is in none of the {position:,} records (head "
            f"{chain.head}): the log was truncated or rewritten at or before that head, "
            "or is another log",
        )
        return VerifyReport(path, position, total, chain.head, problem, fmt, tuple(warnings), torn)
    return VerifyReport(path, position, total, chain.head, None, fmt, tuple(warnings), torn)
