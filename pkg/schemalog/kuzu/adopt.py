"""A catalog as the first events of a new log: adopting a database we never applied to.

``schemalog migrate`` moves a schema by replay. A database without our record
(``_schemalog_applied``) has no log; its catalog becomes one: a create event
per node table (in name order), then per rel table, then a comment event per
commented table. Replaying those events gives a state whose drift against
the catalog is clean -- the caller checks that, so anything lost here shows.

What a catalog cannot say, and what is assumed instead:

* a rel table's multiplicity (Kuzu and LadybugDB show it nowhere): MANY_MANY,
  the engines' default, which accepts every edge; listed in ``assumed``;
* sort keys (LadybugDB's SET SORTED BY is not shown either): none;
* default values: the engines print the expression, not the value. The forms
  our renderer writes (``cypher.default_expression``) are read back: integer,
  ``true``/``false``, a string literal, ``CAST('<text>' AS <type>)``; any other
  expression raises ``CannotAdopt`` naming the table, property and expression.

Pure: the events' clock is the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemalog.errors import SchemalogError
from schemalog.kuzu.drift import user_catalog
from schemalog.kuzu.port import Catalog, NodeTableInfo, PropertyInfo, RelTableInfo
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    CommentOnTable,
    Event,
    build_node_table,
    build_rel_table,
    canonical_type,
    new_event,
)
from schemalog.model.types import DefaultValue

__all__ = ["Adopted", "CannotAdopt", "events_from_catalog"]

_INT = re.compile(r"-?[0-9]+\Z")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'\Z", re.DOTALL)
_CAST = re.compile(r"CAST\('((?:[^'\\]|\\.)*)' AS (.+)\)\Z", re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


class CannotAdopt(SchemalogError):
    """A catalog entry has no event form (``where``: table or table.property)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"cannot take {where} into a log: {reason}")


class Adopted:
    """The events, and what had to be assumed (human-readable lines)."""

    def __init__(self, events: list[Event], assumed: list[str]) -> None:
        self.events = events
        self.assumed = assumed


def _default(table: str, p: PropertyInfo, typ: str) -> DefaultValue:
    shown = p.default
    if shown is None or typ == "SERIAL":
        return None
    if _INT.match(shown):
        return int(shown)
    if shown in ("true", "false"):
        return shown == "true"
    m = _STRING.match(shown)
    if m is not None:
        return _UNESCAPE.sub(r"\1", m.group(1))
    m = _CAST.match(shown)
    if m is not None and canonical_type(m.group(2)) == typ:
        return _UNESCAPE.sub(r"\1", m.group(1))
    raise CannotAdopt(f"{table}.{p.name}", f"default expression {shown!r} of type {typ}")


def _specs(table: str, properties: Iterable[PropertyInfo]) -> list[tuple[str, str, DefaultValue]]:
    out = []
    for p in properties:
        try:
            typ = canonical_type(p.type)
        except SchemalogError as exc:
            raise CannotAdopt(f"{table}.{p.name}", f"type {p.type!r}: {exc}") from None
        out.append((p.name, typ, _default(table, p, typ)))
    return out


def events_from_catalog(
    catalog: Catalog, clock: HybridLogicalClock, workspace: str = "default"
) -> Adopted:
    """Events that build ``catalog`` (our own ``_schemalog*`` tables left out)."""
    catalog = user_catalog(catalog)
    events: list[Event] = []
    assumed: list[str] = []
    ids: dict[str, str] = {}

    def emit(change: object) -> Event:
        event = new_event(clock, workspace, [events[-1].id] if events else [], change)  # type: ignore[arg-type]
        events.append(event)
        return event

    for node in catalog.node_tables:
        specs = _specs(node.name, node.properties)
        ids[node.name] = emit(build_node_table(node.name, specs, node.primary_key)).id
    for rel in catalog.rel_tables:
        specs = _specs(rel.name, rel.properties)
        pairs = [(ids[a], ids[b]) for a, b in rel.connections]
        multiplicity = rel.multiplicity or "MANY_MANY"
        if rel.multiplicity is None:
            assumed.append(f"rel table {rel.name!r}: multiplicity not shown, MANY_MANY assumed")
        ids[rel.name] = emit(build_rel_table(rel.name, pairs, specs, multiplicity)).id
    tables: list[NodeTableInfo | RelTableInfo] = [*catalog.node_tables, *catalog.rel_tables]
    for info in tables:
        if info.comment:
            emit(CommentOnTable(ids[info.name], info.comment))
    return Adopted(events, assumed)
