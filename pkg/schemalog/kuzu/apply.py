"""Apply a schema state to a Kuzu database, with a record of what was applied.

The record (``record.py``) is one row of the database's own
``_schemalog_applied`` table: position, head checksum, state hash and the state
JSON -- the id <-> name map that lets the next apply diff by id (renames stay
renames) and lets drift recognise renames made behind our back.

``apply_log``:

1. assesses the database (``verdict.assess``): the record -- RecordMissing /
   RecordCorrupt raise unless ``repair=True`` (nothing is guessed) -- and the
   drift of the live catalog from the recorded state (``_schemalog_applied``
   excluded): a difference raises ``DriftDetected`` unless ``repair=True``;
2. plans from the recorded state, or, repairing, from the live catalog matched
   to the log by the record, then by name, then by structure
   (``verdict.repair_report``): identical tables are kept with their data;
3. plans ``plan_diff(start, target)``; destructive steps need
   ``allow_destructive`` (else the result's status is ``"withheld"`` and
   nothing is sent); the rows each destructive step deletes are counted first
   (``ApplyResult.losses``), and a repair that would drop a table holding rows
   also needs ``allow_drop_nonempty`` (a repair is a guess about the past; the
   log's own drops are the user's decision);
4. pre-checks every step against a name-level model of the database
   (``check_steps``): what Kuzu would refuse (a referenced node table dropped,
   a name taken, a missing endpoint) raises ``PlanRejected`` before anything
   is sent -- kuzu-wasm may trap instead of raising; so does a step whose
   DDL form the backend's engine lacks (its ``engine`` profile, Kuzu when the
   backend names none): SET SORTED BY on Kuzu is rule
   ``set-sorted-by-unsupported``;
5. sends the DDL and the record update in ONE ``backend.execute`` call: one
   transaction (Kuzu 0.11 DDL is transactional: a failure rolls back all of
   it, record included). A repair of a database whose catalog equals the
   target sends the record alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemalog.encoding.codec import state_hash
from schemalog.errors import SchemalogError
from schemalog.kuzu.ddl import DdlPlan, Step, TableModel, model_of_state, plan_diff
from schemalog.kuzu.drift import BOOKKEEPING_TABLE, DriftReport, drift
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import KUZU, EngineProfile, UnsupportedByEngine
from schemalog.kuzu.record import (
    RECORD_FORMAT,
    AppliedRecord,
    RecordCorrupt,
    RecordMissing,
    RecordProblem,
    has_record_table,
    read_record,
    record_if_applied,
    record_statements,
)
from schemalog.kuzu.verdict import Loss, Verdict, assess, losses, repair_report
from schemalog.log.collector import rare_collections
from schemalog.log.replay.report import ReplayReport
from schemalog.model.names import catalog_key
from schemalog.model.schema import (
    NODE,
    SchemaState,
    empty_state,
)

__all__ = [
    "BOOKKEEPING_TABLE",
    "RECORD_FORMAT",
    "AppliedRecord",
    "ApplyResult",
    "DriftDetected",
    "Loss",
    "PlanRejected",
    "RecordCorrupt",
    "RecordMissing",
    "RecordProblem",
    "StaleLog",
    "adopt_database",
    "apply_log",
    "check_steps",
    "read_record",
]


class DriftDetected(SchemalogError):
    """The database differs from what was recorded as applied; ``report`` says how."""

    def __init__(self, report: DriftReport) -> None:
        self.report = report
        lines = "\n".join(f"  {d}" for d in report.differences)
        super().__init__(f"the database changed behind the log's back:\n{lines}")


class PlanRejected(SchemalogError):
    """Step ``index`` of a plan would fail in Kuzu (``rule``), so nothing was sent."""

    def __init__(self, index: int, step: Step, rule: str, message: str) -> None:
        self.index, self.step, self.rule, self.message = index, step, rule, message
        super().__init__(f"step {index} ({step.statement}) rejected ({rule}): {message}")


class StaleLog(SchemalogError):
    """The database has applied more of the log than the state offered."""

    def __init__(self, recorded: int, offered: int) -> None:
        self.recorded, self.offered = recorded, offered
        super().__init__(
            f"the database has applied {recorded} records, the log offered has {offered}"
        )


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What ``apply_log`` did. ``status``: applied, up-to-date, dry-run or withheld."""

    status: str
    statements: tuple[str, ...]  # the schema DDL sent (or that would be sent)
    bookkeeping: tuple[str, ...]  # the record update sent with it
    plan: DdlPlan
    from_position: int | None  # recorded position before (None: no record)
    position: int
    state_hash: str
    repaired: DriftReport | None = field(default=None)  # drift found and repaired
    losses: tuple[Loss, ...] = ()  # rows each destructive step deletes (counted before)
    blocked: tuple[Loss, ...] = ()  # tables with rows a repair would drop (withheld)

    def to_obj(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "statements": list(self.statements),
            "withheld": [s.statement for s in self.plan.withheld],
            "destructive": [s.statement for s in self.plan.destructive],
            "from_position": self.from_position,
            "position": self.position,
            "state_hash": self.state_hash,
            "repaired": self.repaired.to_obj() if self.repaired is not None else None,
            "losses": [loss.to_obj() for loss in self.losses],
            "blocked": [loss.to_obj() for loss in self.blocked],
        }


