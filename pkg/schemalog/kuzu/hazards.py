"""Statement sequences that crash Kuzu 0.11.3, and a session tracker that refuses them.

Pure: no ``kuzu`` import, no I/O. Facts pinned by ``tests/test_kuzu_session_crash.py``
(each in a subprocess, so the suite survives the crash it shows):

* **Drop a property, then add a FROM/TO pair, on one rel table in one session**
  (one open ``Database``): ``ALTER TABLE R DROP w`` followed by ``ALTER TABLE R
  ADD FROM A TO C`` kills the process with SIGSEGV when ``R`` keeps a property
  after the dropped one (``R(w, v)``, drop ``w``), or gets a new one before the
  pair is added; it makes no difference whether the two statements share a
  transaction, a connection, or are separated by a ``CHECKPOINT`` of an
  in-memory database. A variant crashes later, at close: drop ``R``'s only
  property, add a pair, add two properties, close. Closing and reopening the
  database between the two (an on-disk database) is safe, and so is adding the
  pair first and dropping afterwards.

The rule kept here is the conservative one that covers every crash seen by a
fuzz of 450 random sequences (drops, adds, renames, pairs, rows, reopens;
``tools/kuzu_session_fuzz.py``): once a property of table ``T`` has been
dropped in a session, no ``ADD FROM`` on ``T`` is sent in that session. (The
exact condition -- a gap in the column ids -- missed the close-time crash
above; the cost of being broader is a reopen, or a refusal in memory.)

Two ways to honour it:

* ``ddl.plan_diff`` orders a plan so that a kept rel table gets its new pairs
  before any of its properties is dropped: a plan never crashes by itself;
* ``SessionHazards`` follows what a session sent (any statement, from any
  caller, recognised by shape: ``ALTER TABLE t DROP p``, ``... RENAME TO``,
  ``DROP TABLE``) and ``first_crash`` names the first statement of a batch that
  would crash; the native adapter then reopens an on-disk database before the
  batch (a new session), or refuses it (``KnownCrash``, nothing sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemalog.kuzu.ddl_lex import LexError, tokenize
from schemalog.model.names import catalog_key

__all__ = ["ANY_TABLE", "Crash", "SessionHazards", "parse_alter"]

ANY_TABLE = "*"  # a drop we could not attribute to one table: every table is tainted

_IDENT = r"(?:(?:`[^`]*`)+|[^\W\d]\w*)"
_ALTER = re.compile(rf"\s*ALTER\s+TABLE\s+({_IDENT})\s+(.*)\Z", re.IGNORECASE | re.DOTALL)
_DROP_TABLE = re.compile(
    rf"\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?({_IDENT})\s*;?\s*\Z", re.IGNORECASE | re.DOTALL
)
_ADD_FROM = re.compile(r"ADD\s+(?:IF\s+NOT\s+EXISTS\s+)?FROM\b", re.IGNORECASE)
_DROP_FROM = re.compile(r"DROP\s+(?:IF\s+EXISTS\s+)?FROM\b", re.IGNORECASE)
_DROP_PROP = re.compile(rf"DROP\s+(?:IF\s+EXISTS\s+)?{_IDENT}\s*;?\s*\Z", re.IGNORECASE)
_RENAME_TABLE = re.compile(rf"RENAME\s+TO\s+({_IDENT})\s*;?\s*\Z", re.IGNORECASE)
_MENTIONS_DROP = re.compile(r"\bDROP\b", re.IGNORECASE)
# A statement opening with a word other than ALTER or DROP (no comment before it):
# _ALTER and _DROP_TABLE cannot match it, so it is ruled out before being tokenized
# (the record's MERGE carries ~0.5 MB of state JSON: tokenizing it took ~0.3 s).
_OTHER_OPENER = re.compile(r"\s*(?!(?:ALTER|DROP)(?!\w))\w", re.IGNORECASE)


def _name(token: str) -> str:
    # Kuzu strips only the outermost two backticks and keeps the rest verbatim
    return token[1:-1] if token.startswith("`") else token


def _without_comments(statement: str) -> str:
    """The statement's tokens joined by blanks: comments gone, names and strings as
    written. Text that does not tokenize is kept as it is (and then most likely read
    as an ``unknown_drop``: the conservative side)."""
    if "/" not in statement:
        return statement
    try:
        tokens = tokenize(statement)
    except LexError:
        return statement
    return " ".join(statement[t.start : t.end] for t in tokens[:-1])


def parse_alter(statement: str) -> tuple[str, str, str | None] | None:
    """``(what, table, new name)`` for the statements the rule cares about, else None.

    ``what``: ``add_connection``, ``drop_property``, ``rename_table``, ``drop_table``,
    or ``unknown_drop`` (an ALTER that mentions DROP in a shape not recognised).
    Comments do not count: ``ALTER TABLE t DROP p /* why */`` drops ``p`` of ``t``.
    """
    if _OTHER_OPENER.match(statement):
        return None
    return _parse_shapes(statement)


def _parse_shapes(statement: str) -> tuple[str, str, str | None] | None:
    """``parse_alter`` without its opening-word shortcut (a test holds the two equal)."""
    statement = _without_comments(statement)
    m = _DROP_TABLE.match(statement)
    if m:
        return "drop_table", _name(m.group(1)), None
    m = _ALTER.match(statement)
    if m is None:
        return None
    table, rest = _name(m.group(1)), m.group(2)
    if _ADD_FROM.match(rest):
        return "add_connection", table, None
    if _DROP_FROM.match(rest):
        return None
    if _DROP_PROP.match(rest):
        return "drop_property", table, None
    r = _RENAME_TABLE.match(rest)
    if r:
        return "rename_table", table, _name(r.group(1))
    if _MENTIONS_DROP.search(rest):
        return "unknown_drop", table, None
    return None


@dataclass(frozen=True, slots=True)
class Crash:
    """Statement ``index`` of a batch would crash Kuzu 0.11.3 (``reason`` says why);
    ``within`` is True when the batch itself causes it (reopening first would not help)."""

    index: int
    statement: str
    reason: str
    within: bool


class SessionHazards:
    """What one session (one open Database) has sent that a later statement must avoid."""

    def __init__(self) -> None:
        self._dropped: dict[str, str] = {}  # catalog key -> table name as last seen

    @property
    def tainted(self) -> frozenset[str]:
        """Catalog keys of the tables with a property dropped in this session."""
        return frozenset(self._dropped)

    def reset(self) -> None:
        """A new session (the database was reopened)."""
        self._dropped.clear()

    def first_crash(self, statements: Sequence[str]) -> Crash | None:
        """The first statement of ``statements`` that would crash after what was sent."""
        dropped = dict(self._dropped)
        for index, statement in enumerate(statements):
            parsed = parse_alter(statement)
            if parsed is None:
                continue
            what, table, _new = parsed
            key = catalog_key(table)
            if what == "add_connection" and (key in dropped or ANY_TABLE in dropped):
                within = key not in self._dropped and ANY_TABLE not in self._dropped
                return Crash(
                    index,
                    statement,
                    f"a property of {table!r} was dropped earlier in this session: adding a "
                    "FROM/TO pair to it now crashes Kuzu 0.11.3 (segmentation fault)",
                    within,
                )
            _advance(dropped, parsed)
        return None

    def sent(self, statements: Iterable[str]) -> None:
        """Note statements sent in this session (whether or not they committed: the
        crash follows the drop having run, so a rolled-back drop still counts)."""
        for statement in statements:
            parsed = parse_alter(statement)
            if parsed is not None:
                _advance(self._dropped, parsed)


def _advance(dropped: dict[str, str], parsed: tuple[str, str, str | None]) -> None:
    what, table, new = parsed
    key = catalog_key(table)
    if what == "drop_property":
        dropped[key] = table
    elif what == "unknown_drop":
        dropped[ANY_TABLE] = ANY_TABLE
    elif what == "drop_table":
        dropped.pop(key, None)
    elif what == "rename_table" and new is not None and key in dropped:
        del dropped[key]
        dropped[catalog_key(new)] = new
