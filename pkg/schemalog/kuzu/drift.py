"""The live catalog in the comparable form of ``ddl``, and drift against a schema state.

A ``backends.port.Catalog`` holds names only. ``model_of_catalog`` gives its
tables and properties stable ids by matching names against a *reference*
state -- the state recorded when we last applied (its id <-> name map), or
the expected state when there is no record:

1. a catalog table whose name is a reference table's name gets that id;
2. a reference table not found by name, and a catalog table with an unknown
   name, of the same shape (kind, property types in order, primary-key type,
   FROM/TO pairs), one candidate each way, are the same table renamed behind
   our back (the same for properties: missing and unknown properties of the
   same type in the same table, paired in order when the counts agree);
3. anything else gets a synthetic id (``catalog:<name>``): an extra table.

``drift`` then compares that model with the expected state's model by id.
What drift can see: missing/extra tables and properties, table and property
renames (when the shape pairs them; otherwise a rename shows as one missing
and one extra), type, default, primary key, FROM/TO pairs, comments.
What it cannot see: a rel table's multiplicity (Kuzu 0.11.3 shows it nowhere,
so it is never compared), property order (not compared; Kuzu appends added
columns), a comment set to '' versus none (Kuzu shows both as ''), data.

The bookkeeping table ``_schemalog_applied`` is excluded from every
comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemalog.errors import SchemalogError
from schemalog.kuzu.cypher import default_expression
from schemalog.kuzu.ddl import DdlPlan, PropModel, TableModel, model_of_state, plan_diff
from schemalog.kuzu.ddl_parse import default_from_expression
from schemalog.kuzu.port import Catalog, NodeTableInfo, PropertyInfo, RelTableInfo
from schemalog.model.events import canonical_type
from schemalog.model.names import RESERVED_PREFIX, catalog_key
from schemalog.model.schema import NODE, REL, SchemaState

__all__ = [
    "BOOKKEEPING_TABLE",
    "Difference",
    "DriftReport",
    "drift",
    "model_of_catalog",
    "repair_ddl",
    "user_catalog",
]

BOOKKEEPING_TABLE = RESERVED_PREFIX + "_applied"

Model = Mapping[str, TableModel]


def user_catalog(catalog: Catalog) -> Catalog:
    """``catalog`` without our own ``_schemalog*`` tables."""

    def ours(name: str) -> bool:
        return catalog_key(name).startswith(RESERVED_PREFIX)

    return Catalog(
        tuple(t for t in catalog.node_tables if not ours(t.name)),
        tuple(t for t in catalog.rel_tables if not ours(t.name)),
    )


def _type(text: str) -> str:
    try:
        return canonical_type(text)
    except SchemalogError:
        return text  # a type our grammar does not know: compared verbatim


def _shape(t: TableModel) -> tuple[Any, ...]:
    pk = t.prop(t.primary_key or "")
    return (
        t.kind,
        tuple(p.type for p in t.properties),
        pk.type if pk else None,
        tuple(sorted(t.connections)),
    )


def model_of_catalog(catalog: Catalog, reference: SchemaState | Model) -> dict[str, TableModel]:
    """Give the catalog's tables and properties ids by matching against ``reference``."""
    ref = model_of_state(reference) if isinstance(reference, SchemaState) else reference
    catalog = user_catalog(catalog)
    infos: list[NodeTableInfo | RelTableInfo] = [*catalog.node_tables, *catalog.rel_tables]
    by_name = {t.name: tid for tid, t in ref.items()}
    ids = {info.name: by_name[info.name] for info in infos if info.name in by_name}
    # node tables first, so that rel tables compare FROM/TO pairs by the ids found
    for kind in (NODE, REL):
        current = {info.name: ids.get(info.name, f"catalog:{info.name}") for info in infos}
        unknown = [
            _raw_table(info, current[info.name], current)
            for info in infos
            if info.name not in ids and _kind(info) == kind
        ]
        found = set(ids.values())
        missing = [t for tid, t in sorted(ref.items()) if tid not in found and t.kind == kind]
        for t in missing:
            shape = _shape(t)
            cands = [u for u in unknown if _shape(u) == shape]
            back = [m for m in missing if _shape(m) == shape]
            if len(cands) == 1 and len(back) == 1:
                ids[cands[0].name] = t.id
                unknown.remove(cands[0])
    final = {info.name: ids.get(info.name, f"catalog:{info.name}") for info in infos}
    out: dict[str, TableModel] = {}
    for info in infos:
        tid = final[info.name]
        out[tid] = _match_properties(_raw_table(info, tid, final), ref.get(tid))
    return out


