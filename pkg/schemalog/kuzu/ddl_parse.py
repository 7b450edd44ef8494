"""A recursive-descent parser for Kuzu 0.11's schema DDL: text in, statements out.

Pure: no I/O, no ``kuzu`` import (it runs in Pyodide as it does in CPython).
Hand-written rather than generated (lark and friends): the grammar is small,
the type grammar already has a hand-written parser in ``model.types`` (reused
here, so a type means the same thing in an event and in DDL), errors must
name line, column and what was expected, and no dependency has to be shipped
into the Pyodide distribution. Tokens come from ``ddl_lex``.

Statements read (keywords in any case; ``[...]`` optional)::

    CREATE NODE TABLE [IF NOT EXISTS] n ( col {, col} [, PRIMARY KEY ( p )] )
    CREATE REL TABLE [IF NOT EXISTS] n ( FROM a TO b {, FROM a TO b} {, col} [, MULT] )
    ALTER TABLE n ADD [IF NOT EXISTS] col
    ALTER TABLE n ADD [IF NOT EXISTS] FROM a TO b
    ALTER TABLE n DROP [IF EXISTS] p
    ALTER TABLE n DROP [IF EXISTS] FROM a TO b
    ALTER TABLE n RENAME TO m
    ALTER TABLE n RENAME p TO q
    DROP TABLE [IF EXISTS] n
    COMMENT ON TABLE n IS 'text'

    col  := name type [DEFAULT expr] [PRIMARY KEY]      (PRIMARY KEY in node tables)
    MULT := MANY_MANY | MANY_ONE | ONE_MANY | ONE_ONE    (any letter case)

Statements end with ``;`` (the last one may omit it; empty statements are
fine), as Kuzu's shell reads them. Any other statement (MATCH, COPY, CREATE
SEQUENCE, BEGIN TRANSACTION...) is ``unsupported``: refused, or skipped with
``skip_non_ddl`` and listed.

DEFAULT takes literals, the forms Kuzu prints back and ``ddl`` renders:
``NULL``, ``true``/``false``, integers and decimals (``-42``, ``-(42)``,
``1.5e3``), strings, ``CAST('...' AS T)`` and ``date('...')``,
``timestamp('...')``. Other expressions (``1 + 2``, ``current_date()``) are
refused as unsupported: the model stores typed values, not expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from schemalog.errors import InvalidEvent
from schemalog.kuzu.ddl_lex import (
    END,
    IDENT,
    NUMBER,
    PUNCT,
    QUOTED,
    STRING,
    DdlError,
    LexError,
    Token,
    tokenize,
)
from schemalog.model.types import DefaultValue, check_default, parse_type

__all__ = [
    "AlterAdd",
    "AlterConnection",
    "AlterDrop",
    "AlterRenameProperty",
    "AlterRenameTable",
    "Column",
    "CommentOn",
    "CreateNode",
    "CreateRel",
    "DropTableStmt",
    "Parsed",
    "Statement",
    "Unsupported",
    "default_from_expression",
    "parse_ddl",
]

MULTIPLICITIES = ("MANY_MANY", "MANY_ONE", "ONE_MANY", "ONE_ONE")
_STATEMENT_TEXT_LIMIT = 300


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Where:
    """Where a statement or a part of it is: line, column, and the statement's text."""

    line: int
    column: int
    text: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # canonical
    default: DefaultValue
    primary_key: bool
    at: Where


@dataclass(frozen=True, slots=True)
class CreateNode:
    at: Where
    name: str
    if_not_exists: bool
    columns: tuple[Column, ...]
    primary_key: str


@dataclass(frozen=True, slots=True)
class CreateRel:
    at: Where
    name: str
    if_not_exists: bool
    pairs: tuple[tuple[str, str], ...]
    columns: tuple[Column, ...]
    multiplicity: str


@dataclass(frozen=True, slots=True)
class AlterAdd:
    at: Where
    table: str
    if_not_exists: bool
    column: Column


@dataclass(frozen=True, slots=True)
class AlterDrop:
    at: Where
    table: str
    if_exists: bool
    name: str


@dataclass(frozen=True, slots=True)
class AlterConnection:
    at: Where
    table: str
    add: bool
    if_clause: bool  # IF NOT EXISTS with ADD, IF EXISTS with DROP
    from_table: str
    to_table: str


@dataclass(frozen=True, slots=True)
class AlterRenameTable:
    at: Where
    table: str
    new_name: str


