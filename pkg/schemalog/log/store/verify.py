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
record to its end, or truncated, only against a known head or a known copy.

Anchors (``expected_head``, ``--expect-head``). ``verify`` prints the anchor
``N:CHECKSUM``: the record count and the head, record ``N - 1``. A log that
holds the anchored history has that checksum at record ``N - 1`` (a log that
grew has more records after it); a log with fewer records was truncated at
record ``len`` (the first position the anchored history has and it lacks),
and one whose record ``N - 1`` differs parts from the anchored history at or
before it -- with a v2 chain a difference anywhere before changes every later
checksum, so that is all a checksum can tell. A bare ``CHECKSUM`` (the older
form) must be the checksum of some record. ``expected_log`` (``--expect-log
COPY``: a path, a URL or a store) names the exact position: the log must hold
every record of COPY at the same position, and the first record whose
checksum differs (or where the log ends first) is reported with both events.
COPY is read for its checksum fields only (verify it on its own).

A torn tail (bytes after the last newline: a crashed append) is a problem,
or with ``allow_torn_tail`` a warning naming the bytes ignored. A format v1
log verifies with a warning: its chain is not cumulative.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Union

from schemalog.encoding.codec import ChainVerifier, DecodeFailure, decode_record, record_version
from schemalog.errors import SchemalogError
from schemalog.history.known_ids import KnownIds, id_digest
from schemalog.log.store.base import line_checksum, line_id
from schemalog.log.store.ndjson import BLOCK_BYTES, MAX_LINE_BYTES, segment_paths
from schemalog.log.store.port import EventStore

__all__ = [
    "V1_WARNING",
    "Anchor",
    "BadAnchor",
    "LogRefused",
    "Problem",
    "VerifyReport",
    "anchor_problem",
    "check_log",
    "parse_anchor",
    "reference_lines",
    "verify_bytes",
    "verify_log",
    "verify_store",
]

V1_WARNING = (
    "record format v1: each checksum covers its event only, so the chain is not "
    "cumulative (records can be removed or rewritten without trace); "
    "rewrite it with `schemalog upgrade LOG -o OUT`"
)


_ANCHOR_RE = re.compile(r"(?:([1-9][0-9]{0,15}):)?(sha256-v[12]:[0-9a-f]{64})\Z")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head to hold a log to: its checksum and, when known, how many records the
    anchored log had (its head is record ``records - 1``)."""

    checksum: str
    records: int | None = None

    def __str__(self) -> str:
        return self.checksum if self.records is None else f"{self.records}:{self.checksum}"


class BadAnchor(SchemalogError):
    """An ``--expect-head`` that is neither ``N:CHECKSUM`` nor ``CHECKSUM``, or an
    ``--expect-log`` copy that cannot be read as a log."""


def parse_anchor(text: str | Anchor) -> Anchor:
    """``N:sha256-v2:<hex>`` (what ``verify`` prints) or a bare checksum."""
    if isinstance(text, Anchor):
        return text
    m = _ANCHOR_RE.match(text) if type(text) is str else None
    if m is None:
        raise BadAnchor(
            f"expected head {text!r} is neither N:CHECKSUM (the anchor `verify` prints) "
            "nor a record checksum (sha256-v2:<64 hex digits>)"
        )
    return Anchor(m.group(2), int(m.group(1)) if m.group(1) else None)


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

    @property
    def anchor(self) -> str | None:
        """``N:CHECKSUM`` of the verified records, to keep for ``--expect-head``."""
        return None if self.head is None else f"{self.records}:{self.head}"

    def to_obj(self) -> dict[str, Any]:
        p = self.problem
        return {
            "anchor": self.anchor,
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


Reference = Union[str, os.PathLike[str], EventStore]  # noqa: UP007  # an --expect-log COPY


def verify_log(
    path: str | os.PathLike[str],
    *,
    expected_head: str | Anchor | None = None,
    expected_log: Reference | None = None,
    allow_torn_tail: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the log at ``path`` (a file or a directory of segments).

    Raises StoreMissing / NotALog (a FIFO, a device, a folder of other files), and
    BadAnchor for an anchor that is no anchor.
    """
    path = os.fspath(path)
    paths = segment_paths(path)
    checks = _Anchors(expected_head, expected_log)
    return _verify(path, paths, _file_lines(paths, _open_file), checks, allow_torn_tail, progress)


