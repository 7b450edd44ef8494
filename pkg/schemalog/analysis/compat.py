"""Compatibility between schema versions and along a history; breaking-change rules.

What the modes mean for a Kuzu property graph
=============================================

A version's *clients* are the Cypher queries and programs written against it:
readers (``MATCH ... RETURN`` by table, property and FROM/TO names, decoding
values of the declared types) and writers (``CREATE``/``MERGE``/``SET``,
``COPY FROM`` files, keyed by the same names). Compatibility of ``old -> new``:

* **BACKWARD**: clients and data of ``old`` keep working on a database at
  ``new``: every name an old query uses still binds to the same kind of thing
  (table, property, FROM/TO pair), every value an old writer writes fits the
  new type, the primary key is the same, the data old clients stored is still
  there, and the multiplicity accepts every edge an old writer may create.
* **FORWARD**: what clients of ``new`` write can still be read by clients of
  ``old`` (a rolling deployment, or rolling the schema back): old readers'
  names still bind, every value a new writer can write fits the old type (a
  widened type breaks FORWARD, not BACKWARD), the multiplicity is not looser
  than old readers assume.
* **FULL** = BACKWARD and FORWARD. **NONE** checks nothing.
* ``*_TRANSITIVE``: the same, against *every* earlier version, not only the
  previous one.

Additions are compatible both ways: a new table, a new property with a
default, a new rel table. Comments never break (but an alias declared in a
comment can make a rename compatible, below). Elements are matched by stable
id (events), so a rename is ONE finding, never a removal plus an addition.
An element dropped and re-created under the same name is matched by name to
its replacement: one ``*_REPLACED`` finding (the stored data is gone) plus
whatever differs by name (type, default, primary key, multiplicity).

Aliases. Kuzu resolves no aliases, so a rename breaks old queries -- unless
the application keeps accepting the old name (a query rewriter, a name map).
It declares that promise in the comment of the table (visible in Kuzu's
catalog): a line ``@alias OLD NAME`` keeps the table's old name valid, and a
line ``@alias-property PROPERTY_ID OLD NAME`` keeps a property's old name
valid. Clients of a version use that version's *current* names (an alias
serves clients of earlier versions), so dropping an alias breaks only the
versions that used the name: this is what makes the transitive check differ.

Type widening. ``fits(a, b)``: every value of type a is exactly a value of
type b. Scalars: INT8 < INT16 < INT32 < INT64 < INT128, UINT8 < UINT16 <
UINT32 < UINT64, UINTn < INT(2n), SERIAL < INT64, INT16/UINT16 < FLOAT <
DOUBLE, INT32/UINT32 < DOUBLE, TIMESTAMP_SEC < TIMESTAMP_MS < TIMESTAMP,
integers < DECIMAL(p, s) with p - s at least their digits, DECIMAL(p, s) <
DECIMAL(p', s') when s' >= s and p' - s' >= p - s (all closed transitively).
Nested: ``T[n]`` < ``U[]`` and ``T[]`` < ``U[]`` and ``T[n]`` < ``U[n]`` when
T fits U; STRUCT/UNION fit when every old field is there and fits (STRUCT
may gain fields: they read NULL); MAP component-wise. Then a change is
*widened* if old fits new only, *narrowed* if new fits old only, *changed*
if neither. INT64 -> DOUBLE is *changed* (not every INT64 is a double);
anything -> STRING too (queries comparing numbers break).

Rules (stable ids; category; which modes it breaks)
===================================================

QUERY: a query of one version fails to bind, or binds to something else.

* TABLE_REMOVED (B, F): a table is dropped; queries naming it fail.
* TABLE_RENAMED (B, F): a table is renamed without an ``@alias`` for the old name.
* TABLE_KIND_CHANGED (B, F): a node table's name now names a rel table, or vice versa.
* PROPERTY_REMOVED (B, F): a property is dropped; queries naming it fail.
* PROPERTY_RENAMED (B, F): a property is renamed without an ``@alias-property``.
* PRIMARY_KEY_CHANGED (B, F): the primary key is another property (MATCH/MERGE by key).
* CONNECTION_REMOVED (B, F): a FROM/TO pair of a rel table is gone.

DATA: values no longer fit, or stored data is gone.

* TABLE_REPLACED (B, F): a table was dropped and re-created under its name; its rows are gone.
* PROPERTY_REPLACED (B, F): a property was dropped and re-added under its name; values gone.
* PROPERTY_TYPE_CHANGED (B, F): neither type holds every value of the other.
* PROPERTY_TYPE_NARROWED (B): the new type cannot hold every old value (INT64 -> INT32).
* PROPERTY_TYPE_WIDENED (F): the old type cannot hold every new value (INT32 -> INT64).
* MULTIPLICITY_TIGHTENED (B): e.g. MANY_MANY -> MANY_ONE; old writers' edges may be refused.
* MULTIPLICITY_LOOSENED (F): e.g. ONE_ONE -> MANY_ONE; old readers' assumption breaks.

STRICT: semantic hazards (queries bind, values fit).

* PROPERTY_ADDED_WITHOUT_DEFAULT (B): rows written by old writers read NULL there.
* DEFAULT_CHANGED (B, F): rows written without the property get another value.
* CONNECTION_ADDED (F): old readers traversing the rel table meet an unexpected pair.
* SORTED_BY_CHANGED (B, F): a node table's SORTED BY keys changed (LadybugDB's
  ``SET SORTED BY``): a version with keys applies to LadybugDB only (Kuzu has
  no such DDL), and readers that relied on one scan order meet another.

Levels are cumulative: QUERY checks QUERY rules, DATA (the default) QUERY and
DATA, STRICT all; ``ignore`` drops single rules.

Along a history
===============

``check_history`` visits versions (every record, every tag, or chosen
positions) and checks each against the previous one, or, in a transitive mode,
against every earlier one; each finding is reported once, at the first version
where it appears, naming the versions it fails against (``old`` the nearest,
``old_first`` the earliest). Comparing every pair is O(n^2); the shortcut:

* Every rule except the two rename rules compares an element's attributes
  through a transitive relation (set inclusion of ids and FROM/TO pairs, the
  ``fits`` order, the multiplicity order, equality), and an element's
  attributes are immutable per id (only names, comments and connections change
  in place). So if v_i and v_j break such a rule for an element, some step
  between them breaks it for the same element: the stepwise check finds every
  transitive failure, and the earliest failing version is where the old
  element took its form (``Provenance.base_since``).
* Renames are not transitive because aliases come and go. Per live element we
  keep the union of the earlier names that were still valid (aliased) when
  left, each with the range of versions that used it. When an element's table
  is touched, a name that no longer resolves is a transitive finding against
  that range, reported once and forgotten. Memory: O(schema + live aliases).

Example (tests): ``Person`` -> comment ``@alias Person`` -> rename to
``People`` -> comment ``@alias People`` -> rename to ``Humans``. Every step
is BACKWARD-compatible; BACKWARD_TRANSITIVE fails at the version where the
``@alias Person`` line was dropped, against the versions that called the
table ``Person``.

Why one module of about 1,000 lines: the first 160 are the specification
above (the contract the rules are tested against), and the history walk
reuses the per-element diff and selection helpers of the pairwise check; a
split would export those private pieces for one caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from schemalog.analysis.versions import Boundaries, Provenance, Version, VersionState, iter_versions
from schemalog.errors import SchemalogError
from schemalog.model.events import Event, PropertyDef
from schemalog.model.names import catalog_key
from schemalog.model.schema import NODE, SchemaState, TableState, table_by_name
from schemalog.model.types import (
    ArrayType,
    DecimalType,
    KuzuType,
    ListType,
    MapType,
    ScalarType,
    StructType,
    UnionType,
    parse_type,
)

__all__ = [
    "CATEGORIES",
    "LEVELS",
    "MODES",
    "RULES",
    "CompatReport",
    "Finding",
    "HistoryChecker",
    "Rule",
    "UnknownRule",
    "check_history",
    "check_pair",
    "compare_states",
    "parse_aliases",
    "type_change",
]

BACKWARD, FORWARD = "BACKWARD", "FORWARD"
MODES = (
    "NONE",
    "BACKWARD",
    "FORWARD",
    "FULL",
    "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE",
    "FULL_TRANSITIVE",
)
CATEGORIES = ("QUERY", "DATA", "STRICT")
LEVELS = {"QUERY": ("QUERY",), "DATA": ("QUERY", "DATA"), "STRICT": CATEGORIES}


class UnknownRule(SchemalogError):
    """A mode, level or rule id that does not exist."""

    def __init__(self, what: str, value: str, known: Iterable[str]) -> None:
        self.what, self.value = what, value
        super().__init__(f"unknown {what} {value!r} (known: {', '.join(known)})")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    breaks: frozenset[str]
    summary: str


def _rule(rule_id: str, category: str, breaks: str, summary: str) -> Rule:
    dirs = frozenset({"B": BACKWARD, "F": FORWARD}[c] for c in breaks)
    return Rule(rule_id, category, dirs, summary)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _rule("TABLE_REMOVED", "QUERY", "BF", "a table is dropped; queries naming it fail"),
        _rule("TABLE_RENAMED", "QUERY", "BF", "a table is renamed without an @alias for its old name"),  # noqa: E501
        _rule("TABLE_KIND_CHANGED", "QUERY", "BF", "a table name now names a node table instead of a rel table or vice versa"),  # noqa: E501
        _rule("PROPERTY_REMOVED", "QUERY", "BF", "a property is dropped; queries naming it fail"),
        _rule("PROPERTY_RENAMED", "QUERY", "BF", "a property is renamed without an @alias-property for its old name"),  # noqa: E501
        _rule("PRIMARY_KEY_CHANGED", "QUERY", "BF", "the primary key is another property"),
        _rule("CONNECTION_REMOVED", "QUERY", "BF", "a FROM/TO pair of a rel table is gone"),
        _rule("TABLE_REPLACED", "DATA", "BF", "a table was dropped and re-created under its name; its rows are gone"),  # noqa: E501
        _rule("PROPERTY_REPLACED", "DATA", "BF", "a property was dropped and re-added under its name; its values are gone"),  # noqa: E501
        _rule("PROPERTY_TYPE_CHANGED", "DATA", "BF", "neither type holds every value of the other"),
        _rule("PROPERTY_TYPE_NARROWED", "DATA", "B", "the new type cannot hold every old value"),
        _rule("PROPERTY_TYPE_WIDENED", "DATA", "F", "the old type cannot hold every new value"),
        _rule("MULTIPLICITY_TIGHTENED", "DATA", "B", "the multiplicity is stricter; old writers' edges may be refused"),  # noqa: E501
        _rule("MULTIPLICITY_LOOSENED", "DATA", "F", "the multiplicity is looser than old readers assume"),  # noqa: E501
        _rule("PROPERTY_ADDED_WITHOUT_DEFAULT", "STRICT", "B", "a property is added without a default; rows of old writers read NULL"),  # noqa: E501
        _rule("DEFAULT_CHANGED", "STRICT", "BF", "a property's default changed; rows written without it differ"),  # noqa: E501
        _rule("CONNECTION_ADDED", "STRICT", "F", "a rel table gains a FROM/TO pair old readers do not expect"),  # noqa: E501
        _rule("SORTED_BY_CHANGED", "STRICT", "BF", "a node table's SORTED BY keys changed; the schema is LadybugDB-only and scan order differs"),  # noqa: E501
    )
}  # fmt: skip


def mode_directions(mode: str) -> frozenset[str]:
    if mode not in MODES:
        raise UnknownRule("mode", mode, MODES)
    if mode == "NONE":
        return frozenset()
    base = mode.removesuffix("_TRANSITIVE")
    return frozenset({BACKWARD, FORWARD}) if base == "FULL" else frozenset({base})


def is_transitive(mode: str) -> bool:
    return mode.endswith("_TRANSITIVE")


# ---------------------------------------------------------------- types

_SCALAR_EDGES = (
    ("INT8", "INT16"),
    ("INT16", "INT32"),
    ("INT32", "INT64"),
    ("INT64", "INT128"),
    ("UINT8", "UINT16"),
    ("UINT16", "UINT32"),
    ("UINT32", "UINT64"),
    ("UINT8", "INT16"),
    ("UINT16", "INT32"),
    ("UINT32", "INT64"),
    ("UINT64", "INT128"),
    ("SERIAL", "INT64"),
    ("INT16", "FLOAT"),
    ("UINT16", "FLOAT"),
    ("FLOAT", "DOUBLE"),
    ("INT32", "DOUBLE"),
    ("UINT32", "DOUBLE"),
    ("TIMESTAMP_SEC", "TIMESTAMP_MS"),
    ("TIMESTAMP_MS", "TIMESTAMP"),
)
_INT_DIGITS = {
    "INT8": 3, "INT16": 5, "INT32": 10, "INT64": 19, "INT128": 39, "SERIAL": 19,
    "UINT8": 3, "UINT16": 5, "UINT32": 10, "UINT64": 20,
}  # fmt: skip


def _closure(edges: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    out = set(edges)
    while True:
        more = {(a, d) for a, b in out for c, d in out if b == c} - out
        if not more:
            return frozenset(out)
        out |= more


_SCALAR_FITS = _closure(_SCALAR_EDGES)


def _fits(a: KuzuType, b: KuzuType) -> bool:
    """Every value of ``a`` is exactly a value of ``b``."""
    if a == b:
        return True
    if isinstance(a, ScalarType) and isinstance(b, ScalarType):
        return (a.name, b.name) in _SCALAR_FITS
    if isinstance(b, DecimalType):
        if isinstance(a, DecimalType):
            return b.scale >= a.scale and b.precision - b.scale >= a.precision - a.scale
        return isinstance(a, ScalarType) and b.precision - b.scale >= _INT_DIGITS.get(a.name, 99)
    if isinstance(b, ListType):
        return isinstance(a, ListType | ArrayType) and _fits(a.element, b.element)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return a.size == b.size and _fits(a.element, b.element)
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _fields_fit(a.fields, b.fields)
    if isinstance(a, UnionType) and isinstance(b, UnionType):
        return _fields_fit(a.fields, b.fields)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return _fits(a.key, b.key) and _fits(a.value, b.value)
    return False


def _fields_fit(a: tuple[tuple[str, KuzuType], ...], b: tuple[tuple[str, KuzuType], ...]) -> bool:
    theirs = {name.lower(): t for name, t in b}
    return all(n.lower() in theirs and _fits(t, theirs[n.lower()]) for n, t in a)


@lru_cache(maxsize=4096)
def type_change(old: str, new: str) -> str:
    """``"same"``, ``"widened"``, ``"narrowed"`` or ``"changed"`` (see module docstring)."""
    if old == new:
        return "same"
    a, b = parse_type(old), parse_type(new)
    up, down = _fits(a, b), _fits(b, a)
    if up and down:
        return "same"
    return "widened" if up else "narrowed" if down else "changed"


_MULTIPLICITY_ORDER = {  # (from side is ONE, to side is ONE); ONE is tighter than MANY
    "MANY_MANY": (False, False),
    "MANY_ONE": (False, True),
    "ONE_MANY": (True, False),
    "ONE_ONE": (True, True),
}


def _multiplicity_change(old: str, new: str) -> str:
    a, b = _MULTIPLICITY_ORDER[old], _MULTIPLICITY_ORDER[new]
    if a == b:
        return "same"
    tighter = all(y or not x for x, y in zip(a, b, strict=True))  # every ONE stays ONE
    looser = all(x or not y for x, y in zip(a, b, strict=True))
    return "tightened" if tighter else "loosened" if looser else "changed"


# ---------------------------------------------------------------- aliases


@lru_cache(maxsize=1024)
def parse_aliases(comment: str) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(table alias keys, property id -> alias keys) declared in a table comment."""
    table: set[str] = set()
    props: dict[str, set[str]] = {}
    for raw in comment.splitlines():
        line = raw.strip()
        if line.startswith("@alias-property "):
            pid, _, name = line[len("@alias-property ") :].strip().partition(" ")
            if name.strip():
                props.setdefault(pid, set()).add(catalog_key(name.strip()))
        elif line.startswith("@alias "):
            name = line[len("@alias ") :].strip()
            if name:
                table.add(catalog_key(name))
    return frozenset(table), {k: frozenset(v) for k, v in props.items()}