def _kind(info: NodeTableInfo | RelTableInfo) -> str:
    return NODE if isinstance(info, NodeTableInfo) else REL


def _raw_table(info: NodeTableInfo | RelTableInfo, tid: str, ids: Mapping[str, str]) -> TableModel:
    props = tuple(_raw_prop(tid, p) for p in info.properties)
    if isinstance(info, NodeTableInfo):
        pk = f"{tid}/catalog:{info.primary_key}"
        return TableModel(tid, NODE, info.name, props, pk, frozenset(), None, info.comment)
    conns = frozenset(
        (ids.get(a, f"catalog:{a}"), ids.get(b, f"catalog:{b}")) for a, b in info.connections
    )
    return TableModel(tid, REL, info.name, props, None, conns, info.multiplicity, info.comment)


def _raw_prop(tid: str, p: PropertyInfo) -> PropModel:
    typ = _type(p.type)
    return PropModel(f"{tid}/catalog:{p.name}", p.name, typ, _default(p.default, typ))


def _default(shown: str | None, typ: str) -> str | None:
    """A default as Kuzu prints it, in ``ddl``'s spelling when it is a value the model
    records (``date('2020-01-01')``, ``TRUE``, ``1.5``, ``-42`` are how Kuzu prints
    what DDL written by hand says; ``ddl`` writes ``CAST(...)``, ``true``, ``-(42)``);
    any other expression is compared as printed."""
    if shown is None:
        return None
    try:
        value = default_from_expression(shown, typ)
        return default_expression(value, typ)
    except SchemalogError:
        return shown


def _match_properties(t: TableModel, ref: TableModel | None) -> TableModel:
    if ref is None:
        return t
    ids: dict[str, str] = {}  # provisional id -> reference id
    ref_by_name = {p.name: p for p in ref.properties}
    for p in t.properties:
        if p.name in ref_by_name:
            ids[p.id] = ref_by_name[p.name].id
    missing = [p for p in ref.properties if p.id not in ids.values()]
    unknown = [p for p in t.properties if p.id not in ids]
    for typ in sorted({p.type for p in missing}):
        gone = [p for p in missing if p.type == typ]
        new = [p for p in unknown if p.type == typ]
        if len(gone) == len(new):
            ids.update(zip((p.id for p in new), (p.id for p in gone), strict=True))
    props = tuple(PropModel(ids.get(p.id, p.id), p.name, p.type, p.default) for p in t.properties)
    pk = ids.get(t.primary_key or "", t.primary_key)
    return TableModel(t.id, t.kind, t.name, props, pk, t.connections, t.multiplicity, t.comment)


