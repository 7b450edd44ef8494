"""The event model: construction, strict validation, to_obj/from_obj, the factory."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given

from schemalog.errors import InvalidEvent
from schemalog.model.clock import HybridLogicalClock, Timestamp
from schemalog.model.events import (
    CHANGE_KINDS,
    FORMAT,
    AddConnection,
    CommentOnTable,
    Event,
    Merge,
    PropertyDef,
    RenameTable,
    Resolution,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    event_id,
    new_event,
    parse_event_id,
)
from strategies import HOSTILE_NAMES, events, slow_ok


def make_clock(origin: str = "a", start: int = 1_000) -> HybridLogicalClock:
    wall = [start]

    def now() -> int:
        wall[0] += 1
        return wall[0]

    return HybridLogicalClock(origin, now)


def person() -> Event:
    return new_event(
        make_clock(),
        "ws",
        [],
        build_node_table("Person", [("id", "int64"), ("name", "string", "x")], "id"),
    )


def test_factory_creates_ids_from_the_clock() -> None:
    event = person()
    assert event.id == "a@1001.0" == event_id("a", event.hlc)
    assert event.change.table_id == event.id  # type: ignore[union-attr]
    props = event.change.properties  # type: ignore[union-attr]
    assert [p.property_id for p in props] == ["a@1001.0/p0", "a@1001.0/p1"]
    assert [p.type for p in props] == ["INT64", "STRING"]  # aliases normalized
    assert event.kind == "create_node_table"
    assert event.format == FORMAT == 1


def test_factory_observes_parents_so_parents_are_earlier() -> None:
    remote = new_event(make_clock("b", 50_000), "ws", [], Tag("v1"))
    local = new_event(make_clock("a", 49_000), "ws", [remote.id], Tag("v2"))
    assert local.hlc > remote.hlc
    assert local.parents == (remote.id,)


def test_kinds_are_snake_case_and_complete() -> None:
    assert set(CHANGE_KINDS) == {
        "create_node_table", "create_rel_table", "add_property", "drop_property",
        "rename_property", "rename_table", "drop_table", "add_connection",
        "drop_connection", "comment_on_table", "set_sorted_by", "merge", "tag",
    }  # fmt: skip


@slow_ok
@given(events())
def test_to_obj_from_obj_round_trip(event: Event) -> None:
    obj = event.to_obj()
    assert Event.from_obj(copy.deepcopy(obj)) == event
    assert Event.from_obj(obj).to_obj() == obj


def bad(obj: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        Event.from_obj(obj)
    assert info.value.field == field, str(info.value)
    assert reason in info.value.reason, str(info.value)
    assert field in str(info.value)


def test_true_is_not_an_int() -> None:
    obj = person().to_obj()
    obj["hlc"]["logical"] = True
    bad(obj, "hlc.logical", "must be an int, got bool")


def test_format_true_is_not_format_1() -> None:
    obj = person().to_obj()
    obj["format"] = True
    bad(obj, "format", "unknown format version True")


def test_unknown_format_version() -> None:
    obj = person().to_obj()
    obj["format"] = 2
    obj["future_field"] = 1
    bad(obj, "format", "unknown format version 2")


def test_unknown_kind() -> None:
    obj = person().to_obj()
    obj["change"]["kind"] = "create_view"
    bad(obj, "change.kind", "unknown change kind 'create_view'")


def test_unknown_and_missing_fields_are_named() -> None:
    obj = person().to_obj()
    obj["extra"] = 1
    del obj["workspace"]
    bad(obj, "event", "unknown field(s) 'extra'; missing field(s) 'workspace'")
    obj = person().to_obj()
    obj["change"]["properties"][1]["collation"] = "nocase"
    bad(obj, "change.properties[1]", "unknown field(s) 'collation'")


def test_self_parent() -> None:
    obj = person().to_obj()
    obj["parents"] = [obj["id"]]
    bad(obj, "parents", "names the event itself")


def test_parents_sorted_unique_and_earlier() -> None:
    obj = person().to_obj()
    obj["parents"] = ["b@5.0", "a@5.0"]
    bad(obj, "parents", "sorted and without duplicates")
    obj["parents"] = ["a@5.0", "a@5.0"]
    bad(obj, "parents", "sorted and without duplicates")
    obj["parents"] = ["z@999999.0"]
    bad(obj, "parents[0]", "not earlier")
    obj["parents"] = ["not an id"]
    bad(obj, "parents[0]", "is not an event id")


def test_id_must_match_origin_and_hlc() -> None:
    obj = person().to_obj()
    obj["id"] = "a@1001.1"
    bad(obj, "id", "must be 'a@1001.0'")


def test_created_ids_must_derive_from_event_id() -> None:
    obj = person().to_obj()
    obj["change"]["table_id"] = "a@1.0"
    bad(obj, "change.table_id", "must equal the event id")
    obj = person().to_obj()
    obj["change"]["properties"][1]["property_id"] = "a@1001.0/p7"
    bad(obj, "change.properties[1].property_id", "must be 'a@1001.0/p1'")


def test_non_canonical_type_in_event() -> None:
    obj = person().to_obj()
    obj["change"]["properties"][1]["type"] = "string"
    bad(obj, "change.properties[1].type", "not canonical; write 'STRING'")
    obj["change"]["properties"][1]["type"] = "STRNG"
    bad(obj, "change.properties[1].type", "unknown type name 'STRNG'")


def test_bad_default_in_event() -> None:
    obj = person().to_obj()
    obj["change"]["properties"][1]["default"] = 5
    bad(obj, "change.properties[1].default", "must be a string")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\nb", "control character"),
        ("a\x00", "control character U+0000"),
        ("a\u200db", "format character"),
        ("\u202eevil", "U+202E"),
        ("a\udfffb", "lone surrogate"),
        ("Cafe\u0301", "not NFC"),
        ("x" * 129, "more than 128"),
        ("_schemalog_log", "reserved"),
    ],
)
def test_hostile_invalid_names_in_events(name: str, reason: str) -> None:
    obj = person().to_obj()
    obj["change"]["name"] = name
    bad(obj, "change.name", reason)
    obj = person().to_obj()
    obj["change"]["properties"][1]["name"] = name
    bad(obj, "change.properties[1].name", reason)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_valid_names_in_events(name: str) -> None:
    event = new_event(make_clock(), "ws", [], build_node_table(name, [(name, "INT64")], name))
    assert Event.from_obj(event.to_obj()) == event


def test_duplicate_property_names_case_insensitive() -> None:
    with pytest.raises(InvalidEvent) as info:
        new_event(
            make_clock(), "ws", [], build_node_table("T", [("id", "INT64"), ("ID", "STRING")], "id")
        )
    assert info.value.field == "change.properties[1].name"
    assert "case-insensitive" in info.value.reason


def test_primary_key_rules() -> None:
    with pytest.raises(InvalidEvent, match="no property named 'nope'"):
        new_event(make_clock(), "ws", [], build_node_table("T", [("id", "INT64")], "nope"))
    with pytest.raises(InvalidEvent, match="cannot be a primary key"):
        new_event(make_clock(), "ws", [], build_node_table("T", [("id", "INT64[]")], "id"))


def test_rel_table_validation() -> None:
    node = person()
    with pytest.raises(InvalidEvent, match="at least one FROM/TO"):
        new_event(make_clock(), "ws", [], build_rel_table("R", []))
    with pytest.raises(InvalidEvent, match="multiplicity"):
        new_event(make_clock(), "ws", [], build_rel_table("R", [(node.id, node.id)], [], "MANY"))
    obj = new_event(make_clock(), "ws", [], build_rel_table("R", [(node.id, node.id)])).to_obj()
    obj["change"]["connections"].append(obj["change"]["connections"][0])
    bad(obj, "change.connections", "sorted and without duplicates")
    obj["change"]["connections"] = [{"from_table_id": "x", "to_table_id": node.id}]
    bad(obj, "change.connections[0].from_table_id", "is not an event id")


def test_add_property_ids_and_merge_rules() -> None:
    node = person()
    event = new_event(make_clock(), "ws", [], build_add_property(node.id, "age", "INT", 3))
    assert event.change.property == PropertyDef(f"{event.id}/p0", "age", "INT32", 3)  # type: ignore[union-attr]
    clock = make_clock()
    with pytest.raises(InvalidEvent, match="at least two heads"):
        new_event(clock, "ws", [node.id], Merge())
    other = new_event(make_clock("b"), "ws", [], Tag("t"))
    merge = new_event(
        clock, "ws", [node.id, other.id],
        Merge((Resolution("table:x", node.id, (other.id,)),)),
    )  # fmt: skip
    assert Event.from_obj(merge.to_obj()) == merge
    with pytest.raises(InvalidEvent, match="contains the winner"):
        Resolution("k", node.id, (node.id,))


def test_field_types_are_exact() -> None:
    with pytest.raises(InvalidEvent, match="must be a tuple, got list"):
        Merge([])  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="must be a Connection"):
        AddConnection("a@1.0", ("a@1.0", "a@1.0"))  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="must be a string"):
        RenameTable("a@1.0", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="NUL"):
        CommentOnTable("a@1.0", "x\x00")


def test_parse_event_id() -> None:
    assert parse_event_id("org-1.x@17.3") == Timestamp(17, 3, "org-1.x")
    for bad_id in ["a@0.0", "a@1.01", "@1.0", "a@1", "a@9007199254740992.0", 7]:
        with pytest.raises(InvalidEvent):
            parse_event_id(bad_id)
