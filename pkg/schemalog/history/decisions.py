"""Causally consistent decisions: which side of each conflict wins (merge's rule, see merge.py).

A strategy decides one pair at a time; alone, it can decide two pairs of one
story two ways: an ``add_property`` loses to a concurrent drop of its table
(``lww``: the drop is later) while a later rename of that same property wins
against the same drop (``rename-wins``), and the rename then names a property
that is not there. This module decides every pair so that a winner never
depends on a loser.

Dependency
    An event D *depends on* an event E on an element (conflicts.py: a table,
    a property, a table name, a property name in a table; ids aliased) when
    E is D or an ancestor of D and both touch that element. So a change on a
    table depends on the earlier changes of that table it has seen, a rename
    of a property on its creation and its earlier renames.

The rule
    For a conflict c between X and Y on an element, its *antecedents* are the
    other conflicts on that same element between an event X depends on (not
    an ancestor of Y) and an event Y depends on (not an ancestor of X): the
    earlier rounds of the same dispute between the same two lines of work.
    Without antecedents, c is decided on its own (a resolution already in the
    set, else the strategy). With antecedents, c is decided as its earliest
    antecedent was -- by (later sort key, earlier sort key): an antecedent's
    own antecedents are earlier still, so the earliest is decided on its own
    -- and the side that won there wins here. (Antecedents on other elements
    are not followed: one event can touch a table and a name, and following
    every element lets an unrelated name clash decide a table's fate.)

    The decision of c reads only X, Y and their ancestors, which every set
    holding X and Y holds alike: merging stays commutative, associative and
    idempotent byte for byte (the same resolution event in any grouping).

What the rule cannot see
    An event that conflicts on several elements, or with several replicas,
    can win one conflict and lose another (it is then left out, and so is
    the side it beat). A winner may still depend on a loser of a conflict
    outside its own past (a third replica), and an event may need a loser
    without sharing its element (a node table dropped after a rel table that referenced it, the
    rel table's drop lost). Replay decides those with the loser
    (log/effective.py: ``with-loser``): a rejected event that descends from
    an event left out of the effective stream, and not from that loser's
    winner, is left out with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from schemalog.history.conflicts import (
    Conflict,
    Facts,
    _describe,
    _spec,
    _touches,
    lane_clocks,
)
from schemalog.history.ordering import sort_key

__all__ = ["decide"]


Clock = tuple[int, int, Sequence[int]]  # (lane, position, vector clock): conflicts.py


def clocks_of(order: Iterable[int], facts: Facts) -> Callable[[set[str]], dict[str, Clock]]:
    """The clocks of the wanted event ids, by a walk of conflicts.lane_clocks."""

    def walk(wanted: set[str]) -> dict[str, Clock]:
        ids = facts.ids
        return {
            ids[h]: (lane, pos, list(vc))
            for _, h, lane, pos, vc in lane_clocks(order, facts)
            if ids[h] in wanted
        }

    return walk


def decide(
    conflicts: Sequence[Conflict],
    clocks: Callable[[set[str]], Mapping[str, Clock]],
    table_alias: Mapping[str, str],
    prop_alias: Mapping[str, str],
    recorded: Mapping[str, str],
    choose: Callable[[Conflict], str | None],
) -> list[str | None]:
    """The winner id of each conflict (None: open), by the rule of the module docstring.

    ``clocks``: wanted event ids -> their clocks (the lane test of conflicts.py);
    ``recorded``: conflict key -> winner of a resolution already in the set;
    ``choose``: the strategy for a conflict decided on its own.
    """
    if not conflicts:
        return []
    at = clocks({eid for c in conflicts for eid in c.ids})

    def below(a: str, b: str) -> bool:
        """a is b or an ancestor of b."""
        lane, pos, _ = at[a]
        vc = at[b][2]
        return lane < len(vc) and vc[lane] >= pos

    events = {e.id: e for c in conflicts for e in (c.first, c.second)}

    def table(t: str) -> str:
        return table_alias.get(t, t)

    def prop(p: str) -> str:
        return prop_alias.get(p, p)

    # the elements (conflicts.py keys, as Conflict.element words them) each event touches
    by_element: dict[str, list[str]] = {}
    for eid, e in events.items():
        for k in {_describe(k) for k, _, _ in _touches(_spec(e), table, prop)}:
            by_element.setdefault(k, []).append(eid)

    def depends(z: str, element: str) -> set[str]:
        """The conflicting events touching ``element`` that ``z`` depends on (itself too)."""
        return {z} | {e for e in by_element.get(element, ()) if below(e, z)}

    of_event: dict[str, list[int]] = {}
    for i, c in enumerate(conflicts):
        for eid in c.ids:
            of_event.setdefault(eid, []).append(i)

    def rank(i: int) -> tuple[Any, ...]:
        a, b = sorted((sort_key(conflicts[i].first), sort_key(conflicts[i].second)))
        return (b, a)

    decided: dict[int, str | None] = {}
    busy: set[int] = set()

    def decision(i: int) -> str | None:
        if i in decided:
            return decided[i]
        c = conflicts[i]
        winner = recorded.get(c.key)
        if winner is None and i not in busy:  # busy: a forged set whose clocks run backwards
            busy.add(i)
            winner = _inherited(i)
            busy.discard(i)
        if winner is None:
            winner = choose(c)
        decided[i] = winner
        return winner

    def _inherited(i: int) -> str | None:
        c = conflicts[i]
        x, y = c.second.id, c.first.id
        x_side = {e for e in depends(x, c.element) if not below(e, y)}
        y_side = {e for e in depends(y, c.element) if not below(e, x)}
        best: tuple[tuple[Any, ...], int] | None = None
        for e in x_side:
            for j in of_event.get(e, ()):
                if j == i or conflicts[j].element != c.element:
                    continue
                a, b = conflicts[j].ids
                other = b if a == e else a
                if other in y_side and (best is None or rank(j) < best[0]):
                    best = (rank(j), j)
        if best is None:
            return None
        j = best[1]
        won = decision(j)
        if won is None:
            return None
        return x if won in x_side else y

    return [decision(i) for i in range(len(conflicts))]
