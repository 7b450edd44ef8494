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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from schemalog.model.events import AddProperty, CreateNodeTable, CreateRelTable, Event

__all__ = ["CREATIONS", "Holders", "Redirected"]

CREATIONS = (CreateNodeTable, CreateRelTable, AddProperty)


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

    def __bool__(self) -> bool:
        return bool(self.left_out or self.taken)

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
