"""A workspace: one event log (the source of truth) and one Kuzu database built from it.

Pure orchestration over the ports: an ``EventStore``, a ``KuzuBackend`` and
optionally a fencing token from a lease. No ``js``, no ``kuzu``: in CPython it
runs on the native backend and a memory/NDJSON store; in Chromium on the
kuzu-wasm workspace and the IndexedDB store through their JSPI sync wrappers
(``SyncKuzuBackend``, ``BrowserStore.open``).

* ``sync()`` reads what the log gained since the last look (other tabs,
  other writers), replays it onto the known state (``replay.resume``) and
  applies the new state to the database (``apply.apply_log``: a diff against
  the state recorded inside the database, one transaction).
* ``change(change)`` is made on the workspace's *view* (the log as of the
  last ``sync``, what the page shows): checked against the view's schema,
  stamped on the view's heads, appended (fencing token) and applied. The log
  is written first: a database that misses an event catches up on the next
  ``sync``. If another tab appended since the view (its BroadcastChannel news
  not yet processed, or this tab was offline) the change is concurrent with
  those records: ``concurrent_writes.append_on_view`` finds the conflicts
  (merge's analysis), resolves them with the workspace's ``strategy`` and
  appends the Merge events in the same batch, so every tab converges to one
  schema. ``last_write`` says what the write met; ``conflicts()`` lists every
  conflict of the log and how it was decided; ``resolve(key, winner)``
  records a person's decision for one ``reject`` left open.
* One truth about a change: before anything is written, the change is
  planned against the database (``apply_log`` dry run: the DDL, Kuzu's rules
  in ``check_steps``, and the backend's ``check_capacity`` when it has one),
  so a change the database cannot take (``WorkspaceFull``, a plan Kuzu
  refuses) raises with nothing in the log. Once written, the change is never
  an error: if applying it still fails (an engine error no model foresaw),
  the workspace rebuilds from the log; if that fails too, ``change`` returns
  the event and ``unapplied`` says the log is ahead of the database and why,
  until a later apply or ``rebuild()`` succeeds.
* Self-healing: a ``crashed`` backend error (``WorkspaceCrashed`` of the
  kuzu-wasm adapter: a WebAssembly trap, a dead worker) makes the workspace
  restart the backend (a fresh, empty database), replay the whole log, apply
  the compacted DDL of the state (apply_log from an empty database plans
  ``ddl_for_diff(empty, state)``, the net effect: dropped tables are never
  created) and check that the rebuilt database records the same state hash as
  before the crash and that its catalog shows no drift. The call that met the
  crash is retried once on the rebuilt database. ``KnownCrash`` (the backend
  refused, before sending it, a statement that would crash Kuzu 0.11.3 after
  what this database was sent: ``kuzu.hazards``) is met the same way: a
  rebuild is a new session, and its compacted DDL drops no property, so the
  retried call cannot meet the crash. ``WorkspaceFull`` (node tables
  created since the database was opened) is met the same way: a rebuild
  creates only the live tables, so dropped ones give their room back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from schemalog.errors import SchemalogError
from schemalog.history.merge import ConflictReport, Strategy
from schemalog.kuzu.apply import ApplyResult, apply_log, read_record
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_parse import parse_ddl
from schemalog.kuzu.ddl_record import DdlEvents, events_for_ddl
from schemalog.kuzu.drift import drift
from schemalog.kuzu.port import (
    BackendCrashed,
    BackendError,
    BackendFull,
    KnownCrash,
    KuzuBackend,
)
from schemalog.log.concurrent_writes import (
    Written,
    append_on_view,
    catch_up,
    check_strategy,
    log_conflicts,
    resolve,
)
from schemalog.log.replay import ReplayReport, replay
from schemalog.log.store.events import StoreEvents
from schemalog.log.store.port import EventStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Change, ChangeBuilder, Event, new_event
from schemalog.model.schema import NODE, Rejected, SchemaState, apply

__all__ = ["Healed", "LogUnusable", "RebuildMismatch", "Unapplied", "Workspace"]

T = TypeVar("T")


class LogUnusable(SchemalogError):
    """Replay of the workspace's log stopped (corrupt record, broken chain...)."""

    def __init__(self, workspace: str, report: ReplayReport) -> None:
        self.workspace = workspace
        self.report = report
        failure = report.stopped
        why = f"{failure.kind} at record {failure.position}: {failure.reason}" if failure else "?"
        super().__init__(f"workspace {workspace!r}: its log cannot be replayed ({why})")


