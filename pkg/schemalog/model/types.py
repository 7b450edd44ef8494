"""Kuzu 0.11 data types: a validated parser, one canonical spelling, typed default values.

Grammar (case-insensitive keywords; whitespace between tokens is free)::

    type   := base ( "[]" | "[" n "]" )*          -- LIST / fixed-size ARRAY, n in 1..2**20
    base   := SCALAR | DECIMAL [ "(" p "," s ")" ]  -- 1 <= p <= 38, 0 <= s <= p
            | STRUCT "(" field ("," field)* ")"
            | UNION  "(" field ("," field)* ")"
            | MAP "(" type "," type ")"
    field  := ident type                            -- ident = [A-Za-z_][A-Za-z0-9_]*, unique

Canonical spelling is what Kuzu 0.11's ``table_info`` prints (checked against
native kuzu 0.11.3): upper-case keywords, ``", "`` between parameters, e.g.
``DECIMAL(18, 3)``, ``STRUCT(a INT64, b STRING)``, ``MAP(STRING, INT64[])``.
Struct and union field names keep their case. Aliases accepted and normalized:
INT -> INT32, REAL and FLOAT4 -> FLOAT, FLOAT8 -> DOUBLE, BYTEA -> BLOB,
BOOL -> BOOLEAN (Kuzu prints BOOL; the DDL layer maps back), bare DECIMAL ->
DECIMAL(18, 3) (Kuzu's default). LONG, SHORT, BIGINT, INTEGER, VARCHAR, TEXT,
LIST(T) are rejected because Kuzu 0.11 rejects them.

Default values are typed literals, not free text, so that they are JSON-able
without floats (the canonical encoding forbids floats):

* integer types: an ``int`` (not ``bool``) within the type's range and within
  +-(2**53-1);
* FLOAT, DOUBLE, DECIMAL: a decimal string matching ``-?(0|[1-9]\\d*)(\\.\\d+)?``
  (plus an exponent ``e[+-]?\\d+`` for FLOAT/DOUBLE); DECIMAL also checks
  precision and scale;
* BOOLEAN: ``True``/``False``; STRING: any well-formed text;
* DATE ``YYYY-MM-DD``; TIMESTAMP* ``YYYY-MM-DD HH:MM:SS[.fraction]`` (a valid
  calendar date/time; TIMESTAMP_TZ may end in ``Z`` or ``+HH:MM``);
  UUID: lower-case 8-4-4-4-12 hex;
* ``None`` means "no default" (Kuzu's NULL default).

Defaults for SERIAL, BLOB, INTERVAL and nested types are rejected (not needed
by any schema we have seen; the DDL layer would have to render them).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import NoReturn

from schemalog.errors import InvalidEvent
from schemalog.model.names import validate_text

__all__ = [
    "ArrayType",
    "DecimalType",
    "DefaultValue",
    "KuzuType",
    "ListType",
    "MapType",
    "ScalarType",
    "StructType",
    "UnionType",
    "check_default",
    "normalize_type",
    "parse_type",
]

MAX_SAFE_INT = 2**53 - 1
MAX_ARRAY_SIZE = 2**20
MAX_NESTING = 16
MAX_TYPE_LENGTH = 4096

DefaultValue = int | str | bool | None

_INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "INT128": (-(2**127), 2**127 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_SCALARS = frozenset(
    [
        *_INT_RANGES,
        "SERIAL",
        "FLOAT",
        "DOUBLE",
        "BOOLEAN",
        "STRING",
        "BLOB",
        "UUID",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_SEC",
        "TIMESTAMP_TZ",
        "INTERVAL",
    ]
)
_ALIASES = {
    "INT": "INT32",
    "REAL": "FLOAT",
    "FLOAT4": "FLOAT",
    "FLOAT8": "DOUBLE",
    "BYTEA": "BLOB",
    "BOOL": "BOOLEAN",
}


@dataclass(frozen=True, slots=True)
class ScalarType:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class DecimalType:
    precision: int
    scale: int

    def __str__(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


@dataclass(frozen=True, slots=True)
class ListType:
    element: KuzuType

    def __str__(self) -> str:
        return f"{self.element}[]"


@dataclass(frozen=True, slots=True)
class ArrayType:
    element: KuzuType
    size: int

    def __str__(self) -> str:
        return f"{self.element}[{self.size}]"


@dataclass(frozen=True, slots=True)
class StructType:
    fields: tuple[tuple[str, KuzuType], ...]

    def __str__(self) -> str:
        return "STRUCT(" + ", ".join(f"{n} {t}" for n, t in self.fields) + ")"


@dataclass(frozen=True, slots=True)
class UnionType:
    fields: tuple[tuple[str, KuzuType], ...]

    def __str__(self) -> str:
        return "UNION(" + ", ".join(f"{n} {t}" for n, t in self.fields) + ")"


@dataclass(frozen=True, slots=True)
class MapType:
    key: KuzuType
    value: KuzuType

    def __str__(self) -> str:
        return f"MAP({self.key}, {self.value})"


KuzuType = ScalarType | DecimalType | ListType | ArrayType | StructType | UnionType | MapType

_TOKEN_RE = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([0-9]+)|([()\[\],]))")


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                self.fail(f"unexpected character {text[pos:].lstrip()[:1]!r} at offset {pos}")
            self.tokens.append(m.group(m.lastindex or 0))
            pos = m.end()
        self.i = 0

    def fail(self, reason: str) -> NoReturn:
        raise InvalidEvent(self.field, f"type {self.text!r}: {reason}")

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take_any(self, what: str) -> str:
        tok = self.peek()
        if tok is None:
            self.fail(f"ends early, expected {what}")
        self.i += 1
        return tok

    def take(self, literal: str) -> str:
        tok = self.take_any(repr(literal))
        if tok != literal:
            self.fail(f"expected {literal!r}, got {tok!r}")
        return tok

    def number(self, what: str, low: int, high: int) -> int:
        tok = self.take_any(what)
        if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
            self.fail(f"{what} must be a number, got {tok!r}")
        value = int(tok)
        if not low <= value <= high:
            self.fail(f"{what} {value} outside {low}..{high}")
        return value

    def parse_type(self, depth: int) -> KuzuType:
        if depth > MAX_NESTING:
            self.fail(f"nested deeper than {MAX_NESTING}")
        result = self.parse_base(depth)
        while self.peek() == "[":
            self.take("[")
            if self.peek() == "]":
                self.take("]")
                result = ListType(result)
            else:
                size = self.number("array size", 1, MAX_ARRAY_SIZE)
                self.take("]")
                result = ArrayType(result, size)
        return result

    def parse_fields(self, depth: int, kind: str) -> tuple[tuple[str, KuzuType], ...]:
        self.take("(")
        fields: list[tuple[str, KuzuType]] = []
        seen: set[str] = set()
        while True:
            name = self.take_any("field name")
            if not (name[0].isalpha() or name[0] == "_") or not name.isascii():
                self.fail(f"{kind} field name expected, got {name!r}")
            if name.lower() in seen:
                self.fail(f"duplicate {kind} field {name!r}")
            seen.add(name.lower())
            fields.append((name, self.parse_type(depth + 1)))
            if self.take_any("',' or ')'") == ")":
                return tuple(fields)
            self.i -= 1
            self.take(",")

    def parse_base(self, depth: int) -> KuzuType:
        word = self.take_any("type name")
        upper = _ALIASES.get(word.upper(), word.upper())
        if upper in _SCALARS:
            return ScalarType(upper)
        if upper == "DECIMAL":
            if self.peek() != "(":
                return DecimalType(18, 3)
            self.take("(")
            precision = self.number("DECIMAL precision", 1, 38)
            self.take(",")
            scale = self.number("DECIMAL scale", 0, precision)
            self.take(")")
            return DecimalType(precision, scale)
        if upper == "STRUCT":
            return StructType(self.parse_fields(depth, "STRUCT"))
        if upper == "UNION":
            return UnionType(self.parse_fields(depth, "UNION"))
        if upper == "MAP":
            self.take("(")
            key = self.parse_type(depth + 1)
            self.take(",")
            value = self.parse_type(depth + 1)
            self.take(")")
            return MapType(key, value)
        self.fail(f"unknown type name {word!r}")


def parse_type(text: object, field: str = "type") -> KuzuType:
    """Parse a Kuzu type string (any accepted spelling) or raise InvalidEvent(field, ...)."""
    if type(text) is not str:
        raise InvalidEvent(field, f"type must be a string, got {type(text).__name__}")
    if len(text) > MAX_TYPE_LENGTH:
        raise InvalidEvent(field, f"type longer than {MAX_TYPE_LENGTH} characters")
    parser = _Parser(text, field)
    if not parser.tokens:
        parser.fail("empty")
    result = parser.parse_type(0)
    if parser.peek() is not None:
        parser.fail(f"trailing {parser.peek()!r}")
    return result


def normalize_type(text: object, field: str = "type") -> str:
    """The canonical spelling of a type string."""
    return str(parse_type(text, field))


_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(?:\.([0-9]+))?\Z")
_FLOAT_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?\Z")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
)
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _want_str(value: object, field: str, type_name: str) -> str:
    if type(value) is not str:
        raise InvalidEvent(
            field, f"default for {type_name} must be a string, got {type(value).__name__}"
        )
    return value


def check_default(value: object, kuzu_type: KuzuType, field: str = "default") -> DefaultValue:
    """Return ``value`` if it is a valid default for ``kuzu_type``, else raise InvalidEvent."""
    if value is None:
        return None
    name = str(kuzu_type)
    if isinstance(kuzu_type, ScalarType) and name in _INT_RANGES:
        if type(value) is not int:
            got = type(value).__name__
            raise InvalidEvent(field, f"default for {name} must be an int, got {got}")
        low, high = _INT_RANGES[name]
        if not max(low, -MAX_SAFE_INT) <= value <= min(high, MAX_SAFE_INT):
            raise InvalidEvent(field, f"default {value} is outside the range of {name} (or 2**53)")
        return value
    if name == "BOOLEAN":
        if type(value) is not bool:
            got = type(value).__name__
            raise InvalidEvent(field, f"default for BOOLEAN must be a bool, got {got}")
        return value
    if name == "STRING":
        return validate_text(_want_str(value, field, name), field)
    if name in ("FLOAT", "DOUBLE"):
        text = _want_str(value, field, name)
        if _FLOAT_RE.match(text) is None:
            raise InvalidEvent(field, f"default {text!r} is not a decimal number string")
        return text
    if isinstance(kuzu_type, DecimalType):
        text = _want_str(value, field, name)
        m = _DECIMAL_RE.match(text)
        if m is None:
            raise InvalidEvent(field, f"default {value!r} is not a decimal number string")
        integer, fraction = m.group(1), m.group(2) or ""
        if len(fraction) > kuzu_type.scale or len(integer.lstrip("0")) > (
            kuzu_type.precision - kuzu_type.scale
        ):
            raise InvalidEvent(field, f"default {text!r} does not fit {name}")
        return text
    if name == "UUID":
        text = _want_str(value, field, name)
        if _UUID_RE.match(text) is None:
            raise InvalidEvent(field, f"default {text!r} is not a lower-case UUID")
        return text
    if name == "DATE":
        text = _want_str(value, field, name)
        _check_calendar(_DATE_RE.match(text), text, field, name)
        return text
    if name.startswith("TIMESTAMP"):
        text = _want_str(value, field, name)
        m = _TIMESTAMP_RE.match(text)
        _check_calendar(m, text, field, name)
        if m is not None and m.group(8) and name != "TIMESTAMP_TZ":
            raise InvalidEvent(field, f"default {text!r}: only TIMESTAMP_TZ takes an offset")
        return text
    raise InvalidEvent(field, f"defaults for {name} are not supported")


def _check_calendar(m: re.Match[str] | None, value: object, field: str, name: str) -> None:
    if m is None:
        raise InvalidEvent(field, f"default {value!r} is not a valid {name} literal")
    parts = [int(g) for g in m.groups()[:6] if g is not None and g[0].isdigit()]
    try:
        datetime.date(parts[0], parts[1], parts[2])
        if len(parts) > 3:
            datetime.time(parts[3], parts[4], parts[5])
    except ValueError as exc:
        raise InvalidEvent(field, f"default {value!r} is not a valid {name}: {exc}") from None
