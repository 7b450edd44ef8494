"""A PostgreSQL hot standby serves reads only, and says so when asked to write.

A real primary and a real standby streaming from it (tests/pg_server.py:
``pg_basebackup -R``), started for this module. Readers on other machines
point at a replica: the store opens there without a write (its tables are
only read when at the current version), replays what the primary wrote, and
an append, a new log, a lease or tables that would need creating there are
``StoreReadOnly`` naming the store and why -- never psycopg's own error, and
nothing written anywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from pg_server import PgServer
from schemalog.log.lease.postgres import PostgresLeaseStore
from schemalog.log.replay import replay
from schemalog.log.store import StoreMissing, StoreReadOnly
from schemalog.log.store.http import HttpStore
from schemalog.log.store.postgres import PostgresStore
from served import Service
from store_contract import events, read_all

_EVENTS = events(60, origins=2, seed=5)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PgServer, PgServer]]:
    primary = PgServer.start()
    try:
        with PostgresStore.open(f"{primary.url}?log=main", create=True) as store:
            store.append(_EVENTS[:50], expected=None)
        with psycopg.connect(primary.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE empty")  # a database without our tables
        standby = primary.standby()
        try:
            yield primary, standby
        finally:
            standby.stop()
    finally:
        primary.stop()


def _state(primary: PgServer, standby: PgServer) -> list[object]:
    """What both servers hold of the log (count, head, every line)."""
    standby.caught_up(primary)
    out: list[object] = []
    for server in (primary, standby):
        with PostgresStore.open(f"{server.url}?log=main") as store:
            out.append((store.head(), store.heads(), read_all(store)))
    return out


def test_a_standby_opens_a_log_and_replays_what_the_primary_wrote(
    servers: tuple[PgServer, PgServer],
) -> None:
    primary, standby = servers
    standby.caught_up(primary)
    with (
        PostgresStore.open(f"{primary.url}?log=main") as on_primary,
        PostgresStore.open(f"{standby.url}?log=main", create=True) as on_standby,
    ):
        assert read_all(on_standby) == _EVENTS[:50] == read_all(on_primary)
        assert on_standby.head() == on_primary.head()
        a, b = replay(on_primary), replay(on_standby)
        assert b.ok and b.position == 50 and b.state_hash == a.state_hash


def test_an_append_on_a_standby_is_refused_and_writes_nothing(
    servers: tuple[PgServer, PgServer],
) -> None:
    primary, standby = servers
    before = _state(primary, standby)
    with PostgresStore.open(f"{standby.url}?log=main") as store:
        head = store.head()
        with pytest.raises(StoreReadOnly) as refused:
            store.append(_EVENTS[50:], expected=head.checksum)
        with pytest.raises(StoreReadOnly):
            store.append(_EVENTS[50:], expected=head.checksum, fencing_token=9)
    assert "log=main" in str(refused.value) and "hot standby" in str(refused.value)
    assert _state(primary, standby) == before


def test_a_log_or_tables_missing_on_a_standby_are_not_created_there(
    servers: tuple[PgServer, PgServer],
) -> None:
    primary, standby = servers
    log = "n" + uuid.uuid4().hex[:12]
    with pytest.raises(StoreReadOnly, match=r"the log does not exist; .*hot standby"):
        PostgresStore.open(f"{standby.url}?log={log}", create=True)
    with pytest.raises(StoreMissing):
        PostgresStore.open(f"{standby.url}?log={log}")
    empty = standby.url.rsplit("/", 1)[0] + "/empty"
    with pytest.raises(StoreReadOnly, match=r"schemalog tables are missing; .*hot standby"):
        PostgresStore.open(f"{empty}?log=main", create=True)
    with psycopg.connect(primary.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM schemalog_logs").fetchone() == (1,)


def test_a_lease_on_a_standby_is_refused(servers: tuple[PgServer, PgServer]) -> None:
    primary, standby = servers
    leases = PostgresLeaseStore(standby.url)
    try:
        with pytest.raises(StoreReadOnly, match=r"\(leases\) is read-only: a lease is a write"):
            leases.acquire("main", "reader", 5_000)
    finally:
        leases.close()
    with psycopg.connect(primary.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM schemalog_leases").fetchone() == (0,)


def test_the_service_on_a_standby_serves_reads_and_refuses_appends(
    servers: tuple[PgServer, PgServer],
) -> None:
    primary, standby = servers
    before = _state(primary, standby)
    service = Service(standby.url).start()
    try:
        with HttpStore.open(service.log_url("main")) as store:
            assert read_all(store) == _EVENTS[:50]
            with pytest.raises(StoreReadOnly, match="hot standby"):
                store.append(_EVENTS[50:], expected=store.head().checksum)
        reply = httpx.post(service.log_url("main") + "/lease", json={"holder": "w", "ttl_ms": 5000})
        assert (reply.status_code, reply.json()["error"]) == (503, "read_only")
    finally:
        service.stop()
    assert _state(primary, standby) == before
