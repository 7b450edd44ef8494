"""The record of what was applied, kept in the database: read strictly, written with the DDL.

The database keeps one row in a node table of its own, ``_schemalog_applied``
(the ``_schemalog`` prefix is reserved by names.py, so no user table can take
it)::

    _schemalog_applied(key STRING PRIMARY KEY,  -- always 'applied'
                       format INT64,            -- RECORD_FORMAT (1 is read too)
                       position INT64,          -- records of the log applied
                       head_checksum STRING,    -- checksum of record position-1 (NULL: none given)
                       state_hash STRING,       -- schema.state_hash of the state
                       state STRING)            -- state_to_obj as JSON: format 1 the
                                                --   text (ASCII), format 2 its zlib
                                                --   stream in base64

Format 2 exists for speed: Kuzu parses a string literal at ~50 ns a
character, and the state of a 1M-event log (200 tables) is 0.53 MB of JSON,
~25-50 ms of a ~0.35 s apply; compressed it is 0.1 MB (zlib level 3, ~3 ms).

``read_record`` never guesses. It returns None only for a database that holds
no table at all (one we never applied to); a database holding tables but no
record table, or a record table without its row, is ``RecordMissing``; a
record that does not read back -- a column missing or of another type, a
second row, a NULL or out-of-range field, a state that does not rebuild or
hash to its ``state_hash`` -- is ``RecordCorrupt`` naming the field. Both are
what apply and drift report (exit 2); ``apply --repair`` rebuilds the record.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.codec import state_hash
from schemalog.errors import SchemalogError
from schemalog.kuzu.cypher import quote_identifier, string_literal
from schemalog.kuzu.drift import BOOKKEEPING_TABLE
from schemalog.kuzu.port import KuzuBackend
from schemalog.model.names import RESERVED_PREFIX, catalog_key
from schemalog.model.schema import SchemaState
from schemalog.model.state_json import state_from_obj, state_to_obj

__all__ = [
    "RECORD_FORMAT",
    "AppliedRecord",
    "RecordCorrupt",
    "RecordMissing",
    "RecordProblem",
    "has_record_table",
    "read_record",
    "record_if_applied",
    "record_statements",
]

RECORD_FORMAT = 2  # written; 1 (the state as plain JSON) is read as well
_READ_FORMATS = (1, 2)
_ZLIB_LEVEL = 3  # 0.53 -> 0.10 MB for a 200-table state in ~3 ms (level 6: 0.09 MB, ~6 ms)
_MAX_STATE_BYTES = 1 << 30  # a record inflating past this is corrupt, not read
_KEY = "applied"
_T = quote_identifier(BOOKKEEPING_TABLE)
_COLUMNS = {
    "key": "STRING",
    "format": "INT64",
    "position": "INT64",
    "head_checksum": "STRING",
    "state_hash": "STRING",
    "state": "STRING",
}


class RecordProblem(SchemalogError):
    """The record of what was applied is missing or unreadable; ``field`` names where."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{self.what}: {field}: {reason}")

    what = "record problem"

    def to_obj(self) -> dict[str, Any]:
        kind = "record-missing" if isinstance(self, RecordMissing) else "record-corrupt"
        return {"status": kind, "field": self.field, "reason": self.reason, "message": str(self)}


class RecordMissing(RecordProblem):
    """The database holds tables but no record of what was applied to it."""

    what = "no record of what was applied"


class RecordCorrupt(RecordProblem):
    """The ``_schemalog_applied`` row does not read back."""

    what = "the record of what was applied is corrupt"


@dataclass(frozen=True, slots=True)
class AppliedRecord:
    position: int
    head_checksum: str | None
    state_hash: str
    state: SchemaState


def _table_names(backend: KuzuBackend) -> list[str]:
    return [r["name"] for r in backend.query("CALL show_tables() RETURN name")]


def has_record_table(backend: KuzuBackend) -> bool:
    return BOOKKEEPING_TABLE in _table_names(backend)


def _field(name: str) -> str:
    return f"{BOOKKEEPING_TABLE}.{name}"


