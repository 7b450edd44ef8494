"""Cypher DDL from events and from schema diffs; net-effect compaction.

Pure: no ``kuzu`` import, no I/O. Identifiers are written only through
``cypher.quote_identifier``, values only through ``cypher.string_literal`` /
``cypher.default_expression``, types only as their canonical spelling
(re-parsed here), so no string from an event reaches Kuzu unquoted.

Three entry points:

* ``ddl_for_event(state, event)``: the statements for one event, rendered
  from the event and the state *before* it (names resolved via stable ids).
* ``ddl_for_state(state)``: the shortest DDL that builds ``state`` on an empty
  database: node tables, then rel tables, then comments; each group by table id
  (creation order), so the output is deterministic.
* ``ddl_for_diff(old, new)``: a ``DdlPlan`` turning one state into the other,
  matching tables and properties by stable id (a rename stays a rename).

Order of a diff (each phase frees names or creates targets for the next):

1. drop rel tables that go (or are recreated);
2. drop FROM/TO pairs that go from kept rel tables;
3. drop node-table properties that go or change type/default (no ALTER of either);
4. drop node tables that go (nothing references them any more);
5. rename tables: a rename whose target name is still held (case-insensitively)
   by another pending rename waits for it; a cycle (two tables swapping names)
   goes through a temporary name ``_schemalog_tmp_<n>`` (a reserved prefix: no
   user name collides), so does a case-only rename (``Person`` -> ``PERSON``,
   which Kuzu 0.11.3 refuses as "already exists");
6. create node tables; 7. add FROM/TO pairs to kept rel tables, before any of
   their properties is dropped (the other order crashes Kuzu 0.11.3: hazards.py);
8. drop rel-table properties that go or change (as in 3); 9. rename properties
   (as tables); 10. add properties; 11. create rel tables; 12. comments; 13. SET
   SORTED BY (LadybugDB), for a created node table with sort keys and a kept one
   whose keys change (keys that become empty -- their last column dropped --
   have no DDL: LadybugDB has no RESET, and its catalog does not show the keys).

Engines: every entry point takes ``engine`` (a ``profile.EngineProfile``);
a step whose form the engine lacks raises ``UnsupportedByEngine`` naming the
rule ``<op>-unsupported`` (SET SORTED BY on Kuzu). Without ``engine`` every
form is rendered (the caller checks, as ``apply.check_steps`` does).

A table is recreated (drop + create) when its kind, primary key or known
multiplicity differ (between unrelated states or against a drifted catalog).

Destructive steps (they lose data): DROP TABLE, ALTER ... DROP of a property or
a FROM/TO pair, and the drop half of a type/default change or a recreate. They
are emitted only with ``allow_destructive=True``; otherwise the plan is computed
against a target that keeps what would be destroyed, and ``DdlPlan.withheld``
lists the destructive steps left out. If keeping them makes the rest
impossible (a new table wants the name of a table that would be dropped), the
whole plan is withheld.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from schemalog.kuzu.cypher import (
    UnquotableName,
    default_expression,
    quote_identifier,
    string_literal,
)
from schemalog.kuzu.profile import EngineProfile
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    PropertyDef,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    Tag,
    canonical_type,
)
from schemalog.model.names import RESERVED_PREFIX, catalog_key
from schemalog.model.parts import parsed_type
from schemalog.model.schema import NODE, REL, SchemaState, TableState

__all__ = [
    "TEMP_PREFIX",
    "DdlPlan",
    "PropModel",
    "Step",
    "TableModel",
    "checked",
    "ddl_for_diff",
    "ddl_for_event",
    "ddl_for_state",
    "model_of_state",
    "plan_diff",
    "plan_for_state",
]

TEMP_PREFIX = RESERVED_PREFIX + "_tmp_"
q = quote_identifier


# ---------------------------------------------------------------- the comparable model


@dataclass(frozen=True, slots=True)
class PropModel:
    """A property as Kuzu sees it: id, name, canonical type, default as rendered DDL."""

    id: str
    name: str
    type: str
    default: str | None


@dataclass(frozen=True, slots=True)
class TableModel:
    """A table as Kuzu sees it, keyed by stable ids. ``multiplicity`` None = unknown."""

    id: str
    kind: str
    name: str
    properties: tuple[PropModel, ...]
    primary_key: str | None  # property id (node tables)
    connections: frozenset[tuple[str, str]]  # (from table id, to table id)
    multiplicity: str | None
    comment: str
    sorted_by: tuple[tuple[str, str], ...] = ()  # (property id, ASC|DESC); unknown live

    def prop(self, prop_id: str) -> PropModel | None:
        return next((p for p in self.properties if p.id == prop_id), None)


Model = Mapping[str, TableModel]


_CANONICAL: dict[str, str] = {}  # type text -> canonical spelling; a log has few types


def _prop_model(prop: PropertyDef) -> PropModel:
    # cached, and no default rendered for no default: a 1M-event log's state has
    # 4,600 properties, and parsing each type again took ~0.1 s of a ~0.4 s apply
    typ = _CANONICAL.get(prop.type)
    if typ is None:
        typ = canonical_type(prop.type)
        if len(_CANONICAL) < 4096:
            _CANONICAL[prop.type] = typ
    if prop.default is None:
        return PropModel(prop.property_id, prop.name, typ, None)
    expression = default_expression(prop.default, parsed_type(typ))
    return PropModel(prop.property_id, prop.name, typ, expression)


def table_model(table: TableState) -> TableModel:
    return TableModel(
        table.table_id,
        table.kind,
        table.name,
        tuple(_prop_model(p) for p in table.properties),
        table.primary_key,
        frozenset((c.from_table_id, c.to_table_id) for c in table.connections),
        table.multiplicity,
        table.comment,
        tuple((k.property_id, k.order) for k in table.sorted_by),
    )


def model_of_state(state: SchemaState) -> dict[str, TableModel]:
    return {tid: table_model(t) for tid, t in state.tables.items()}


# ---------------------------------------------------------------- steps and plans


@dataclass(frozen=True, slots=True)
class Step:
    """One statement with what it does, in names as they are when it runs.

    ``op`` is one of: create_node_table (args: name, property names, primary
    key name), create_rel_table (name, ((from, to), ...), property names),
    drop_table (name,), add_property / drop_property (table, property),
    rename_table (old, new), rename_property (table, old, new),
    add_connection / drop_connection (table, from, to), comment (table,),
    set_sorted_by (table, ((property, ASC|DESC), ...)).
    """

    op: str
    statement: str
    args: tuple[Any, ...]
    destructive: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DdlPlan:
    steps: tuple[Step, ...]
    withheld: tuple[Step, ...] = ()

    @property
    def statements(self) -> list[str]:
        return [s.statement for s in self.steps]

    @property
    def destructive(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.destructive)

    @property
    def complete(self) -> bool:
        return not self.withheld

    def to_obj(self) -> dict[str, Any]:
        def step(s: Step) -> dict[str, Any]:
            return {
                "op": s.op,
                "statement": s.statement,
                "destructive": s.destructive,
                "reason": s.reason,
            }

        return {
            "statements": self.statements,
            "steps": [step(s) for s in self.steps],
            "withheld": [step(s) for s in self.withheld],
        }


# ---------------------------------------------------------------- rendering


def _prop_ddl(p: PropModel) -> str:
    text = f"{q(p.name)} {p.type}"
    return text if p.default is None else f"{text} DEFAULT {p.default}"


def _create_node(t: TableModel) -> Step:
    pk = t.prop(t.primary_key or "")
    if pk is None:
        raise ValueError(f"node table {t.name!r} has no primary key property")
    cols = ", ".join([*(_prop_ddl(p) for p in t.properties), f"PRIMARY KEY({q(pk.name)})"])
    return Step(
        "create_node_table",
        f"CREATE NODE TABLE {q(t.name)}({cols})",
        (t.name, tuple(p.name for p in t.properties), pk.name),
        reason=f"create node table {t.name!r}",
    )


def _create_rel(t: TableModel, names: Mapping[str, str]) -> Step:
    if not t.connections:
        raise ValueError(f"rel table {t.name!r} has no FROM/TO pair: Kuzu cannot create it")
    # by name: the statement is a function of the schema a reader sees, not of its ids
    pairs = tuple(sorted((names[a], names[b]) for a, b in t.connections))
    parts = [f"FROM {q(a)} TO {q(b)}" for a, b in pairs]
    parts += [_prop_ddl(p) for p in t.properties]
    if t.multiplicity is not None:
        parts.append(t.multiplicity)
    return Step(
        "create_rel_table",
        f"CREATE REL TABLE {q(t.name)}({', '.join(parts)})",
        (t.name, pairs, tuple(p.name for p in t.properties)),
        reason=f"create rel table {t.name!r}",
    )


def _create(t: TableModel, names: Mapping[str, str]) -> Step:
    return _create_node(t) if t.kind == NODE else _create_rel(t, names)


def _drop_table(name: str, why: str = "") -> Step:
    return Step("drop_table", f"DROP TABLE {q(name)}", (name,), True, why or f"drop table {name!r}")


def _add_prop(table: str, p: PropModel) -> Step:
    return Step(
        "add_property",
        f"ALTER TABLE {q(table)} ADD {_prop_ddl(p)}",
        (table, p.name),
        reason=f"add property {p.name!r} to {table!r}",
    )


def _drop_prop(table: str, prop: str, why: str = "") -> Step:
    return Step(
        "drop_property",
        f"ALTER TABLE {q(table)} DROP {q(prop)}",
        (table, prop),
        True,
        why or f"drop property {prop!r} of {table!r}",
    )


def _rename_table(old: str, new: str) -> Step:
    return Step(
        "rename_table",
        f"ALTER TABLE {q(old)} RENAME TO {q(new)}",
        (old, new),
        reason=f"rename table {old!r} to {new!r}",
    )


def _rename_prop(table: str, old: str, new: str) -> Step:
    return Step(
        "rename_property",
        f"ALTER TABLE {q(table)} RENAME {q(old)} TO {q(new)}",
        (table, old, new),
        reason=f"rename property {old!r} of {table!r} to {new!r}",
    )


def _connection(op: str, table: str, a: str, b: str) -> Step:
    verb = "ADD" if op == "add_connection" else "DROP"
    return Step(
        op,
        f"ALTER TABLE {q(table)} {verb} FROM {q(a)} TO {q(b)}",
        (table, a, b),
        op == "drop_connection",
        f"{verb.lower()} FROM {a!r} TO {b!r} of {table!r}",
    )


def _comment(table: str, text: str) -> Step:
    return Step(
        "comment",
        f"COMMENT ON TABLE {q(table)} IS {string_literal(text)}",
        (table,),
        reason=f"comment on {table!r}",
    )


def _sorted_by(t: TableModel) -> Step:
    cols = tuple((p.name, order) for pid, order in t.sorted_by if (p := t.prop(pid)) is not None)
    keys = ", ".join(f"{q(name)} {order}" for name, order in cols)
    return Step(
        "set_sorted_by",
        f"ALTER TABLE {q(t.name)} SET SORTED BY ({keys})",
        (t.name, cols),
        reason=f"sort {t.name!r} by {', '.join(f'{n} {o}' for n, o in cols)}",
    )


def checked(steps: Iterable[Step], engine: EngineProfile | None) -> list[Step]:
    """``steps``, or UnsupportedByEngine at the first one ``engine`` has no form for.

    Statements quote names the Kuzu way. Model names never hold a backtick, so
    that is every engine's way, except for a name with a backtick found in a
    catalog (drift repair) on an engine that escapes backticks: refused here.
    """
    out = list(steps)
    if engine is not None:
        for s in out:
            engine.require(s.op, s.statement)
            if engine.backtick_escape and "`" in "".join(map(str, _flat(s.args))):
                raise UnquotableName(
                    s.args[0], f"{engine.name} reads a doubled backtick as one; rename it by hand"
                )
    return out


def _flat(args: Iterable[Any]) -> Iterable[Any]:
    for a in args:
        if isinstance(a, tuple):
            yield from _flat(a)
        else:
            yield a


def _renames(
    current: Mapping[str, str],  # id -> name now
    wanted: Mapping[str, str],  # id -> name wanted (only ids that change)
    make: Any,
    temp_taken: set[str],
) -> list[Step]:
    """Rename steps reaching ``wanted`` without a transient (case-insensitive) collision."""
    now = dict(current)
    holder = {catalog_key(n): i for i, n in now.items()}
    pending = {i: n for i, n in wanted.items() if now[i] != n}
    steps: list[Step] = []
    counter = 0

    def temp() -> str:
        nonlocal counter
        while True:
            name = f"{TEMP_PREFIX}{counter}"
            counter += 1
            if catalog_key(name) not in holder and catalog_key(name) not in temp_taken:
                return name

    def move(i: str, name: str) -> None:
        holder.pop(catalog_key(now[i]), None)
        steps.append(make(now[i], name))
        now[i] = name
        holder[catalog_key(name)] = i

    while pending:
        progressed = False
        for i in sorted(pending):
            target = pending[i]
            owner = holder.get(catalog_key(target))
            if owner is None:
                move(i, target)
            elif owner == i:  # case-only rename: Kuzu says "already exists"
                move(i, temp())
                move(i, target)
            else:
                continue
            del pending[i]
            progressed = True
        if not progressed:  # a cycle: park one table under a temporary name
            move(min(pending), temp())
    return steps


# ---------------------------------------------------------------- per event


def ddl_for_event(
    state: SchemaState, event: Event, engine: EngineProfile | None = None
) -> list[str]:
    """Statements for ``event``, rendered against ``state`` (the state before it).

    The event must apply to ``state`` (check with ``schema.apply`` first);
    Merge and Tag events produce no DDL. With ``engine``, a change it has no
    DDL for raises UnsupportedByEngine.
    """
    return [s.statement for s in checked(_steps_for_event(state, event), engine)]


def _steps_for_event(state: SchemaState, event: Event) -> list[Step]:
    c = event.change
    tables = state.tables

    def name(tid: str) -> str:
        return tables[tid].name

    if isinstance(c, CreateNodeTable):
        t = TableState(c.table_id, NODE, c.name, c.properties, c.primary_key, (), None)
        return [_create_node(table_model(t))]
    if isinstance(c, CreateRelTable):
        t = TableState(c.table_id, REL, c.name, c.properties, None, c.connections, c.multiplicity)
        names = {tid: tbl.name for tid, tbl in tables.items()}
        return [_create_rel(table_model(t), names)]
    if isinstance(c, AddProperty):
        return [_add_prop(name(c.table_id), _prop_model(c.property))]
    if isinstance(c, DropProperty):
        prop = tables[c.table_id].property(c.property_id)
        assert prop is not None, "event does not apply to this state"
        return [_drop_prop(name(c.table_id), prop.name)]
    if isinstance(c, RenameProperty):
        table = tables[c.table_id]
        current = {p.property_id: p.name for p in table.properties}
        steps = _renames(
            current,
            {c.property_id: c.new_name},
            lambda a, b: _rename_prop(table.name, a, b),
            set(),
        )
        return steps
    if isinstance(c, RenameTable):
        current = {tid: t.name for tid, t in tables.items()}
        steps = _renames(current, {c.table_id: c.new_name}, _rename_table, set())
        return steps
    if isinstance(c, DropTable):
        return [_drop_table(name(c.table_id))]
    if isinstance(c, AddConnection | DropConnection):
        op = "add_connection" if isinstance(c, AddConnection) else "drop_connection"
        conn = c.connection
        return [_connection(op, name(c.table_id), name(conn.from_table_id), name(conn.to_table_id))]
    if isinstance(c, CommentOnTable):
        return [_comment(name(c.table_id), c.comment)]
    if isinstance(c, SetSortedBy):
        table = replace(tables[c.table_id], sorted_by=c.keys)
        return [_sorted_by(table_model(table))]
    if isinstance(c, Merge | Tag):
        return []
    raise TypeError(f"unknown change {type(c).__name__}")


# ---------------------------------------------------------------- whole states


def _by_creation(tables: Iterable[TableModel]) -> list[TableModel]:
    return sorted(tables, key=lambda t: t.id)


def plan_for_state(model: Model, engine: EngineProfile | None = None) -> DdlPlan:
    """Steps building ``model`` on an empty database (node, rel, comments, sort keys)."""
    names = {tid: t.name for tid, t in model.items()}
    tables = _by_creation(model.values())
    steps = [_create(t, names) for t in tables if t.kind == NODE]
    steps += [_create(t, names) for t in tables if t.kind == REL]
    steps += [_comment(t.name, t.comment) for t in tables if t.comment]
    steps += [_sorted_by(t) for t in tables if t.sorted_by]
    return DdlPlan(tuple(checked(steps, engine)))


def ddl_for_state(state: SchemaState, engine: EngineProfile | None = None) -> list[str]:
    """The shortest DDL that builds ``state`` on an empty database."""
    return plan_for_state(model_of_state(state), engine).statements


def ddl_for_diff(
    old: SchemaState,
    new: SchemaState,
    *,
    allow_destructive: bool = False,
    engine: EngineProfile | None = None,
) -> DdlPlan:
    """The plan turning ``old`` into ``new`` (see the module docstring for order and policy)."""
    return plan_diff(
        model_of_state(old),
        model_of_state(new),
        allow_destructive=allow_destructive,
        engine=engine,
    )


def _same(a: PropModel, b: PropModel) -> bool:
    return (a.type, a.default) == (b.type, b.default)


def _needs_recreate(a: TableModel, b: TableModel) -> str | None:
    if a.kind != b.kind:
        return f"kind changes from {a.kind} to {b.kind}"
    if a.kind == NODE:
        pa, pb = a.prop(a.primary_key or ""), b.prop(b.primary_key or "")
        if a.primary_key != b.primary_key or pa is None or pb is None:
            return "primary key changes"
        if (pa.type, pa.default) != (pb.type, pb.default):
            return "primary key type or default changes"
    elif (
        a.multiplicity is not None
        and b.multiplicity is not None
        and (a.multiplicity != b.multiplicity)
    ):
        return f"multiplicity changes from {a.multiplicity} to {b.multiplicity}"
    return None


def _recreated(old: Model, new: Model) -> dict[str, str]:
    out = {
        tid: why
        for tid in sorted(old.keys() & new.keys())
        if (why := _needs_recreate(old[tid], new[tid])) is not None
    }
    for tid in list(out):  # rel tables of a recreated node table go with it
        if old[tid].kind == NODE:
            for rel in old.values():
                if rel.kind == REL and any(tid in pair for pair in rel.connections):
                    out.setdefault(rel.id, f"it references recreated {old[tid].name!r}")
    return out


def _full_plan(old: Model, new: Model) -> list[Step]:
    recreate = _recreated(old, new)
    gone = {tid for tid in old if tid not in new} | recreate.keys()
    kept = [tid for tid in sorted(old) if tid in new and tid not in recreate]
    created = _by_creation(new[tid] for tid in new if tid not in old or tid in recreate)
    old_names = {tid: t.name for tid, t in old.items()}
    steps: list[Step] = []

    def why(tid: str) -> str:
        extra = f" ({recreate[tid]}: recreated)" if tid in recreate else ""
        return f"drop table {old[tid].name!r}{extra}"

    # 1-2: rel tables and FROM/TO pairs that go
    for tid in sorted(gone):
        if old[tid].kind == REL:
            steps.append(_drop_table(old[tid].name, why(tid)))
    for tid in kept:
        a, b = old[tid], new[tid]
        if a.kind == REL:
            for f, to in sorted(a.connections - b.connections):
                steps.append(_connection("drop_connection", a.name, old_names[f], old_names[to]))
    changed: dict[str, list[PropModel]] = {}  # 3 (node tables) and 8 (rel tables)

    def drop_props(kind: str, renamed: bool) -> None:
        for tid in kept:
            a, b = old[tid], new[tid]
            if a.kind != kind:
                continue
            name = b.name if renamed else a.name
            for p in a.properties:
                np = b.prop(p.id)
                if np is None:
                    steps.append(_drop_prop(name, p.name))
                elif (np.type, np.default) != (p.type, p.default):
                    what = "type" if np.type != p.type else "default"
                    steps.append(
                        _drop_prop(
                            name, p.name, f"drop property {p.name!r} of {name!r} ({what} changes)"
                        )
                    )
                    changed.setdefault(tid, []).append(np)

    drop_props(NODE, renamed=False)  # 3
    # 4: node tables that go
    for tid in sorted(gone):
        if old[tid].kind == NODE:
            steps.append(_drop_table(old[tid].name, why(tid)))
    # 5: table renames
    current = {tid: old[tid].name for tid in kept}
    taken = {catalog_key(t.name) for t in new.values()}
    steps += _renames(current, {tid: new[tid].name for tid in kept}, _rename_table, taken)
    # 6: node tables created (new FROM/TO pairs may point at them)
    names = {tid: t.name for tid, t in new.items()}
    steps += [_create(t, names) for t in created if t.kind == NODE]
    # 7: FROM/TO pairs added to kept rel tables, before their property drops (hazards.py)
    for tid in kept:
        a, b = old[tid], new[tid]
        if b.kind == REL:
            for f, to in sorted(b.connections - a.connections):
                steps.append(_connection("add_connection", b.name, names[f], names[to]))
    # 8: rel-table properties that go or change (the table has its new name by now)
    drop_props(REL, renamed=True)
    # 9: property renames
    for tid in kept:
        a, b = old[tid], new[tid]
        survivors = [(p, b.prop(p.id)) for p in a.properties]
        props = {p.id: p.name for p, np in survivors if np is not None and _same(p, np)}
        want = {p.id: np.name for p, np in survivors if np is not None and p.id in props}
        ptaken = {catalog_key(p.name) for p in b.properties}
        steps += _renames(props, want, lambda x, y, n=b.name: _rename_prop(n, x, y), ptaken)
    # 10-11: properties added, rel tables created
    for tid in kept:
        a, b = old[tid], new[tid]
        readd = {p.id for p in changed.get(tid, [])}
        for p in b.properties:
            if a.prop(p.id) is None or p.id in readd:
                steps.append(_add_prop(b.name, p))
    steps += [_create(t, names) for t in created if t.kind == REL]
    # 12: comments
    for t in created:
        if t.comment:
            steps.append(_comment(t.name, t.comment))
    for tid in kept:
        if old[tid].comment != new[tid].comment:
            steps.append(_comment(new[tid].name, new[tid].comment))
    # 13: sort keys (none to set when they become empty: no DDL resets them)
    for t in created:
        if t.sorted_by:
            steps.append(_sorted_by(t))
    for tid in kept:
        if new[tid].sorted_by and old[tid].sorted_by != new[tid].sorted_by:
            steps.append(_sorted_by(new[tid]))
    return steps


def _keeping_destroyed(old: Model, new: Model) -> dict[str, TableModel] | None:
    """``new`` plus everything a diff from ``old`` would destroy; None if names collide."""
    recreate = _recreated(old, new)
    target: dict[str, TableModel] = {}
    for tid, b in new.items():
        a = old.get(tid)
        if a is None:
            target[tid] = b
        elif tid in recreate:
            target[tid] = a
        else:
            props = []
            for p in a.properties:  # old order first: kept or changed ones stay as they were
                np = b.prop(p.id)
                props.append(p if np is None or not _same(p, np) else np)
            props += [p for p in b.properties if a.prop(p.id) is None]
            target[tid] = replace(
                b, properties=tuple(props), connections=b.connections | a.connections
            )
    for tid, a in old.items():
        target.setdefault(tid, a)
    seen: set[str] = set()
    for t in target.values():
        key = catalog_key(t.name)
        pkeys = [catalog_key(p.name) for p in t.properties]
        if key in seen or len(set(pkeys)) != len(pkeys):
            return None
        seen.add(key)
    return target


def plan_diff(
    old: Model,
    new: Model,
    *,
    allow_destructive: bool = False,
    engine: EngineProfile | None = None,
) -> DdlPlan:
    """The plan turning model ``old`` into model ``new``."""
    full = checked(_full_plan(old, new), engine)
    if allow_destructive or not any(s.destructive for s in full):
        return DdlPlan(tuple(full))
    withheld = tuple(s for s in full if s.destructive)
    target = _keeping_destroyed(old, new)
    if target is None:
        return DdlPlan((), tuple(full))
    safe = checked(_full_plan(old, target), engine)
    assert not any(s.destructive for s in safe), "keeping destroyed parts must be safe"
    return DdlPlan(tuple(safe), withheld)
