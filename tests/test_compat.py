"""compat: every rule, every mode, levels and ignores, renames, the transitive shortcut."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _compat_log import LogBuilder
from schemalog.analysis.compat import (
    MODES,
    RULES,
    UnknownRule,
    check_history,
    check_pair,
    compare_states,
    parse_aliases,
    type_change,
)
from schemalog.analysis.versions import (
    VersionNotFound,
    iter_versions,
    parse_spec,
    resolve,
    state_at,
)
from schemalog.model.events import (
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    DropTable,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
)
from strategies import histories


def _base() -> tuple[LogBuilder, str, str]:
    log = LogBuilder()
    person = log.add(build_node_table("Person", [("id", "INT64"), ("age", "INT32")], "id")).id
    city = log.add(build_node_table("City", [("name", "STRING")], "name")).id
    return log, person, city


def _rules(findings: list) -> list[str]:
    return sorted(f.rule for f in findings)


def _pair(log: LogBuilder, old: int, mode: str = "FULL", level: str = "STRICT", **kw: object):
    report = check_pair(log.events, old, log.position, mode, level, **kw)  # type: ignore[arg-type]
    return report.findings


# ---------------------------------------------------------------- one test per rule


def test_table_removed_names_event_versions_and_element() -> None:
    log, person, _ = _base()
    drop = log.add(DropTable(person))
    [f] = _pair(log, 2)
    assert f.rule == "TABLE_REMOVED" and f.category == "QUERY"
    assert f.breaks == ("BACKWARD", "FORWARD")
    assert (f.element, f.element_id, f.name) == ("table", person, "Person")
    assert f.event_id == drop.id
    assert (f.old.position, f.new.position) == (2, 3)
    assert "TABLE_REMOVED" in f.message() and drop.id in f.message()


def test_table_rename_is_one_finding() -> None:
    log, person, _ = _base()
    ren = log.add(RenameTable(person, "Human"))
    for mode in ("BACKWARD", "FORWARD", "FULL", "FULL_TRANSITIVE"):
        report = check_history(log.events, mode)
        assert [
            (f.rule, f.element_id, f.name, f.old_name, f.event_id) for f in report.findings
        ] == [("TABLE_RENAMED", person, "Human", "Person", ren.id)], mode


def test_table_rename_with_alias_is_compatible() -> None:
    log, person, _ = _base()
    log.add(CommentOnTable(person, "people\n@alias Person"))
    log.add(RenameTable(person, "Human"))
    assert check_history(log.events, "FULL_TRANSITIVE", "STRICT").compatible


def test_case_only_rename_is_compatible() -> None:
    log, person, _ = _base()
    log.add(RenameTable(person, "PERSON"))  # Kuzu folds ASCII case
    assert check_history(log.events, "FULL").compatible


def test_table_kind_changed() -> None:
    log, person, city = _base()
    log.add(DropTable(city))
    log.add(build_rel_table("City", [(person, person)]))
    assert _rules(_pair(log, 2)) == ["TABLE_KIND_CHANGED"]


def test_property_removed_and_renamed() -> None:
    log, person, _ = _base()
    age = f"{person}/p1"
    log.add(DropProperty(person, age))
    [f] = _pair(log, 2)
    assert (f.rule, f.element_id, f.name) == ("PROPERTY_REMOVED", age, "age")
    log2, person2, _ = _base()
    ren = log2.add(RenameProperty(person2, f"{person2}/p1", "years"))
    [g] = _pair(log2, 2)
    assert (g.rule, g.name, g.old_name, g.event_id) == ("PROPERTY_RENAMED", "years", "age", ren.id)


def test_property_rename_with_alias() -> None:
    log, person, _ = _base()
    log.add(CommentOnTable(person, f"@alias-property {person}/p1 age"))
    log.add(RenameProperty(person, f"{person}/p1", "years"))
    assert check_history(log.events, "FULL", "STRICT").compatible


def _replace_person(log: LogBuilder, person: str, props: list, pk: str) -> str:
    log.add(DropTable(person))
    return log.add(build_node_table("Person", props, pk)).id


def test_table_replaced_alone_when_identical() -> None:
    log, person, _ = _base()
    new = _replace_person(log, person, [("id", "INT64"), ("age", "INT32")], "id")
    [f] = _pair(log, 2)
    assert (f.rule, f.element_id, f.category) == ("TABLE_REPLACED", new, "DATA")
    assert f.event_id == log.events[-1].id


def test_primary_key_changed() -> None:
    log, person, _ = _base()
    _replace_person(log, person, [("id", "INT64"), ("age", "INT32")], "age")
    assert _rules(_pair(log, 2)) == ["PRIMARY_KEY_CHANGED", "TABLE_REPLACED"]


def test_type_rules_by_direction() -> None:
    cases = {
        "INT64": ("PROPERTY_TYPE_WIDENED", ("FORWARD",)),
        "INT16": ("PROPERTY_TYPE_NARROWED", ("BACKWARD",)),
        "STRING": ("PROPERTY_TYPE_CHANGED", ("BACKWARD", "FORWARD")),
    }
    for new_type, (rule, breaks) in cases.items():
        log, person, _ = _base()
        _replace_person(log, person, [("id", "INT64"), ("age", new_type)], "id")
        findings = _pair(log, 2)
        assert _rules(findings) == sorted([rule, "TABLE_REPLACED"])
        assert next(f for f in findings if f.rule == rule).breaks == breaks
        only_b = _pair(log, 2, "BACKWARD")
        assert (rule in _rules(only_b)) == ("BACKWARD" in breaks)


def test_property_replaced_and_default_changed() -> None:
    log, person, _ = _base()
    log.add(build_add_property(person, "score", "INT64", 1))
    start = log.position
    log.add(DropProperty(person, log.events[-1].id + "/p0"))
    log.add(build_add_property(person, "score", "INT64", 2))
    assert _rules(_pair(log, start)) == ["DEFAULT_CHANGED", "PROPERTY_REPLACED"]
    assert _rules(_pair(log, start, level="DATA")) == ["PROPERTY_REPLACED"]


def test_property_added_without_default_is_strict_backward() -> None:
    log, person, _ = _base()
    log.add(build_add_property(person, "nick", "STRING"))
    log.add(build_add_property(person, "rank", "INT64", 0))  # with a default: fine
    [f] = _pair(log, 2)
    assert (f.rule, f.breaks, f.category) == (
        "PROPERTY_ADDED_WITHOUT_DEFAULT",
        ("BACKWARD",),
        "STRICT",
    )
    assert _pair(log, 2, level="DATA") == []
    assert _pair(log, 2, "FORWARD") == []


def test_sorted_by_change_is_a_strict_finding_both_ways() -> None:
    log, person, _ = _base()
    sort = log.add(SetSortedBy(person, (SortKey(person + "/p1", "DESC"),)))
    [f] = _pair(log, 2)
    assert (f.rule, f.breaks, f.category) == (
        "SORTED_BY_CHANGED",
        ("BACKWARD", "FORWARD"),
        "STRICT",
    )
    assert (f.element, f.element_id, f.name, f.event_id) == ("table", person, "Person", sort.id)
    assert f.detail == "SORTED BY (none) -> age DESC"
    assert _pair(log, 2, level="DATA") == []  # only at STRICT
    log.add(SetSortedBy(person, (SortKey(person + "/p1", "DESC"),)))  # the same keys again
    assert _pair(log, 3) == []
    log.add(SetSortedBy(person, (SortKey(person + "/p0", "ASC"),)))
    [g] = _pair(log, 4)
    assert g.detail == "SORTED BY age DESC -> id ASC"
    # along a history: found at the step that made it, and transitively against the start
    report = check_history(log.events, "FULL_TRANSITIVE", "STRICT")
    assert {x.rule for x in report.findings} == {"SORTED_BY_CHANGED"}
    assert not report.compatible
    assert check_history(log.events, "FULL_TRANSITIVE", "DATA").compatible


def _with_rel(multiplicity: str) -> tuple[LogBuilder, str, str, str]:
    log, person, city = _base()
    rel = log.add(build_rel_table("LivesIn", [(person, city), (person, person)], [], multiplicity))
    return log, person, city, rel.id


def test_connection_removed_and_added() -> None:
    log, person, city, rel = _with_rel("MANY_MANY")
    log.add(DropConnection(rel, Connection(person, city)))
    [f] = _pair(log, 3)
    assert (f.rule, f.element, f.element_id, f.name) == (
        "CONNECTION_REMOVED",
        "connection",
        f"{person}->{city}",
        "Person->City",
    )
    log2, person2, city2, rel2 = _with_rel("MANY_MANY")
    from schemalog.model.events import AddConnection

    log2.add(AddConnection(rel2, Connection(city2, person2)))
    [g] = _pair(log2, 3)
    assert (g.rule, g.breaks, g.category) == ("CONNECTION_ADDED", ("FORWARD",), "STRICT")


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("MANY_MANY", "MANY_ONE", "MULTIPLICITY_TIGHTENED"),
        ("ONE_ONE", "ONE_MANY", "MULTIPLICITY_LOOSENED"),
    ],
)
def test_multiplicity(old: str, new: str, rule: str) -> None:
    log, person, city, rel = _with_rel(old)
    start = log.position
    log.add(DropTable(rel))
    log.add(build_rel_table("LivesIn", [(person, city), (person, person)], [], new))
    assert _rules(_pair(log, start)) == sorted([rule, "TABLE_REPLACED"])


def test_multiplicity_sideways_is_both() -> None:
    log, person, city, rel = _with_rel("MANY_ONE")
    start = log.position
    log.add(DropTable(rel))
    log.add(build_rel_table("LivesIn", [(person, city), (person, person)], [], "ONE_MANY"))
    assert _rules(_pair(log, start)) == [
        "MULTIPLICITY_LOOSENED",
        "MULTIPLICITY_TIGHTENED",
        "TABLE_REPLACED",
    ]


def test_every_rule_has_a_test_above() -> None:
    text = pathlib.Path(__file__).read_text(encoding="utf-8")
    for rule in RULES:
        assert text.count(rule) >= 1, rule


# ---------------------------------------------------------------- modes, levels, ignores


def test_every_mode() -> None:
    log, person, _ = _base()
    log.add(build_add_property(person, "nick", "STRING"))  # STRICT, BACKWARD
    expected = {
        "NONE": [],
        "BACKWARD": ["PROPERTY_ADDED_WITHOUT_DEFAULT"],
        "FORWARD": [],
        "FULL": ["PROPERTY_ADDED_WITHOUT_DEFAULT"],
        "BACKWARD_TRANSITIVE": ["PROPERTY_ADDED_WITHOUT_DEFAULT"],
        "FORWARD_TRANSITIVE": [],
        "FULL_TRANSITIVE": ["PROPERTY_ADDED_WITHOUT_DEFAULT"],
    }
    assert set(expected) == set(MODES)
    for mode, rules in expected.items():
        assert _rules(check_history(log.events, mode, "STRICT").findings) == rules, mode


def test_levels_and_ignores() -> None:
    log, person, _ = _base()
    log.add(RenameProperty(person, f"{person}/p1", "years"))
    log.add(build_add_property(person, "nick", "STRING"))
    assert _rules(check_history(log.events, "FULL", "QUERY").findings) == ["PROPERTY_RENAMED"]
    assert _rules(check_history(log.events, "FULL", "STRICT").findings) == [
        "PROPERTY_ADDED_WITHOUT_DEFAULT",
        "PROPERTY_RENAMED",
    ]
    report = check_history(log.events, "FULL", "STRICT", ["PROPERTY_RENAMED"])
    assert _rules(report.findings) == ["PROPERTY_ADDED_WITHOUT_DEFAULT"]
    assert report.to_obj()["ignored"] == ["PROPERTY_RENAMED"]
    with pytest.raises(UnknownRule):
        check_history(log.events, "FULL", "STRICT", ["NO_SUCH_RULE"])
    with pytest.raises(UnknownRule):
        check_history(log.events, "SIDEWAYS")
    with pytest.raises(UnknownRule):
        check_history(log.events, "FULL", "LOOSE")


def test_additions_and_comments_are_compatible_both_ways() -> None:
    log, person, city = _base()
    log.add(build_node_table("Shop", [("id", "INT64")], "id"))
    log.add(build_rel_table("Visits", [(person, city)]))
    log.add(build_add_property(person, "rank", "INT64", 0))
    log.add(CommentOnTable(person, "anything"))
    log.add(Tag("v1"))
    assert check_history(log.events, "FULL_TRANSITIVE", "STRICT").compatible


# ---------------------------------------------------------------- transitive


def _alias_chain() -> tuple[LogBuilder, str]:
    log, person, _ = _base()  # positions 1, 2: Person is called 'Person'
    log.add(CommentOnTable(person, "@alias Person"))  # 3
    log.add(RenameTable(person, "People"))  # 4: aliased, compatible
    log.add(CommentOnTable(person, "@alias People"))  # 5: Person alias dropped
    log.add(RenameTable(person, "Humans"))  # 6: aliased, compatible
    return log, person


def test_each_step_backward_but_transitive_fails_naming_the_version() -> None:
    log, person = _alias_chain()
    assert check_history(log.events, "BACKWARD").compatible
    report = check_history(log.events, "BACKWARD_TRANSITIVE")
    [f] = report.findings
    assert f.rule == "TABLE_RENAMED" and f.element_id == person
    assert f.old_name == "Person" and f.name == "People"
    assert f.new.position == 5  # where the alias was dropped
    assert f.old.position == 3  # the last version that called it 'Person'
    assert f.old_first == 1  # ... since it was created
    assert f.event_id == log.events[4].id  # the comment event that dropped the alias
    assert "3" in f.message() and "1.." in f.message()


def test_versions_by_tags_are_coarser() -> None:
    log, person, _ = _base()
    log.add(Tag("v1"))
    log.add(CommentOnTable(person, "@alias Person"))
    log.add(RenameTable(person, "People"))
    log.add(CommentOnTable(person, "@alias People"))
    log.add(RenameTable(person, "Humans"))
    log.add(Tag("v2"))
    assert check_history(log.events, "BACKWARD").compatible  # record by record
    report = check_history(log.events, "BACKWARD", every="tag")  # 0 -> v1 -> v2
    [f] = report.findings
    assert (f.rule, f.old_name, f.name) == ("TABLE_RENAMED", "Person", "Humans")
    assert (f.old.tag, f.new.tag, report.versions) == ("v1", "v2", 3)


def test_transitive_reports_removal_once_with_earliest_version() -> None:
    log, person, _ = _base()
    log.add(Tag("v1"))
    log.add(DropProperty(person, f"{person}/p1"))
    log.add(Tag("v2"))
    report = check_history(log.events, "FULL_TRANSITIVE")
    [f] = report.findings
    assert (f.rule, f.old.position, f.old_first, f.new.position) == ("PROPERTY_REMOVED", 3, 1, 4)


# ---------------------------------------------------------------- types and aliases


@pytest.mark.parametrize(
    ("old", "new", "how"),
    [
        ("INT8", "INT128", "widened"),
        ("UINT32", "INT64", "widened"),
        ("UINT64", "INT64", "changed"),
        ("INT64", "DOUBLE", "changed"),
        ("INT32", "DOUBLE", "widened"),
        ("FLOAT", "DOUBLE", "widened"),
        ("DOUBLE", "FLOAT", "narrowed"),
        ("INT32", "DECIMAL(12, 2)", "widened"),
        ("DECIMAL(18, 4)", "DECIMAL(10, 2)", "narrowed"),
        ("DECIMAL(10, 4)", "DECIMAL(10, 2)", "changed"),
        ("INT32[3]", "INT64[]", "widened"),
        ("INT64[]", "INT64[3]", "narrowed"),
        ("INT64[3]", "INT64[4]", "changed"),
        ("STRUCT(a INT32)", "STRUCT(a INT64, b STRING)", "widened"),
        ("MAP(STRING, INT64)", "MAP(STRING, INT32)", "narrowed"),
        ("TIMESTAMP_SEC", "TIMESTAMP", "widened"),
        ("INT64", "STRING", "changed"),
        ("SERIAL", "INT64", "widened"),
        ("STRING", "STRING", "same"),
    ],
)
def test_type_lattice(old: str, new: str, how: str) -> None:
    assert type_change(old, new) == how


def test_parse_aliases() -> None:
    tables, props = parse_aliases("x\n @alias Old Name \n@alias-property a@1.0/p1 old prop\n@alias")
    assert tables == {"old name"}
    assert props == {"a@1.0/p1": {"old prop"}}


def test_compare_states_directly() -> None:
    log, person, _ = _base()
    old = log.state
    log.add(DropTable(person))
    assert _rules(compare_states(old, log.state, "BACKWARD")) == ["TABLE_REMOVED"]
    assert compare_states(old, log.state, "NONE") == []


# ---------------------------------------------------------------- versions


def test_version_specs_and_resolution() -> None:
    log, _ = _alias_chain()
    log.add(Tag("v1"))
    assert parse_spec("head").kind == "head"
    assert parse_spec("12").value == 12
    assert parse_spec("tag:12").kind == "tag"
    assert parse_spec(log.events[0].id).kind == "event"
    assert parse_spec("v1").kind == "tag"
    head, v1, zero, by_id = resolve(["head", "v1", 0, log.events[1].id], log.events)
    assert (head.position, v1.position, v1.tag, zero.position, by_id.position) == (7, 7, "v1", 0, 2)
    with pytest.raises(VersionNotFound):
        resolve(["nope"], log.events)
    with pytest.raises(VersionNotFound):
        resolve([99], log.events)
    log.add(Tag("v1"))
    with pytest.raises(VersionNotFound, match="ambiguous"):
        resolve(["v1"], log.events)


def test_state_at_and_iter_versions() -> None:
    log, person = _alias_chain()
    version, state = state_at(log.events, 4)
    assert version.position == 4 and state.tables[person].name == "People"
    positions = [v.version.position for v in iter_versions(log.events, "event", start=2, stop=5)]
    assert positions == [2, 3, 4, 5]
    chosen = [v.version.position for v in iter_versions(log.events, frozenset({3}))]
    assert chosen == [0, 3, 6]


# ---------------------------------------------------------------- shortcut vs naive check


@st.composite
def _alias_histories(draw: st.DrawFn) -> LogBuilder:
    """One table with one property, renamed among a few names, aliases coming and going."""
    log = LogBuilder()
    table = log.add(build_node_table("A", [("id", "INT64"), ("x", "INT64")], "id")).id
    prop = f"{table}/p1"
    names, pnames = ["A", "B", "C"], ["x", "y", "z"]
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(["rename", "prename", "comment"]))
        if op == "rename":
            log.add(RenameTable(table, draw(st.sampled_from(names))))
        elif op == "prename":
            log.add(RenameProperty(table, prop, draw(st.sampled_from(pnames))))
        else:
            lines = [f"@alias {n}" for n in draw(st.lists(st.sampled_from(names), max_size=2))]
            lines += [
                f"@alias-property {prop} {n}"
                for n in draw(st.lists(st.sampled_from(pnames), max_size=2))
            ]
            log.add(CommentOnTable(table, "\n".join(lines)))
    return log


@settings(max_examples=80, deadline=None)
@given(_alias_histories())
def test_transitive_shortcut_agrees_with_every_pair(log: LogBuilder) -> None:
    states = [state for _, state in (state_at(log.events, i) for i in range(log.position + 1))]
    for j in range(1, log.position + 1):
        naive_ok = all(
            not compare_states(states[i], states[k], "BACKWARD", "STRICT")
            for k in range(1, j + 1)
            for i in range(k)
        )
        fast = check_history(log.events, "BACKWARD_TRANSITIVE", "STRICT", stop=j)
        assert fast.compatible == naive_ok, j
        for f in fast.findings:  # each finding is a real failure against the version it names
            assert compare_states(states[f.old.position], states[f.new.position], "BACKWARD")
            if f.old_first is not None:
                older = states[f.old_first]
                assert compare_states(older, states[f.new.position], "BACKWARD")


@settings(max_examples=40, deadline=None)
@given(histories(max_events=10))
def test_transitive_shortcut_on_random_histories(events: list) -> None:
    states = [state for _, state in (state_at(events, i) for i in range(len(events) + 1))]
    for mode in ("BACKWARD", "FORWARD"):
        naive_ok = all(
            not compare_states(states[i], states[k], mode, "STRICT")
            for k in range(1, len(events) + 1)
            for i in range(k)
        )
        fast = check_history(events, f"{mode}_TRANSITIVE", "STRICT")
        assert fast.compatible == naive_ok