# ---------------------------------------------------------------- drift


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference; ``kind`` is one of the DIFFERENCE_KINDS, names as they appear."""

    kind: str
    table: str
    property: str | None = None
    expected: str | None = None
    actual: str | None = None

    def __str__(self) -> str:
        what = self.table if self.property is None else f"{self.table}.{self.property}"
        parts = [f"{self.kind}: {what!r}"]
        if self.expected is not None or self.actual is not None:
            parts.append(f"expected {self.expected!r}, found {self.actual!r}")
        return " ".join(parts)

    def to_obj(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": self.table,
            "property": self.property,
            "expected": self.expected,
            "actual": self.actual,
        }


DIFFERENCE_KINDS = (
    "missing-table",
    "extra-table",
    "renamed-table",
    "table-kind",
    "primary-key",
    "missing-property",
    "extra-property",
    "renamed-property",
    "property-type",
    "property-default",
    "missing-connection",
    "extra-connection",
    "comment",
)


@dataclass(frozen=True, slots=True)
class DriftReport:
    differences: tuple[Difference, ...]
    expected: Mapping[str, TableModel] = field(repr=False)
    actual: Mapping[str, TableModel] = field(repr=False)

    @property
    def clean(self) -> bool:
        return not self.differences

    def to_obj(self) -> dict[str, Any]:
        return {"clean": self.clean, "differences": [d.to_obj() for d in self.differences]}


def drift(
    expected: SchemaState | Model,
    catalog: Catalog,
    *,
    applied: SchemaState | Model | None = None,
) -> DriftReport:
    """Every difference between the live ``catalog`` and ``expected``.

    ``applied`` is the state recorded when the database was last applied to;
    its id <-> name map recognises renames made behind our back (without it,
    ``expected`` serves as the reference).
    """
    exp = model_of_state(expected) if isinstance(expected, SchemaState) else dict(expected)
    if applied is None:
        ref: Model = exp
    else:
        ref = model_of_state(applied) if isinstance(applied, SchemaState) else applied
    act = model_of_catalog(catalog, ref)
    return DriftReport(tuple(_differences(exp, act)), exp, act)


def _differences(exp: Model, act: Model) -> list[Difference]:
    out: list[Difference] = []
    en = {tid: t.name for tid, t in exp.items()}
    an = {tid: t.name for tid, t in act.items()}
    for tid in sorted(exp.keys() - act.keys()):
        out.append(Difference("missing-table", exp[tid].name))
    for tid in sorted(act.keys() - exp.keys()):
        out.append(Difference("extra-table", act[tid].name))
    for tid in sorted(exp.keys() & act.keys()):
        e, a = exp[tid], act[tid]
        name = e.name
        if e.name != a.name:
            out.append(Difference("renamed-table", e.name, None, e.name, a.name))
        if e.kind != a.kind:
            out.append(Difference("table-kind", name, None, e.kind, a.kind))
            continue
        if e.kind == NODE:
            ep, ap = e.prop(e.primary_key or ""), a.prop(a.primary_key or "")
            if e.primary_key != a.primary_key:
                out.append(
                    Difference(
                        "primary-key", name, None, ep.name if ep else None, ap.name if ap else None
                    )
                )
        for p in e.properties:
            ap = a.prop(p.id)
            if ap is None:
                out.append(Difference("missing-property", name, p.name))
                continue
            if ap.name != p.name:
                out.append(Difference("renamed-property", name, p.name, p.name, ap.name))
            if ap.type != p.type:
                out.append(Difference("property-type", name, p.name, p.type, ap.type))
            elif ap.default != p.default:
                out.append(Difference("property-default", name, p.name, p.default, ap.default))
        for p in a.properties:
            if e.prop(p.id) is None:
                out.append(Difference("extra-property", name, p.name, None, p.type))
        for f, t in sorted(e.connections - a.connections):
            pair = f"FROM {en.get(f, f)} TO {en.get(t, t)}"
            out.append(Difference("missing-connection", name, None, pair, None))
        for f, t in sorted(a.connections - e.connections):
            pair = f"FROM {an.get(f, f)} TO {an.get(t, t)}"
            out.append(Difference("extra-connection", name, None, None, pair))
        if e.comment != a.comment:
            out.append(Difference("comment", name, None, e.comment, a.comment))
    return out


def repair_ddl(report: DriftReport, *, allow_destructive: bool = False) -> DdlPlan:
    """The plan turning the live database into the expected schema.

    Multiplicity is unknown on the live side, so it is never a reason to
    recreate a rel table; destructive steps are withheld without the flag.
    """
    return plan_diff(report.actual, report.expected, allow_destructive=allow_destructive)
