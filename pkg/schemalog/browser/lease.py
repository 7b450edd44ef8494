"""The lease lock in the browser: Web Locks + an IndexedDB fencing counter
(web/js/web-lease.mjs), behind the lease port of ``schemalog.log.lease.port``.

Async first (``acquire_async``...), with the synchronous port
(``acquire``/``renew``/``release``) through ``_bridge.blocking`` (JSPI), as the
other browser adapters. What the port's rules become here:

* The lock is a Web Lock named ``schemalog:<resource>``: the browser releases
  it when the holding tab closes or crashes; a holder that stops renewing past
  its TTL is taken over (``steal``). ``acquire(..., steal=True)`` takes it at
  once (an operator's override).
* The fencing token is an IndexedDB counter per resource, incremented while
  holding the lock: it rises monotonically across tabs and releases.
* Fencing is part of acquiring: ``acquire(..., fence=log)`` raises the log's
  newest token to the new lease's in the same step (before the lease is
  returned), so the previous holder's next append fails with ``FencedOut``
  even if it never noticed the steal. A steal without ``fence`` is refused
  (``StealNeedsFence``): the lease API cannot steal without fencing. A holder
  whose lock is taken from under it (even by a plain
  ``navigator.locks.request(..., {steal: true})`` that brings no token)
  raises the log's fence past its own token: it fences itself out.
  ``fence_store(store, lease)`` (an empty append) remains for stores that are
  not IndexedDB logs.
"""

from __future__ import annotations

from typing import Any

from schemalog.browser.bridge import blocking, import_module, js_error_info
from schemalog.errors import SchemalogError
from schemalog.log.lease.port import Lease, LeaseHeld, LeaseLost, check_ttl
from schemalog.log.store.port import EventStore, Head
from schemalog.model.names import validate_token

__all__ = ["WEB_LEASE_MODULE_URL", "BrowserLeaseStore", "StealNeedsFence", "fence_store"]

WEB_LEASE_MODULE_URL = "/web/js/web-lease.mjs"


class StealNeedsFence(SchemalogError):
    """A steal was asked without the log whose fence the new token must raise."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(
            f"stealing the lease on {resource!r} needs fence=<the event log>: without "
            "raising its fence the old holder could still append"
        )


def _log_name(fence: Any) -> str | None:
    if fence is None:
        return None
    return str(getattr(fence, "log_name", fence))  # a BrowserStore or a log name


class BrowserLeaseStore:
    """Leases across the tabs of one origin. Make one with ``await BrowserLeaseStore.load()``."""

    def __init__(self, module: Any) -> None:
        self._js = module

    @classmethod
    async def load(cls, module_url: str = WEB_LEASE_MODULE_URL) -> BrowserLeaseStore:
        return cls(await import_module(module_url))

    # ------------------------------------------------ async

    async def acquire_async(
        self, resource: str, holder: str, ttl_ms: int, *, steal: bool = False, fence: Any = None
    ) -> Lease:
        """``fence``: the event log (a ``BrowserStore`` or its name) whose fence the new
        token raises before this returns; required to steal (module docstring)."""
        validate_token(resource, "resource")
        validate_token(holder, "holder")
        check_ttl(ttl_ms)
        log = _log_name(fence)
        if steal and log is None:
            raise StealNeedsFence(resource)
        from schemalog.browser.bridge import js_object

        try:
            raw = await self._js.acquire(
                resource, holder, ttl_ms, js_object({"steal": steal, "fenceLog": log})
            )
        except Exception as exc:
            raise _translate(exc, resource, holder, 0) from exc
        return Lease(resource, holder, int(raw.token), int(raw.expiresAtMs))

    async def renew_async(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        if ttl_ms is not None:
            check_ttl(ttl_ms)
        try:
            raw = await self._js.renew(lease.resource, lease.holder, lease.token, ttl_ms)
        except Exception as exc:
            raise _translate(exc, lease.resource, lease.holder, lease.token, lease) from exc
        return Lease(lease.resource, lease.holder, lease.token, int(raw.expiresAtMs))

    async def release_async(self, lease: Lease) -> None:
        await self._js.release(lease.resource, lease.token)

    def lost_reason(self, lease: Lease) -> str | None:
        """Why this tab lost ``lease`` (stolen), or None while it holds it."""
        reason = self._js.lostReason(lease.resource)
        return None if reason is None or type(reason).__name__ == "JsNull" else str(reason)

    # ------------------------------------------------ the synchronous port (JSPI)

    def acquire(
        self, resource: str, holder: str, ttl_ms: int, *, steal: bool = False, fence: Any = None
    ) -> Lease:
        return blocking(self.acquire_async(resource, holder, ttl_ms, steal=steal, fence=fence))

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        return blocking(self.renew_async(lease, ttl_ms))

    def release(self, lease: Lease) -> None:
        blocking(self.release_async(lease))


def fence_store(store: EventStore, lease: Lease) -> Head:
    """Raise ``store``'s newest fencing token to ``lease.token`` (an empty append):
    from now on the previous holder's appends are FencedOut."""
    return store.append([], expected=None, fencing_token=lease.token)


def _translate(
    exc: BaseException, resource: str, holder: str, token: int, lease: Lease | None = None
) -> Exception:
    info = js_error_info(exc)
    if info["name"] == "LeaseHeld":
        return LeaseHeld(resource, str(info.get("holder", "?")), 0, 0)
    if info["name"] == "StealNeedsFence":
        return StealNeedsFence(resource)
    if info["name"] == "LeaseLost":
        return LeaseLost(lease or Lease(resource, holder, token, 0), str(info.get("reason", "")))
    return RuntimeError(f"{info['name']}: {info['message']}")