def check_log(
    path: str | os.PathLike[str],
    *,
    expected_head: str | Anchor | None = None,
    expected_log: Reference | None = None,
    allow_torn_tail: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """``verify_log``, raising LogRefused when the log does not verify."""
    report = verify_log(
        path,
        expected_head=expected_head,
        expected_log=expected_log,
        allow_torn_tail=allow_torn_tail,
        progress=progress,
    )
    if report.problem is not None:
        raise LogRefused(report)
    return report


def verify_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    expected_head: str | Anchor | None = None,
    expected_log: Reference | None = None,
    allow_torn_tail: bool = False,
) -> VerifyReport:
    """Verify a log held in memory (one segment): same rules as ``verify_log``."""
    source = _file_lines([name], lambda _: io.BytesIO(data))
    checks = _Anchors(expected_head, expected_log)
    return _verify(name, [name], source, checks, allow_torn_tail, None)


def verify_store(
    store: EventStore,
    *,
    expected_head: str | Anchor | None = None,
    expected_log: Reference | None = None,
) -> VerifyReport:
    """Verify the records of any store (memory, IndexedDB, ...): same rules as ``verify_log``."""
    name = getattr(store, "name", "<store>")

    def source() -> Iterator[tuple[int, bytes, bool]]:
        for chunk in store.iter_raw(0):
            for line in chunk.lines:
                yield 0, line, True
            del chunk  # before the next chunk is read: one chunk in memory, not two

    return _verify(name, [name], source, _Anchors(expected_head, expected_log), False, None)


def anchor_problem(
    lines: Iterable[bytes],
    *,
    expected_head: str | Anchor | None = None,
    expected_log: Reference | None = None,
) -> str | None:
    """Where raw record lines part from an anchor or a copy, by their checksum fields alone
    (for ``replay --on-corrupt skip``, which reads past what verify refuses), or None."""
    checks = _Anchors(expected_head, expected_log)
    count, head = 0, None
    for position, line in enumerate(lines):
        try:
            head = line_checksum(line)
        except ValueError:
            head = "(no checksum)"
        parted = checks.at(position, head, _guess_id(line) or "?")
        if parted is not None:
            return f"record {position}: {parted}"
        count = position + 1
    return checks.at_end(count, head)


def reference_lines(copy: Reference) -> tuple[str, Iterator[bytes]]:
    """(name, its record lines) of an ``--expect-log`` copy: a log path, a
    ``postgresql://``/``http://`` log URL, or an open store. StoreMissing if absent."""
    if not isinstance(copy, str | os.PathLike):
        return getattr(copy, "name", "<store>"), _store_lines(copy, close=False)
    spec = os.fspath(copy)
    from schemalog.log.store.locate import is_url, open_store

    if is_url(spec):
        return spec, _store_lines(open_store(spec, readonly=True), close=True)
    paths = segment_paths(spec)
    return spec, (line for _, line, complete in _lines(paths, _open_file) if complete)


def _store_lines(store: EventStore, close: bool) -> Iterator[bytes]:
    try:
        for chunk in store.iter_raw(0):
            yield from chunk.lines
            del chunk  # before the next chunk is read: one chunk in memory, not two
    finally:
        if close:
            store.close()


class _Anchors:
    """What the log is held to: an anchor and/or a copy's records, position by position."""

    def __init__(self, head: str | Anchor | None, copy: Reference | None) -> None:
        self.anchor = parse_anchor(head) if head is not None else None
        self.copy_name = ""
        self.copy: Iterator[bytes] | None = None
        if copy is not None:
            self.copy_name, self.copy = reference_lines(copy)
        self.found = self.anchor is None  # a bare checksum: seen in some record

    def at(self, position: int, checksum: str, event_id: str) -> str | None:
        """Why record ``position`` (of ``checksum``) parts from what the log is held to."""
        anchor = self.anchor
        if anchor is not None and not self.found:
            if anchor.records is None:
                self.found = checksum == anchor.checksum
            elif position == anchor.records - 1:
                if checksum != anchor.checksum:
                    return (
                        f"record {position} has checksum {checksum}; the anchor "
                        f"{anchor} names {anchor.checksum} there: this log and the anchored "
                        f"one part at or before record {position} (rewritten, or another "
                        "log; --expect-log with a copy of the anchored log names the record)"
                    )
                self.found = True
        if self.copy is not None:
            theirs = next(self.copy, None)
            if theirs is None:
                self.copy = None  # the copy ends here: the log may go on
                return None
            try:
                their_sum = line_checksum(theirs)
            except ValueError:
                raise BadAnchor(
                    f"{self.copy_name}: record {position} is not a record of a log "
                    "(verify the copy on its own)"
                ) from None
            if their_sum != checksum:
                before = (
                    f"the {position:,} records before are the same"
                    if position
                    else "the logs share no record (another log)"
                )
                return (
                    f"this log and {self.copy_name} part here: record {position} is event "
                    f"{event_id} ({checksum}) here and event {_guess_id(theirs) or '?'} "
                    f"({their_sum}) there; {before}"
                )
        return None

    def at_end(self, position: int, head: str | None) -> str | None:
        """Why a log that ends after ``position`` records parts from what it is held to."""
        anchor = self.anchor
        if anchor is not None and not self.found:
            if anchor.records is not None:
                return (
                    f"the log ends after {position:,} records (head {head}); the anchor "
                    f"{anchor} names record {anchor.records - 1}: truncated at record "
                    f"{position} (or another log; --expect-log with a copy checks the "
                    "records before)"
                )
            return (
                f"expected head {anchor.checksum} is in none of the {position:,} records (head "
                f"{head}): the log was truncated or rewritten at or before that head, "
                "or is another log"
            )
        if self.copy is not None:
            theirs = next(self.copy, None)
            if theirs is not None:
                return (
                    f"this log ends after {position:,} records and {self.copy_name} goes on "
                    f"(its record {position} is event {_guess_id(theirs) or '?'}): truncated "
                    f"at record {position}"
                )
        return None


