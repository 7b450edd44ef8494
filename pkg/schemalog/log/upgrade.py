"""Rewriting a record format v1 log as v2: same events, a cumulative chain.

A v1 record's checksum covers its event only, so its ``prev`` links can be
re-pointed without trace (codec's docstring). ``upgrade_log`` reads a v1 log
once, verifies every record in full as ``verify`` does (decode, checksum,
hash link, one format), and writes each event's bytes unchanged under a v2
checksum that covers the new ``prev``. A log that does not verify is refused
and nothing is written: an upgrade must not bless a tampered v1 history with
a chain that looks sound. The output is written to a new temporary file beside ``OUT`` and renamed,
so a crash leaves no partial ``OUT``. Memory: one block of input and one of
output, whatever the log's length.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from schemalog.encoding.codec import (
    ChainVerifier,
    DecodeFailure,
    decode_record,
    record_checksum,
    record_version,
)
from schemalog.errors import SchemalogError
from schemalog.log.store.ndjson import BLOCK_BYTES, MAX_LINE_BYTES, segment_paths

__all__ = ["UpgradeRefused", "UpgradeReport", "upgrade_lines", "upgrade_log"]

_EVENT_START = 97  # len('{"checksum":"') + 74 + len('","event":')


class UpgradeRefused(SchemalogError):
    """The input is not a v1 log that verifies; ``position`` is the record at fault (or None)."""

    def __init__(self, path: str, position: int | None, reason: str) -> None:
        self.path = path
        self.position = position
        self.reason = reason
        where = f" record {position}" if position is not None else ""
        super().__init__(f"{path}:{where} {reason}; not upgraded")


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    records: int
    old_head: str | None
    new_head: str | None
    bytes_written: int


def upgrade_lines(lines: Iterable[bytes], name: str = "<lines>") -> Iterator[bytes]:
    """The v2 lines (no newline) of the v1 log ``lines``; raises UpgradeRefused at a bad one."""
    chain = ChainVerifier()
    prev: str | None = None
    for position, line in enumerate(lines):
        result = decode_record(line, position)
        if isinstance(result, DecodeFailure):
            where = f" ({result.field})" if result.field else ""
            raise UpgradeRefused(name, position, f"{result.reason}{where}")
        if record_version(result.checksum) != 1:
            raise UpgradeRefused(name, position, "already record format v2")
        broken = chain.feed(result)
        if broken is not None:
            raise UpgradeRefused(
                name,
                position,
                f"hash link broken: prev is {broken.actual}, expected {broken.expected}",
            )
        if line.endswith(b"\n"):
            line = line[:-1]
        end = len(line) - (13 if result.prev is None else 85)
        data = line[_EVENT_START:end]
        sum_ = record_checksum(prev, data)
        tail = b',"prev":null}' if prev is None else b',"prev":"' + prev.encode("ascii") + b'"}'
        yield b'{"checksum":"' + sum_.encode("ascii") + line[87:end] + tail
        prev = sum_


def _read_lines(paths: list[str], name: str, allow_torn_tail: bool = False) -> Iterator[bytes]:
    position = 0
    for index, seg in enumerate(paths):
        with open(seg, "rb") as f:
            carry = b""
            while True:
                block = f.read(BLOCK_BYTES)
                if not block:
                    break
                lines = (carry + block if carry else block).split(b"\n")
                carry = lines.pop()
                position += len(lines)
                yield from lines
                if len(carry) > MAX_LINE_BYTES:  # no record: refused before it is held whole
                    raise UpgradeRefused(
                        name,
                        position,
                        f"{seg}: a line longer than any record ({len(carry):,}+ bytes)",
                    )
            if carry and not (allow_torn_tail and index == len(paths) - 1):
                why = "torn last line" if index == len(paths) - 1 else "segment ends mid-line"
                raise UpgradeRefused(
                    name, None, f"{seg}: {why} ({len(carry)} bytes without a trailing newline)"
                )


def upgrade_log(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
    allow_torn_tail: bool = False,
) -> UpgradeReport:
    """Write the v1 log ``src`` (file or segment directory) as one v2 file ``out``.

    ``allow_torn_tail``: a last line without a newline (a crashed append) is left out.
    """
    src, out = os.fspath(src), os.fspath(out)
    paths = segment_paths(src)
    if not paths:
        raise UpgradeRefused(src, None, "the log is empty")
    # a fresh name (O_EXCL): never a file that is there already, the input included
    tmp = f"{out}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    count = written = 0
    old_head: str | None = None
    new_head: str | None = None
    try:
        with open(fd, "wb") as fh:
            buf: list[bytes] = []
            size = 0
            last: list[bytes] = [b""]

            def tracking(lines: Iterator[bytes]) -> Iterator[bytes]:
                for line in lines:  # remember the last input line: its checksum is the v1 head
                    last[0] = line
                    yield line

            for line in upgrade_lines(tracking(_read_lines(paths, src, allow_torn_tail)), src):
                buf.append(line)
                buf.append(b"\n")
                size += len(line) + 1
                count += 1
                new_head = line[13:87].decode("ascii")
                if size >= BLOCK_BYTES:
                    fh.write(b"".join(buf))
                    written += size
                    buf, size = [], 0
                    if progress is not None:
                        progress(count)
            fh.write(b"".join(buf))
            written += size
            fh.flush()
            os.fsync(fh.fileno())
        old_head = last[0][13:87].decode("ascii") if count else None
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return UpgradeReport(count, old_head, new_head, written)
