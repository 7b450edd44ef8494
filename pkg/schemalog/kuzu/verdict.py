"""One verdict on a database for apply and drift, the repair model, and the rows a plan loses.

``assess(backend)`` reads the facts both commands act on: the record
(``record.read_record``: RecordMissing / RecordCorrupt raise, nothing is
guessed), the live catalog, and the drift of the catalog from the record (what
changed behind the log's back). ``apply`` refuses drift unless repairing;
``drift`` prints it with the distance to the log's head; both exit 2 with the
same message when the record is missing or corrupt.

A repair starts from the live catalog, matched to the log (``repair_report``):
by the record's id <-> name map when there is a readable record, then by name
against the target state for the tables the record does not know (all of them
when the record is missing or corrupt), then by structure (drift.py's shape
rule, for renames). A live table identical to the target's table of that name
thus gets the target's ids: the plan keeps it, with its data.
``DROP`` is proposed only for what differs.

``losses(backend, model, steps)`` counts, before anything is sent, the rows
each destructive step deletes: a dropped table's rows (nodes or
relationships), the non-NULL values of a dropped property, the relationships
of a dropped FROM/TO pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemalog.kuzu.cypher import quote_identifier as q
from schemalog.kuzu.ddl import Step, TableModel, model_of_state
from schemalog.kuzu.drift import DriftReport, drift
from schemalog.kuzu.port import Catalog, KuzuBackend
from schemalog.kuzu.record import AppliedRecord, read_record
from schemalog.model.names import catalog_key
from schemalog.model.schema import NODE, SchemaState, empty_state

__all__ = ["Loss", "Verdict", "assess", "losses", "repair_reference", "repair_report"]

Model = Mapping[str, TableModel]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``record`` None: a database holding no table (never applied to)."""

    record: AppliedRecord | None
    catalog: Catalog
    changed: DriftReport  # live catalog against the record: changed behind the log's back

    @property
    def clean(self) -> bool:
        return self.changed.clean


def assess(backend: KuzuBackend) -> Verdict:
    """The facts apply and drift act on; raises RecordMissing / RecordCorrupt."""
    record = read_record(backend)
    catalog = backend.catalog()
    base = record.state if record is not None else empty_state()
    return Verdict(record, catalog, drift(base, catalog, applied=base))


def repair_reference(target: SchemaState, record: AppliedRecord | None) -> dict[str, TableModel]:
    """The ids a repair matches the live catalog against (module doc): the record's
    tables, then the target's tables whose id and name the record does not hold."""
    reference: dict[str, TableModel] = {}
    if record is not None:
        reference.update(model_of_state(record.state))
    names = {catalog_key(t.name) for t in reference.values()}
    for tid, t in model_of_state(target).items():
        if tid not in reference and catalog_key(t.name) not in names:
            reference[tid] = t
            names.add(catalog_key(t.name))
    return reference


def repair_report(
    catalog: Catalog, target: SchemaState, record: AppliedRecord | None
) -> DriftReport:
    """The live catalog against ``target``, matched for a repair: its ``actual`` is the
    model a repair plans from, its differences what the repair changes."""
    return drift(target, catalog, applied=repair_reference(target, record))


@dataclass(frozen=True, slots=True)
class Loss:
    """Step ``index`` (``op``, ``statement``) deletes ``rows`` rows of ``table`` (``what``)."""

    index: int
    op: str
    statement: str
    table: str
    what: str
    rows: int

    def to_obj(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "op": self.op,
            "statement": self.statement,
            "table": self.table,
            "what": self.what,
            "rows": self.rows,
        }

    def __str__(self) -> str:
        return f"{self.statement} deletes {self.rows} {self.what} of {self.table!r}"


def _count(backend: KuzuBackend, cypher: str) -> int:
    rows = backend.query(cypher)
    return int(rows[0]["n"]) if rows else 0


def losses(backend: KuzuBackend, model: Model, steps: Sequence[Step]) -> tuple[Loss, ...]:
    """Rows each destructive step of ``steps`` (planned from ``model``) deletes."""
    kinds = {catalog_key(t.name): t.kind for t in model.values()}
    origin: dict[str, str] = {}  # catalog key of a name now -> the name before the plan
    out = []
    for index, s in enumerate(steps):
        if s.op == "rename_table":
            old, new = s.args
            origin[catalog_key(new)] = origin.pop(catalog_key(old), old)
            continue
        if not s.destructive:
            continue
        table = origin.get(catalog_key(s.args[0]), s.args[0])
        kind = kinds.get(catalog_key(table))
        if kind is None:
            continue
        match = f"(n:{q(table)})" if kind == NODE else f"()-[n:{q(table)}]->()"
        rows_what = "rows" if kind == NODE else "relationships"
        if s.op == "drop_table":
            n, what = _count(backend, f"MATCH {match} RETURN count(n) AS n"), rows_what
        elif s.op == "drop_property":
            prop = q(s.args[1])
            cypher = f"MATCH {match} WHERE n.{prop} IS NOT NULL RETURN count(n) AS n"
            n, what = _count(backend, cypher), f"values of {s.args[1]!r}"
        elif s.op == "drop_connection":
            a = origin.get(catalog_key(s.args[1]), s.args[1])
            b = origin.get(catalog_key(s.args[2]), s.args[2])
            cypher = f"MATCH (:{q(a)})-[n:{q(table)}]->(:{q(b)}) RETURN count(n) AS n"
            n, what = _count(backend, cypher), f"relationships FROM {a!r} TO {b!r}"
        else:
            continue
        out.append(Loss(index, s.op, s.statement, table, what, n))
    return tuple(out)
