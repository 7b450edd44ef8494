"""The DDL reader: statements, lexical rules, defaults, and errors with their place."""

from __future__ import annotations

import pytest

from schemalog.errors import InvalidEvent
from schemalog.kuzu.ddl_lex import DdlError, tokenize
from schemalog.kuzu.ddl_parse import (
    AlterAdd,
    AlterConnection,
    AlterDrop,
    AlterRenameProperty,
    AlterRenameTable,
    CommentOn,
    CreateNode,
    CreateRel,
    DropTableStmt,
    Parsed,
    default_from_expression,
    parse_ddl,
)


def parsed(text: str, **kw: bool) -> Parsed:
    result = parse_ddl(text, **kw)
    assert isinstance(result, Parsed), str(result)
    return result


def error(text: str, **kw: bool) -> DdlError:
    result = parse_ddl(text, **kw)
    assert isinstance(result, DdlError), result
    return result


def test_the_issue_example_and_every_statement_kind() -> None:
    text = """
    CREATE NODE TABLE person (ID INT64, fName STRING, PRIMARY KEY (ID));
    create node table if not exists City (id serial primary key);
    CREATE REL TABLE livesIn (FROM person TO City, FROM City TO City, since INT64, many_ONE);
    ALTER TABLE person ADD IF NOT EXISTS age INT8 DEFAULT 3;
    ALTER TABLE person DROP IF EXISTS age;
    ALTER TABLE person RENAME TO people;
    ALTER TABLE people RENAME fName TO first_name;
    ALTER TABLE livesIn ADD FROM people TO people;
    ALTER TABLE livesIn DROP IF EXISTS FROM City TO City;
    DROP TABLE IF EXISTS nobody;
    COMMENT ON TABLE people IS 'humans'
    """
    s = parsed(text).statements
    assert [type(x) for x in s] == [
        CreateNode,
        CreateNode,
        CreateRel,
        AlterAdd,
        AlterDrop,
        AlterRenameTable,
        AlterRenameProperty,
        AlterConnection,
        AlterConnection,
        DropTableStmt,
        CommentOn,
    ]
    first = s[0]
    assert isinstance(first, CreateNode)
    assert (first.name, first.primary_key, [c.name for c in first.columns]) == (
        "person",
        "ID",
        ["ID", "fName"],
    )
    assert (first.at.line, first.at.column) == (2, 5)
    assert first.at.text == "CREATE NODE TABLE person (ID INT64, fName STRING, PRIMARY KEY (ID))"
    rel = s[2]
    assert isinstance(rel, CreateRel)
    assert rel.pairs == (("person", "City"), ("City", "City"))
    assert rel.multiplicity == "MANY_ONE"
    assert [c.name for c in rel.columns] == ["since"]
    add = s[3]
    assert isinstance(add, AlterAdd) and add.if_not_exists and add.column.default == 3
    drop_pair = s[8]
    assert isinstance(drop_pair, AlterConnection) and not drop_pair.add and drop_pair.if_clause
    comment = s[10]
    assert isinstance(comment, CommentOn) and comment.comment == "humans"


def test_names_case_quoting_comments_and_blanks() -> None:
    text = (
        "cReAtE /* a */ NoDe\n// line\n TaBlE `my table` (\n `a``b` int64 PrImArY kEy,"
        " `ünï ✓` STRING)"
    )
    (s,) = parsed(text).statements
    assert isinstance(s, CreateNode)
    assert s.name == "my table"
    assert [c.name for c in s.columns] == ["a``b", "ünï ✓"]  # only the outer backticks go
    assert s.primary_key == "a``b"


def test_types_are_canonical_and_nested() -> None:
    text = (
        "CREATE NODE TABLE t (id INT PRIMARY KEY, a decimal, b DECIMAL( 10 ,2 ), "
        "c struct(x int64[], y union(p bool, q map(string, float8[3])))[], d BYTEA, e REAL)"
    )
    (s,) = parsed(text).statements
    assert isinstance(s, CreateNode)
    assert [c.type for c in s.columns] == [
        "INT32",
        "DECIMAL(18, 3)",
        "DECIMAL(10, 2)",
        "STRUCT(x INT64[], y UNION(p BOOLEAN, q MAP(STRING, DOUBLE[3])))[]",
        "BLOB",
        "FLOAT",
    ]


