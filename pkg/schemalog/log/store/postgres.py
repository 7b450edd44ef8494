"""PostgreSQL adapter (psycopg 3): many logs in one database, one row per record.

``PostgresStore.open("postgresql://user@host:5432/db?log=NAME")`` (or
``log=`` as an argument) opens the log NAME, creating our tables on first use
(``postgres_schema``: versioned, migrated by the store itself).

The contract logic (idempotency by id, duplicate detection, cursors, paging,
raw chunks, DAG heads) is the line stores' (``LineStore``): records are the
same canonical lines, so a log copied between adapters is byte for byte the
same. What this adapter adds is the write: ``_write`` runs ONE transaction
that

1. locks the log's row (``SELECT ... FOR UPDATE``), so concurrent appends to
   one log queue here, in any process on any machine;
2. checks the fencing token against the newest token any append carried AND
   the newest token the lease table granted for this log (a holder whose
   lease was taken over is fenced out even before the new holder writes);
3. checks that the log still ends where this writer read it (count and head
   checksum), else AppendConflict;
4. inserts the records (primary key (log, seq), unique id and checksum per
   log: the database refuses a lost update or a second copy even from a
   writer that bypasses this code), moves the head and the fence, and
5. ``pg_notify('schemalog', log)`` when the engine has it -- delivered after
   commit, so a listener never sees a record that could still roll back.

Any failure rolls the transaction back: a failed append leaves the log as it
was. Reads take committed rows below the count read first, which never
change, so cursors and pages stay valid while others append.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from schemalog.log.store.base import LineStore, line_checksum, line_id
from schemalog.log.store.errors import (
    AppendConflict,
    FencedOut,
    StoreClosed,
    StoreMissing,
    StoreReadOnly,
    StoreUnavailable,
)
from schemalog.log.store.port import Head
from schemalog.log.store.postgres_schema import READ_ONLY_SERVER, ensure_schema, retrying
from schemalog.model.events import Event
from schemalog.model.names import validate_token

__all__ = ["NOTIFY_CHANNEL", "PostgresStore", "connect", "split_url"]

NOTIFY_CHANNEL = "schemalog"
_TAIL_CACHE = 4096  # recent lines kept: appends confirm parents among them


def split_url(url: str) -> tuple[str, str | None]:
    """(connection URL without ``log=``, the log name or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    log = next((v for k, v in query if k == "log"), None)
    rest = urlencode([(k, v) for k, v in query if k != "log"])
    return urlunsplit(parts._replace(query=rest)), log


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str) -> Any:
    """An autocommit psycopg connection, or StoreUnavailable naming the server."""
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(
            redact(url), "psycopg is not installed (pip install 'kuzu-schemalog[postgres]')"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreUnavailable(redact(url), str(exc).strip()) from None


def has_notify(conn: Any) -> bool:
    """Whether the engine has pg_notify (PostgreSQL yes; CockroachDB no)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_catalog.pg_proc WHERE proname = 'pg_notify'")
            row = cur.fetchone()
        return bool(row and row[0])
    except Exception:
        return False


class PostgresStore(LineStore):
    """One log (a ``log`` name) in a PostgreSQL database."""

    def __init__(self, conn: Any, url: str, log: str, notify: bool) -> None:
        super().__init__()
        self._conn = conn
        self.url = url
        self.log = log
        self.name = f"{redact(url)}?log={log}"
        self._notify = notify
        self._n = 0
        self._head: str | None = None
        self._tail_start = 0
        self._tail: list[bytes] = []
        self._writing_token: int | None = None
        # called with the new head after each committed append (the sync service)
        self.on_append: Callable[[int], None] | None = None

    @classmethod
    def open(cls, url: str, *, log: str | None = None, create: bool = False) -> PostgresStore:
        """The log (created with ``create``); a read-only server (a hot standby) opens a
        log that exists, for reads: its appends are StoreReadOnly."""
        import psycopg.errors

        base, in_url = split_url(url)
        name = log if log is not None else in_url
        if name is None:
            raise ValueError(f"{redact(url)}: name the log (?log=NAME)")
        validate_token(name, "log")
        conn = connect(base)
        where = f"{redact(base)}?log={name}"
        try:
            ensure_schema(conn, where)
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM schemalog_logs WHERE log = %s", (name,))
                exists = cur.fetchone() is not None
                if not exists and create:  # (a log that exists opens on a read-only server)
                    try:
                        cur.execute(
                            "INSERT INTO schemalog_logs (log) VALUES (%s) ON CONFLICT DO NOTHING",
                            (name,),
                        )
                    except psycopg.errors.ReadOnlySqlTransaction:
                        raise StoreReadOnly(
                            where, f"the log does not exist; {READ_ONLY_SERVER}"
                        ) from None
                    exists = True
                if not exists:
                    raise StoreMissing(where)
            store = cls(conn, base, name, has_notify(conn))
            store._refresh()
        except BaseException:
            conn.close()
            raise
        return store

    # ------------------------------------------------ primitives

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        import psycopg

        if self._closed:
            raise StoreClosed(self.name)
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(self.name, str(exc).strip()) from None

    def _refresh(self) -> None:
        rows = self._query(
            "SELECT count, head, fence FROM schemalog_logs WHERE log = %s", (self.log,)
        )
        if not rows:
            raise StoreMissing(self.name)
        count, head, fence = rows[0]
        self._n, self._head, self._fence = int(count), head, fence

    iter_blocks = LineStore._line_blocks  # (port) one query's rows joined per block

    def _count(self) -> int:
        return self._n

    def _last_checksum(self) -> str | None:
        return self._head

    def _lines(self, start: int, stop: int) -> list[bytes]:
        t0, tail = self._tail_start, self._tail
        if t0 <= start and stop <= t0 + len(tail):
            return tail[start - t0 : stop - t0]
        rows = self._query(
            "SELECT line FROM schemalog_records WHERE log = %s AND seq >= %s AND seq < %s "
            "ORDER BY seq",
            (self.log, start, stop),
        )
        return [bytes(r[0]) for r in rows]

    def _remember(self, start: int, lines: list[bytes]) -> None:
        if self._tail_start + len(self._tail) != start:
            self._tail_start, self._tail = start, []
        self._tail.extend(lines)
        if len(self._tail) > 2 * _TAIL_CACHE:
            drop = len(self._tail) - _TAIL_CACHE
            self._tail_start += drop
            del self._tail[:drop]

    def _save_fence(self, token: int) -> None:
        """Raise the fence (no write follows, or one follows that checks it again)."""
        self._locked(token, [])

    def _write(self, lines: list[bytes]) -> None:
        self._locked(self._writing_token, lines)

    def append(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head:
        # the base checks the token against what this process saw; _write checks it
        # again under the row lock, so it needs the token the base does not pass down
        self._writing_token = fencing_token
        try:
            return super().append(events, expected=expected, fencing_token=fencing_token)
        finally:
            self._writing_token = None

    def _locked(self, token: int | None, lines: list[bytes]) -> None:
        """One transaction: lock the log row, check fence and head, insert, notify."""
        import psycopg

        start, before = self._n, self._head
        rows = []
        prev = before
        for i, line in enumerate(lines, start):
            prev = line_checksum(line)
            rows.append((self.log, i, line_id(line).decode("ascii"), prev, line))

        def work(cur: Any) -> tuple[int, str | None, int | None]:
            cur.execute(
                "SELECT count, head, fence FROM schemalog_logs WHERE log = %s FOR UPDATE",
                (self.log,),
            )
            found = cur.fetchone()
            if found is None:
                raise StoreMissing(self.name)
            count, head, fence = int(found[0]), found[1], found[2]
            cur.execute(
                "SELECT token FROM schemalog_leases WHERE resource = %s AND token > 0",
                (self.log,),
            )
            granted = cur.fetchone()
            newest = max(t for t in (fence, granted[0] if granted else None, 0) if t is not None)
            if fence is not None or granted is not None:
                if token is None:
                    raise FencedOut(None, newest)
                if token < newest:
                    raise FencedOut(token, newest)
            new_fence = fence if token is None or (fence is not None and fence >= token) else token
            if not lines:
                if new_fence != fence:
                    cur.execute(
                        "UPDATE schemalog_logs SET fence = %s WHERE log = %s", (new_fence, self.log)
                    )
                return count, head, new_fence
            if count != start or head != before:
                raise AppendConflict(before, head)
            cur.executemany(
                "INSERT INTO schemalog_records (log, seq, event_id, checksum, line) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
            cur.execute(
                "UPDATE schemalog_logs SET count = %s, head = %s, fence = %s WHERE log = %s",
                (start + len(lines), prev, new_fence, self.log),
            )
            if self._notify:
                cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, self.log))
            return start + len(lines), prev, new_fence

        if self._closed:
            raise StoreClosed(self.name)
        try:
            count, head, fence = retrying(self._conn, work)
        except psycopg.errors.ReadOnlySqlTransaction:
            raise StoreReadOnly(self.name, READ_ONLY_SERVER) from None  # (nothing written)
        except psycopg.errors.UniqueViolation:
            # a writer that bypassed the row lock stored one of these ids or seqs
            self._refresh()
            raise AppendConflict(before, self._head) from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(self.name, str(exc).strip()) from None
        self._n, self._head, self._fence = count, head, fence
        if lines:
            self._remember(start, lines)
            if self.on_append is not None:
                self.on_append(count)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()