@dataclass(frozen=True, slots=True)
class AlterRenameProperty:
    at: Where
    table: str
    name: str
    new_name: str


@dataclass(frozen=True, slots=True)
class DropTableStmt:
    at: Where
    name: str
    if_exists: bool


@dataclass(frozen=True, slots=True)
class CommentOn:
    at: Where
    table: str
    comment: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A statement we do not record; ``what`` names it (its first words)."""

    at: Where
    what: str


Statement = (
    CreateNode
    | CreateRel
    | AlterAdd
    | AlterDrop
    | AlterConnection
    | AlterRenameTable
    | AlterRenameProperty
    | DropTableStmt
    | CommentOn
)


@dataclass(frozen=True, slots=True)
class Parsed:
    statements: tuple[Statement, ...]
    skipped: tuple[Unsupported, ...] = ()


class _Stop(Exception):
    def __init__(self, error: DdlError) -> None:
        super().__init__(str(error))
        self.error = error


# ---------------------------------------------------------------- the parser


def parse_ddl(text: str, *, skip_non_ddl: bool = False) -> Parsed | DdlError:
    """The statements of ``text``, or the first error (syntax, unsupported) with its place."""
    if type(text) is not str:
        raise TypeError(f"parse_ddl takes a str, got {type(text).__name__}")
    try:
        tokens = tokenize(text)
    except LexError as exc:
        return exc.error
    parser = _Parser(text, tokens)
    statements: list[Statement] = []
    skipped: list[Unsupported] = []
    try:
        while not parser.at_end():
            if parser.accept_punct(";"):
                continue
            stmt = parser.statement()
            if isinstance(stmt, Unsupported):
                if not skip_non_ddl:
                    return DdlError(
                        "unsupported",
                        f"{stmt.what} is not a schema statement we record "
                        "(pass --skip-non-ddl to skip it)",
                        stmt.at.line,
                        stmt.at.column,
                        stmt.at.text,
                    )
                skipped.append(stmt)
            else:
                statements.append(stmt)
    except _Stop as stop:
        return stop.error
    return Parsed(tuple(statements), tuple(skipped))


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.start = tokens[0]  # first token of the current statement
        self.stmt_text = ""

    # -- token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at_end(self) -> bool:
        return self.peek().kind == END

    def next(self) -> Token:
        tok = self.peek()
        if tok.kind != END:
            self.i += 1
        return tok

    def accept_punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok.kind == PUNCT and tok.value == ch:
            self.i += 1
            return True
        return False

    def accept_word(self, *words: str) -> Token | None:
        tok = self.peek()
        if tok.is_word(*words):
            self.i += 1
            return tok
        return None

    def expect_punct(self, ch: str) -> Token:
        tok = self.peek()
        if not (tok.kind == PUNCT and tok.value == ch):
            self.fail(tok, repr(ch))
        return self.next()

    def expect_word(self, *words: str) -> Token:
        tok = self.peek()
        if not tok.is_word(*words):
            self.fail(tok, " or ".join(words))
        return self.next()

    def name(self, what: str) -> str:
        tok = self.peek()
        if tok.kind not in (IDENT, QUOTED):
            self.fail(tok, what)
        self.i += 1
        return tok.value

    def fail(self, tok: Token, expected: str) -> NoReturn:
        got = "the end of the text" if tok.kind == END else _shown(tok)
        self.stop(tok, "syntax", f"expected {expected}, got {got}", expected=expected)

    def stop(
        self,
        tok: Token,
        kind: str,
        message: str,
        *,
        expected: str | None = None,
        rule: str | None = None,
    ) -> NoReturn:
        raise _Stop(DdlError(kind, message, tok.line, tok.column, self.stmt_text, expected, rule))

    def where(self, tok: Token) -> Where:
        return Where(tok.line, tok.column, self.stmt_text)

    def begin_statement(self) -> None:
        """Remember where the statement starts and its text, to its ';' (or the end)."""
        self.start = self.peek()
        j, depth = self.i, 0
        while j < len(self.tokens) - 1:
            t = self.tokens[j]
            if t.kind == PUNCT and t.value in "([{":
                depth += 1
            elif t.kind == PUNCT and t.value in ")]}":
                depth -= 1
            elif t.kind == PUNCT and t.value == ";" and depth <= 0:
                break
            j += 1
        end = self.tokens[j - 1].end if j > self.i else self.start.end
        shown = self.text[self.start.start : end]
        if len(shown) > _STATEMENT_TEXT_LIMIT:
            shown = shown[:_STATEMENT_TEXT_LIMIT] + "..."
        self.stmt_text = shown

    def end_statement(self) -> None:
        tok = self.peek()
        if tok.kind == END or (tok.kind == PUNCT and tok.value == ";"):
            return
        self.fail(tok, "';' or the end of the statement")

    # -- statements

    def statement(self) -> Statement | Unsupported:
        self.begin_statement()
        first = self.peek()
        at = self.where(first)
        if first.is_word("CREATE") and self.peek(1).is_word("NODE", "REL"):
            if self.peek(2).is_word("TABLE") and not self.peek(3).is_word("GROUP"):
                self.i += 3
                node = self.tokens[self.i - 2].is_word("NODE")
                stmt: Statement = self.create_node(at) if node else self.create_rel(at)
                self.end_statement()
                return stmt
        elif first.is_word("ALTER") and self.peek(1).is_word("TABLE"):
            self.i += 2
            stmt = self.alter(at)
            self.end_statement()
            return stmt
        elif first.is_word("DROP") and self.peek(1).is_word("TABLE"):
            self.i += 2
            if_exists = self.if_exists()
            stmt = DropTableStmt(at, self.name("a table name"), if_exists)
            self.end_statement()
            return stmt
        elif first.is_word("COMMENT") and self.peek(1).is_word("ON"):
            self.i += 2
            self.expect_word("TABLE")
            table = self.name("a table name")
            self.expect_word("IS")
            tok = self.peek()
            if tok.kind != STRING:
                self.fail(tok, "a string")
            self.i += 1
            self.end_statement()
            return CommentOn(at, table, tok.value)
        return self.unsupported(at)

    def unsupported(self, at: Where) -> Unsupported:
        words: list[str] = []
        first = self.peek()
        for k in range(2 if first.is_word("CREATE", "DROP", "ALTER") else 1):
            tok = self.peek(k)
            if tok.kind != IDENT:
                break
            words.append(tok.value.upper())
        what = " ".join(words) if words else _shown(self.peek())
        depth = 0
        while not self.at_end():  # skip to the ';' that ends it
            tok = self.peek()
            if tok.kind == PUNCT and tok.value in "([{":
                depth += 1
            elif tok.kind == PUNCT and tok.value in ")]}":
                depth -= 1
            elif tok.kind == PUNCT and tok.value == ";" and depth <= 0:
                break
            self.i += 1
        return Unsupported(at, what)

    def if_not_exists(self) -> bool:
        if self.accept_word("IF"):
            self.expect_word("NOT")
            self.expect_word("EXISTS")
            return True
        return False

    def if_exists(self) -> bool:
        if self.accept_word("IF"):
            self.expect_word("EXISTS")
            return True
        return False

    def create_node(self, at: Where) -> CreateNode:
        if_not_exists = self.if_not_exists()
        name = self.name("a table name")
        self.expect_punct("(")
        columns: list[Column] = []
        pk_clause: tuple[Token, str] | None = None
        while True:
            tok = self.peek()
            if tok.is_word("PRIMARY") and self.peek(1).is_word("KEY"):
                self.i += 2
                self.expect_punct("(")
                pk_clause = (tok, self.name("the primary key's property name"))
                self.expect_punct(")")
                self.expect_punct(")")  # the clause comes last
                break
            columns.append(self.column(node=True))
            if self.accept_punct(")"):
                break
            self.expect_punct(",")
        inline = [c for c in columns if c.primary_key]
        if len(inline) + (pk_clause is not None) > 1:
            where = pk_clause[0] if pk_clause else self.peek()
            self.stop(where, "syntax", "found multiple primary keys", expected="one PRIMARY KEY")
        if pk_clause is not None:
            pk = pk_clause[1]
        elif inline:
            pk = inline[0].name
        else:
            self.stop(self.start, "syntax", "can not find a primary key", expected="PRIMARY KEY")
        return CreateNode(at, name, if_not_exists, tuple(columns), pk)

    def create_rel(self, at: Where) -> CreateRel:
        if_not_exists = self.if_not_exists()
        name = self.name("a table name")
        self.expect_punct("(")
        pairs = [self.pair()]
        columns: list[Column] = []
        multiplicity = "MANY_MANY"
        while not self.accept_punct(")"):
            self.expect_punct(",")
            tok = self.peek()
            if tok.is_word("FROM") and self.peek(2).is_word("TO"):
                if columns:
                    self.fail(tok, "a property (FROM/TO pairs come before the properties)")
                pairs.append(self.pair())
            elif (
                tok.is_word(*MULTIPLICITIES)
                and self.peek(1).kind == PUNCT
                and (self.peek(1).value == ")")
            ):
                multiplicity = tok.value.upper()
                self.i += 1
            else:
                columns.append(self.column(node=False))
        return CreateRel(at, name, if_not_exists, tuple(pairs), tuple(columns), multiplicity)

    def pair(self) -> tuple[str, str]:
        self.expect_word("FROM")
        a = self.name("a node table name")
        self.expect_word("TO")
        return a, self.name("a node table name")

    def alter(self, at: Where) -> Statement:
        table = self.name("a table name")
        verb = self.expect_word("ADD", "DROP", "RENAME")
        kind = verb.value.upper()
        if kind == "RENAME":
            if self.accept_word("TO"):
                return AlterRenameTable(at, table, self.name("the new table name"))
            old = self.name("TO or a property name")
            self.expect_word("TO")
            return AlterRenameProperty(at, table, old, self.name("the new property name"))
        flag = self.if_not_exists() if kind == "ADD" else self.if_exists()
        if self.peek().is_word("FROM"):
            a, b = self.pair()
            return AlterConnection(at, table, kind == "ADD", flag, a, b)
        if kind == "ADD":
            return AlterAdd(at, table, flag, self.column(node=False))
        return AlterDrop(at, table, flag, self.name("a property name or FROM"))

    # -- columns, types, defaults

    def column(self, *, node: bool) -> Column:
        first = self.peek()
        name = self.name("a property name")
        type_text = self.type_spec(name)
        default: DefaultValue = None
        if self.accept_word("DEFAULT"):
            default = self.default(type_text, name)
        pk = False
        tok = self.peek()
        if tok.is_word("PRIMARY") and self.peek(1).is_word("KEY"):
            if not node:
                self.stop(
                    tok,
                    "syntax",
                    "PRIMARY KEY is for properties of a new node table",
                    expected="',' or ')'",
                )
            self.i += 2
            pk = True
        return Column(name, type_text, default, pk, self.where(first))

    def type_spec(self, column: str) -> str:
        """The canonical type starting here: a name, a balanced ``(...)``, ``[n]`` suffixes."""
        first = self.peek()
        if first.kind != IDENT:
            self.fail(first, f"the type of {column!r}")
        parts = [self.next().value]
        if self.peek().kind == PUNCT and self.peek().value == "(":
            depth = 0
            while True:
                tok = self.next()
                if tok.kind == END:
                    self.fail(tok, "')'")
                if tok.kind not in (IDENT, NUMBER, PUNCT) or tok.value in (";",):
                    self.fail(tok, "a type")
                parts.append(tok.value)
                if tok.value == "(":
                    depth += 1
                elif tok.value == ")":
                    depth -= 1
                    if depth == 0:
                        break
        while self.peek().kind == PUNCT and self.peek().value == "[":
            parts.append(self.next().value)
            if self.peek().kind == NUMBER:
                parts.append(self.next().value)
            parts.append(self.expect_punct("]").value)
        text = " ".join(parts)
        try:
            return str(parse_type(text))
        except InvalidEvent as exc:
            self.stop(first, "syntax", f"{column!r}: {exc.reason}", expected="a Kuzu type")

    def default(self, type_text: str, column: str) -> DefaultValue:
        first = self.peek()
        literal = self.literal(0)
        after = self.peek()
        if not (
            after.kind == END
            or (after.kind == PUNCT and after.value in ",);")
            or after.is_word("PRIMARY")
        ):
            self.stop(
                after,
                "unsupported",
                f"DEFAULT of {column!r} is an expression ({_shown(after)} after a literal): "
                "only literals are recorded",
            )
        try:
            return _value(literal, type_text)
        except InvalidEvent as exc:
            self.stop(first, "rejected", f"DEFAULT of {column!r}: {exc.reason}", rule="default")

    def literal(self, depth: int) -> _Literal:
        tok = self.peek()
        if depth > 8:
            self.fail(tok, "a literal")
        if tok.kind == PUNCT and tok.value == "-":
            self.i += 1
            inner = self.literal(depth + 1)
            if inner.kind not in ("int", "number"):
                self.stop(tok, "unsupported", "'-' before a value that is not a number")
            return _Literal(inner.kind, inner.text, not inner.negative)
        if tok.kind == PUNCT and tok.value == "(":
            self.i += 1
            inner = self.literal(depth + 1)
            self.expect_punct(")")
            return inner
        if tok.kind == NUMBER:
            self.i += 1
            plain = tok.value.isdigit()
            return _Literal("int" if plain else "number", tok.value)
        if tok.kind == STRING:
            self.i += 1
            return _Literal("string", tok.value)
        if tok.is_word("NULL", "TRUE", "FALSE"):
            self.i += 1
            return _Literal(tok.value.lower(), tok.value.upper())
        if tok.is_word("CAST") and self.peek(1).value == "(":
            self.i += 2
            inner = self.literal(depth + 1)
            self.expect_word("AS")
            cast = self.type_spec("CAST")
            self.expect_punct(")")
            return _Literal("cast", inner.text, inner.negative, cast, inner.kind)
        if (
            tok.is_word(*_FUNCTIONS)
            and self.peek(1).value == "("
            and self.peek(2).kind == STRING
            and self.peek(3).value == ")"
        ):
            self.i += 4
            value = self.tokens[self.i - 2].value
            return _Literal("cast", value, False, _FUNCTIONS[tok.value.upper()], "string")
        self.stop(
            tok,
            "unsupported",
            f"DEFAULT {_shown(tok)}...: only literals, -(number), CAST('...' AS type), "
            "date('...') and timestamp('...') are recorded",
            expected="a literal",
        )


_FUNCTIONS = {"DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}


@dataclass(frozen=True, slots=True)
class _Literal:
    kind: str  # int, number, string, null, true, false, cast
    text: str
    negative: bool = False
    cast: str | None = None  # canonical type of a CAST / date() / timestamp()
    inner: str | None = None  # the kind of a CAST's operand


_INT_TYPES = frozenset(
    ["INT8", "INT16", "INT32", "INT64", "INT128", "UINT8", "UINT16", "UINT32", "UINT64"]
)
_NUMERIC_TEXT = ("FLOAT", "DOUBLE")


def _value(lit: _Literal, type_text: str) -> DefaultValue:
    """The model's default value of literal ``lit`` for a property of ``type_text``."""
    kuzu_type = parse_type(type_text)
    if lit.kind == "null":
        return None
    if lit.kind in ("true", "false"):
        if type_text != "BOOLEAN":
            raise InvalidEvent("default", f"{lit.text} is a BOOLEAN, the property is {type_text}")
        return lit.kind == "true"
    number = ("-" if lit.negative else "") + lit.text
    if lit.kind == "int":
        if type_text in _INT_TYPES:
            return check_default(int(number), kuzu_type)
        if type_text in _NUMERIC_TEXT or type_text.startswith("DECIMAL"):
            return check_default(number, kuzu_type)
        raise InvalidEvent("default", f"an integer literal for a {type_text} property")
    if lit.kind == "number":
        if type_text in _NUMERIC_TEXT or type_text.startswith("DECIMAL"):
            return check_default(number, kuzu_type)
        raise InvalidEvent("default", f"a decimal literal for a {type_text} property")
    if lit.kind == "string":
        if type_text != "STRING":
            raise InvalidEvent(
                "default",
                f"a string for a {type_text} property (Kuzu casts no string implicitly; "
                f"write CAST('...' AS {type_text}))",
            )
        return check_default(lit.text, kuzu_type)
    assert lit.kind == "cast"
    if lit.cast != type_text:
        raise InvalidEvent("default", f"a CAST to {lit.cast} for a {type_text} property")
    if lit.inner == "string":
        return check_default(lit.text, kuzu_type)
    inner = _Literal(lit.inner or "", lit.text, lit.negative)
    return _value(inner, type_text)


def default_from_expression(expression: str, type_text: str) -> DefaultValue:
    """The model's value of a default ``expression`` (as Kuzu prints it) of a property of
    ``type_text`` (any spelling); raises InvalidEvent when it is not one we record."""
    canonical = str(parse_type(type_text))
    parsed = parse_ddl(f"ALTER TABLE t ADD c {canonical} DEFAULT {expression}")
    if isinstance(parsed, DdlError):
        raise InvalidEvent("default", f"{expression!r}: {parsed.message}")
    stmt = parsed.statements[0] if len(parsed.statements) == 1 else None
    if not isinstance(stmt, AlterAdd):
        raise InvalidEvent("default", f"{expression!r} is not one default expression")
    return stmt.column.default


def _shown(tok: Token) -> str:
    if tok.kind == QUOTED:
        return f"`{tok.value}`"
    if tok.kind == STRING:
        return repr(tok.value)
    return repr(tok.value)