def _open_file(path: str) -> BinaryIO:
    return open(path, "rb")


LineSource = Callable[[], Iterator[tuple[int, bytes, bool]]]


def _file_lines(paths: list[str], opener: Callable[[str], BinaryIO]) -> LineSource:
    return lambda: _lines(paths, opener)


class Overlong(bytes):
    """The head of a line longer than any record (``MAX_LINE_BYTES + 1`` bytes of it);
    ``size`` is the line's length. Such a line is never held whole: a file with no
    newline for gigabytes (a disk image) is read once, in blocks, in bounded memory."""

    size: int

    def __new__(cls, head: bytes, size: int) -> Overlong:
        obj = super().__new__(cls, head[: MAX_LINE_BYTES + 1])
        obj.size = size
        return obj


def _lines(
    paths: list[str], opener: Callable[[str], BinaryIO]
) -> Iterator[tuple[int, bytes, bool]]:
    """(segment index, line, complete) for every line; an incomplete one only at a segment's end.

    A line longer than any record comes as an ``Overlong`` (its head and size)."""
    for seg_index, seg in enumerate(paths):
        with opener(seg) as f:
            carry = b""
            long = 0  # inside an over-long line: its bytes so far (carry holds its head)
            while True:
                block = f.read(BLOCK_BYTES)
                if not block:
                    break
                if long:
                    k = block.find(b"\n")
                    if k < 0:
                        long += len(block)
                        continue
                    yield seg_index, Overlong(carry, long + k), True
                    carry, long, block = b"", 0, block[k + 1 :]
                buf = carry + block if carry else block
                del block
                lines = buf.split(b"\n")
                del buf  # the lines hold its bytes
                carry = lines.pop()
                for line in lines:
                    yield (
                        seg_index,
                        line if len(line) <= MAX_LINE_BYTES else Overlong(line, len(line)),
                        True,
                    )
                del lines  # before the next block is read
                if len(carry) > MAX_LINE_BYTES:
                    long, carry = len(carry), carry[: MAX_LINE_BYTES + 1]
            if long:
                yield seg_index, Overlong(carry, long), False
            elif carry:
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
    checks: _Anchors,
    allow_torn_tail: bool,
    progress: Callable[[int], None] | None,
) -> VerifyReport:
    chain = ChainVerifier()
    known = KnownIds()
    position = 0
    total = 0
    fmt: int | None = None
    held = checks.anchor is not None or checks.copy is not None
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
        if isinstance(line, Overlong):  # (never a torn record either: refused as such)
            end = "" if complete else " without a trailing newline"
            return report(line, f"a line of {line.size:,} bytes{end}: longer than any record")
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
        if held:
            parted = checks.at(position, result.checksum, event.id)
            if parted is not None:
                return report(line, parted, event.id)
        position += 1
        total += len(line) + 1
        if progress is not None and position % 65536 == 0:
            progress(position)
    if progress is not None:
        progress(position)
    if fmt == 1:
        warnings.insert(0, V1_WARNING)
    parted = checks.at_end(position, chain.head) if held else None
    if parted is not None:
        problem = Problem(paths[-1] if paths else path, line_no, position, None, parted)
        return VerifyReport(path, position, total, chain.head, problem, fmt, tuple(warnings), torn)
    return VerifyReport(path, position, total, chain.head, None, fmt, tuple(warnings), torn)
