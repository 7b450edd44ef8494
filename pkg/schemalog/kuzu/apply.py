"""Apply a schema state to a Kuzu database, with a record of what was applied.

The database keeps one row in a node table of its own, ``_schemalog_applied``
(the ``_schemalog`` prefix is reserved by names.py, so no user table can take
it)::

    _schemalog_applied(key STRING PRIMARY KEY,  -- always 'applied'
                       format INT64,            -- RECORD_FORMAT
                       position INT64,          -- records of the log applied
                       head_checksum STRING,    -- checksum of record position-1 (NULL at 0)
                       state_hash STRING,       -- schema.state_hash of the state
                       state STRING)            -- state_to_obj as JSON (ASCII)

The state JSON holds every table's and property's id and name: it is the
id <-> name map that lets the next apply diff by id (renames stay renames) and
lets drift recognise renames made behind our back. On read it is rebuilt with
``state_from_obj`` (every invariant re-checked) and its hash compared with
``state_hash``.

``apply_log``:

1. reads the record (none: the database is taken to be empty of our schema);
2. introspects the catalog and compares it with the recorded state (drift,
   ``_schemalog_applied`` excluded): a difference raises ``DriftDetected``
   unless ``repair=True``, in which case the plan starts from the live
   catalog instead of the record;
3. plans ``ddl_for_diff(recorded, target)``; destructive steps need
   ``allow_destructive`` (else the result's status is ``"withheld"`` and
   nothing is sent);
4. pre-checks every step against a name-level model of the database
   (``check_steps``): what Kuzu would refuse (a referenced node table dropped,
   a name taken, a missing endpoint) raises ``PlanRejected`` before anything
   is sent -- kuzu-wasm may trap instead of raising; so does a step whose
   DDL form the backend's engine lacks (its ``engine`` profile, Kuzu when the
   backend names none): SET SORTED BY on Kuzu is rule
   ``set-sorted-by-unsupported``;
5. sends the DDL and the bookkeeping update in ONE ``backend.execute`` call:
   one transaction (Kuzu 0.11 DDL is transactional: a failure rolls back all
   of it, record included).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemalog.encoding.codec import state_hash
from schemalog.errors import SchemalogError
from schemalog.kuzu.cypher import quote_identifier, string_literal
from schemalog.kuzu.ddl import DdlPlan, Step, TableModel, model_of_state, plan_diff
from schemalog.kuzu.drift import BOOKKEEPING_TABLE, DriftReport, drift
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import KUZU, EngineProfile, UnsupportedByEngine
from schemalog.model.names import catalog_key
from schemalog.model.schema import (
    NODE,
    SchemaState,
    empty_state,
)
from schemalog.model.state_json import state_from_obj, state_to_obj

__all__ = [
    "BOOKKEEPING_TABLE",
    "RECORD_FORMAT",
    "AppliedRecord",
    "ApplyResult",
    "DriftDetected",
    "PlanRejected",
    "RecordCorrupt",
    "StaleLog",
    "adopt_database",
    "apply_log",
    "check_steps",
    "read_record",
]

RECORD_FORMAT = 1
_KEY = "applied"
_T = quote_identifier(BOOKKEEPING_TABLE)


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


class RecordCorrupt(SchemalogError):
    """The ``_schemalog_applied`` row cannot be read back."""


class StaleLog(SchemalogError):
    """The database has applied more of the log than the state offered."""

    def __init__(self, recorded: int, offered: int) -> None:
        self.recorded, self.offered = recorded, offered
        super().__init__(
            f"the database has applied {recorded} records, the log offered has {offered}"
        )


@dataclass(frozen=True, slots=True)
class AppliedRecord:
    position: int
    head_checksum: str | None
    state_hash: str
    state: SchemaState


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
        }


# ---------------------------------------------------------------- the record


def _has_record_table(backend: KuzuBackend) -> bool:
    rows = backend.query("CALL show_tables() RETURN name")
    return any(r["name"] == BOOKKEEPING_TABLE for r in rows)


def read_record(backend: KuzuBackend) -> AppliedRecord | None:
    """The record of what was applied, or None for a database we never applied to."""
    if not _has_record_table(backend):
        return None
    rows = backend.query(
        f"MATCH (a:{_T}) WHERE a.key = {string_literal(_KEY)} RETURN a.format AS format, "
        "a.position AS position, a.head_checksum AS head, a.state_hash AS hash, a.state AS state"
    )
    if not rows:
        return None
    row = rows[0]
    if row["format"] != RECORD_FORMAT:
        raise RecordCorrupt(f"{BOOKKEEPING_TABLE} has unknown format {row['format']!r}")
    try:
        state = state_from_obj(json.loads(row["state"]))
    except (ValueError, TypeError, SchemalogError) as exc:
        raise RecordCorrupt(f"{BOOKKEEPING_TABLE}.state cannot be read: {exc}") from exc
    if state_hash(state) != row["hash"]:
        raise RecordCorrupt(f"{BOOKKEEPING_TABLE}.state does not hash to its state_hash")
    return AppliedRecord(int(row["position"]), row["head"], row["hash"], state)


def _record_statements(
    create: bool, position: int, head: str | None, state: SchemaState
) -> list[str]:
    out = []
    if create:
        out.append(
            f"CREATE NODE TABLE {_T}(key STRING, format INT64, position INT64, "
            "head_checksum STRING, state_hash STRING, state STRING, PRIMARY KEY(key))"
        )
    blob = json.dumps(state_to_obj(state), ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    head_expr = "NULL" if head is None else string_literal(head)
    out.append(
        f"MERGE (a:{_T} {{key: {string_literal(_KEY)}}}) SET a.format = {RECORD_FORMAT}, "
        f"a.position = {int(position)}, a.head_checksum = {head_expr}, "
        f"a.state_hash = {string_literal(state_hash(state))}, a.state = {string_literal(blob)}"
    )
    return out


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


def apply_log(
    backend: KuzuBackend,
    state_or_replay_result: Any,
    *,
    position: int | None = None,
    head_checksum: str | None = None,
    dry_run: bool = False,
    allow_destructive: bool = False,
    repair: bool = False,
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
    record = read_record(backend)
    if record is not None and record.position > position:
        raise StaleLog(record.position, position)
    base = record.state if record is not None else empty_state()
    report = drift(base, backend.catalog(), applied=base)
    repaired: DriftReport | None = None
    if report.clean:
        old_model: Mapping[str, TableModel] = model_of_state(base)
    elif repair:
        old_model, repaired = report.actual, report
    else:
        raise DriftDetected(report)
    plan = plan_diff(old_model, model_of_state(target), allow_destructive=allow_destructive)
    engine = getattr(backend, "engine", None)
    check_steps(old_model, plan.steps, engine if isinstance(engine, EngineProfile) else KUZU)
    target_hash = state_hash(target)
    from_position = record.position if record is not None else None
    ddl = tuple(plan.statements)
    if plan.withheld:
        return ApplyResult(
            "withheld", ddl, (), plan, from_position, position, target_hash, repaired
        )
    up_to_date = (
        record is not None
        and not ddl
        and record.state_hash == target_hash
        and record.position == position
        and record.head_checksum == head_checksum
    )
    if up_to_date:
        return ApplyResult(
            "up-to-date", (), (), plan, from_position, position, target_hash, repaired
        )
    create = not _has_record_table(backend)
    books = tuple(_record_statements(create, position, head_checksum, target))
    if dry_run:
        return ApplyResult(
            "dry-run", ddl, books, plan, from_position, position, target_hash, repaired
        )
    backend.execute([*ddl, *books])
    return ApplyResult("applied", ddl, books, plan, from_position, position, target_hash, repaired)


def adopt_database(backend: KuzuBackend, state_or_replay_result: Any) -> None:
    """Record that the database already holds the given state (a baseline read from its
    own catalog), so that drift and later applies start from it. Only for a database
    with no record and no drift from the state (else ``DriftDetected``/SchemalogError)."""
    target = state_or_replay_result.state
    if read_record(backend) is not None:
        raise SchemalogError("the database already has a record of an applied log")
    report = drift(target, backend.catalog())
    if not report.clean:
        raise DriftDetected(report)
    position, head = state_or_replay_result.position, state_or_replay_result.head
    backend.execute(_record_statements(True, position, head, target))
