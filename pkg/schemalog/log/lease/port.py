"""Lease lock port and its in-memory adapter.

A lease gives one holder the right to append to a resource (a log) until
``expires_at_ms``. Every grant carries a fencing token that rises
monotonically per resource (never reused, also across releases), and the
event store refuses an append whose token is older than the newest it has
seen -- so a holder that paused past its lease and wakes up is fenced out even
if it still believes it holds the lease.

Expiry is judged by the lease store's clock (the injected ``now_ms``), never
by the holder's: a holder with a skewed or paused clock cannot extend its own
lease. A lease whose holder died is simply not renewed and expires by itself;
until then ``acquire`` raises LeaseHeld naming the holder and since when.

Rules:
* ``acquire(resource, holder, ttl_ms)``: granted when the resource is free or
  its lease expired (``now >= expires_at_ms``) -- also to the same holder, who
  then gets a NEW token (a restarted process must not share the old epoch).
* ``renew(lease)``: extends the current lease (same token) if it is still the
  current, unexpired grant; otherwise raises LeaseLost.
* ``release(lease)``: frees the resource if ``lease`` is the current grant;
  releasing an expired or superseded lease is a no-op (nothing to free).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from schemalog.errors import SchemalogError
from schemalog.model.names import validate_token

__all__ = [
    "Lease",
    "LeaseFileCorrupt",
    "LeaseHeld",
    "LeaseLost",
    "LeaseStore",
    "MemoryLeaseStore",
    "check_ttl",
]

MAX_TTL_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Lease:
    resource: str
    holder: str
    token: int
    expires_at_ms: int


class LeaseHeld(SchemalogError):
    """The resource is leased to ``holder`` since ``since_ms`` until ``expires_at_ms``."""

    def __init__(self, resource: str, holder: str, since_ms: int, expires_at_ms: int) -> None:
        self.resource = resource
        self.holder = holder
        self.since_ms = since_ms
        self.expires_at_ms = expires_at_ms
        super().__init__(
            f"{resource} is leased to {holder} since {since_ms} ms until {expires_at_ms} ms"
        )


class LeaseLost(SchemalogError):
    """``lease`` is no longer the current grant (expired, released or superseded)."""

    def __init__(self, lease: Lease, reason: str) -> None:
        self.lease = lease
        self.reason = reason
        super().__init__(
            f"lease on {lease.resource} by {lease.holder} (token {lease.token}) is lost: {reason}"
        )


class LeaseFileCorrupt(SchemalogError):
    """A lease (or lock) file that is not what the lease store writes: never a grant.

    Nothing is granted, renewed or released on the resource until a person
    looks at ``path`` (``reason`` says what is wrong with it).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"lease file {path}: {reason}")


class LeaseStore(Protocol):
    def acquire(self, resource: str, holder: str, ttl_ms: int) -> Lease: ...

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease: ...

    def release(self, lease: Lease) -> None: ...


def check_ttl(ttl_ms: object) -> int:
    if type(ttl_ms) is not int or not 1 <= ttl_ms <= MAX_TTL_MS:
        raise ValueError(f"ttl_ms must be an int in 1..{MAX_TTL_MS}, got {ttl_ms!r}")
    return ttl_ms


@dataclass(slots=True)
class Grant:
    holder: str
    token: int
    since_ms: int
    expires_at_ms: int
    ttl_ms: int
    released: bool = False


def decide_acquire(
    grant: Grant | None, last_token: int, resource: str, holder: str, ttl_ms: int, now: int
) -> Grant:
    """Shared rule of the adapters: the new grant, or LeaseHeld."""
    live = grant is not None and not grant.released and now < grant.expires_at_ms
    if live and grant is not None and grant.holder != holder:
        raise LeaseHeld(resource, grant.holder, grant.since_ms, grant.expires_at_ms)
    return Grant(holder, last_token + 1, now, now + ttl_ms, ttl_ms)


def decide_renew(grant: Grant | None, lease: Lease, ttl_ms: int | None, now: int) -> Grant:
    if grant is None or grant.token != lease.token or grant.holder != lease.holder:
        raise LeaseLost(lease, "superseded by a newer grant")
    if grant.released:
        raise LeaseLost(lease, "released")
    if now >= grant.expires_at_ms:
        raise LeaseLost(lease, f"expired at {grant.expires_at_ms} ms (now {now} ms)")
    ttl = grant.ttl_ms if ttl_ms is None else check_ttl(ttl_ms)
    return Grant(grant.holder, grant.token, grant.since_ms, now + ttl, ttl)


class MemoryLeaseStore:
    """Leases in a dict, judged by the injected ``now_ms``."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self._grants: dict[str, Grant] = {}

    def acquire(self, resource: str, holder: str, ttl_ms: int) -> Lease:
        validate_token(resource, "resource")
        validate_token(holder, "holder")
        check_ttl(ttl_ms)
        grant = self._grants.get(resource)
        new = decide_acquire(
            grant, grant.token if grant else 0, resource, holder, ttl_ms, self.now_ms()
        )
        self._grants[resource] = new
        return Lease(resource, holder, new.token, new.expires_at_ms)

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        new = decide_renew(self._grants.get(lease.resource), lease, ttl_ms, self.now_ms())
        self._grants[lease.resource] = new
        return Lease(lease.resource, lease.holder, new.token, new.expires_at_ms)

    def release(self, lease: Lease) -> None:
        grant = self._grants.get(lease.resource)
        if grant is not None and grant.token == lease.token and grant.holder == lease.holder:
            grant.released = True

    def current(self, resource: str) -> Lease | None:
        """The live lease on ``resource`` (None if free or expired)."""
        grant = self._grants.get(resource)
        if grant is None or grant.released or self.now_ms() >= grant.expires_at_ms:
            return None
        return Lease(resource, grant.holder, grant.token, grant.expires_at_ms)
