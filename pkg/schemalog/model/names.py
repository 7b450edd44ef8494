"""The identifier rule for table and property names, and for the other strings in events.

Names (tables, properties, struct fields, tags) are Unicode strings that must
round-trip through Kuzu's catalog when written in DDL with backtick quoting.
The rule, decided here once:

* the value is a ``str`` (not bytes, not a subclass trick), 1..128 code points;
* it is already NFC: a non-NFC name is rejected, never silently normalized,
  because normalizing would make two different byte strings name the same
  table after a round-trip through the log;
* no control characters (Cc: NUL, newline, tab, DEL...), no format characters
  (Cf: zero-width joiners/spaces, bidi overrides such as U+202E, BOM), no line
  or paragraph separators (Zl/Zp), no lone surrogates (Cs), no private-use (Co)
  or unassigned (Cn) code points: all of them are invisible or render
  misleadingly in a catalog listing, and some cannot be UTF-8 encoded;
* no leading or trailing whitespace (it is invisible in listings);
* no backtick: Kuzu 0.11 has no escape for a backtick inside a quoted
  identifier (checked on kuzu 0.11.3: ```a``b``` is stored as ``a``b`` with
  both backticks, ```a`b``` is a parser error), so a name with one could not
  be written, or would not come back as it was written;
* table names have no ``.``: Kuzu reads ``table_info('a.b')`` as table ``b``
  of database ``a`` whatever the quoting, so such a table could be created but
  never introspected (property names may contain dots);
* quotes, semicolons, spaces inside, reserved words (``MATCH``, ``TABLE``...)
  and letters of any script (CJK, emoji) ARE allowed: quoting in the DDL
  layer makes them safe, and rejecting them would reject real schemas;
* names starting with ``_schemalog`` (any case) are reserved for our own
  bookkeeping table.

Names Kuzu keeps for itself are not refused here (a log that holds one must
still decode): ``KUZU_RESERVED_PROPERTY_NAMES`` is read by the schema model's
rule ``reserved-property-name`` (model.schema), which refuses them as Kuzu does.

Why 128: Kuzu documents no limit; 128 code points is SQL Server's identifier
limit, long enough for descriptive names in any script, short enough to keep
DDL, error messages and catalog listings readable and events small.

Unicode version: ``unicodedata`` differs between Python 3.11 (Unicode 14) and
3.14 (Unicode 16). A character assigned only in a newer version is "unassigned"
to the older interpreter and is rejected there with an error naming it -- a
loud difference, never a silent one. NFC is stable for assigned characters.

Case: Kuzu 0.11's catalog compares table and property names case-insensitively
for ASCII letters only (checked on native kuzu 0.11.3: ``Person``/``person``
collide, ``Ä``/``ä`` do not). ``catalog_key`` folds exactly that way; the
schema model uses it for uniqueness.

Other strings: ``validate_token`` (origins, workspaces) is a conservative ASCII
rule, and ``validate_text`` (comments) allows any well-formed Unicode text.
"""

from __future__ import annotations

import re
import unicodedata

from schemalog.errors import InvalidEvent

__all__ = [
    "KUZU_RESERVED_PROPERTY_NAMES",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "RESERVED_PREFIX",
    "catalog_key",
    "reserved_property_name",
    "validate_name",
    "validate_table_name",
    "validate_text",
    "validate_token",
]

MAX_NAME_LENGTH = 128
MAX_TEXT_LENGTH = 4096
RESERVED_PREFIX = "_schemalog"

