"""Kuzu type grammar: canonical spellings, aliases, rejections, typed defaults."""

from __future__ import annotations

import pytest

from schemalog.errors import InvalidEvent
from schemalog.model.types import check_default, normalize_type, parse_type


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("int64", "INT64"),
        ("INT", "INT32"),
        ("bool", "BOOLEAN"),
        ("REAL", "FLOAT"),
        ("float4", "FLOAT"),
        ("FLOAT8", "DOUBLE"),
        ("bytea", "BLOB"),
        ("decimal", "DECIMAL(18, 3)"),
        ("DECIMAL( 5 ,2 )", "DECIMAL(5, 2)"),
        ("uint8", "UINT8"),
        ("int128", "INT128"),
        ("serial", "SERIAL"),
        ("timestamp_tz", "TIMESTAMP_TZ"),
        ("interval", "INTERVAL"),
        ("uuid", "UUID"),
        ("string[]", "STRING[]"),
        ("INT64[3]", "INT64[3]"),
        ("int64[][2]", "INT64[][2]"),
        ("struct(a int64, B string[])", "STRUCT(a INT64, B STRING[])"),
        ("MAP(string,struct(x int))", "MAP(STRING, STRUCT(x INT32))"),
        ("union(n int64, s string)", "UNION(n INT64, s STRING)"),
    ],
)
def test_canonical_spelling(text: str, canonical: str) -> None:
    assert normalize_type(text) == canonical
    assert normalize_type(canonical) == canonical  # idempotent


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("LONG", "unknown type name 'LONG'"),
        ("VARCHAR", "unknown type name"),
        ("LIST(INT64)", "unknown type name 'LIST'"),
        ("INT64[0]", "array size 0 outside"),
        ("INT64[01]", "must be a number"),
        ("DECIMAL(39, 1)", "precision 39 outside 1..38"),
        ("DECIMAL(5, 6)", "scale 6 outside 0..5"),
        ("MAP(STRING)", "expected ','"),
        ("STRUCT(a INT64, A STRING)", "duplicate STRUCT field 'A'"),
        ("STRUCT()", "field name"),
        ("INT64 x", "trailing 'x'"),
        ("INT64;", "unexpected character ';'"),
        ("INT64[", "ends early"),
    ],
)
def test_bad_types(text: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_type(text, "change.property.type")
    assert info.value.field == "change.property.type"
    assert reason in info.value.reason


def test_nesting_bound() -> None:
    with pytest.raises(InvalidEvent, match="nested deeper"):
        parse_type("MAP(STRING, " * 20 + "INT64" + ")" * 20)
    assert parse_type("MAP(STRING, " * 15 + "INT64" + ")" * 15) is not None


def test_type_must_be_string() -> None:
    with pytest.raises(InvalidEvent, match="must be a string"):
        parse_type(5)


@pytest.mark.parametrize(
    ("type_text", "value"),
    [
        ("INT8", -128),
        ("INT8", 127),
        ("UINT64", 2**53 - 1),
        ("INT64", -(2**53) + 1),
        ("BOOLEAN", False),
        ("STRING", "it's `x`; DROP"),
        ("DOUBLE", "-1.5e10"),
        ("FLOAT", "0"),
        ("DECIMAL(5, 2)", "123.45"),
        ("DATE", "2024-02-29"),
        ("TIMESTAMP", "2024-01-01 00:00:00.123456789"),
        ("TIMESTAMP_TZ", "2024-01-01 00:00:00+02:00"),
        ("UUID", "123e4567-e89b-12d3-a456-426614174000"),
        ("INT64[]", None),
    ],
)
def test_good_defaults(type_text: str, value: object) -> None:
    assert check_default(value, parse_type(type_text)) == value


@pytest.mark.parametrize(
    ("type_text", "value", "reason"),
    [
        ("INT64", True, "must be an int, got bool"),
        ("INT64", 1.0, "must be an int, got float"),
        ("INT8", 128, "outside the range of INT8"),
        ("UINT8", -1, "outside the range"),
        ("INT64", 2**53, "outside the range"),
        ("BOOLEAN", 1, "must be a bool"),
        ("DOUBLE", 1.5, "must be a string"),
        ("DOUBLE", "1.", "not a decimal number"),
        ("DOUBLE", "NaN", "not a decimal number"),
        ("DOUBLE", "01", "not a decimal number"),
        ("DECIMAL(5, 2)", "1234.5", "does not fit"),
        ("DECIMAL(5, 2)", "1.234", "does not fit"),
        ("DATE", "2023-02-29", "not a valid DATE"),
        ("DATE", "2023-2-1", "not a valid DATE literal"),
        ("TIMESTAMP", "2024-01-01T00:00:00", "not a valid TIMESTAMP literal"),
        ("TIMESTAMP", "2024-01-01 00:00:00Z", "only TIMESTAMP_TZ"),
        ("TIMESTAMP", "2024-01-01 25:00:00", "not a valid TIMESTAMP"),
        ("UUID", "123E4567-E89B-12D3-A456-426614174000", "lower-case UUID"),
        ("STRING", "a\x00", "NUL"),
        ("STRING", 5, "must be a string"),
        ("SERIAL", 1, "not supported"),
        ("BLOB", "00", "not supported"),
        ("INT64[]", "[1]", "not supported"),
        ("STRUCT(a INT64)", "x", "not supported"),
    ],
)
def test_bad_defaults(type_text: str, value: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        check_default(value, parse_type(type_text), "change.property.default")
    assert info.value.field == "change.property.default"
    assert reason in info.value.reason