@pytest.mark.parametrize(
    ("type_text", "expression", "value"),
    [
        ("INT64", "-42", -42),
        ("INT64", "-(42)", -42),
        ("INT64", "(7)", 7),
        ("INT64", "NULL", None),
        ("INT8", "-(-(5))", 5),
        ("DOUBLE", "1.5e3", "1.5e3"),
        ("DOUBLE", "-(2.5)", "-2.5"),
        ("DOUBLE", "3", "3"),
        ("FLOAT", "CAST('2' AS FLOAT)", "2"),
        ("DECIMAL(5, 2)", "12.5", "12.5"),
        ("DECIMAL(5, 2)", "cast('1.25' as decimal(5,2))", "1.25"),
        ("STRING", "'it\\'s'", "it's"),
        ("STRING", '"dq"', "dq"),
        ("STRING", "'\\n'", "n"),  # Kuzu's reading: the letter n
        ("BOOL", "TRUE", True),
        ("BOOLEAN", "false", False),
        ("DATE", "date('2024-02-29')", "2024-02-29"),
        ("DATE", "CAST('2024-02-29' AS DATE)", "2024-02-29"),
        ("TIMESTAMP", "timestamp('2024-01-02 03:04:05')", "2024-01-02 03:04:05"),
        (
            "UUID",
            "CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID)",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
    ],
)
def test_default_values(type_text: str, expression: str, value: object) -> None:
    assert default_from_expression(expression, type_text) == value


@pytest.mark.parametrize(
    ("type_text", "expression", "why"),
    [
        ("DATE", "'2024-01-01'", "CAST"),  # Kuzu casts no string implicitly
        ("INT64", "'5'", "string"),
        ("INT64", "1.5", "decimal literal"),
        ("INT8", "300", "range"),
        ("BOOL", "1", "integer literal"),
        ("INT64", "true", "BOOLEAN"),
        ("DECIMAL(5, 2)", "1.125", "does not fit"),
        ("DATE", "date('2023-02-29')", "valid DATE"),
        ("DATE", "CAST('2024-01-01' AS TIMESTAMP)", "CAST to TIMESTAMP"),
        ("INT64", "1 + 2", "only literals"),
        ("DATE", "current_date()", "only literals"),
        ("SERIAL", "1", "SERIAL property"),
    ],
)
def test_defaults_we_do_not_record_are_refused(type_text: str, expression: str, why: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        default_from_expression(expression, type_text)
    assert why in exc.value.reason


def test_syntax_errors_name_line_column_and_what_was_expected() -> None:
    e = error("CREATE NODE TABLE a (id INT64 PRIMARY KEY);\nCREATE NODE TABLE b (id INT64\n  x")
    assert (e.kind, e.line, e.column) == ("syntax", 3, 3)
    assert e.expected is not None and "','" in e.expected
    assert e.statement.startswith("CREATE NODE TABLE b")
    assert "line 3, column 3" in str(e)

    e = error("CREATE NODE TABLE a (id INT64 PRIMARY KEY) CREATE NODE TABLE b")
    assert (e.line, e.column, e.expected) == (1, 44, "';' or the end of the statement")

    e = error("create node table t (id int64 primary key,\n   y int65)")
    assert (e.line, e.column) == (2, 6) and "unknown type name 'int65'" in e.message

    e = error("create node table t (id int64)")
    assert "primary key" in e.message
    e = error("create node table t (id int64 primary key, primary key (id))")
    assert "multiple primary keys" in e.message
    e = error("create rel table r (from a to b, x int64 primary key)")
    assert "PRIMARY KEY" in e.message
    e = error("create rel table r (from a to b, x int64, from b to a)")
    assert "FROM/TO pairs come before" in str(e.expected)
    e = error("alter table t add x int64 default 1 + 2")
    assert (e.kind, e.column) == ("unsupported", 37)


@pytest.mark.parametrize(
    ("text", "line", "column", "what"),
    [
        ("CREATE NODE TABLE t (s STRING DEFAULT 'open", 1, 39, "string never closed"),
        ("CREATE NODE TABLE `t (id INT64)", 1, 19, "backtick"),
        ("/* never closed\nCREATE NODE TABLE t", 1, 1, "comment"),
        ("CREATE NODE TABLE t (s STRING DEFAULT '\\x41')", 1, 39, "escape"),
        ("CREATE NODE TABLE t (id INT64 PRIMARY KEY) @", 1, 44, "'@'"),
        ("CREATE NODE TABLE `` (id INT64 PRIMARY KEY)", 1, 19, "empty"),
    ],
)
def test_lexical_errors(text: str, line: int, column: int, what: str) -> None:
    e = error(text)
    assert (e.kind, e.line, e.column) == ("syntax", line, column)
    assert what in e.message


def test_statements_we_do_not_record_are_refused_or_skipped_and_listed() -> None:
    text = (
        "CREATE NODE TABLE a (id INT64 PRIMARY KEY);\n"
        "MATCH (n) RETURN n;\n"
        "COPY a FROM 'a.csv';\n"
        "CREATE SEQUENCE s START 1;\n"
        "BEGIN TRANSACTION;\n"
        "CREATE (n:a {id: 1, name: ';)'});\n"
        "DROP SEQUENCE s;\n"
        "CREATE REL TABLE GROUP g (FROM a TO a);\n"
        "ALTER TABLE a DROP x"
    )
    e = error(text)
    assert (e.kind, e.line, e.column) == ("unsupported", 2, 1)
    assert "MATCH" in e.message and e.statement == "MATCH (n) RETURN n"
    result = parsed(text, skip_non_ddl=True)
    assert [type(s) for s in result.statements] == [CreateNode, AlterDrop]
    assert [s.what for s in result.skipped] == [
        "MATCH",
        "COPY",
        "CREATE SEQUENCE",
        "BEGIN",
        "CREATE",
        "DROP SEQUENCE",
        "CREATE REL",
    ]
    assert [s.at.line for s in result.skipped] == [2, 3, 4, 5, 6, 7, 8]


def test_empty_statements_and_a_missing_final_semicolon() -> None:
    assert parsed("").statements == ()
    assert parsed(" ;; // nothing\n ; /* */").statements == ()
    assert len(parsed("DROP TABLE a;;DROP TABLE b").statements) == 2


def test_tokens_carry_line_and_column_in_code_points() -> None:
    toks = tokenize("`ä✓` x\n  y")
    assert [(t.value, t.line, t.column) for t in toks[:3]] == [
        ("ä✓", 1, 1),
        ("x", 1, 6),
        ("y", 2, 3),
    ]


def test_a_large_text_parses_in_one_pass() -> None:
    text = "\n".join(f"CREATE NODE TABLE t{i} (id INT64 PRIMARY KEY);" for i in range(3000))
    assert len(parsed(text).statements) == 3000
