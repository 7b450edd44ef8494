"""Tokens of Kuzu 0.11 Cypher text, with positions, and the error value of the DDL reader.

Pure: no I/O. The lexical rules are Kuzu's (see ``cypher`` for the facts,
checked against native kuzu 0.11.3):

* keywords and unquoted names: ``[A-Za-z_][A-Za-z0-9_]*`` (plus any non-ASCII
  letter, as Kuzu's lexer takes Unicode letters); keywords in any case;
* a backtick-quoted name is ``( '`' ~'`'* '`' )+`` and only the outermost two
  backticks are stripped (no escape: ```a``b``` is the name ``a``b``);
* strings in single or double quotes; a backslash before one of
  ``\\ ' " n t r b f u U`` is dropped and the next character kept (Kuzu's
  reading, ``'\\n'`` is the letter n); any other escape is an error;
* numbers: ``123``, ``1.5``, ``1e3``, ``1.5E-3``;
* comments ``// ...`` to the end of the line and ``/* ... */``;
* everything else one character of punctuation.

Lines and columns count from 1; a column counts characters (code points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["DdlError", "Token", "tokenize"]

IDENT, QUOTED, STRING, NUMBER, PUNCT, END = "ident", "quoted", "string", "number", "punct", "end"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<ident>[^\W\d]\w*)
  | (?P<quoted>(?:`[^`]*`)+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<punct>[()\[\],;.:\-+*/=<>{}!|$%^&?~])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = frozenset("\\'\"ntrbfuU")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its value (a name without backticks, a string without quotes
    and escapes, a keyword or number as written) and where it starts and ends."""

    kind: str
    value: str
    start: int  # offset in the text
    end: int
    line: int
    column: int

    def is_word(self, *words: str) -> bool:
        """An unquoted word equal to one of ``words`` (upper case), in any letter case."""
        return self.kind == IDENT and self.value.upper() in words


@dataclass(frozen=True, slots=True)
class DdlError:
    """Why DDL text was not recorded, and where: a value, not an exception.

    ``kind`` is ``syntax`` (the text does not parse; ``expected`` says what
    would), ``unsupported`` (a statement we do not record, e.g. MATCH or COPY),
    or ``rejected`` (the statement parses but the schema refuses it; ``rule``
    names the model's rule, or the field for an invalid value). ``statement``
    is the statement's text as written (its first 300 characters).
    """

    kind: str
    message: str
    line: int
    column: int
    statement: str = ""
    expected: str | None = None
    rule: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        head = f"{where}: {self.kind}: {self.message}"
        if self.rule is not None:
            head += f" [{self.rule}]"
        return head + (f"\n  in: {self.statement}" if self.statement else "")

    def to_obj(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "statement": self.statement,
            "expected": self.expected,
            "rule": self.rule,
        }


class LexError(Exception):
    """Internal: carries the ``DdlError`` of a text that does not tokenize."""

    def __init__(self, error: DdlError) -> None:
        super().__init__(str(error))
        self.error = error


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, column) of ``offset``, both from 1."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def unescape(body: str) -> str | None:
    """A string literal's body without its escapes; None if an escape is not Kuzu's."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                return None
            out.append(body[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` (comments and blanks dropped), ending with an END token.

    Raises ``LexError`` for an unterminated string, name or comment, a bad
    escape, or a character Cypher has no use for.
    """
    tokens: list[Token] = []
    pos, n = 0, len(text)
    line, line_start, counted = 1, 0, 0  # newlines counted up to ``counted``: one pass
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            _fail(text, pos)
        kind = m.lastgroup
        value = m.group()
        if kind == PUNCT and text.startswith("/*", pos):
            _fail(text, pos)
        if kind in ("space", "line_comment", "block_comment"):
            pos = m.end()
            continue
        newlines = text.count("\n", counted, pos)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", counted, pos) + 1
        counted = pos
        column = pos - line_start + 1
        if kind == QUOTED:
            value = value[1:-1]
            if not value:
                raise LexError(
                    DdlError("syntax", "empty quoted name ``", line, column, expected="a name")
                )
        elif kind == STRING:
            body = unescape(value[1:-1])
            if body is None:
                raise LexError(
                    DdlError(
                        "syntax",
                        "a string escape other than \\\\ \\' \\\" \\n \\t \\r \\b \\f \\u \\U",
                        line,
                        column,
                    )
                )
            value = body
        assert kind is not None
        tokens.append(Token(kind, value, pos, m.end(), line, column))
        pos = m.end()
    line, column = position(text, n)
    tokens.append(Token(END, "", n, n, line, column))
    return tokens


def _fail(text: str, pos: int) -> NoReturn:
    line, column = position(text, pos)
    ch = text[pos]
    if ch in "'\"":
        what = "string never closed"
    elif ch == "`":
        what = "quoted name never closed (no closing backtick)"
    elif text.startswith("/*", pos):
        what = "comment /* never closed"
    else:
        what = f"unexpected character {ch!r}"
    raise LexError(DdlError("syntax", what, line, column))