def _table_resolves(name: str, table: TableState) -> bool:
    if name == table.name:
        return True
    key = catalog_key(name)
    return key == catalog_key(table.name) or key in parse_aliases(table.comment)[0]


def _property_resolves(name: str, prop: PropertyDef, table: TableState) -> bool:
    if name == prop.name:
        return True
    key = catalog_key(name)
    if key == catalog_key(prop.name):
        return True
    return key in parse_aliases(table.comment)[1].get(prop.property_id, frozenset())


# ---------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule between two versions.

    ``element`` is ``table``, ``property`` or ``connection``; ``element_id`` its
    stable id (a connection: ``FROM_ID->TO_ID``); ``name`` its current name (the
    old one if it is gone), ``old_name`` the name in the old version when it
    differs; ``event_id`` the event that caused it; ``old``/``new`` the versions
    compared; ``old_first`` (transitive checks) the earliest version it fails
    against, ``old`` being the nearest.
    """

    rule: str
    category: str
    breaks: tuple[str, ...]
    element: str
    element_id: str
    table_id: str
    name: str
    old_name: str | None
    detail: str
    event_id: str | None
    old: Version
    new: Version
    old_first: int | None = None

    def message(self) -> str:
        was = f", was {self.old_name!r}" if self.old_name is not None else ""
        against = self.old.label
        if self.old_first is not None and self.old_first != self.old.position:
            against = f"{self.old_first}..{self.old.label}"
        return (
            f"{self.rule} [{self.category}; breaks {'+'.join(self.breaks)}] {self.element} "
            f"{self.name!r} ({self.element_id}{was}): {self.detail}; "
            f"version {self.new.label} vs {against}; caused by {self.event_id or '?'}"
        )

    def to_obj(self) -> dict[str, Any]:
        return {
            "breaks": list(self.breaks),
            "category": self.category,
            "detail": self.detail,
            "element": self.element,
            "element_id": self.element_id,
            "event_id": self.event_id,
            "name": self.name,
            "new": self.new.to_obj(),
            "old": self.old.to_obj(),
            "old_first": self.old_first,
            "old_name": self.old_name,
            "rule": self.rule,
            "table_id": self.table_id,
        }


@dataclass(frozen=True, slots=True)
class _Raw:
    rule: str
    element: str
    element_id: str
    table_id: str
    name: str
    old_name: str | None
    detail: str
    cause: str  # element id whose last event caused it
    old_element: str  # element id in the old version (for old_first)


def _conn_id(from_id: str, to_id: str) -> str:
    return f"{from_id}->{to_id}"


def _diff_table(old: SchemaState, new: SchemaState, table_id: str) -> Iterator[_Raw]:
    old_t = old.tables.get(table_id)
    if old_t is None:
        return  # created since: additions are compatible
    new_t = new.tables.get(table_id)
    if new_t is None:
        same = table_by_name(new, old_t.name)
        if same is None:
            yield _Raw(
                "TABLE_REMOVED",
                "table",
                table_id,
                table_id,
                old_t.name,
                None,
                f"{old_t.kind} table dropped",
                table_id,
                table_id,
            )
        elif same.kind != old_t.kind:
            yield _Raw(
                "TABLE_KIND_CHANGED",
                "table",
                same.table_id,
                same.table_id,
                same.name,
                None,
                f"{old_t.kind} table {table_id} replaced by {same.kind} table",
                same.table_id,
                table_id,
            )
        else:
            yield _Raw(
                "TABLE_REPLACED",
                "table",
                same.table_id,
                same.table_id,
                same.name,
                None,
                f"table {table_id} dropped and re-created as {same.table_id}",
                same.table_id,
                table_id,
            )
            yield from _diff_body(old, new, old_t, same, replaced=True)
        return
    if not _table_resolves(old_t.name, new_t):
        yield _Raw(
            "TABLE_RENAMED",
            "table",
            table_id,
            table_id,
            new_t.name,
            old_t.name,
            f"renamed {old_t.name!r} -> {new_t.name!r}",
            table_id,
            table_id,
        )
    yield from _diff_body(old, new, old_t, new_t, replaced=False)


def _diff_body(
    old: SchemaState, new: SchemaState, old_t: TableState, new_t: TableState, replaced: bool
) -> Iterator[_Raw]:
    tid = new_t.table_id
    if old_t.properties is not new_t.properties:  # unchanged tuple: nothing to compare
        yield from _diff_properties(old_t, new_t, replaced)
    if old_t.kind == NODE and old_t.primary_key and new_t.primary_key:
        opk, npk = old_t.property(old_t.primary_key), new_t.property(new_t.primary_key)
        if (
            opk is not None
            and npk is not None
            and opk.property_id != npk.property_id
            and catalog_key(opk.name) != catalog_key(npk.name)
        ):
            yield _Raw(
                "PRIMARY_KEY_CHANGED",
                "table",
                tid,
                tid,
                new_t.name,
                None,
                f"primary key {opk.name!r} -> {npk.name!r}",
                tid,
                old_t.table_id,
            )
    if old_t.multiplicity and new_t.multiplicity:
        how = _multiplicity_change(old_t.multiplicity, new_t.multiplicity)
        if how != "same":
            rule = {"tightened": "MULTIPLICITY_TIGHTENED", "loosened": "MULTIPLICITY_LOOSENED"}
            detail = f"{old_t.multiplicity} -> {new_t.multiplicity}"
            for r in [rule[how]] if how in rule else list(rule.values()):
                yield _Raw(r, "table", tid, tid, new_t.name, None, detail, tid, old_t.table_id)
    if old_t.connections is not new_t.connections:
        yield from _diff_connections(old, new, old_t, new_t)
    if old_t.sorted_by != new_t.sorted_by:
        yield _Raw(
            "SORTED_BY_CHANGED",
            "table",
            tid,
            tid,
            new_t.name,
            None,
            f"SORTED BY {_sort_keys(old_t)} -> {_sort_keys(new_t)}",
            tid,
            old_t.table_id,
        )


def _sort_keys(table: TableState) -> str:
    if not table.sorted_by:
        return "(none)"
    names = {p.property_id: p.name for p in table.properties}
    return ", ".join(
        f"{names.get(k.property_id, k.property_id)} {k.order}" for k in table.sorted_by
    )


def _diff_properties(old_t: TableState, new_t: TableState, replaced: bool) -> Iterator[_Raw]:
    tid = new_t.table_id
    old_ids = {p.property_id for p in old_t.properties}
    new_by_id = {} if replaced else {p.property_id: p for p in new_t.properties}
    matched: set[str] = set()
    for p in old_t.properties:
        np = new_by_id.get(p.property_id)
        if np is not None:
            matched.add(np.property_id)
            if not _property_resolves(p.name, np, new_t):
                yield _Raw(
                    "PROPERTY_RENAMED",
                    "property",
                    np.property_id,
                    tid,
                    np.name,
                    p.name,
                    f"renamed {p.name!r} -> {np.name!r} in {new_t.name!r}",
                    np.property_id,
                    p.property_id,
                )
            yield from _diff_property(p, np, tid)
            continue
        np = new_t.property_named(p.name)
        if np is None:
            yield _Raw(
                "PROPERTY_REMOVED",
                "property",
                p.property_id,
                tid,
                p.name,
                None,
                f"dropped from {new_t.name!r}",
                p.property_id,
                p.property_id,
            )
            continue
        matched.add(np.property_id)
        if not replaced:
            yield _Raw(
                "PROPERTY_REPLACED",
                "property",
                np.property_id,
                tid,
                np.name,
                None,
                f"{p.property_id} dropped, {np.property_id} added under its name",
                np.property_id,
                p.property_id,
            )
        yield from _diff_property(p, np, tid)
    for np in new_t.properties:
        if np.property_id in matched or np.property_id in old_ids:
            continue
        if np.default is None and np.type != "SERIAL":
            yield _Raw(
                "PROPERTY_ADDED_WITHOUT_DEFAULT",
                "property",
                np.property_id,
                tid,
                np.name,
                None,
                f"{np.type} added to {new_t.name!r} without a default",
                np.property_id,
                np.property_id,
            )


def _diff_property(p: PropertyDef, np: PropertyDef, tid: str) -> Iterator[_Raw]:
    how = type_change(p.type, np.type)
    if how != "same":
        rule = {"widened": "PROPERTY_TYPE_WIDENED", "narrowed": "PROPERTY_TYPE_NARROWED"}
        yield _Raw(
            rule.get(how, "PROPERTY_TYPE_CHANGED"),
            "property",
            np.property_id,
            tid,
            np.name,
            None,
            f"{p.type} -> {np.type}",
            np.property_id,
            p.property_id,
        )
    if p.default != np.default:
        yield _Raw(
            "DEFAULT_CHANGED",
            "property",
            np.property_id,
            tid,
            np.name,
            None,
            f"default {p.default!r} -> {np.default!r}",
            np.property_id,
            p.property_id,
        )


def _diff_connections(
    old: SchemaState, new: SchemaState, old_t: TableState, new_t: TableState
) -> Iterator[_Raw]:
    def mapped(node_id: str) -> str | None:
        if node_id in new.tables:
            return node_id
        gone = old.tables.get(node_id)
        same = table_by_name(new, gone.name) if gone is not None else None
        return same.table_id if same is not None and same.kind == NODE else None

    def label(from_id: str, to_id: str, state: SchemaState) -> str:
        f, t = state.tables.get(from_id), state.tables.get(to_id)
        return f"{f.name if f else from_id}->{t.name if t else to_id}"

    tid = new_t.table_id
    now = set(new_t.connections)
    kept: set[tuple[str, str]] = set()
    for c in old_t.connections:
        m = (mapped(c.from_table_id), mapped(c.to_table_id))
        if (
            m[0] is None
            or m[1] is None
            or not any((n.from_table_id, n.to_table_id) == m for n in now)
        ):
            yield _Raw(
                "CONNECTION_REMOVED",
                "connection",
                _conn_id(c.from_table_id, c.to_table_id),
                tid,
                label(c.from_table_id, c.to_table_id, old),
                None,
                f"FROM/TO pair removed from {new_t.name!r}",
                tid,
                old_t.table_id,
            )
        else:
            kept.add((m[0], m[1]))
    for n in new_t.connections:
        if (n.from_table_id, n.to_table_id) not in kept:
            yield _Raw(
                "CONNECTION_ADDED",
                "connection",
                _conn_id(n.from_table_id, n.to_table_id),
                tid,
                label(n.from_table_id, n.to_table_id, new),
                None,
                f"FROM/TO pair added to {new_t.name!r}",
                tid,
                old_t.table_id,
            )


# ---------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class _Selection:
    directions: frozenset[str]
    categories: frozenset[str]
    ignore: frozenset[str]

    @classmethod
    def make(cls, mode: str, level: str, ignore: Iterable[str]) -> _Selection:
        if level not in LEVELS:
            raise UnknownRule("level", level, LEVELS)
        ignored = frozenset(ignore)
        for rule_id in ignored:
            if rule_id not in RULES:
                raise UnknownRule("rule", rule_id, RULES)
        return cls(mode_directions(mode), frozenset(LEVELS[level]), ignored)

    def breaks(self, rule_id: str) -> tuple[str, ...]:
        rule = RULES[rule_id]
        if rule.category not in self.categories or rule_id in self.ignore:
            return ()
        return tuple(sorted(rule.breaks & self.directions))


def _finding(
    raw: _Raw,
    breaks: tuple[str, ...],
    old: Version,
    new: Version,
    prov: Provenance | None,
    transitive: bool,
    event_id: str | None = None,
) -> Finding:
    if event_id is None and prov is not None:
        event_id = prov.last_event(raw.cause)
    first = prov.base_since(raw.old_element) if transitive and prov is not None else None
    return Finding(
        raw.rule,
        RULES[raw.rule].category,
        breaks,
        raw.element,
        raw.element_id,
        raw.table_id,
        raw.name,
        raw.old_name,
        raw.detail,
        event_id,
        old,
        new,
        first,
    )


def compare_states(
    old: SchemaState,
    new: SchemaState,
    mode: str = "FULL",
    level: str = "DATA",
    ignore: Iterable[str] = (),
    *,
    old_version: Version | None = None,
    new_version: Version | None = None,
    tables: Iterable[str] | None = None,
    provenance: Provenance | None = None,
) -> list[Finding]:
    """Findings of ``old -> new`` in ``mode`` (pairwise; transitive modes act as their base).

    ``tables`` limits the comparison to these old table ids (the ones touched
    in between; default all); ``provenance`` names the causing events.
    """
    sel = _Selection.make(mode, level, ignore)
    if not sel.directions:
        return []
    ov, nv = old_version or Version(0), new_version or Version(0)
    ids = sorted(tables) if tables is not None else sorted(old.tables.keys())
    out = []
    for tid in ids:
        for raw in _diff_table(old, new, tid):
            breaks = sel.breaks(raw.rule)
            if breaks:
                out.append(_finding(raw, breaks, ov, nv, provenance, False))
    return out


# ---------------------------------------------------------------- along a history


@dataclass
class CompatReport:
    """The outcome of a check: the first ``limit`` findings and counts of all."""

    mode: str
    level: str
    ignored: tuple[str, ...]
    old: Version | None = None
    new: Version | None = None
    versions: int = 0  # versions visited
    records: int = 0  # records read between old and new
    rejected: int = 0  # records the schema refused (skipped)
    total: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    limit: int = 1000

    @property
    def compatible(self) -> bool:
        return self.total == 0

    def add(self, finding: Finding) -> None:
        self.total += 1
        self.by_rule[finding.rule] = self.by_rule.get(finding.rule, 0) + 1
        if len(self.findings) < self.limit:
            self.findings.append(finding)

    def to_obj(self) -> dict[str, Any]:
        return {
            "by_rule": dict(sorted(self.by_rule.items())),
            "compatible": self.compatible,
            "findings": [f.to_obj() for f in self.findings],
            "ignored": list(self.ignored),
            "level": self.level,
            "mode": self.mode,
            "new": self.new.to_obj() if self.new else None,
            "old": self.old.to_obj() if self.old else None,
            "records": self.records,
            "rejected": self.rejected,
            "total": self.total,
            "truncated": self.total > len(self.findings),
            "versions": self.versions,
        }


@dataclass(slots=True)
class _Name:
    display: str
    first: int
    last: Version
    table_id: str


class HistoryChecker:
    """Checks versions fed in order (``VersionState`` from ``iter_versions``).

    Each version is compared with the previous one; in transitive modes the
    earlier names of live elements are tracked as well (module docstring).
    """

    def __init__(self, mode: str, level: str = "DATA", ignore: Iterable[str] = ()) -> None:
        self.mode = mode
        self.sel = _Selection.make(mode, level, ignore)
        self.transitive = is_transitive(mode)
        self._names: dict[str, dict[str, _Name]] = {}

    def check(self, item: VersionState) -> list[Finding]:
        if item.before is None or item.previous is None or not self.sel.directions:
            return []
        old, new, prov = item.before, item.state, item.provenance
        out: list[Finding] = []
        for tid in sorted(item.touched):
            raws = list(_diff_table(old, new, tid))
            for raw in raws:
                breaks = self.sel.breaks(raw.rule)
                if breaks:
                    out.append(
                        _finding(raw, breaks, item.previous, item.version, prov, self.transitive)
                    )
            if self.transitive:
                out.extend(self._track_names(item, tid, raws))
        return out

    def _track_names(self, item: VersionState, tid: str, raws: list[_Raw]) -> Iterator[Finding]:
        """Transitive renames: earlier (aliased) names that no longer resolve."""
        assert item.before is not None and item.previous is not None
        old_t, new_t = item.before.tables.get(tid), item.state.tables.get(tid)
        if new_t is None:  # dropped: forget its names (the drop itself is reported)
            self._names.pop(tid, None)
            for p in old_t.properties if old_t is not None else ():
                self._names.pop(p.property_id, None)
            return
        if old_t is not None:
            for p in old_t.properties:
                if new_t.property(p.property_id) is None:
                    self._names.pop(p.property_id, None)
        elements: list[tuple[str, str, str, PropertyDef | None]] = [
            (tid, "TABLE_RENAMED", new_t.name, None)
        ] + [(p.property_id, "PROPERTY_RENAMED", p.name, p) for p in new_t.properties]
        for element, rule, name, prop in elements:
            seen = self._names.get(element)
            if seen:
                for key in list(seen):
                    entry = seen[key]
                    ok = (
                        _property_resolves(entry.display, prop, new_t)
                        if prop is not None
                        else _table_resolves(entry.display, new_t)
                    )
                    if ok:
                        continue
                    del seen[key]
                    breaks = self.sel.breaks(rule)
                    if breaks:
                        kind = "property" if prop is not None else "table"
                        yield Finding(
                            rule,
                            RULES[rule].category,
                            breaks,
                            kind,
                            element,
                            tid,
                            name,
                            entry.display,
                            f"earlier name {entry.display!r} no longer resolves (alias dropped)",
                            item.provenance.last_event(tid),
                            entry.last,
                            item.version,
                            entry.first,
                        )
                if not seen:
                    del self._names[element]
            # A rename in this step that an alias kept valid: remember the old name.
            old_name = None
            if old_t is not None:
                if prop is None:
                    old_name = old_t.name
                else:
                    before = old_t.property(element)
                    old_name = before.name if before is not None else None
            if old_name is None or catalog_key(old_name) == catalog_key(name):
                continue
            if any(r.rule == rule and r.element_id == element for r in raws):
                continue  # not aliased: reported stepwise
            since = item.provenance.base_name_since(element)
            self._names.setdefault(element, {})[catalog_key(old_name)] = _Name(
                old_name, since if since is not None else 0, item.previous, tid
            )


def check_history(
    events: Iterable[Event],
    mode: str,
    level: str = "DATA",
    ignore: Iterable[str] = (),
    *,
    start: int = 0,
    stop: int | None = None,
    every: Boundaries = "event",
    limit: int = 1000,
) -> CompatReport:
    """Check every version in ``start..stop`` against the previous (or, transitive, all earlier)."""
    checker = HistoryChecker(mode, level, ignore)
    report = CompatReport(mode, level, tuple(sorted(set(ignore))), limit=limit)
    for item in iter_versions(events, every, start=start, stop=stop):
        if report.old is None:
            report.old = item.version
        report.new = item.version
        report.versions += 1
        report.records += item.events
        report.rejected += len(item.rejected)
        for finding in checker.check(item):
            report.add(finding)
    return report


def check_pair(
    events: Iterable[Event],
    old: int,
    new: int | None,
    mode: str,
    level: str = "DATA",
    ignore: Iterable[str] = (),
    *,
    limit: int = 1000,
) -> CompatReport:
    """Compare the versions at positions ``old`` and ``new`` directly (old <= new; None: head)."""
    if new is not None and old > new:
        raise ValueError(f"old position {old} is after new position {new}")
    sel = _Selection.make(mode, level, ignore)
    report = CompatReport(mode, level, tuple(sorted(set(ignore))), limit=limit)
    boundaries = frozenset({new}) if new is not None else frozenset()
    for item in iter_versions(events, boundaries, start=old, stop=new):
        report.versions += 1
        report.rejected += len(item.rejected)
        report.records += item.events
        if report.old is None:
            report.old = item.version
        report.new = item.version
        if item.before is None or item.previous is None or not sel.directions:
            continue
        for tid in sorted(item.touched):
            for raw in _diff_table(item.before, item.state, tid):
                breaks = sel.breaks(raw.rule)
                if breaks:
                    report.add(
                        _finding(raw, breaks, item.previous, item.version, item.provenance, False)
                    )
    return report
