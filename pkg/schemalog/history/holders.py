"""Which copy of a duplicated creation holds its place in one replay of a merged log.

Two concurrent creations of one table name with the same definition (or one
property added twice identically) are one creation made twice (conflicts.py):
the later is a duplicate, its ids alias the first's, and replay skips it.
Each copy still meets its own conflicts, so the first copy can be left out
while a later one is not: it lost a conflict of its own (a loser), or the
schema rejected it on a losing side (``with-loser``, merge.py's rule 2). The
rule (merge.py, "How a merged log replays"):

    A duplicate of a creation takes its place when no copy before it (in the
    log's order) holds it: the first copy and every copy that took its place
    since were left out (a loser, or left out with a loser), and none of its
    other twins (concurrent identical creations before it that are no copies
    of its first, conflicts.py: one made again by a writer who saw the first
    lose, say) was applied. It then applies with its own ids, and from there on the ids of
    every copy (the first's too) name it: its writer made the change,
    whatever became of the other copies, and the merge's analysis held all
    copies for one element. A twin that was applied made the change already
    (the copy stays a duplicate, as a copy of a lost drop does when a twin
    applies: merge.takes_over).

Only a loser (the log's resolutions) or a rejection that goes with a loser
leaves a copy out: a copy rejected for another reason (a ``concurrent``
rejection: an open conflict or a broken log) keeps its place, so a log
without resolutions never moves one. The decision reads the log's order, its
resolutions and which creations replay left out with a loser before it:
``replay_merged`` and the effective stream (log/effective.py) keep the same
``Holders`` and decide alike; a resumed replay is handed the committed
``Holders`` of the replay it resumes (``ReplayReport.holders``).

Events that name a left-out copy's ids before a copy takes its place are
rejected (the table is not there) and go with their loser, as before; after
it, they apply to the copy that holds the place (``Redirected``). The fast
paths of replay test the alias maps for a change's ids: an id that is
redirected names a copy that never applied, so the change is refused there
and decided again by the stage that aliases (no fast-path change needed).

A change made again (``Holders.repeats``): in a log with resolutions, an
event the schema rejects, that goes with no loser, and whose change is in
effect already because the identical change in its own past applied, is a
duplicate of that change: a table created again under a name held by the
identical table its past created (rule ``name-taken``), a property added
again as the identical property its past added (``property-name-taken``), a
table or property dropped again after a drop of it in its past
(``unknown-table``, ``unknown-property``). Its writer saw that change left
out (with a loser, in the order its log replayed then) and made it again;
in another order of the same events (a merged log's causal order) the first
applies, and the second is what it made. Its ids then name what the first
made (``table``/``prop``, as for a copy that took a place). Whether an
event goes with a loser is decided on the state, so on the order concurrent
events replay in; this makes the writer's repeat agree with either order.
It only turns a rejection that would be a failure of the log into a skip,
so a log that replayed cleanly replays as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from schemalog.model.events import (
    AddProperty,
    CreateNodeTable,
    CreateRelTable,
    DropProperty,
    DropTable,
    Event,
)
from schemalog.model.names import catalog_key
from schemalog.model.state import NODE, REL, SchemaState, TableState

__all__ = ["CREATIONS", "Holders", "Redirected", "descends"]

CREATIONS = (CreateNodeTable, CreateRelTable, AddProperty)
# the rule that rejects a change made again when its first making is in effect
_AGAIN: dict[type, str] = {
    CreateNodeTable: "name-taken",
    CreateRelTable: "name-taken",
    AddProperty: "property-name-taken",
    DropTable: "unknown-table",
    DropProperty: "unknown-property",
}


class Holders:
    """One replay's copies that took a left-out creation's place (module doc)."""

    __slots__ = ("left_out", "prop", "table", "taken")

    def __init__(self, left_out: Iterable[str] = ()) -> None:
        self.left_out: set[str] = set(left_out)  # creations left out with a loser
        self.taken: dict[str, str] = {}  # first copy -> the copy that took its place last
        self.table: dict[str, str] = {}  # the first copy's table id -> the holder's
        self.prop: dict[str, str] = {}  # the first copy's property ids -> the holder's

    def takes_place(
        self,
        event: Event,
        duplicates: Mapping[str, str],
        twins: Mapping[str, Sequence[str]],
        losers: Mapping[str, str],
        table_alias: Mapping[str, str],
        prop_alias: Mapping[str, str],
    ) -> bool:
        """Whether ``event``, a duplicate creation, takes its first copy's place (then it
        holds it from now on). Asked per duplicate in log order (again: the same answer)."""
        c = event.change
        if not isinstance(c, CREATIONS):
            return False
        first = duplicates[event.id]
        holder = self.taken.get(first, first)
        if holder == event.id:
            return True  # (asked again)
        if holder in losers or holder in self.left_out:
            out = self.left_out
            for t in twins.get(event.id, ()):
                if t not in losers and t not in out:
                    made = duplicates.get(t)  # a copy applied only if it took its place
                    if made is None or self.taken.get(made) == t:
                        return False  # a twin outside the group made it: a duplicate
        else:
            return False
        self.taken[first] = event.id
        if isinstance(c, AddProperty):
            pid = c.property.property_id
            self.prop[prop_alias.get(pid, pid)] = pid
        else:
            tid = c.table_id
            self.table[table_alias.get(tid, tid)] = tid
            for p in c.properties:
                self.prop[prop_alias.get(p.property_id, p.property_id)] = p.property_id
        return True

    def repeats(
        self,
        change: object,
        rule: str,
        state: SchemaState,
        descends: Callable[[str], bool],
        drops: Callable[[], Iterable[str]],
    ) -> str | None:
        """For an event the schema rejects (``rule``) that goes with no loser: the id of the
        identical change in its past that it makes again (module doc), else None; then its
        ids name what that change made. ``change``: the event's effective change;
        ``descends(x)``: whether the event descends from event ``x``; ``drops()``: the
        log's events before it that make the same drop (a drop only)."""
        if _AGAIN.get(type(change)) != rule:
            return None
        if isinstance(change, DropTable | DropProperty):
            return next((x for x in drops() if descends(x)), None)
        if isinstance(change, AddProperty):
            table = state.tables.get(change.table_id)
            new = change.property
            held = table.property_named(new.name) if table is not None else None
            if held is None or (held.name, held.type, held.default) != (
                new.name,
                new.type,
                new.default,
            ):
                return None
            made = held.property_id.rpartition("/")[0]  # (ids of a creation: "<event>/p<n>")
            if not descends(made):
                return None
            self.prop[new.property_id] = held.property_id
            return made
        assert isinstance(change, CreateNodeTable | CreateRelTable)
        owner = state.names.get(catalog_key(change.name))
        table = state.tables.get(owner) if owner is not None else None
        if table is None or not _as_made(table, change) or not descends(table.table_id):
            return None
        self.table[change.table_id] = table.table_id
        for mine, held in zip(change.properties, table.properties, strict=True):
            self.prop[mine.property_id] = held.property_id
        return table.table_id

    def __bool__(self) -> bool:
        return bool(self.left_out or self.taken or self.table or self.prop)

    def copy(self) -> Holders:
        """An independent copy (a replay's committed one: it rolls a failed batch back)."""
        out = Holders(self.left_out)
        out.taken, out.table, out.prop = dict(self.taken), dict(self.table), dict(self.prop)
        return out

    def rejected(self, event: Event) -> None:
        """``event`` was rejected and left out with a loser."""
        if isinstance(event.change, CREATIONS):
            self.left_out.add(event.id)

    def aliases(
        self, table_alias: Mapping[str, str], prop_alias: Mapping[str, str]
    ) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """The alias maps replay applies: ``table_alias``/``prop_alias`` and then, for a
        group whose place a later copy took, that copy's ids (live views)."""
        if not self.table and not self.prop:
            return table_alias, prop_alias
        return Redirected(table_alias, self.table), Redirected(prop_alias, self.prop)