class RebuildMismatch(SchemalogError):
    """A rebuilt database does not hold the state the log describes."""

    def __init__(self, workspace: str, expected_hash: str, actual_hash: str | None, why: str):
        self.workspace = workspace
        self.expected_hash = expected_hash
        self.actual_hash = actual_hash
        super().__init__(f"workspace {workspace!r} rebuilt wrong: {why}")


@dataclass(frozen=True, slots=True)
class Healed:
    """One rebuild: why, the state hash before and after, records replayed, DDL sent."""

    reason: str
    hash_before: str | None
    hash_after: str
    records: int
    statements: int


@dataclass(frozen=True, slots=True)
class Unapplied:
    """The log holds records the database has not applied: ``position`` records in
    the log, ``applied`` in the database (None: unknown), and why applying failed."""

    position: int
    applied: int | None
    reason: str
    error: str  # the exception's class name

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "applied": self.applied,
            "reason": self.reason,
            "error": self.error,
        }


def _record_bytes(state: SchemaState) -> int:
    """About what one write of the database's record costs (its state JSON)."""
    return 1024 + 600 * len(state.tables)


def _is_crash(exc: BaseException) -> bool:
    return isinstance(exc, BackendCrashed)


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, BackendFull)


class Workspace:
    """A named schema: ``store`` holds its log, ``backend`` its database.

    ``restart_backend`` gives a fresh, empty backend after a crash; by default
    ``backend.restart()`` (the kuzu-wasm adapters have it) and the same object.
    ``fencing_token`` is sent with every append (set it from a lease);
    ``strategy`` resolves conflicts of concurrent writes (merge.STRATEGIES).
    """

    def __init__(
        self,
        name: str,
        store: EventStore,
        backend: KuzuBackend,
        clock: HybridLogicalClock,
        *,
        restart_backend: Callable[[KuzuBackend], KuzuBackend] | None = None,
        fencing_token: int | None = None,
        strategy: Strategy = "reject",
    ) -> None:
        check_strategy(strategy)
        self.name = name
        self.strategy = strategy
        self.last_write: Written | None = None
        self.store = store
        self.backend = backend
        self.clock = clock
        self.fencing_token = fencing_token
        self._restart = restart_backend or _default_restart
        self._restart_given = restart_backend is not None
        self._report: ReplayReport | None = None
        self.healed: list[Healed] = []
        self.last_apply: ApplyResult | None = None
        self.unapplied: Unapplied | None = None

    # ------------------------------------------------ state

    @property
    def state(self) -> SchemaState:
        return self._known().state

    @property
    def state_hash(self) -> str:
        return self._known().state_hash

    @property
    def position(self) -> int:
        return self._known().position

    @property
    def view(self) -> ReplayReport:
        """The replay this workspace's changes are made on (``sync()`` moves it on)."""
        return self._known()

    def _known(self) -> ReplayReport:
        if self._report is None:
            self._report = self._replay_all()
        return self._report

    def _replay_all(self) -> ReplayReport:
        report = replay(self.store)
        if report.stopped is not None:
            raise LogUnusable(self.name, report)
        return report

    # ------------------------------------------------ reading the log

    def sync(self) -> int:
        """Pick up new records of the log and apply them; returns how many."""
        before = self._known()
        report = catch_up(self.store, before)
        if report.stopped is not None:
            self._report = dataclasses.replace(before, scanner=None)  # catch_up took it over
            raise LogUnusable(self.name, report)
        self._report = report
        new = report.position - before.position
        self._apply()
        return new

    def adopt_store(self, store: EventStore) -> int:
        """Take ``store`` as the log from now on (a sync replaced the local log by a
        copy of the served one, ``log.sync``): replay it whole and apply its state
        (a diff against what the database records). Returns the new position."""
        old, self.store = self.store, store
        self._report = None
        if old is not store:
            old.close()
        self._apply()
        # Kuzu appends added columns: a database that applied this side's offline
        # property before the others' has another column order than the log says.
        # Drift does not see order; only a fresh database takes the log's.
        moved = _column_order_moved(self.state, self.catalog())
        if moved is not None:
            self.rebuild(f"the served log orders the columns of {moved} otherwise")
        return self.position

    def _apply(self) -> ApplyResult:
        report = self._known()
        # The log is the intent: a DropTable event in it is a destructive step asked for.
        try:
            result = self._guarded(lambda: apply_log(self.backend, report, allow_destructive=True))
        except SchemalogError as exc:
            applied = self.last_apply.position if self.last_apply is not None else None
            why = f"{type(exc).__name__}: {exc}"
            self.unapplied = Unapplied(report.position, applied, why, type(exc).__name__)
            raise
        self.last_apply = result
        self.unapplied = None
        return result

    # ------------------------------------------------ writing

    def change(self, change: Change | ChangeBuilder) -> Event | Rejected:
        """Append one schema change made on the view and apply it; a change the
        view's schema refuses is returned as ``Rejected`` (nothing written)."""
        report = self._known()
        event = new_event(self.clock, self.name, report.heads, change)
        outcome = apply(report.state, event)
        if isinstance(outcome, Rejected):
            return outcome
        self._preflight(outcome.state, report.position + 1)
        self.last_write = append_on_view(
            self.store, report, [event], self.strategy, fencing_token=self.fencing_token
        )
        self._settle()
        return event

    def _preflight(self, target: SchemaState, position: int) -> None:
        """Raise, before anything is written, if the database cannot take ``target``:
        the planned DDL checked against Kuzu's rules and the backend's capacity.
        A full backend whose rebuild would free room is rebuilt first (_guarded)."""
        if self.unapplied is not None:
            return  # the database is already behind the log: nothing to plan against

        def plan() -> None:
            result = apply_log(
                self.backend, target, position=position, dry_run=True, allow_destructive=True
            )
            check = getattr(self.backend, "check_capacity", None)
            if check is not None and result.status == "dry-run":
                check([*result.statements, *result.bookkeeping])

        self._guarded(plan)

    def _settle(self) -> None:
        """Apply what was just written. A written change is never an error: a failed
        apply is retried on a rebuilt database, and if that fails too it is
        recorded in ``unapplied`` (the page shows it and offers a rebuild)."""
        try:
            self.sync()
            return
        except LogUnusable:
            raise
        except SchemalogError as first:
            reason = f"{type(first).__name__}: {first}"
            if _is_full(first):
                # _guarded rebuilt already if that frees room: another rebuild would not
                self._mark_unapplied(reason, type(first).__name__)
                return
        try:
            self.rebuild(f"apply failed after the write: {reason}")
        except SchemalogError as second:
            why = f"{reason}; the rebuild failed too: {type(second).__name__}: {second}"
            self._mark_unapplied(why, type(second).__name__)

    def _mark_unapplied(self, reason: str, error: str) -> None:
        try:
            record = read_record(self.backend)
        except Exception:  # the database may be unreadable: what it applied is unknown
            record = None
        applied = None if record is None else record.position
        self.unapplied = Unapplied(self._known().position, applied, reason, error)

    def record_cypher(self, text: str, *, skip_non_ddl: bool = False) -> DdlEvents | DdlError:
        """Record Cypher DDL on the view, all or nothing (``SchemaLog.record_cypher``),
        then apply it; a text that does not parse or that the schema refuses comes
        back as a ``DdlError`` naming line, column, statement and rule."""
        parsed = parse_ddl(text, skip_non_ddl=skip_non_ddl)
        if isinstance(parsed, DdlError):
            return parsed
        report = self._known()

        def stamp(parents: Sequence[str], change: Change | ChangeBuilder) -> Event:
            return new_event(self.clock, self.name, parents, change)

        result = events_for_ddl(report.state, report.heads, parsed, stamp)
        if isinstance(result, DdlError) or not result.events:
            return result
        self._preflight(result.state, report.position + len(result.events))
        self.last_write = append_on_view(
            self.store, report, result.events, self.strategy, fencing_token=self.fencing_token
        )
        self._settle()
        return result

    def write_on_view(
        self, view: ReplayReport, events: list[Event], strategy: Strategy | None = None
    ) -> Written:
        """Append events stamped on an earlier ``view`` (say two concurrent branches
        of a simulation) the way ``change`` appends one: their conflicts are
        resolved with ``strategy`` (default: the workspace's) and the Merge events
        appended with them."""
        chosen = self.strategy if strategy is None else check_strategy(strategy)
        written = append_on_view(self.store, view, events, chosen, fencing_token=self.fencing_token)
        self.last_write = written
        self._settle()
        return written

    def conflicts(self) -> tuple[ConflictReport, ...]:
        """Every conflict of the log and how it stands (see the module docstring)."""
        return log_conflicts(StoreEvents(self.store))

    def resolve(self, conflict_key: str, winner: str) -> Event:
        """Record a decision for one conflict as its Merge event, then apply it."""
        event = resolve(self.store, conflict_key, winner, fencing_token=self.fencing_token)
        self._settle()
        return event

    # ------------------------------------------------ the database

    def catalog(self) -> Any:
        return self._guarded(self.backend.catalog)

    def query(self, cypher: str) -> list[dict[str, Any]]:
        return self._guarded(lambda: self.backend.query(cypher))

    def _guarded(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except BackendError as exc:
            if _is_crash(exc):
                self.rebuild(f"crashed: {exc.message}")
            elif isinstance(exc, KnownCrash) and self._can_restart():
                # nothing was sent; a new session (a fresh database built with the
                # compacted DDL, which never drops a property) cannot meet it
                self.rebuild(f"new session before {exc.statement!r}: {exc.message}")
            elif _is_full(exc) and self._rebuild_frees_room():
                self.rebuild(f"full: {exc.message}")
            else:
                raise
        return call()

    def _can_restart(self) -> bool:
        return self._restart_given or callable(getattr(self.backend, "restart", None))

    def _rebuild_frees_room(self) -> bool:
        capacity = getattr(self.backend, "capacity", None)
        if capacity is None:
            return False
        live = sum(1 for t in self.state.tables.values() if t.kind == NODE)
        cap = capacity()
        # a rebuild creates the live tables and writes the record once
        rewritten = getattr(cap, "written_bytes", 0) > 2 * _record_bytes(self.state)
        return bool(cap.node_tables_created > live + 1 or rewritten)  # +1: bookkeeping

    def rebuild(self, reason: str = "requested") -> Healed:
        """A fresh database from the log: restart, replay, compacted DDL, verify."""
        before = self._report.state_hash if self._report is not None else None
        self.backend = self._restart(self.backend)
        report = self._replay_all()
        if (
            before is not None
            and report.state_hash != before
            and report.position == (self._report.position if self._report is not None else -1)
        ):
            raise RebuildMismatch(self.name, before, report.state_hash, "replay changed the hash")
        self._report = report
        result = apply_log(self.backend, report, allow_destructive=True)
        self.last_apply = result
        record = read_record(self.backend)
        if record is None or record.state_hash != report.state_hash:
            raise RebuildMismatch(
                self.name,
                report.state_hash,
                record.state_hash if record else None,
                "the database records another state hash",
            )
        found = drift(report.state, self.backend.catalog(), applied=report.state)
        if not found.clean:
            why = f"drift: {found.to_obj()['differences']}"
            raise RebuildMismatch(self.name, report.state_hash, None, why)
        healed = Healed(reason, before, report.state_hash, report.position, len(result.statements))
        self.healed.append(healed)
        self.unapplied = None
        return healed

    def close(self) -> None:
        self.backend.close()
        self.store.close()


def _column_order_moved(state: SchemaState, catalog: Any) -> str | None:
    """The first table whose catalog columns are the state's in another order."""
    infos = {t.name: t for t in (*catalog.node_tables, *catalog.rel_tables)}
    for table in sorted(state.tables.values(), key=lambda t: t.name):
        info = infos.get(table.name)
        if info is None:
            continue
        want = [p.name for p in table.properties]
        have = [p.name for p in info.properties]
        if have != want and sorted(have) == sorted(want):
            return table.name
    return None


def _default_restart(backend: KuzuBackend) -> KuzuBackend:
    restart = getattr(backend, "restart", None)
    if restart is None:
        raise TypeError(
            f"{type(backend).__name__} cannot restart: pass restart_backend= to Workspace"
        )
    restart()
    return backend
