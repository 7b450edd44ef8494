"""``SchemaLog``: the public facade over one schema history.

One event store (the source of truth), one origin's hybrid logical clock, and
the schema at the log's head. Changes name tables and properties by their
current names; the facade resolves them to stable ids, stamps an event on
top of the log's causal heads, checks it against the schema and appends it
(expected head + optional fencing token). A change the schema refuses comes
back as a ``Rejected`` value naming the rule; nothing is written.

Writes are made on the handle's *view*: the log as far as this handle has
read it (``refresh()`` reads on). A change names tables as the view has
them, is checked against the view's schema and stamped on the view's heads.
If others appended meanwhile, the event is concurrent with what it did not
see: ``concurrent_writes.append_on_view`` finds the conflicts it makes
(merge's analysis), resolves them with the handle's ``strategy`` and
appends the Merge events with it, so every reader converges to one schema
and ``conflicts()`` shows each conflict and how it was decided
(``last_write`` tells what the last write met).

The same class runs in CPython (memory or NDJSON stores) and in Pyodide (the
IndexedDB store's sync wrapper); a Kuzu database is reached through
``apply_to(backend)``. Reading functions stream the log: ``compat``,
``metrics`` and ``replay`` stay within the replay's chunk budget.

    log = SchemaLog.in_memory(origin="laptop")
    log.create_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id")
    log.create_node_table("City", [("id", "INT64")], "id")
    log.create_rel_table("LivesIn", [("Person", "City")])
    log.rename_table("City", "Town")     # LivesIn now points at Town
    print(log.ddl(), log.state_hash)
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from schemalog.analysis.compat import CompatReport, check_history, check_pair
from schemalog.analysis.metrics import Metrics, compute_metrics
from schemalog.errors import SchemalogError
from schemalog.history.merge import ConflictReport, MergeResult, Strategy, merge_events
from schemalog.kuzu.apply import ApplyResult, adopt_database, apply_log
from schemalog.kuzu.baseline import baseline_events
from schemalog.kuzu.ddl import ddl_for_state
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_parse import parse_ddl
from schemalog.kuzu.ddl_record import DdlEvents, events_for_ddl
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.record import record_if_applied
from schemalog.log.concurrent_writes import (
    Written,
    append_on_view,
    catch_up,
    check_strategy,
    log_conflicts,
    resolve,
)
from schemalog.log.replay import ReplayReport, replay
from schemalog.log.store import MemoryStore, NdjsonStore
from schemalog.log.store.events import StoreEvents
from schemalog.log.store.port import EventStore, Page
from schemalog.log.store.verify import VerifyReport, verify_store
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    Change,
    ChangeBuilder,
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    PropertySpec,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import (
    Rejected,
    SchemaState,
    TableState,
    apply,
    duplicate_connection,
    table_by_name,
)

__all__ = ["LogUnreadable", "SchemaLog", "UnknownName"]


class UnknownName(SchemalogError):
    """A change names a table or property the schema at the head does not have."""

    def __init__(self, what: str, name: str, table: str | None = None) -> None:
        self.what, self.name, self.table = what, name, table
        where = f" in table {table!r}" if table else ""
        super().__init__(f"no {what} named {name!r}{where} at the head of the log")


class LogUnreadable(SchemalogError):
    """Replaying the log stopped at a bad record; ``report.stopped`` says where and why."""

    def __init__(self, report: ReplayReport) -> None:
        self.report = report
        super().__init__(f"the log does not replay: {report.stopped}")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SchemaLog:
    """One schema history; see the module docstring."""

    def __init__(
        self,
        store: EventStore,
        *,
        origin: str | None = None,
        workspace: str = "default",
        now_ms: Callable[[], int] = _wall_ms,
        fencing_token: int | None = None,
        strategy: Strategy = "reject",
    ) -> None:
        check_strategy(strategy)
        self.store = store
        self.strategy = strategy
        self.last_write: Written | None = None
        self.workspace = workspace
        # An origin names one writer; a random one keeps event ids unique across instances.
        self.clock = HybridLogicalClock(origin or f"o{uuid.uuid4().hex[:12]}", now_ms)
        self.fencing_token = fencing_token
        self._report = self._replay_all()

    # ------------------------------------------------------------ opening

    @classmethod
    def in_memory(cls, **options: Any) -> SchemaLog:
        return cls(MemoryStore(), **options)

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False, **options: Any) -> SchemaLog:
        """An NDJSON log (a ``.ndjson`` file or a directory of segments).

        A log that is not there is StoreMissing unless ``create=True``: a log
        deleted by mistake never comes back as an empty one.
        """
        return cls(NdjsonStore.open(path, create=create), **options)

    def _replay_all(self) -> ReplayReport:
        report = replay(self.store)
        if report.stopped is not None:
            raise LogUnreadable(report)
        return report

    def refresh(self) -> int:
        """Pick up what other writers appended; returns how many records were new."""
        before = self._report
        report = catch_up(self.store, before)
        if report.stopped is not None:
            self._report = dataclasses.replace(before, scanner=None)  # catch_up took it over
            raise LogUnreadable(report)
        self._report = report
        return report.position - before.position

    # ------------------------------------------------------------ the head

    @property
    def view(self) -> ReplayReport:
        """The replay this handle's writes are made on (``refresh()`` moves it on)."""
        return self._report

    @property
    def origin(self) -> str:
        return self.clock.origin

    @property
    def schema(self) -> SchemaState:
        return self._report.state

    @property
    def state_hash(self) -> str:
        return self._report.state_hash

    @property
    def position(self) -> int:
        """Number of records in the log (the head version)."""
        return self._report.position

    def table(self, name: str) -> TableState:
        found = table_by_name(self.schema, name)
        if found is None:
            raise UnknownName("table", name)
        return found

    def tables(self) -> list[TableState]:
        return sorted(self.schema.tables.values(), key=lambda t: t.table_id)

    def ddl(self) -> list[str]:
        """The shortest Cypher DDL that builds the head schema on an empty database."""
        return ddl_for_state(self.schema)

    # ------------------------------------------------------------ recording

    def record(self, change: Change | ChangeBuilder) -> Event | Rejected:
        """Append one change made on this handle's view, or return why the view's schema
        refuses it. Conflicts with records the view had not seen are resolved with
        ``strategy`` (module docstring); ``last_write`` says what the write met."""
        report = self._report
        event = new_event(self.clock, self.workspace, report.heads, change)
        outcome = apply(report.state, event)
        if isinstance(outcome, Rejected):
            return outcome
        self.last_write = append_on_view(
            self.store, report, [event], self.strategy, fencing_token=self.fencing_token
        )
        self.refresh()
        return event

    def _stamp(self, parents: Sequence[str], change: Change | ChangeBuilder) -> Event:
        return new_event(self.clock, self.workspace, parents, change)

    def record_cypher(
        self, text: str, *, skip_non_ddl: bool = False, dry_run: bool = False
    ) -> DdlEvents | DdlError:
        """Record Cypher DDL (``ddl_parse`` says which statements): all its events, or
        none and the ``DdlError`` naming the line, column, statement and rule that
        stopped it. ``dry_run`` returns the events without writing them."""
        parsed = parse_ddl(text, skip_non_ddl=skip_non_ddl)
        if isinstance(parsed, DdlError):
            return parsed
        report = self._report
        result = events_for_ddl(report.state, report.heads, parsed, self._stamp)
        if isinstance(result, DdlError) or dry_run or not result.events:
            return result
        self.last_write = append_on_view(
            self.store, report, result.events, self.strategy, fencing_token=self.fencing_token
        )
        self.refresh()
        return result

    def record_baseline(self, backend: KuzuBackend, *, adopt: bool = True) -> DdlEvents:
        """Write the schema of an existing database (its catalog) as the first events
        of this log; refused (SchemalogError) when the log already has events, or when
        the database is already kept by a log (it has our bookkeeping record).

        ``adopt`` also writes that record (``_schemalog_applied``, as ``apply_to``
        does) into the database, so that ``apply_to`` later sends only what is
        recorded on top of the baseline; without it the database stays untouched."""
        if self.position or self.store.head().position:
            raise SchemalogError("a baseline starts a new log: this log already has events")
        applied = record_if_applied(backend)  # RecordMissing/Corrupt: kept by a lost log
        if applied is not None:
            raise SchemalogError(
                "the database is already kept by a schema log (it records position "
                f"{applied.position} of that log as applied): use that log, or a copy of the "
                "database without the _schemalog_applied table"
            )
        result = baseline_events(backend.catalog(), self._stamp)
        if result.events:
            self.store.append(list(result.events), expected=None, fencing_token=self.fencing_token)
            self.refresh()
        if adopt:
            adopt_database(backend, self._report)
        return result

    def create_node_table(
        self, name: str, properties: Sequence[PropertySpec], primary_key: str
    ) -> Event | Rejected:
        return self.record(build_node_table(name, properties, primary_key))

    def create_rel_table(
        self,
        name: str,
        connections: Iterable[tuple[str, str]],
        properties: Sequence[PropertySpec] = (),
        multiplicity: str = "MANY_MANY",
    ) -> Event | Rejected:
        named = list(connections)
        pairs = [(self.table(a).table_id, self.table(b).table_id) for a, b in named]
        twice = duplicate_connection(pairs)
        if twice is not None:  # an event cannot hold the pair twice: refused before stamping
            a, b = named[twice]
            why = f"{name!r}: the FROM/TO pair {a} -> {b} is given twice (Kuzu refuses it too)"
            return Rejected("(not recorded)", "duplicate-connection", why)
        return self.record(build_rel_table(name, pairs, properties, multiplicity))

    def add_property(
        self, table: str, name: str, type_text: str, default: Any = None
    ) -> Event | Rejected:
        return self.record(build_add_property(self.table(table).table_id, name, type_text, default))

    def drop_property(self, table: str, name: str) -> Event | Rejected:
        t = self.table(table)
        return self.record(DropProperty(t.table_id, self._property_id(t, name)))

    def rename_property(self, table: str, name: str, new_name: str) -> Event | Rejected:
        t = self.table(table)
        return self.record(RenameProperty(t.table_id, self._property_id(t, name), new_name))

    def rename_table(self, name: str, new_name: str) -> Event | Rejected:
        return self.record(RenameTable(self.table(name).table_id, new_name))

    def drop_table(self, name: str) -> Event | Rejected:
        return self.record(DropTable(self.table(name).table_id))

    def add_connection(self, rel: str, from_table: str, to_table: str) -> Event | Rejected:
        return self.record(
            AddConnection(self.table(rel).table_id, self._pair(from_table, to_table))
        )

    def drop_connection(self, rel: str, from_table: str, to_table: str) -> Event | Rejected:
        return self.record(
            DropConnection(self.table(rel).table_id, self._pair(from_table, to_table))
        )

    def comment(self, table: str, text: str) -> Event | Rejected:
        return self.record(CommentOnTable(self.table(table).table_id, text))

    def set_sorted_by(self, table: str, keys: Sequence[tuple[str, str]]) -> Event | Rejected:
        """LadybugDB's SET SORTED BY: ``keys`` as (property name, "ASC" or "DESC") pairs.

        Recorded like any change; a log holding one applies to LadybugDB only
        (applying it to Kuzu is refused with rule ``set-sorted-by-unsupported``).
        """
        t = self.table(table)
        sort_keys = tuple(SortKey(self._property_id(t, name), order) for name, order in keys)
        return self.record(SetSortedBy(t.table_id, sort_keys))

    def tag(self, name: str) -> Event | Rejected:
        """Name the head version (``compat``/``metrics`` accept tags as versions)."""
        return self.record(Tag(name))

    def _property_id(self, table: TableState, name: str) -> str:
        prop = table.property_named(name)
        if prop is None:
            raise UnknownName("property", name, table.name)
        return prop.property_id

    def _pair(self, from_table: str, to_table: str) -> Connection:
        return Connection(self.table(from_table).table_id, self.table(to_table).table_id)

    # ------------------------------------------------------------ reading

    def page(self, after: str | None = None, limit: int = 100) -> Page:
        """One page of records and the cursor after it (stays valid while others append)."""
        return self.store.read(after=after, limit=limit)

    def events(self) -> StoreEvents:
        """Every event in log order, streamed chunk by chunk; iterate as often as needed."""
        return StoreEvents(self.store)

    def verify(
        self,
        expected_head: str | None = None,
        expected_log: SchemaLog | EventStore | str | None = None,
    ) -> VerifyReport:
        """The one strict reader over the store (as `schemalog verify`): every record,
        checksum, hash link, known parents, one record per id; with ``expected_head``
        (``report.anchor`` of an earlier verify, ``N:CHECKSUM``, or a bare checksum), that
        the log holds that history; with ``expected_log`` (another handle, a store, a path
        or a log URL: an earlier copy), that it holds every record of the copy at its
        position, the report naming the first where they part. ``.ok``, ``.problem``."""
        copy = expected_log.store if isinstance(expected_log, SchemaLog) else expected_log
        return verify_store(self.store, expected_head=expected_head, expected_log=copy)

    def compat(
        self,
        mode: str = "BACKWARD",
        old: int | None = None,
        new: int | None = None,
        *,
        level: str = "DATA",
        ignore: Iterable[str] = (),
    ) -> CompatReport:
        """Compare two versions (positions), or with ``old=None`` check the whole history."""
        if old is None:
            return check_history(self.events(), mode, level, ignore, stop=new)
        return check_pair(self.events(), old, new, mode, level, ignore)

    def metrics(self, window: str | None = None) -> Metrics:
        return compute_metrics(self.events(), window)

    # ------------------------------------------------------------ conflicts in this log

    def conflicts(self) -> tuple[ConflictReport, ...]:
        """Every conflict between concurrent events of this log and how it stands
        (``winner``/``resolved_by`` of its Merge event, or unresolved)."""
        return log_conflicts(self.events())

    def resolve(self, conflict_key: str, winner: str) -> Event:
        """Record a decision (say for a conflict ``reject`` left open) as its Merge event."""
        event = resolve(self.store, conflict_key, winner, fencing_token=self.fencing_token)
        self.refresh()
        return event

    # ------------------------------------------------------------ other logs, databases

    def merge(self, *others: SchemaLog, strategy: Strategy = "reject") -> MergeResult:
        """Merge this log with others (not written anywhere: see ``merge_into``)."""
        return merge_events([log.events() for log in (self, *others)], strategy)

    @staticmethod
    def merge_into(
        store: EventStore, logs: Sequence[SchemaLog], strategy: Strategy = "reject", **options: Any
    ) -> tuple[SchemaLog, MergeResult]:
        """Write the merged log of ``logs`` into an empty ``store``; returns it opened."""
        result = merge_events([log.events() for log in logs], strategy)
        if store.head().position:
            raise SchemalogError("merge_into writes a new log: the target store is not empty")
        store.append(list(result.events), expected=None)
        return SchemaLog(store, **options), result

    def apply_to(self, backend: KuzuBackend, *, dry_run: bool = False) -> ApplyResult:
        """Bring a Kuzu database to the head schema (incremental; the log is the intent)."""
        self.refresh()
        return apply_log(backend, self._report, dry_run=dry_run, allow_destructive=True)
