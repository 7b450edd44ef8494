"""Every event of a log named as of its own time: the names its writer saw.

Events refer to tables and properties by id; a person reads names. The name
an event is read with is the one in its writer's view: the schema of its
*causal past* (its ancestors, replayed with merge's rules,
``merge.replay_merged``), never the log's order. A rename made in another tab
concurrently with this tab's rename ``Item -> ItemA`` reads ``Item -> ItemB``
(what its writer saw), not ``ItemA -> ItemB``; a conflict's two sides read
each by its own past; the same after a reload, since the names are a function
of the events alone.

``name_events(events)`` yields one ``Named`` per event, in the given order
(parents before children: any log's order, or ``causal_order``): the event,
the schema before it (its past) and after it (that schema with the event
applied), and ``text``, one line in words with names only. An id that the
event's past does not hold (a change to a table its writer never saw: a
forged or partial log) reads by the last name the log gave it, else as
``(unknown table)``: never an id.

Why it is cheap: the past of an event whose one parent is not a Merge is that
parent's past plus the parent, which comes last in any causal order of the
set and changes no resolution, so it is the parent's ``after`` (one apply per
event along a chain). An event with several parents (a join) and the child of
a Merge (whose resolutions may leave out earlier events) replay their
ancestors in full, so a log costs O(n + joins x n). The property test
(tests/test_naming.py) holds every ``before``/``after`` equal to
``replay_merged`` of the ancestors over generated concurrent renames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from schemalog.history.merge import (
    ConflictReport,
    Plan,
    effective_event,
    replay_merged,
    resolution_plan,
)
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
    RenameProperty,
    RenameTable,
    SetSortedBy,
    Tag,
)
from schemalog.model.schema import Applied, Rejected, SchemaState, apply, empty_state

__all__ = ["Named", "conflict_in_words", "name_events", "named_by_id"]

_NO_PLAN = Plan({}, {}, {}, {})
# an event id (a table id), or a property id (an event id, "/p", a number)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*@[0-9]+\.[0-9]+(?:/p[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Named:
    """One event with the names of its own time."""

    event: Event
    before: SchemaState  # the schema of the event's causal past
    after: SchemaState  # ``before`` with the event applied (unchanged if refused there)
    rejected: Rejected | None  # the past's schema refused the event (None: applied)
    text: str  # one line, names only (never ids)
    _known: Mapping[str, str]  # id -> last name the log gave it (fallback only)

    def table(self, table_id: str, after: bool = False) -> str:
        """The name of ``table_id`` before the event (``after``: after it)."""
        for state in (self.after, self.before) if after else (self.before, self.after):
            t = state.tables.get(table_id)
            if t is not None:
                return t.name
        return self._known.get(table_id, "(unknown table)")

    def prop(self, table_id: str, property_id: str, after: bool = False) -> str:
        """The name of property ``property_id`` of ``table_id`` before (or after) the event."""
        for state in (self.after, self.before) if after else (self.before, self.after):
            t = state.tables.get(table_id)
            p = t.property(property_id) if t is not None else None
            if p is not None:
                return p.name
        return self._known.get(property_id, "(unknown property)")

    def prop_anywhere(self, property_id: str) -> str:
        """The name of a property whose table is not at hand (a conflict's element)."""
        for state in (self.before, self.after):
            for t in state.tables.values():
                p = t.property(property_id)
                if p is not None:
                    return p.name
        return self._known.get(property_id, "(unknown property)")

    def tables(self) -> dict[str, tuple[str | None, str | None]]:
        """Every table the event names: id -> (name before, name after); None: absent then."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for tid in _table_ids(self.event):
            b, a = self.before.tables.get(tid), self.after.tables.get(tid)
            out[tid] = (b.name if b else None, a.name if a else None)
        return out


def _table_ids(event: Event) -> list[str]:
    c = event.change
    if isinstance(c, Merge | Tag):
        return []
    ids = [c.table_id]
    if isinstance(c, CreateRelTable):
        ids += [t for x in c.connections for t in (x.from_table_id, x.to_table_id)]
    if isinstance(c, AddConnection | DropConnection):
        ids += [c.connection.from_table_id, c.connection.to_table_id]
    return list(dict.fromkeys(ids))


def name_events(events: Iterable[Event]) -> Iterator[Named]:
    """Each event with the schema of its causal past and one line in words (module doc)."""
    by_id: dict[str, Event] = {}
    after: dict[str, SchemaState] = {}
    plan_of: dict[str, Plan] = {}  # resolution plan of the event's past (aliases, losers)
    texts: dict[str, str] = {}
    known: dict[str, str] = {}
    for event in events:
        parents = [p for p in event.parents if p in by_id]
        if not parents:
            before, plan = empty_state(), _NO_PLAN
        elif len(parents) == 1 and not isinstance(by_id[parents[0]].change, Merge):
            before, plan = after[parents[0]], plan_of[parents[0]]
        else:  # a join, or the child of a Merge: replay the whole past
            past = _ancestors(parents, by_id)
            before, plan = replay_merged(past).state, resolution_plan(past)
        rejected: Rejected | None = None
        if isinstance(event.change, Merge) and event.change.resolutions:
            past = [*_ancestors(parents, by_id), event]
            now = replay_merged(past).state  # its resolutions may leave out earlier events
        else:
            eff = effective_event(event, plan)
            outcome = apply(before, eff) if eff is not None else Applied(before)
            if isinstance(outcome, Rejected):
                rejected, now = outcome, before
            else:
                now = outcome.state
        by_id[event.id] = event
        after[event.id] = now
        plan_of[event.id] = plan
        named = Named(event, before, now, rejected, "", known)
        text = _text(named, texts)
        texts[event.id] = text
        _learn(event, known)
        yield Named(event, before, now, rejected, text, known)


def named_by_id(events: Iterable[Event]) -> dict[str, Named]:
    """``name_events`` as a dict by event id (for a log the caller holds anyway)."""
    return {n.event.id: n for n in name_events(events)}


def _ancestors(parents: list[str], by_id: Mapping[str, Event]) -> list[Event]:
    seen: set[str] = set()
    todo = list(parents)
    while todo:
        eid = todo.pop()
        if eid in seen or eid not in by_id:
            continue
        seen.add(eid)
        todo.extend(by_id[eid].parents)
    return [by_id[i] for i in seen]


def _learn(event: Event, known: dict[str, str]) -> None:
    """The fallback names: the last name the log (in its order) gave each id."""
    c = event.change
    if isinstance(c, CreateNodeTable | CreateRelTable):
        known[c.table_id] = c.name
        for p in c.properties:
            known[p.property_id] = p.name
    elif isinstance(c, AddProperty):
        known[c.property.property_id] = c.property.name
    elif isinstance(c, RenameTable):
        known[c.table_id] = c.new_name
    elif isinstance(c, RenameProperty):
        known[c.property_id] = c.new_name


def _text(n: Named, texts: Mapping[str, str]) -> str:
    """One line a person reads: what the event did, by the names of its own time."""
    c = n.event.change
    if isinstance(c, CreateNodeTable):
        props = ", ".join(
            f"{p.name} {p.type}" + (" PK" if p.property_id == c.primary_key else "")
            for p in c.properties
        )
        return f"{c.name}({props})"
    if isinstance(c, CreateRelTable):
        pairs = ", ".join(
            f"{n.table(x.from_table_id)}->{n.table(x.to_table_id)}" for x in c.connections
        )
        props = ", ".join(f"{p.name} {p.type}" for p in c.properties)
        return f"{c.name} [{pairs}]" + (f" ({props})" if props else "")
    if isinstance(c, AddProperty):
        return f"{n.table(c.table_id)}.{c.property.name} {c.property.type}"
    if isinstance(c, DropProperty):
        return f"{n.table(c.table_id)}.{n.prop(c.table_id, c.property_id)}"
    if isinstance(c, RenameProperty):
        return f"{n.table(c.table_id)}.{n.prop(c.table_id, c.property_id)} -> {c.new_name}"
    if isinstance(c, RenameTable):
        return f"{n.table(c.table_id)} -> {c.new_name}"
    if isinstance(c, DropTable):
        return n.table(c.table_id)
    if isinstance(c, AddConnection | DropConnection):
        x = c.connection
        return f"{n.table(c.table_id)} {n.table(x.from_table_id)}->{n.table(x.to_table_id)}"
    if isinstance(c, CommentOnTable):
        return f"{n.table(c.table_id)}: {c.comment!r}"
    if isinstance(c, SetSortedBy):
        keys = ", ".join(f"{n.prop(c.table_id, k.property_id)} {k.order}" for k in c.keys)
        return f"{n.table(c.table_id)} SORTED BY {keys}"
    if isinstance(c, Merge):
        if not c.resolutions:
            return f"joins {len(n.event.parents)} branches"
        parts = []
        for r in c.resolutions:
            kind = r.conflict_key.split(":", 1)[0]
            won = texts.get(r.winner, "(a change not in this log)")
            lost = ", ".join(repr(texts.get(x, "(a change not in this log)")) for x in r.losers)
            parts.append(f"{kind}: {won!r} won over {lost}")
        return "; ".join(parts)
    if isinstance(c, Tag):
        return c.name
    return n.event.kind  # type: ignore[unreachable]  # a kind added later


def conflict_in_words(report: ConflictReport, named: Mapping[str, Named]) -> dict[str, object]:
    """A conflict by names: its element as the first side's writer saw it, and each side
    by its own past (``named``: ``named_by_id`` of a log holding both sides)."""
    c = report.conflict
    first = named.get(c.first.id) or next(name_events([c.first]))

    def by_name(match: re.Match[str]) -> str:
        ident = match.group(0)
        if "/p" in ident:
            return repr(first.prop_anywhere(ident))
        return repr(first.table(ident))

    element = _ID_RE.sub(by_name, c.element)
    sides = [(named.get(e.id) or next(name_events([e]))).text for e in (c.first, c.second)]
    return {"element": element, "sides": sides}
