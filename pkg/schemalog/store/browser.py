"""The browser event store: IndexedDB (web/js/idb-store.mjs) behind the store port.

Why IndexedDB (not OPFS): see web/js/idb-store.mjs. In short, one readwrite
transaction writes every line of a batch plus the head record atomically, with
"strict" durability (acknowledged = flushed), on the main thread and in
workers, and IDB serializes readwrite transactions across tabs, so the
expected-head and fencing checks inside that transaction make concurrent tabs
safe. OPFS sync handles are worker-only and exclusive per file.

Shape: ``BrowserStore`` is a ``LineStore`` (the port's rules -- fencing,
idempotency, cursors, heads -- are the shared ones of the memory and NDJSON
adapters) over a local copy of the lines, kept in step with IndexedDB by
``pull()``. Writes go through ``append_async``: pull, run the shared append
logic against the local copy with the write deferred, then one IDB transaction
that re-checks head and token and writes; if IDB refuses (another tab got
there first, a newer token, quota) the local copy is rolled back and the
error raised.

Async and sync: ``open_async``/``pull``/``append_async`` are plain awaits and
work in any browser. The synchronous port (``append``, and reads that first
pull what other tabs wrote) waits with ``_bridge.blocking`` (JSPI ``run_sync``):
Chromium, entered through a promising entry point. A store opened with
``open_async`` does not pull on reads (they answer as of the last ``await
pull()``); one opened with ``open`` does.

Errors: ``StoreMissing`` when the log is not there (never an empty schema):
opened without ``create``, the marker record gone (evicted, deleted by another
tab, site data cleared), the log shorter than ``expect_position`` or than what
this store already saw, or recreated under us (another instance id).
``StoreQuotaExceeded`` when the browser refuses the write for quota; nothing of
the batch is stored.

Memory: the local copy holds every line (as the memory store does); a log of a
million events is ~0.3-0.5 GB of lines, so streaming ``iter_raw`` straight
from IDB is the next step for very large logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemalog._bridge import blocking, import_module, js_error_info, js_object
from schemalog.events import Event
from schemalog.store.base import LineStore
from schemalog.store.errors import (
    AppendConflict,
    FencedOut,
    StoreError,
    StoreMissing,
    StoreQuotaExceeded,
)
from schemalog.store.port import Head

__all__ = ["IDB_STORE_MODULE_URL", "BrowserStore", "StoreQuotaExceeded"]

IDB_STORE_MODULE_URL = "/web/js/idb-store.mjs"
_PULL_CHUNK = 5000


class BrowserStore(LineStore):
    """One event log in IndexedDB. Open with ``BrowserStore.open_async`` or ``open``."""

    def __init__(self, log: Any, name: str, info: Any, *, auto_pull: bool) -> None:
        super().__init__()
        self._log = log
        self.log_name = name
        self.name = f"indexeddb:{name}"
        self._instance = str(info.instance)
        self._cache: list[bytes] = []
        self._auto_pull = auto_pull
        self._deferred: list[bytes] | None = None
        self._deferred_fence: int | None = None
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
    ) -> BrowserStore:
        """Open (or create) log ``name``. ``expect_position``: records the caller
        knows the log had (its last known head); fewer, or no log, is StoreMissing."""
        module = await import_module(module_url)
        options = {"create": create, "expectPosition": expect_position, "durability": durability}
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
        module = await import_module(module_url)
        await module.deleteLog(name)

    # ------------------------------------------------ keeping in step with IDB

    async def pull(self) -> int:
        """Fetch what others appended; returns how many new records arrived."""
        self._check_open()
        try:
            info = await self._log.info()
        except Exception as exc:
            raise _translate(exc, self.log_name) from exc
        if str(info.instance) != self._instance:
            raise StoreMissing(f"{self.name} (recreated under us: another instance)")
        count = int(info.count)
        have = len(self._cache)
        if count < have:
            raise StoreMissing(f"{self.name} (the log has {count} records, {have} were seen)")
        start = have
        while start < count:
            stop = min(count, start + _PULL_CHUNK)
            try:
                text = await self._log.readLines(start, stop)
            except Exception as exc:
                raise _translate(exc, self.log_name) from exc
            self._cache.extend(line.encode("utf-8") for line in str(text).split("\n"))
            start = stop
        self._seen_fence(info.fence)
        return count - have

    def _seen_fence(self, fence: Any) -> None:
        if fence is not None and type(fence).__name__ != "JsNull":
            token = int(fence)
            if self._fence is None or token > self._fence:
                self._fence = token

    # ------------------------------------------------ LineStore primitives

    def _count(self) -> int:
        return len(self._cache)

    def _lines(self, start: int, stop: int) -> list[bytes]:
        return self._cache[start:stop]

    def _line(self, position: int) -> bytes:
        return self._cache[position]

    def _refresh(self) -> None:
        if self._deferred is None and self._auto_pull:
            blocking(self.pull())

    def _write(self, lines: list[bytes]) -> None:
        if self._deferred is None:
            raise AssertionError("BrowserStore writes only through append_async")
        self._deferred.extend(lines)
        self._cache.extend(lines)

    def _save_fence(self, token: int) -> None:
        self._deferred_fence = token

    # ------------------------------------------------ append

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
        before = (len(self._cache), self._last_checksum(), self._fence)
        self._deferred, self._deferred_fence = [], None
        try:
            head = LineStore.append(self, events, expected=expected, fencing_token=fencing_token)
            lines, new_fence = self._deferred, self._deferred_fence
        finally:
            self._deferred = None
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
            # IDB refused: forget the lines and the token the shared logic noted.
            del self._cache[before[0] :]
            self._fence = before[2]
            self._ids = None
            raise _translate(exc, self.log_name) from exc
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