def read_record(backend: KuzuBackend) -> AppliedRecord | None:
    """The record of what was applied; None for a database holding no table at all."""
    names = _table_names(backend)
    if BOOKKEEPING_TABLE not in names:
        users = sorted(n for n in names if not catalog_key(n).startswith(RESERVED_PREFIX))
        if not users:
            return None
        shown = ", ".join(repr(n) for n in users[:5]) + (", ..." if len(users) > 5 else "")
        raise RecordMissing(
            BOOKKEEPING_TABLE,
            f"the database holds {len(users)} tables ({shown}) and no record table; "
            "`schemalog apply --repair` adopts it (tables matching the log by name and "
            "structure are kept with their data)",
        )
    info = backend.query(f"CALL table_info({string_literal(BOOKKEEPING_TABLE)}) RETURN *")
    columns = {row["name"]: row["type"] for row in info}
    for name, typ in _COLUMNS.items():
        if columns.get(name) != typ:
            found = "missing" if name not in columns else f"of type {columns[name]}"
            raise RecordCorrupt(_field(name), f"the column is {found}, not {typ}")
    rows = backend.query(
        f"MATCH (a:{_T}) RETURN a.key AS key, a.format AS format, a.position AS position, "
        "a.head_checksum AS head, a.state_hash AS hash, a.state AS state"
    )
    if not rows:
        raise RecordMissing(
            _field("key"),
            "the record table holds no row (deleted?); `schemalog apply --repair` rebuilds it",
        )
    if len(rows) > 1 or rows[0]["key"] != _KEY:
        keys = sorted(repr(r["key"]) for r in rows)
        raise RecordCorrupt(_field("key"), f"expected one row with key 'applied', found {keys}")
    return _checked(rows[0])


def record_if_applied(backend: KuzuBackend) -> AppliedRecord | None:
    """``read_record``, but None for a database with no record table at all (never
    applied to: a baseline or a migration adopts its catalog); a record table
    without its row is still RecordMissing (lost, not absent)."""
    try:
        return read_record(backend)
    except RecordMissing as missing:
        if missing.field != BOOKKEEPING_TABLE:
            raise
        return None


def _checked(row: dict[str, Any]) -> AppliedRecord:
    fmt = row["format"]
    if type(fmt) is not int or fmt not in _READ_FORMATS:
        raise RecordCorrupt(_field("format"), f"is {fmt!r}, this version reads 1 and 2")
    position = row["position"]
    if type(position) is not int or position < 0:
        shown = "NULL" if position is None else repr(position)
        raise RecordCorrupt(_field("position"), f"is {shown}, must be an integer >= 0")
    head = row["head"]
    if head is not None and (type(head) is not str or not head):
        raise RecordCorrupt(_field("head_checksum"), f"is {head!r}, must be a checksum or NULL")
    recorded_hash = row["hash"]
    if type(recorded_hash) is not str:
        raise RecordCorrupt(_field("state_hash"), f"is {recorded_hash!r}, must be a string")
    text = row["state"]
    if type(text) is not str:
        raise RecordCorrupt(_field("state"), f"is {text!r}, must be a string")
    try:
        state = state_from_obj(json.loads(text if fmt == 1 else _inflate(text)))
    except (ValueError, TypeError, RecursionError, SchemalogError, zlib.error) as exc:
        raise RecordCorrupt(_field("state"), f"cannot be read: {exc}") from exc
    if state_hash(state) != recorded_hash:
        raise RecordCorrupt(_field("state"), "does not hash to its state_hash")
    return AppliedRecord(position, head, recorded_hash, state)


def _deflate(blob: str) -> str:
    return base64.b64encode(zlib.compress(blob.encode("ascii"), _ZLIB_LEVEL)).decode("ascii")


def _inflate(text: str) -> bytes:
    """The JSON bytes of a format 2 state; ValueError or zlib.error when it is not one."""
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"not base64 ({exc})") from None
    inflater = zlib.decompressobj()
    out = inflater.decompress(packed, _MAX_STATE_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"inflates past {_MAX_STATE_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("not one whole zlib stream")
    return out


def record_statements(
    position: int,
    head: str | None,
    state: SchemaState,
    *,
    create: bool,
    rebuild: bool = False,
    hashed: str | None = None,
) -> list[str]:
    """The statements writing the record (``create``: the table too; ``rebuild``: drop
    an unreadable record table first -- it is ours, it holds no user data). ``hashed``:
    ``state_hash(state)`` when the caller has it (a 1M-event log's state takes ~30 ms)."""
    out = []
    if rebuild:
        out.append(f"DROP TABLE {_T}")
    if create or rebuild:
        cols = ", ".join(f"{quote_identifier(n)} {t}" for n, t in _COLUMNS.items())
        out.append(f"CREATE NODE TABLE {_T}({cols}, PRIMARY KEY(`key`))")
    blob = json.dumps(  # a fresh tree: no cycle to check for
        state_to_obj(state),
        ensure_ascii=True,
        sort_keys=True,
        separators=(",", ":"),
        check_circular=False,
    )
    head_expr = "NULL" if head is None else string_literal(head)
    out.append(
        f"MERGE (a:{_T} {{key: {string_literal(_KEY)}}}) SET a.format = {RECORD_FORMAT}, "
        f"a.position = {int(position)}, a.head_checksum = {head_expr}, "
        f"a.state_hash = {string_literal(hashed or state_hash(state))}, "
        f"a.state = {string_literal(_deflate(blob))}"
    )
    return out