# ---------------------------------------------------------------- pre-check


@dataclass
class _SimTable:
    name: str
    kind: str
    props: dict[str, str]  # key -> name
    pk: str | None
    conns: set[tuple[str, str]]  # (from key, to key)


def _sim(model: Mapping[str, TableModel]) -> dict[str, _SimTable]:
    names = {tid: catalog_key(t.name) for tid, t in model.items()}
    out = {}
    for t in model.values():
        pk = t.prop(t.primary_key or "")
        out[catalog_key(t.name)] = _SimTable(
            t.name,
            t.kind,
            {catalog_key(p.name): p.name for p in t.properties},
            catalog_key(pk.name) if pk else None,
            {(names.get(a, a), names.get(b, b)) for a, b in t.connections},
        )
    return out


class _No(Exception):
    def __init__(self, rule: str, message: str) -> None:
        self.rule, self.message = rule, message


def _need(tables: dict[str, _SimTable], name: str, kind: str | None = None) -> _SimTable:
    t = tables.get(catalog_key(name))
    if t is None:
        raise _No("unknown-table", f"table {name!r} does not exist")
    if kind is not None and t.kind != kind:
        raise _No("wrong-kind", f"table {name!r} is not a {kind} table")
    return t


def _free(tables: dict[str, _SimTable], name: str) -> None:
    if catalog_key(name) in tables:
        raise _No("name-taken", f"a table named {name!r} (case-insensitively) exists")


def _endpoints(tables: dict[str, _SimTable], pairs: Sequence[tuple[str, str]]) -> None:
    for a, b in pairs:
        _need(tables, a, NODE)
        _need(tables, b, NODE)


