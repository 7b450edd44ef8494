"""Lease on PostgreSQL: one row per resource with its token counter.

Same rules as the memory and file adapters (``port.decide_acquire`` /
``decide_renew``). Every operation is one transaction that locks the
resource's row (``SELECT ... FOR UPDATE``; the row is created first with
``INSERT ... ON CONFLICT DO NOTHING``), decides, and writes the new grant;
the token counter lives in the row and never goes back, also across
releases. Expiry is judged by the DATABASE's clock by default
(``clock_timestamp()``), the one clock every holder on every machine shares;
``now_ms`` can be injected (tests).

The resource of a log's lease is the log's name: ``PostgresStore`` reads the
row's token in its append transaction, so a holder whose lease was taken
over is fenced out at once, before the new holder writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemalog.log.lease.port import Grant, Lease, check_ttl, decide_acquire, decide_renew
from schemalog.log.store.errors import StoreReadOnly
from schemalog.log.store.postgres import connect, redact, split_url
from schemalog.log.store.postgres_schema import READ_ONLY_SERVER, ensure_schema, retrying
from schemalog.model.names import validate_token

__all__ = ["PostgresLeaseStore"]

_NOW = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"


class PostgresLeaseStore:
    def __init__(self, url: str, now_ms: Callable[[], int] | None = None) -> None:
        base = split_url(url)[0]
        self._conn = connect(base)
        self._where = redact(base)
        ensure_schema(self._conn, self._where)
        self.now_ms = now_ms

    def close(self) -> None:
        self._conn.close()

    def _now(self, cur: Any) -> int:
        if self.now_ms is not None:
            return self.now_ms()
        cur.execute(_NOW)
        return int(cur.fetchone()[0])

    def _locked(self, resource: str, decide: Callable[[Any, Grant | None], Grant | None]) -> Grant:
        import psycopg.errors

        validate_token(resource, "resource")

        def work(cur: Any) -> Grant:
            cur.execute(
                "INSERT INTO schemalog_leases "
                "(resource, holder, token, since_ms, expires_at_ms, ttl_ms, released) "
                "VALUES (%s, '', 0, 0, 0, 1, TRUE) ON CONFLICT DO NOTHING",
                (resource,),
            )
            cur.execute(
                "SELECT holder, token, since_ms, expires_at_ms, ttl_ms, released "
                "FROM schemalog_leases WHERE resource = %s FOR UPDATE",
                (resource,),
            )
            holder, token, since, expires, ttl, released = cur.fetchone()
            grant = Grant(holder, int(token), int(since), int(expires), int(ttl), bool(released))
            new = decide(cur, grant if token > 0 else None)
            if new is None:
                return grant
            cur.execute(
                "UPDATE schemalog_leases SET holder = %s, token = %s, since_ms = %s, "
                "expires_at_ms = %s, ttl_ms = %s, released = %s WHERE resource = %s",
                (
                    new.holder,
                    new.token,
                    new.since_ms,
                    new.expires_at_ms,
                    new.ttl_ms,
                    new.released,
                    resource,
                ),
            )
            return new

        try:
            result: Grant = retrying(self._conn, work)
        except psycopg.errors.ReadOnlySqlTransaction:
            raise StoreReadOnly(
                f"{self._where} (leases)", f"a lease is a write; {READ_ONLY_SERVER}"
            ) from None
        return result

    def acquire(self, resource: str, holder: str, ttl_ms: int) -> Lease:
        validate_token(holder, "holder")
        check_ttl(ttl_ms)

        def decide(cur: Any, grant: Grant | None) -> Grant:
            last = grant.token if grant else 0
            return decide_acquire(grant, last, resource, holder, ttl_ms, self._now(cur))

        new = self._locked(resource, decide)
        return Lease(resource, holder, new.token, new.expires_at_ms)

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        new = self._locked(
            lease.resource, lambda cur, grant: decide_renew(grant, lease, ttl_ms, self._now(cur))
        )
        return Lease(lease.resource, lease.holder, new.token, new.expires_at_ms)

    def release(self, lease: Lease) -> None:
        def decide(cur: Any, grant: Grant | None) -> Grant | None:
            if grant is not None and grant.token == lease.token and grant.holder == lease.holder:
                grant.released = True
                return grant
            return None

        self._locked(lease.resource, decide)

    def current(self, resource: str) -> Lease | None:
        """The live lease on ``resource`` (None if free or expired)."""

        def look(cur: Any, grant: Grant | None) -> None:
            return None

        grant = self._locked(resource, look)
        with self._conn.cursor() as cur:
            now = self._now(cur)
        if grant.token == 0 or grant.released or now >= grant.expires_at_ms:
            return None
        return Lease(resource, grant.holder, grant.token, grant.expires_at_ms)
