"""The browser event store: IndexedDB (web/js/idb-store.mjs) behind the store port.

Why IndexedDB (not OPFS): see web/js/idb-store.mjs. In short, one readwrite
transaction writes every line of a batch plus the head record atomically, with
"strict" durability (acknowledged = flushed), on the main thread and in
workers, and IDB serializes readwrite transactions across tabs, so the
expected-head and fencing checks inside that transaction make concurrent tabs
safe. OPFS sync handles are worker-only and exclusive per file.

Shape: ``BrowserStore`` is a ``LineStore`` (the port's rules -- fencing,
idempotency, cursors, heads -- are the shared ones of the memory and NDJSON
adapters) over the lines in IndexedDB, whose head it keeps in step by
``pull()``. Writes go through ``append_async``: pull, run the shared append
logic with the write deferred, then one IDB transaction that re-checks head
and token and writes; if IDB refuses (another tab got there first, a newer
token, quota) what the shared logic noted is forgotten and the error raised.

Async and sync: ``open_async``/``pull``/``append_async`` are plain awaits and
work in any browser. The synchronous port (``append``, and reads: they
fetch lines, and first pull what other tabs wrote) waits with
``_bridge.blocking`` (JSPI ``run_sync``): Chromium, entered through a promising
entry point. A store opened with ``open_async`` does not pull on reads (they
answer as of the head of the last ``await pull()``); one opened with ``open``
does.

Errors: ``StoreMissing`` when the log is not there (never an empty schema):
opened without ``create``, the marker record gone (evicted, deleted by another
tab, site data cleared), the log shorter than ``expect_position`` or than what
this store already saw, or recreated under us (another instance id).
``StoreQuotaExceeded`` when the browser refuses the write for quota; nothing of
the batch is stored.

Memory: the store never holds the log. It keeps the head (count, checksum,
fence) from IDB's head record, the compact id index of ``LineStore`` once an
append or a membership test needs it (8 bytes a record), and a bounded set of
recently read lines. ``iter_raw`` streams from IDB: lines come across the
bridge in pieces of about 1 MiB as one UTF-8 ``Uint8Array`` (``readBytes``),
copied into Python once (``to_bytes``, the proxy dropped at once) and split;
a chunk is filled from pieces and yielded, so the Python heap holds one chunk
plus one piece (a 32 MiB budget: ~33 MiB of lines, whatever the log's length).

Reads that need lines (``iter_raw``, ``read``, ids) wait for IDB with
``blocking`` (JSPI), as the synchronous port does; ``append_async`` reads what
the shared append logic will look at (the id index, the stored lines its
candidate ids point to) with plain awaits first, so it never blocks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from schemalog.browser.bridge import blocking, import_module, js_error_info, js_object
from schemalog.log.store.base import IdScan, LineStore, line_checksum, line_parents
from schemalog.log.store.errors import (
    AppendConflict,
    FencedOut,
    RecordTooLarge,
    StoreError,
    StoreMissing,
    StoreQuotaExceeded,
)
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, Head, RawChunk
from schemalog.model.events import Event

__all__ = ["IDB_STORE_MODULE_URL", "BrowserStore", "StoreQuotaExceeded"]

IDB_STORE_MODULE_URL = "/web/js/idb-store.mjs"
_PIECE_BYTES = 1024 * 1024  # lines per bridge crossing of iter_raw: about this many bytes
_FIRST_PIECE_LINES = 256  # before a line size is known
_BLOCK_LINES = 64  # a single line read brings its neighbours along
_HELD_MAX = 4096  # recently read lines kept (the oldest half goes when full)


class BrowserStore(LineStore):
    """One event log in IndexedDB. Open with ``BrowserStore.open_async`` or ``open``."""

    def __init__(self, log: Any, name: str, info: Any, *, auto_pull: bool) -> None:
        super().__init__()
        self._log = log
        self.log_name = name
        self.name = f"indexeddb:{name}"
        self._instance = str(info.instance)
        self._stored = 0  # records in IDB as of the last pull or own append
        self._head_sum: str | None = None  # checksum of record _stored - 1
        self._held: dict[int, bytes] = {}  # recently read lines, bounded (_HELD_MAX)
        self._auto_pull = auto_pull
        self._deferred: list[bytes] | None = None
        self._deferred_fence: int | None = None
        self._in_append = False  # the shared append logic runs: no blocking reads
        self._seen_fence(info.fence)

    # ------------------------------------------------ opening

    @classmethod
    async def open_async(
        cls,
        name: str,
        *,
        create: bool = True,
        expect_position: int = 0,
        durability: str = "strict",
        module_url: str = IDB_STORE_MODULE_URL,
        auto_pull: bool = False,
        remember: bool = False,
    ) -> BrowserStore:
        """Open (or create) log ``name``. ``expect_position``: records the caller
        knows the log had (its last known head); fewer, or no log, is StoreMissing.
        ``remember``: this browser remembers the log (instance, records seen); once
        remembered, a deleted, evicted, recreated or shorter log is StoreMissing,
        never created again empty (``delete_async`` is the explicit way to start over)."""
        module = await import_module(module_url)
        options = {
            "create": create,
            "expectPosition": expect_position,
            "durability": durability,
            "remember": remember,
        }
        try:
            log = await module.openLog(name, js_object(options))
            info = await log.info()
        except Exception as exc:
            raise _translate(exc, name) from exc
        store = cls(log, name, info, auto_pull=auto_pull)
        await store.pull()
        return store

    @classmethod
    def open(cls, name: str, **options: Any) -> BrowserStore:
        """Synchronous open (JSPI); reads pull other tabs' appends first."""
        options.setdefault("auto_pull", True)
        return blocking(cls.open_async(name, **options))

    @staticmethod
    async def delete_async(name: str, module_url: str = IDB_STORE_MODULE_URL) -> None:
        """Delete log ``name`` and forget it (a remembered name may be created again)."""
        module = await import_module(module_url)
        await module.deleteLog(name)

    # ------------------------------------------------ keeping in step with IDB

    async def pull(self) -> int:
        """Pick up the head others appended to; returns how many new records there are.

        Only the head record is read: lines stay in IDB until something reads them."""
        self._check_open()
        try:
            info = await self._log.info()
        except Exception as exc:
            raise _translate(exc, self.log_name) from exc
        if str(info.instance) != self._instance:
            raise StoreMissing(f"{self.name} (recreated under us: another instance)")
        count = int(info.count)
        have = self._stored
        if count < have:
            raise StoreMissing(f"{self.name} (the log has {count} records, {have} were seen)")
        if count != have:
            checksum = _plain(info.checksum)
            self._stored, self._head_sum = count, None if checksum is None else str(checksum)
        self._seen_fence(info.fence)
        return count - have

    def _seen_fence(self, fence: Any) -> None:
        if fence is not None and type(fence).__name__ != "JsNull":
            token = int(fence)
            if self._fence is None or token > self._fence:
                self._fence = token

    # ------------------------------------------------ reading lines from IDB

    async def _read_async(self, start: int, stop: int) -> list[bytes]:
        """Stored lines [start, stop), one bridge crossing."""
        if stop <= start:
            return []
        return await self._fetch(self._log.readBytes(start, stop), stop - start)

    async def _read_at_async(self, positions: list[int]) -> list[bytes]:
        if not positions:
            return []
        return await self._fetch(self._log.readAt(json.dumps(positions)), len(positions))

    async def _fetch(self, request: Any, expected: int) -> list[bytes]:
        try:
            proxy = await request
        except Exception as exc:
            raise _translate(exc, self.log_name) from exc
        data: bytes = proxy.to_bytes()  # the one copy into the Python heap
        del proxy  # its JS reference goes with it; the Uint8Array is JS garbage now
        lines = data.split(b"\n")
        del data
        if len(lines) != expected:
            raise StoreError(
                f"{self.name}: IndexedDB returned {len(lines)} lines where {expected} "
                "were asked for (a stored record holds a newline?)"
            )
        return lines

    async def _pieces_async(self, start: int, stop: int) -> AsyncIterator[list[bytes]]:
        """Stored lines [start, stop) in pieces of about _PIECE_BYTES."""
        pos, step = start, _FIRST_PIECE_LINES
        while pos < stop:
            lines = await self._read_async(pos, min(stop, pos + step))
            pos += len(lines)
            step = _piece_lines(lines)
            yield lines
            del lines

    def _pieces(self, start: int, stop: int) -> Iterator[list[bytes]]:
        """Blocking twin of ``_pieces_async``: one JSPI wait per piece."""
        pos, step = start, _FIRST_PIECE_LINES
        while pos < stop:
            lines = self._read_blocking(pos, min(stop, pos + step))
            pos += len(lines)
            step = _piece_lines(lines)
            yield lines
            del lines

    def _read_blocking(self, start: int, stop: int) -> list[bytes]:
        if self._in_append:
            raise AssertionError(
                f"{self.name}: append_async needed records {start}..{stop - 1}, "
                "which it had not fetched beforehand"
            )
        lines: list[bytes] = blocking(self._read_async(start, stop))
        return lines

    def _hold(self, positions: list[int], lines: list[bytes]) -> None:
        held = self._held
        if len(held) + len(positions) > _HELD_MAX and not self._in_append:
            for key in list(held)[: len(held) // 2 + len(positions)]:
                del held[key]
        held.update(zip(positions, lines, strict=True))

    async def _hold_async(self, positions: set[int]) -> None:
        """Fetch the stored lines at ``positions`` that are not held yet."""
        wanted = sorted(p for p in positions if p < self._stored and p not in self._held)
        for i in range(0, len(wanted), _HELD_MAX // 4):
            part = wanted[i : i + _HELD_MAX // 4]
            self._hold(part, await self._read_at_async(part))

    # ------------------------------------------------ LineStore primitives

    def _count(self) -> int:
        return self._stored + len(self._deferred or ())

    def _lines(self, start: int, stop: int) -> list[bytes]:
        stop = min(stop, self._count())
        if start >= stop:
            return []
        mid = min(stop, self._stored)
        out: list[bytes] = []
        if start < mid:
            held = self._held
            if all(p in held for p in range(start, mid)):
                out = [held[p] for p in range(start, mid)]
            else:
                out = self._read_blocking(start, mid)
        if stop > self._stored and self._deferred:
            first = max(start, self._stored) - self._stored
            out.extend(self._deferred[first : stop - self._stored])
        return out

    def _line(self, position: int) -> bytes:
        line = self._held.get(position)
        if line is not None:
            return line
        if position >= self._stored:
            return self._lines(position, position + 1)[0]
        # neighbours are read together (a cursor's record, a parent near the head)
        first = position - position % _BLOCK_LINES
        last = min(self._stored, first + _BLOCK_LINES)
        lines = self._read_blocking(first, last)
        self._hold(list(range(first, last)), lines)
        line = lines[position - first]
        return line

    def _last_checksum(self) -> str | None:
        if self._deferred:
            return line_checksum(self._deferred[-1])
        return self._head_sum

    def _refresh(self) -> None:
        if self._deferred is None and self._auto_pull:
            blocking(self.pull())

    def _write(self, lines: list[bytes]) -> None:
        if self._deferred is None:
            raise AssertionError("BrowserStore writes only through append_async")
        self._deferred.extend(lines)

    def _save_fence(self, token: int) -> None:
        self._deferred_fence = token

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]:
        """Streams from IDB: one chunk plus one piece in memory (module doc, Memory)."""
        self._check_open()
        self._refresh()
        stop = self._stored
        pos = max(start, 0)
        lines: list[bytes] = []
        nbytes = 0
        for piece in self._pieces(pos, stop):
            for line in piece:
                size = len(line) + 1
                if nbytes + size > max_chunk_bytes:
                    if not lines:
                        raise RecordTooLarge(pos, size, max_chunk_bytes)
                    yield RawChunk(pos, lines, nbytes)
                    pos += len(lines)
                    lines, nbytes = [], 0
                    if size > max_chunk_bytes:
                        raise RecordTooLarge(pos, size, max_chunk_bytes)
                lines.append(line)
                nbytes += size
            del piece
        if lines:
            yield RawChunk(pos, lines, nbytes)

    # ------------------------------------------------ append

    async def _prepare_append(self, events: Sequence[Event]) -> None:
        """Everything the shared append logic reads, fetched with awaits (no JSPI)."""
        if self._ids is None:
            await self._index_async()
        elif self._indexed < self._stored:
            await self._catch_up_async()
        ids = self._ids
        assert ids is not None
        wanted: set[int] = set()
        for event in events:
            if type(event) is not Event:
                continue  # the shared logic raises the TypeError
            for name in (event.id, *event.parents):
                if name.isascii():
                    wanted.update(ids.candidates(name.encode("ascii")))
        await self._hold_async(wanted)

    async def _index_async(self) -> None:
        """``LineStore._ensure_ids`` with awaited reads."""
        scan = IdScan(self._corrupt)
        async for piece in self._pieces_async(0, self._stored):
            scan.feed(piece)
        index = scan.index()
        self._ids, self._indexed, self._heads = index, scan.pos, scan.heads
        missing: set[bytes] = set()
        names = sorted(scan.referenced)
        for i in range(0, len(names), _HELD_MAX // 4):
            part = names[i : i + _HELD_MAX // 4]
            await self._hold_async({p for n in part for p in index.candidates(n)})
            missing.update(n for n in part if self._find(n) is None)
        self._missing = missing

    async def _catch_up_async(self) -> None:
        """``LineStore._catch_up_ids`` with awaited reads."""
        ids = self._ids
        assert ids is not None
        async for piece in self._pieces_async(self._indexed, self._stored):
            first = self._indexed
            self._hold(list(range(first, first + len(piece))), piece)
            wanted: set[int] = set()
            for line in piece:
                for parent in line_parents(line):
                    wanted.update(ids.candidates(parent))
            await self._hold_async(wanted)
            for i, line in enumerate(piece, first):
                self._note(line, i)

    async def append_async(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head:
        """The port's append, atomic across tabs (one IDB transaction)."""
        self._check_open()
        await self.pull()
        events = list(events)
        await self._prepare_append(events)
        before = (self._stored, self._head_sum, self._fence)
        self._deferred, self._deferred_fence = [], None
        self._in_append = True
        try:
            head = LineStore.append(self, events, expected=expected, fencing_token=fencing_token)
            lines, new_fence = self._deferred, self._deferred_fence
        finally:
            self._deferred = None
            self._in_append = False
        if not lines and new_fence is None:
            return head
        request = {
            "expectedCount": before[0],
            "expectedChecksum": before[1],
            "token": fencing_token,
            "lines": "\n".join(line.decode("utf-8") for line in lines),
            "checksum": head.checksum if lines else None,
        }
        try:
            await self._log.append(js_object(request))
        except Exception as exc:
            # IDB refused: forget the token and the ids the shared logic noted.
            self._fence = before[2]
            self._ids = None
            raise _translate(exc, self.log_name) from exc
        if lines:
            self._hold(list(range(before[0], before[0] + len(lines))), lines)
            self._stored, self._head_sum = before[0] + len(lines), head.checksum
        return head

    def append(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head:
        return blocking(self.append_async(events, expected=expected, fencing_token=fencing_token))

    # ------------------------------------------------ the rest

    async def storage(self) -> dict[str, Any]:
        """``{usage, quota, persisted}`` of this origin's storage."""
        raw = await self._log.storage()
        return {k: _plain(getattr(raw, k)) for k in ("usage", "quota", "persisted")}

    def close(self) -> None:
        if not self._closed:
            self._log.close()
        super().close()


def _piece_lines(lines: list[bytes]) -> int:
    """Lines in the next piece: about _PIECE_BYTES at this piece's line size."""
    if not lines:
        return _FIRST_PIECE_LINES
    mean = max(1, sum(map(len, lines)) // len(lines) + 1)
    return max(64, min(65536, _PIECE_BYTES // mean))


def _plain(value: Any) -> Any:
    return None if value is None or type(value).__name__ == "JsNull" else value


def _translate(exc: BaseException, store: str) -> StoreError:
    info = js_error_info(exc)
    name, message = info["name"], info["message"]
    if name == "StoreMissing":
        return StoreMissing(f"indexeddb:{store} ({info.get('reason', message)})")
    if name == "FencedOut":
        token = info.get("token")
        return FencedOut(None if token is None else int(token), int(info["newest"]))
    if name == "AppendConflict":
        return AppendConflict(info.get("expected"), info.get("actual"))
    if name == "StoreQuotaExceeded":
        usage, quota = info.get("usage"), info.get("quota")
        return StoreQuotaExceeded(
            store,
            None if usage is None else int(usage),
            None if quota is None else int(quota),
            message,
        )
    return StoreError(f"{name}: {message}")