def _step(tables: dict[str, _SimTable], s: Step) -> None:
    a = s.args
    if s.op == "create_node_table":
        _free(tables, a[0])
        keys = [catalog_key(p) for p in a[1]]
        if len(set(keys)) != len(keys):
            raise _No("property-name-taken", "duplicate property names")
        tables[catalog_key(a[0])] = _SimTable(
            a[0], NODE, dict(zip(keys, a[1], strict=True)), catalog_key(a[2]), set()
        )
    elif s.op == "create_rel_table":
        _free(tables, a[0])
        _endpoints(tables, a[1])
        keys = [catalog_key(p) for p in a[2]]
        if len(set(keys)) != len(keys):
            raise _No("property-name-taken", "duplicate property names")
        conns = {(catalog_key(x), catalog_key(y)) for x, y in a[1]}
        tables[catalog_key(a[0])] = _SimTable(
            a[0], "REL", dict(zip(keys, a[2], strict=True)), None, conns
        )
    elif s.op == "drop_table":
        t = _need(tables, a[0])
        key = catalog_key(a[0])
        users = sorted(u.name for u in tables.values() if any(key in c for c in u.conns))
        if t.kind == NODE and users:
            raise _No("table-referenced", f"{a[0]!r} is referenced by rel tables {users}")
        del tables[key]
    elif s.op == "rename_table":
        t = _need(tables, a[0])
        _free(tables, a[1])
        old, new = catalog_key(a[0]), catalog_key(a[1])
        del tables[old]
        t.name = a[1]
        tables[new] = t
        for u in tables.values():
            u.conns = {(new if x == old else x, new if y == old else y) for x, y in u.conns}
    elif s.op in ("add_property", "drop_property", "rename_property"):
        t = _need(tables, a[0])
        key = catalog_key(a[1])
        if s.op == "add_property":
            if key in t.props:
                raise _No("property-name-taken", f"{a[0]!r} already has {a[1]!r}")
            t.props[key] = a[1]
            return
        if key not in t.props:
            raise _No("unknown-property", f"{a[0]!r} has no property {a[1]!r}")
        if s.op == "drop_property":
            if key == t.pk:
                raise _No("primary-key-drop", f"{a[1]!r} is the primary key of {a[0]!r}")
            del t.props[key]
            return
        new = catalog_key(a[2])
        if new in t.props:
            raise _No("property-name-taken", f"{a[0]!r} already has {a[2]!r}")
        del t.props[key]
        t.props[new] = a[2]
        t.pk = new if t.pk == key else t.pk
    elif s.op in ("add_connection", "drop_connection"):
        t = _need(tables, a[0], "REL")
        _endpoints(tables, [(a[1], a[2])])
        pair = (catalog_key(a[1]), catalog_key(a[2]))
        if s.op == "add_connection":
            if pair in t.conns:
                raise _No("connection-exists", f"{a[0]!r} already has FROM {a[1]!r} TO {a[2]!r}")
            t.conns.add(pair)
        else:
            if pair not in t.conns:
                raise _No("unknown-connection", f"{a[0]!r} has no FROM {a[1]!r} TO {a[2]!r}")
            t.conns.discard(pair)
    elif s.op == "comment":
        _need(tables, a[0])
    elif s.op == "set_sorted_by":
        t = _need(tables, a[0], NODE)
        for name, _order in a[1]:
            if catalog_key(name) not in t.props:
                raise _No("unknown-property", f"{a[0]!r} has no property {name!r}")
    else:
        raise _No("unknown-op", f"unknown step {s.op!r}")


def check_steps(
    model: Mapping[str, TableModel], steps: Sequence[Step], engine: EngineProfile = KUZU
) -> None:
    """Raise PlanRejected at the first step ``engine`` would refuse, run from ``model``."""
    tables = _sim(model)
    for index, s in enumerate(steps):
        try:
            try:
                engine.require(s.op)
            except UnsupportedByEngine as unsupported:
                raise _No(unsupported.rule, str(unsupported)) from None
            _step(tables, s)
        except _No as no:
            raise PlanRejected(index, s, no.rule, no.message) from None


# ---------------------------------------------------------------- apply

# Planning a 200-table state allocates ~15,000 short-lived containers that
# reference counting frees: at the default threshold (700) that was 18 collector
# passes, 2-14 ms of a ~0.2-0.3 s apply.
_GC_YOUNG = 50_000


