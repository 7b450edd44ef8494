"""Our own tables on PostgreSQL: created and migrated by the store, versioned.

Portable SQL only (PostgreSQL, and the subset CockroachDB and YugabyteDB
share with it): plain tables, primary and unique keys, ``INSERT ... ON
CONFLICT DO NOTHING`` and row locks (``SELECT ... FOR UPDATE``); no advisory
locks, no LOCK TABLE, no stored procedures.

* ``schemalog_meta``: one row ``('schema', version)``; its row lock
  serializes concurrent migrators (every process that opens a store runs
  ``ensure_schema``). A database whose version is newer than this code knows
  is refused (``SchemaTooNew``), never written. A database already at
  ``SCHEMA_VERSION`` is only read, so a read-only server (a hot standby)
  opens; one that would need a write there is ``StoreReadOnly``.
* ``schemalog_logs``: one row per log: record count, head checksum, the
  newest fencing token any append carried. Every append locks this row.
* ``schemalog_records``: primary key (log, seq); a record's event id and
  checksum are unique within its log; ``line`` is the canonical record bytes.
* ``schemalog_leases``: one row per leased resource, with its token counter
  (never goes back, also across releases).
"""

from __future__ import annotations

from typing import Any

from schemalog.log.store.errors import StoreError, StoreReadOnly

__all__ = ["READ_ONLY_SERVER", "SCHEMA_VERSION", "SchemaTooNew", "ensure_schema", "retrying"]

_META = (
    "CREATE TABLE IF NOT EXISTS schemalog_meta (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)

# MIGRATIONS[i] takes the schema from version i to i + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE schemalog_logs (
            log TEXT PRIMARY KEY,
            count BIGINT NOT NULL DEFAULT 0,
            head TEXT,
            fence BIGINT
        )""",
        """CREATE TABLE schemalog_records (
            log TEXT NOT NULL REFERENCES schemalog_logs (log),
            seq BIGINT NOT NULL,
            event_id TEXT NOT NULL,
            checksum TEXT NOT NULL,
            line BYTEA NOT NULL,
            PRIMARY KEY (log, seq),
            UNIQUE (log, event_id),
            UNIQUE (log, checksum)
        )""",
        """CREATE TABLE schemalog_leases (
            resource TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token BIGINT NOT NULL,
            since_ms BIGINT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            ttl_ms BIGINT NOT NULL,
            released BOOLEAN NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# StoreReadOnly's reason when the server refuses a write (ReadOnlySqlTransaction)
READ_ONLY_SERVER = (
    "the PostgreSQL server takes no writes (a hot standby, or default_transaction_read_only "
    "on); write through the primary"
)


class SchemaTooNew(StoreError):
    """The database holds our tables at a version this code does not know."""

    def __init__(self, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(
            f"the database's schemalog tables are at version {found}; this schemalog knows "
            f"versions up to {known}: upgrade schemalog"
        )


def retrying(conn: Any, work: Any, attempts: int = 8) -> Any:
    """Run ``work(cursor)`` in a transaction, again on a serialization failure or a
    unique violation from a concurrent creator (engines with SERIALIZABLE default)."""
    import psycopg.errors

    for attempt in range(attempts):
        try:
            with conn.transaction(), conn.cursor() as cur:
                return work(cur)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _version(conn: Any) -> int | None:
    """The version our tables are at (None: no tables), by reads only."""
    import psycopg.errors

    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT version FROM schemalog_meta WHERE name = 'schema'")
            row = cur.fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else int(row[0])


def ensure_schema(conn: Any, where: str = "the database") -> int:
    """Create or migrate our tables to SCHEMA_VERSION; returns the version found before.

    Tables already at SCHEMA_VERSION are only read (a hot standby opens); a
    needed write on a read-only server is StoreReadOnly naming ``where``."""
    import psycopg.errors

    found = _version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaTooNew(found, SCHEMA_VERSION)
    if found == SCHEMA_VERSION:
        return found
    try:
        return _create_or_migrate(conn)
    except psycopg.errors.ReadOnlySqlTransaction:
        state = "missing" if found is None else f"at version {found} of {SCHEMA_VERSION}"
        raise StoreReadOnly(
            where, f"its schemalog tables are {state}; {READ_ONLY_SERVER}"
        ) from None


def _create_or_migrate(conn: Any) -> int:
    import psycopg.errors

    for attempt in range(8):  # CREATE TABLE IF NOT EXISTS races with itself
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(_META)
                cur.execute(
                    "INSERT INTO schemalog_meta (name, version) VALUES ('schema', 0) "
                    "ON CONFLICT DO NOTHING"
                )
            break
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
            if attempt == 7:
                raise

    def migrate(cur: Any) -> int:
        cur.execute("SELECT version FROM schemalog_meta WHERE name = 'schema' FOR UPDATE")
        found = int(cur.fetchone()[0])
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(found, SCHEMA_VERSION)
        for step in MIGRATIONS[found:]:
            for statement in step:
                cur.execute(statement)
        if found < SCHEMA_VERSION:
            cur.execute(
                "UPDATE schemalog_meta SET version = %s WHERE name = 'schema'", (SCHEMA_VERSION,)
            )
        return found

    return int(retrying(conn, migrate))
