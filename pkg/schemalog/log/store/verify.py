"""Full verification of an NDJSON log on disk, read-only and streaming.

Every line is decoded (UTF-8, canonical JSON, record shape, checksum, event
validity) and its hash link checked against the record before it, across
segments. The first problem is reported with its file, 1-based line number,
position, event id (when the bytes still name one) and reason. A deleted,
duplicated or swapped record shows up as a broken hash link at the first
position where the log stops being consistent. (Records lost at the very end
of a log are only detectable against a known head: pass ``expected_head``.)
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from schemalog.encoding.codec import ChainVerifier, DecodeFailure, decode_record
from schemalog.log.store.base import line_id
from schemalog.log.store.errors import StoreMissing
from schemalog.log.store.ndjson import BLOCK_BYTES, segment_paths

__all__ = ["Problem", "VerifyReport", "verify_bytes", "verify_log"]


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


@dataclass(frozen=True, slots=True)
class VerifyReport:
    path: str
    records: int  # records verified good before the first problem (all, when ok)
    bytes: int
    head: str | None  # checksum of the last good record
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_obj(self) -> dict[str, Any]:
        p = self.problem
        return {
            "bytes": self.bytes,
            "head": self.head,
            "ok": self.ok,
            "path": self.path,
            "problem": None
            if p is None
            else {
                "event_id": p.event_id,
                "line_number": p.line_number,
                "path": p.path,
                "position": p.position,
                "reason": p.reason,
            },
            "records": self.records,
        }


def _guess_id(line: bytes) -> str | None:
    try:
        return line_id(line).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


def verify_log(
    path: str | os.PathLike[str],
    *,
    expected_head: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the log at ``path`` (a file or a directory of segments)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreMissing(path)
    return _verify(path, segment_paths(path), _open_file, expected_head, progress)


def verify_bytes(data: bytes, name: str = "<bytes>") -> VerifyReport:
    """Verify a log held in memory (one segment): same rules as ``verify_log``."""
    return _verify(name, [name], lambda _: io.BytesIO(data), None, None)


def _open_file(path: str) -> BinaryIO:
    return open(path, "rb")


def _verify(
    path: str,
    paths: list[str],
    opener: Callable[[str], BinaryIO],
    expected_head: str | None,
    progress: Callable[[int], None] | None,
) -> VerifyReport:
    chain = ChainVerifier()
    position = 0
    total = 0

    def report(seg: str, line_no: int, line: bytes | None, reason: str) -> VerifyReport:
        eid = _guess_id(line) if line is not None else None
        problem = Problem(seg, line_no, position, eid, reason)
        return VerifyReport(path, position, total, chain.head, problem)

    for seg_index, seg in enumerate(paths):
        line_no = 0
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
                    line_no += 1
                    result = decode_record(line, position)
                    if isinstance(result, DecodeFailure):
                        where = f" ({result.field})" if result.field else ""
                        return report(seg, line_no, line, f"{result.reason}{where}")
                    broken = chain.feed(result)
                    if broken is not None:
                        return report(
                            seg,
                            line_no,
                            line,
                            f"hash link broken: prev is {broken.actual}, "
                            f"expected {broken.expected} (a record before it is missing, "
                            "duplicated, reordered or rewritten)",
                        )
                    position += 1
                    total += len(line) + 1
                if progress is not None:
                    progress(position)
            if carry:
                last = seg_index == len(paths) - 1
                why = "torn last line" if last else "segment ends without a newline"
                return report(
                    seg, line_no + 1, carry, f"{why}: {len(carry)} bytes without a trailing newline"
                )
    if expected_head is not None and chain.head != expected_head:
        problem = Problem(
            paths[-1] if paths else path,
            0,
            position,
            None,
            f"log ends at {chain.head}, expected head {expected_head} (records lost at the end)",
        )
        return VerifyReport(path, position, total, chain.head, problem)
    return VerifyReport(path, position, total, chain.head, None)