# General categories never allowed in a name (see module docstring).
_FORBIDDEN_CATEGORIES = {
    "Cc": "control character",
    "Cf": "format character (zero-width or bidi control)",
    "Cs": "lone surrogate",
    "Co": "private-use character",
    "Cn": "unassigned code point",
    "Zl": "line separator",
    "Zp": "paragraph separator",
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
# Pure printable ASCII without backtick needs no per-character inspection.
_PLAIN_ASCII_RE = re.compile(r"[\x20-\x5f\x61-\x7e]+\Z")


# Names already found valid: the rule is a pure function of the (immutable) string,
# and a log repeats a few thousand names many times. Bounded: cleared when full.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 4096


def validate_name(value: object, field: str) -> str:
    """Return ``value`` if it is a valid name, else raise InvalidEvent(field, reason)."""
    if type(value) is str and value in _GOOD_NAMES:
        return value
    _check_name(value, field)
    if len(_GOOD_NAMES) >= _GOOD_NAMES_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(value)  # type: ignore[arg-type]  # _check_name proved it a str
    return value  # type: ignore[return-value]


def _check_name(value: object, field: str) -> None:
    if type(value) is not str:
        raise InvalidEvent(field, f"name must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidEvent(field, "name is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidEvent(field, f"name has {len(value)} code points, more than {MAX_NAME_LENGTH}")
    if _PLAIN_ASCII_RE.match(value) is None:
        if "`" in value:
            raise InvalidEvent(
                field,
                f"name contains a backtick at index {value.index('`')} (Kuzu cannot quote it)",
            )
        _check_characters(value, field)
    if value[0].isspace() or value[-1].isspace():
        raise InvalidEvent(field, "name has leading or trailing whitespace")
    if catalog_key(value[: len(RESERVED_PREFIX)]) == RESERVED_PREFIX:
        raise InvalidEvent(field, f"names starting with {RESERVED_PREFIX!r} are reserved")


def validate_table_name(value: object, field: str) -> str:
    """A name (see ``validate_name``) that ``table_info`` can look up: no ``.``."""
    name = validate_name(value, field)
    if "." in name:
        raise InvalidEvent(
            field, f"table name contains '.' at index {name.index('.')} (Kuzu reads it as db.table)"
        )
    return name


def _check_characters(value: str, field: str) -> None:
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        what = _FORBIDDEN_CATEGORIES.get(category)
        if what is not None:
            raise InvalidEvent(field, f"name contains {what} U+{ord(char):04X} at index {index}")
    if not unicodedata.is_normalized("NFC", value):
        raise InvalidEvent(field, "name is not NFC-normalized (normalize it before use)")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def catalog_key(name: str) -> str:
    """The key under which Kuzu's catalog compares names: ASCII letters folded, nothing else."""
    # str.lower folds exactly A-Z in an ASCII string and is ~20x cheaper than a
    # translate table (apply computes one to four keys per event)
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


# Property names Kuzu 0.11.3 and LadybugDB 0.22.0 refuse in CREATE NODE/REL TABLE
# ("Binder exception: _label is a reserved property name"), measured on both engines
# (tests/test_kuzu_facts.py pins the list and its near misses). Kuzu compares them
# after upper-casing with the simple Unicode mapping, so ``_ıd`` (dotless i) and
# ``_ſrc`` (long s) are reserved too, while ``_Dﬆ`` (ligature: no one-letter
# upper case) and ``_İD`` are not. No table name is reserved (kuzu.profile).
KUZU_RESERVED_PROPERTY_NAMES = frozenset(
    [
        "_ID",
        "_LABEL",
        "_SRC",
        "_DST",
        "_DIRECTION",
        "_LENGTH",
        "_NODES",
        "_RELS",
        "_PLACE_HOLDER",
        "_ROW_OFFSET",
        "_SRC_OFFSET",
        "_DST_OFFSET",
    ]
)


def _simple_upper(name: str) -> str:
    if name.isascii():
        return name.upper()
    # per code point, as Kuzu's utf8proc toupper: a letter whose upper case is
    # several letters (ß, ligatures) stays as it is
    return "".join([u if len(u := c.upper()) == 1 else c for c in name])


def reserved_property_name(name: str) -> str | None:
    """The reserved name ``name`` stands for in Kuzu (``_label`` -> ``_LABEL``), or None."""
    if not name.startswith("_"):  # every reserved name does; the common case is one test
        return None
    upper = _simple_upper(name)
    return upper if upper in KUZU_RESERVED_PROPERTY_NAMES else None


_GOOD_TOKENS: set[str] = set()


def validate_token(value: object, field: str) -> str:
    """Origins and workspaces: 1..64 ASCII letters, digits, ``_ . -``, starting alphanumeric."""
    if type(value) is str and value in _GOOD_TOKENS:
        return value
    if type(value) is not str:
        raise InvalidEvent(field, f"must be a string, got {type(value).__name__}")
    if _TOKEN_RE.match(value) is None:
        raise InvalidEvent(
            field, f"{value!r} must be 1..64 of [A-Za-z0-9_.-] starting alphanumeric"
        )
    if len(_GOOD_TOKENS) < 4096:  # a log has few origins/workspaces; skip the regex for them
        _GOOD_TOKENS.add(value)
    return value


def validate_text(value: object, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Free text (comments): well-formed Unicode (no lone surrogates, no NUL), bounded."""
    if type(value) is not str:
        raise InvalidEvent(field, f"must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidEvent(field, f"has {len(value)} code points, more than {max_length}")
    if "\x00" in value:
        raise InvalidEvent(field, "contains NUL")
    if not value.isascii():
        for index, char in enumerate(value):
            if 0xD800 <= ord(char) <= 0xDFFF:
                raise InvalidEvent(
                    field, f"contains lone surrogate U+{ord(char):04X} at index {index}"
                )
    return value
