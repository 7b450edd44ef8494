"""A baseline: the events that build an existing database's schema, read from its catalog.

Pure given the catalog (the caller reads it through the backend port,
``KuzuBackend.catalog()``). The catalog becomes the statements a person would
have written -- node tables, then rel tables, then comments, each group in
name order -- and those go through ``ddl_record.events_for_ddl``, so a
baseline obeys exactly the rules of recorded DDL and API calls.

What the catalog cannot tell, and what the baseline records instead:

* a rel table's multiplicity: Kuzu 0.11.3 shows it nowhere; ``MANY_MANY``
  (drift never compares multiplicity, for the same reason);
* a negative literal default: Kuzu prints ``DEFAULT -42`` as ``42`` (the
  stored value is right, the printed expression lost its sign; ``-(42)``
  prints as ``-42``), so such a default comes back positive. Nothing in the
  catalog shows the difference;
* a default expression that is not a literal (``1 + 2``, ``current_date()``)
  has no value in the model: the baseline is refused, naming the property.

Our own bookkeeping tables (``_schemalog*``) are left out.
"""

from __future__ import annotations

from schemalog.errors import InvalidEvent, SchemalogError
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_parse import (
    Column,
    CommentOn,
    CreateNode,
    CreateRel,
    Parsed,
    Statement,
    Where,
    default_from_expression,
)
from schemalog.kuzu.ddl_record import DdlEvents, Stamp, events_for_ddl
from schemalog.kuzu.drift import user_catalog
from schemalog.kuzu.port import Catalog, NodeTableInfo, PropertyInfo, RelTableInfo
from schemalog.model.schema import empty_state
from schemalog.model.types import parse_type

__all__ = ["BaselineRefused", "baseline_events", "statements_of_catalog"]


class BaselineRefused(SchemalogError):
    """The catalog holds something the model cannot record; ``where`` names it."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"cannot record a baseline: {where}: {reason}")


def _column(table: str, p: PropertyInfo, primary_key: bool) -> Column:
    where = f"{table}.{p.name}"
    try:
        type_text = str(parse_type(p.type))
    except InvalidEvent as exc:
        raise BaselineRefused(where, f"type {p.type!r}: {exc.reason}") from None
    default = None
    if p.default is not None:
        try:
            default = default_from_expression(p.default, type_text)
        except InvalidEvent as exc:
            raise BaselineRefused(where, f"default {p.default!r}: {exc.reason}") from None
    return Column(p.name, type_text, default, primary_key, Where(0, 0, where))


def statements_of_catalog(catalog: Catalog) -> Parsed:
    """The statements that build ``catalog``'s user tables on an empty database."""
    live = user_catalog(catalog)
    out: list[Statement] = []
    for node in sorted(live.node_tables, key=lambda t: t.name):
        cols = tuple(_column(node.name, p, p.name == node.primary_key) for p in node.properties)
        out.append(CreateNode(Where(0, 0, node.name), node.name, False, cols, node.primary_key))
    for rel in sorted(live.rel_tables, key=lambda t: t.name):
        cols = tuple(_column(rel.name, p, False) for p in rel.properties)
        pairs = tuple(sorted(set(rel.connections)))
        out.append(CreateRel(Where(0, 0, rel.name), rel.name, False, pairs, cols, "MANY_MANY"))
    tables: list[NodeTableInfo | RelTableInfo] = [*live.node_tables, *live.rel_tables]
    for t in sorted(tables, key=lambda t: t.name):
        if t.comment:
            out.append(CommentOn(Where(0, 0, t.name), t.name, t.comment))
    return Parsed(tuple(out))


def baseline_events(catalog: Catalog, stamp: Stamp) -> DdlEvents:
    """The events that build ``catalog`` from nothing, stamped one on top of the other."""
    result = events_for_ddl(empty_state(), (), statements_of_catalog(catalog), stamp)
    if isinstance(result, DdlError):
        raise BaselineRefused(result.statement, f"{result.message} ({result.rule})")
    return result