@rare_collections(_GC_YOUNG)
def apply_log(
    backend: KuzuBackend,
    state_or_replay_result: Any,
    *,
    position: int | None = None,
    head_checksum: str | None = None,
    dry_run: bool = False,
    allow_destructive: bool = False,
    repair: bool = False,
    allow_drop_nonempty: bool = False,
) -> ApplyResult:
    """Bring the database to the given state (a SchemaState, or a replay report with
    ``.state``, ``.position`` and ``.head``); see the module docstring."""
    if isinstance(state_or_replay_result, SchemaState):
        target = state_or_replay_result
        if position is None:
            raise TypeError("position is required with a SchemaState")
    else:
        target = state_or_replay_result.state
        position = state_or_replay_result.position if position is None else position
        if head_checksum is None:
            head_checksum = state_or_replay_result.head
    assert position is not None
    verdict: Verdict | None = None
    try:
        verdict = assess(backend)
    except RecordProblem:
        if not repair:
            raise
    record = verdict.record if verdict is not None else None
    if record is not None and record.position > position:
        raise StaleLog(record.position, position)
    repaired: DriftReport | None = None
    if verdict is not None and verdict.clean:
        old_model: Mapping[str, TableModel] = model_of_state(
            record.state if record is not None else empty_state()
        )
    elif repair:
        catalog = verdict.catalog if verdict is not None else backend.catalog()
        repaired = repair_report(catalog, target, record)
        old_model = repaired.actual
    else:
        assert verdict is not None
        raise DriftDetected(verdict.changed)
    new_model = model_of_state(target)
    plan = plan_diff(old_model, new_model, allow_destructive=allow_destructive)
    engine = getattr(backend, "engine", None)
    check_steps(old_model, plan.steps, engine if isinstance(engine, EngineProfile) else KUZU)
    # counted on the whole plan (withheld steps included: what the flag would cost)
    lost: tuple[Loss, ...] = ()
    if plan.withheld or plan.destructive:
        full = plan_diff(old_model, new_model, allow_destructive=True) if plan.withheld else plan
        lost = losses(backend, old_model, full.steps)
    target_hash = _target_hash(state_or_replay_result, target)
    from_position = record.position if record is not None else None
    ddl = tuple(plan.statements)

    def result(status: str, books: tuple[str, ...] = (), **more: Any) -> ApplyResult:
        sent = ddl if status != "up-to-date" else ()
        return ApplyResult(
            status, sent, books, plan, from_position, position, target_hash, repaired, lost, **more
        )

    if plan.withheld:
        return result("withheld")
    blocked = tuple(loss for loss in lost if loss.op == "drop_table" and loss.rows > 0)
    if repaired is not None and blocked and not allow_drop_nonempty:
        return result("withheld", blocked=blocked)
    up_to_date = (
        record is not None
        and not ddl
        and record.state_hash == target_hash
        and record.position == position
        and record.head_checksum == head_checksum
    )
    if up_to_date:
        return result("up-to-date")
    # read_record looked: a record read back iff its table exists (None: no table)
    exists = record is not None if verdict is not None else has_record_table(backend)
    books = tuple(
        record_statements(
            position,
            head_checksum,
            target,
            create=not exists,
            rebuild=exists and verdict is None,  # a record that did not read back
            hashed=target_hash,
        )
    )
    if dry_run:
        return result("dry-run", books)
    backend.execute([*ddl, *books])
    return result("applied", books)


def _target_hash(given: Any, target: SchemaState) -> str:
    # replay hashed the state it reports (pipeline.py: state_hash(final)); anything
    # else is hashed here
    if isinstance(given, ReplayReport) and given.state is target:
        return given.state_hash
    return state_hash(target)


def adopt_database(backend: KuzuBackend, state_or_replay_result: Any) -> None:
    """Record that the database already holds the given state (a baseline read from its
    own catalog), so that drift and later applies start from it. Only for a database
    with no record table and no drift from the state (else RecordProblem, DriftDetected
    or SchemalogError)."""
    target = state_or_replay_result.state
    record = record_if_applied(backend)
    if record is not None:
        raise SchemalogError("the database already has a record of an applied log")
    report = drift(target, backend.catalog())
    if not report.clean:
        raise DriftDetected(report)
    position, head = state_or_replay_result.position, state_or_replay_result.head
    backend.execute(record_statements(position, head, target, create=True))
