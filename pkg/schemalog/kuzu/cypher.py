"""Cypher lexical rendering for Kuzu 0.11: identifiers, string literals, default values.

Pure functions, no ``kuzu`` import. Every rule below was checked against native
kuzu 0.11.3 and is pinned by ``tests/test_kuzu_facts.py`` (those tests fail if
Kuzu changes).

Identifiers (``quote_identifier``)
    Kuzu's lexer reads an escaped name as ``( '`' ~'`'* '`' )+`` and the
    binder strips only the outermost two backticks: the text in between is
    stored *verbatim*. There is no escape at all: ```a``b``` is stored as
    ``a``b`` (two backticks), ``\\``, ``\\u0060``, quotes, semicolons, newlines
    and every Unicode letter are stored as written. Consequences:

    * a name round-trips exactly when it is written between two backticks
      unchanged, provided every run of backticks inside it has even length;
    * a name with an odd run of backticks (``a`b``) cannot be expressed at
      all -- ``quote_identifier`` raises ``UnquotableName``;
    * LadybugDB (its profile's ``backtick_escape``) reads a doubled backtick
      as one: there every name is expressible, backticks doubled;
    * the empty name is a parser error ("Token names cannot be empty or
      contain any null-bytes"); NUL is refused here on the strength of that
      message, although 0.11.3 happens to accept it inside a longer name.

String literals (``string_literal``)
    Single-quoted; inside, a backslash escape drops the backslash and keeps
    the next character for ``\\\\ \\' \\" \\n \\t \\r \\b \\f \\u \\U`` (so
    ``'\\n'`` is the letter ``n``, not a newline, and ``'\\u00e9'`` is
    ``u00e9``); other escapes (``\\x41``, ``\\0``, ``\\q``) are parser errors;
    doubling the quote (``'a''b'``) is a parser error. Raw newlines, CR, tabs
    and any Unicode pass through unchanged. So the only escaping needed is a
    backslash before ``\\`` and ``'``.

Defaults (``default_expression``)
    Kuzu does not cast a string to DATE/TIMESTAMP*/UUID implicitly, has no
    ``timestamp_tz()``/``timestamp_ns()``... functions, reads a DECIMAL
    literal through DOUBLE (losing digits beyond 15-17), and prints a negative
    literal default ``-42`` as ``42`` in ``table_info`` (the value stored is
    right; only the printed expression loses its sign). The spellings chosen
    here avoid all of that, and ``table_info``'s ``default expression``
    column prints back exactly what was sent (``-(42)`` prints as ``-42``,
    i.e. every integer default prints as ``str(value)``):

    ========================  ===================================
    integer types             ``42``, negative ``-(42)``
    BOOLEAN                   ``true`` / ``false``
    STRING                    ``string_literal(value)``
    everything else accepted  ``CAST('<value>' AS <canonical type>)``
    ========================  ===================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from schemalog.errors import SchemalogError
from schemalog.model.types import (
    DefaultValue,
    KuzuType,
    ScalarType,
    check_default,
    parse_type,
)

if TYPE_CHECKING:
    from schemalog.kuzu.profile import EngineProfile

__all__ = [
    "UnquotableName",
    "UnrenderableValue",
    "default_expression",
    "quote_identifier",
    "string_literal",
]

_ODD_BACKTICK_RUN = re.compile(r"(?<!`)(?:``)*`(?!`)")
_INT_TYPES = frozenset(
    ["INT8", "INT16", "INT32", "INT64", "INT128", "UINT8", "UINT16", "UINT32", "UINT64"]
)


class UnquotableName(SchemalogError):
    """``name`` cannot be written as a Kuzu identifier that round-trips exactly."""

    def __init__(self, name: object, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"cannot quote identifier {name!r}: {reason}")


class UnrenderableValue(SchemalogError):
    """``value`` cannot be written as a Cypher literal (string or default)."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"cannot render {value!r} as a Cypher literal: {reason}")


def quote_identifier(name: str, engine: EngineProfile | None = None) -> str:
    """Backtick-quote ``name`` so that the catalog of ``engine`` (default Kuzu) stores
    exactly ``name``."""
    if type(name) is not str:
        raise UnquotableName(name, f"must be a str, got {type(name).__name__}")
    if not name:
        raise UnquotableName(name, "Kuzu rejects the empty identifier")
    if "\x00" in name:
        raise UnquotableName(name, "Kuzu identifiers cannot contain NUL")
    if _has_lone_surrogate(name):
        raise UnquotableName(name, "contains a lone surrogate (not encodable as UTF-8)")
    if engine is not None and engine.backtick_escape:
        return "`" + name.replace("`", "``") + "`"
    if "`" in name and _ODD_BACKTICK_RUN.search(name):
        raise UnquotableName(
            name,
            "a run of an odd number of backticks cannot be expressed: Kuzu has no "
            "backtick escape (a doubled backtick is stored doubled)",
        )
    return f"`{name}`"


def string_literal(value: str) -> str:
    """A single-quoted Cypher string literal that Kuzu reads back as ``value``."""
    if type(value) is not str:
        raise UnrenderableValue(value, f"must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise UnrenderableValue(value, "contains NUL")
    if _has_lone_surrogate(value):
        raise UnrenderableValue(value, "contains a lone surrogate (not encodable as UTF-8)")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def default_expression(value: DefaultValue, kuzu_type: KuzuType | str) -> str | None:
    """The Cypher expression for a default ``value`` of ``kuzu_type``; None for no default.

    ``value`` is validated with ``kuzu_types.check_default`` first (which raises
    ``InvalidEvent`` for a value that does not fit the type), so only validated
    values reach the DDL. ``kuzu_type`` may be a parsed type or a type string.
    """
    parsed = parse_type(kuzu_type) if isinstance(kuzu_type, str) else kuzu_type
    checked = check_default(value, parsed)
    if checked is None:
        return None
    name = str(parsed)
    if isinstance(parsed, ScalarType) and name in _INT_TYPES:
        assert type(checked) is int
        return f"-({-checked})" if checked < 0 else str(checked)
    if name == "BOOLEAN":
        return "true" if checked is True else "false"
    assert type(checked) is str
    if name == "STRING":
        return string_literal(checked)
    return f"CAST({string_literal(checked)} AS {name})"


def _has_lone_surrogate(text: str) -> bool:
    return not text.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in text)