class Redirected(Mapping[str, str]):
    """``alias`` followed by ``redirect`` (both live): the ids a replay applies."""

    __slots__ = ("alias", "redirect")

    def __init__(self, alias: Mapping[str, str], redirect: Mapping[str, str]) -> None:
        self.alias = alias
        self.redirect = redirect

    def __getitem__(self, key: str) -> str:
        to = self.alias.get(key)
        if to is None:
            return self.redirect[key]
        return self.redirect.get(to, to)

    def __contains__(self, key: object) -> bool:
        return key in self.alias or key in self.redirect

    def __iter__(self) -> Iterator[str]:
        yield from self.alias
        yield from (k for k in self.redirect if k not in self.alias)

    def __len__(self) -> int:
        return len(self.alias) + sum(1 for k in self.redirect if k not in self.alias)


def _as_made(table: TableState, change: CreateNodeTable | CreateRelTable) -> bool:
    """Whether ``table`` is, but for its ids, the table ``change`` makes (nothing changed
    since: its properties map to the change's one to one)."""
    mine, held = change.properties, table.properties
    if (
        table.name != change.name
        or table.comment
        or table.sorted_by
        or len(mine) != len(held)
        or any(
            (a.name, a.type, a.default) != (b.name, b.type, b.default)
            for a, b in zip(mine, held, strict=True)
        )
    ):
        return False
    if isinstance(change, CreateNodeTable):
        pk = [p.property_id for p in mine].index(change.primary_key)
        return table.kind == NODE and table.primary_key == held[pk].property_id
    return (
        table.kind == REL
        and table.multiplicity == change.multiplicity
        and set(table.connections) == set(change.connections)
    )


def descends(parents: Mapping[str, Sequence[str]], event: Event, ancestor: str) -> bool:
    """Whether ``event`` descends from ``ancestor``, read off the log's ``parents`` (a walk
    of its ancestry: only for a rejection that may be a change made again)."""
    seen: set[str] = set()
    todo = list(event.parents)
    while todo:
        p = todo.pop()
        if p == ancestor:
            return True
        if p not in seen:
            seen.add(p)
            todo.extend(parents.get(p, ()))
    return False
