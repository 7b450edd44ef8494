"""history/naming.py: every event named as of its own causal past.

The property test plays several tabs over one workspace: each writes on the
view it has (the replay of the events it knows), renames and drops tables and
properties, and now and then syncs with another tab (a merge with a strategy,
whose Merge events both keep). Over the union of what they wrote, every
event's ``before`` is the schema its writer saw (and ``replay_merged`` of its
ancestors), its ``after`` is that plus the event, and its text names what the
writer saw -- a concurrent rename reads ``Item -> ItemB`` -- and holds no id.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import state_hash
from schemalog.history.merge import merge_events, replay_merged
from schemalog.history.naming import _ID_RE, conflict_in_words, name_events, named_by_id
from schemalog.history.ordering import causal_order
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    build_add_property,
    build_node_table,
    new_event,
)
from schemalog.model.schema import SchemaState, table_by_name

WS = "ws"


class Tab:
    """One writer: the events it knows, its clock; writes on its own view."""

    def __init__(self, origin: str, wall: list[int]) -> None:
        self.clock = HybridLogicalClock(origin, lambda: wall[0])
        self.known: dict[str, Event] = {}

    def view(self) -> SchemaState:
        return replay_merged(self.known.values()).state

    def heads(self) -> list[str]:
        parents = {p for e in self.known.values() for p in e.parents}
        return [i for i in self.known if i not in parents]

    def write(self, change) -> Event:  # type: ignore[no-untyped-def]
        event = new_event(self.clock, WS, self.heads(), change)
        self.known[event.id] = event
        return event

    def learn(self, other: Tab, strategy: str) -> None:
        merged = merge_events([list(self.known.values()), list(other.known.values())], strategy)
        for e in merged.events:
            self.known.setdefault(e.id, e)


def _ancestors(event: Event, by_id: dict[str, Event]) -> list[Event]:
    seen: set[str] = set()
    todo = list(event.parents)
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(by_id[i].parents)
    return [by_id[i] for i in seen]


# ---------------------------------------------------------------- examples


def _two_tabs() -> tuple[Tab, Tab, list[int]]:
    wall = [1_700_000_000_000]
    return Tab("tab-a", wall), Tab("tab-b", wall), wall


def test_a_concurrent_rename_reads_by_the_name_its_writer_saw():
    a, b, wall = _two_tabs()
    item = a.write(build_node_table("Item", [("id", "INT64"), ("name", "STRING")], "id"))
    b.learn(a, "lww")
    wall[0] += 1
    mine = a.write(RenameTable(item.id, "ItemA"))
    wall[0] += 1
    theirs = b.write(RenameTable(item.id, "ItemB"))
    a.learn(b, "lww")  # the later rename (ItemB) wins; a Merge event records it
    wall[0] += 1
    after = a.write(RenameTable(item.id, "ItemC"))
    log = causal_order(a.known.values())
    texts = {n.event.id: n.text for n in name_events(log)}
    assert texts[mine.id] == "Item -> ItemA"
    assert texts[theirs.id] == "Item -> ItemB"  # never "ItemA -> ItemB"
    assert texts[after.id] == "ItemB -> ItemC"
    [merge] = [e for e in log if e.kind == "merge"]
    assert texts[merge.id] == "rename-rename: 'Item -> ItemB' won over 'Item -> ItemA'"
    # the log order puts "theirs" after "mine" and the text still reads its own past
    assert [e.id for e in log].index(theirs.id) > [e.id for e in log].index(mine.id)
    # both sides of the conflict by name, the element by the name both sides saw
    result = merge_events([log], "reject")
    named = named_by_id(log)
    [report] = result.conflicts
    words = conflict_in_words(report, named)
    assert words == {"element": "table 'Item'", "sides": ["Item -> ItemA", "Item -> ItemB"]}


def test_properties_read_by_name_before_and_after():
    a, _, wall = _two_tabs()
    person = a.write(build_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id"))
    name_id = f"{person.id}/p1"
    wall[0] += 1
    a.write(RenameProperty(person.id, name_id, "fullName"))
    wall[0] += 1
    age = a.write(build_add_property(person.id, "age", "INT64"))
    a.write(SetSortedBy(person.id, (SortKey(f"{age.id}/p0", "DESC"),)))
    a.write(DropProperty(person.id, name_id))
    a.write(RenameTable(person.id, "Human"))
    a.write(DropTable(person.id))
    named = list(name_events(causal_order(a.known.values())))
    assert [n.text for n in named] == [
        "Person(id INT64 PK, name STRING)",
        "Person.name -> fullName",
        "Person.age INT64",
        "Person SORTED BY age DESC",
        "Person.fullName",
        "Person -> Human",
        "Human",
    ]
    rename = named[5]
    assert rename.tables() == {person.id: ("Person", "Human")}
    assert named[-1].tables() == {person.id: ("Human", None)}
    assert named[1].prop(person.id, name_id) == "name"
    assert named[1].prop(person.id, name_id, after=True) == "fullName"


def test_an_id_the_past_never_held_reads_by_its_last_name_never_the_id():
    a, b, wall = _two_tabs()
    item = a.write(build_node_table("Item", [("id", "INT64")], "id"))
    wall[0] += 1
    a.write(RenameTable(item.id, "Thing"))
    # a forged event: changes Item without having it in its past
    forged = new_event(b.clock, WS, [], DropTable(item.id))
    named = list(name_events([*causal_order(a.known.values()), forged]))
    assert named[-1].rejected is not None
    assert named[-1].text == "Thing"
    orphan = new_event(b.clock, WS, [], RenameTable("nobody@1.0", "X"))
    [alone] = list(name_events([orphan]))
    assert alone.text == "(unknown table) -> X"


# ---------------------------------------------------------------- the property


NAMES = ["Item", "Person", "City", "Thing", "Node"]
PROPS = ["name", "label", "title", "size"]


@st.composite
def plays(draw: st.DrawFn) -> list[tuple[int, str, int, int]]:
    """Steps (tab, action, a, b): a and b pick a table/property/name/strategy."""
    n = draw(st.integers(6, 40))
    actions = st.sampled_from(
        ["create", "rename", "rename", "rename_prop", "add_prop", "drop_prop", "drop", "sync"]
    )
    return draw(
        st.lists(
            st.tuples(st.integers(0, 2), actions, st.integers(0, 99), st.integers(0, 99)),
            min_size=n,
            max_size=n,
        )
    )


def _play(steps: list[tuple[int, str, int, int]]) -> tuple[list[Event], dict[str, SchemaState]]:
    wall = [1_700_000_000_000]
    tabs = [Tab(f"tab-{i}", wall) for i in range(3)]
    seen: dict[str, SchemaState] = {}  # event id -> the view its writer wrote it on

    def write(tab: Tab, view: SchemaState, change) -> None:  # type: ignore[no-untyped-def]
        event = tab.write(change)
        seen[event.id] = view

    tabs[0].write(build_node_table("Item", [("id", "INT64"), ("name", "STRING")], "id"))
    for t in tabs[1:]:
        t.learn(tabs[0], "lww")
    for who, action, x, y in steps:
        wall[0] += 1 + x % 3
        tab = tabs[who]
        view = tab.view()
        tables = sorted(view.tables.values(), key=lambda t: t.table_id)
        fresh = f"{NAMES[x % len(NAMES)]}{y}"
        if action == "sync":
            other = tabs[(who + 1 + x % 2) % 3]
            tab.learn(other, ["lww", "fww", "reject", "drop-wins", "rename-wins"][y % 5])
            continue
        if action == "create" or not tables:
            if table_by_name(view, fresh) is None:
                cols = [("id", "INT64"), ("name", "STRING")]
                write(tab, view, build_node_table(fresh, cols, "id"))
            continue
        t = tables[x % len(tables)]
        others = [p for p in t.properties if p.property_id != t.primary_key]
        if action == "rename" and table_by_name(view, fresh) is None:
            write(tab, view, RenameTable(t.table_id, fresh))
        elif action == "drop":
            write(tab, view, DropTable(t.table_id))
        elif action == "add_prop":
            prop = f"{PROPS[y % len(PROPS)]}{x}"
            if t.property_named(prop) is None:
                write(tab, view, build_add_property(t.table_id, prop, "STRING"))
        elif others and action == "rename_prop":
            p = others[y % len(others)]
            new = f"{PROPS[x % len(PROPS)]}{y}"
            if t.property_named(new) is None:
                write(tab, view, RenameProperty(t.table_id, p.property_id, new))
        elif others and action == "drop_prop":
            write(tab, view, DropProperty(t.table_id, others[y % len(others)].property_id))
    union = merge_events([list(t.known.values()) for t in tabs], "reject")
    return list(union.events), seen


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plays())
def test_every_event_is_named_by_the_view_its_writer_saw(steps):
    log, views = _play(steps)
    by_id = {e.id: e for e in log}
    for n in name_events(log):
        e = n.event
        past = _ancestors(e, by_id)
        assert state_hash(n.before) == replay_merged(past).state_hash, e
        assert state_hash(n.after) == replay_merged([*past, e]).state_hash, e
        if e.id in views:  # written by a tab: its past is exactly what that tab saw
            view = views[e.id]
            assert state_hash(n.before) == state_hash(view)
            c = e.change
            if isinstance(c, RenameTable):
                assert n.text == f"{view.tables[c.table_id].name} -> {c.new_name}"
            if isinstance(c, RenameProperty):
                t = view.tables[c.table_id]
                old = t.property(c.property_id).name  # type: ignore[union-attr]
                assert n.text == f"{t.name}.{old} -> {c.new_name}"
            assert n.rejected is None  # a writer's own view accepts what it wrote
        assert not _ID_RE.search(n.text), n.text
        assert "(unknown" not in n.text, n.text
    # every conflict of the union, both sides by name, its element without ids
    named = named_by_id(log)
    for report in merge_events([log], "reject").conflicts:
        words = conflict_in_words(report, named)
        assert not _ID_RE.search(str(words)), words
        assert words["sides"] == [named[i].text for i in report.conflict.ids]


def test_the_id_pattern_finds_table_and_property_ids():
    # the "never an id" checks above rely on it
    assert _ID_RE.search("tab-1@1700000000000.3")
    assert _ID_RE.fullmatch("tab-1@1700000000000.3/p12")
    assert not re.search(_ID_RE, "Item -> ItemB")


def test_merge_sides_read_each_by_its_own_past_not_by_the_merged_order():
    """tab-b renames Item -> X, then X -> Y, while tab-a renames Item -> ItemA.
    In the merged order tab-b's first rename comes before tab-a's, so the old
    walk (the state just before the first side) named tab-a's rename 'X'."""
    from schemalog.history.sides import describe_sides

    a, b, wall = _two_tabs()
    item = a.write(build_node_table("Item", [("id", "INT64")], "id"))
    b.learn(a, "lww")
    wall[0] += 1
    b.write(RenameTable(item.id, "X"))
    wall[0] += 1
    mine = a.write(RenameTable(item.id, "ItemA"))
    wall[0] += 1
    later = b.write(RenameTable(item.id, "Y"))
    merged = merge_events([list(a.known.values()), list(b.known.values())], "reject")
    log = list(merged.events)
    assert [e.id for e in log].index(mine.id) > 1  # tab-b's first rename comes first
    sides = describe_sides(log, [r.conflict for r in merged.conflicts])
    [pair] = [
        v
        for r in merged.conflicts
        for k, v in sides.items()
        if k == r.conflict.key and set(r.conflict.ids) == {mine.id, later.id}
    ]
    assert sorted(pair) == [
        "tab-a: rename table 'Item' to 'ItemA'",
        "tab-b: rename table 'X' to 'Y'",
    ]
