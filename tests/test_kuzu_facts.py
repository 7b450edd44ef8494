"""Facts about native kuzu 0.11.3 that the DDL layer relies on, asserted against real Kuzu.

Each test pins one observed behaviour; a failure here means Kuzu changed and
``schemalog.kuzu.cypher`` / the backends must be revisited. Raw ``kuzu`` on purpose:
these tests check Kuzu, not our adapter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

kuzu = pytest.importorskip("kuzu")

pytestmark = pytest.mark.kuzu


def test_kuzu_version() -> None:
    assert kuzu.__version__ == "0.11.3"


class Db:
    def __init__(self) -> None:
        self.db = kuzu.Database(":memory:")
        self.conn = kuzu.Connection(self.db)

    def rows(self, q: str) -> list[list[Any]]:
        r = self.conn.execute(q)
        out = []
        while r.has_next():
            out.append(r.get_next())
        return out

    def columns(self, q: str) -> list[str]:
        return list(self.conn.execute(q).get_column_names())

    def error(self, q: str) -> str:
        with pytest.raises(RuntimeError) as info:
            self.conn.execute(q)
        return str(info.value)

    def tables(self) -> list[str]:
        return sorted(r[0] for r in self.rows("CALL show_tables() RETURN name"))


@pytest.fixture
def db() -> Db:
    return Db()


def node(name: str, key: str = "id") -> str:
    return f"CREATE NODE TABLE {name}({key} INT64, PRIMARY KEY({key}))"


# -- identifiers -----------------------------------------------------------

ROUND_TRIP_NAMES = [
    'a"b', "a'b", "a;b", "a b", "MATCH", "TABLE", "NODE", "REL", "FROM", "TO", "PRIMARY",
    "KEY", "人物", "😀x", "שלום", "مرحبا", "x" * 1000, "a\\b", "e\\u0060f", "a.b", "a:b",
    "$x", "1abc", "-", " lead", "trail ", "a\nb", "a\u200bb", "a``b", "``x", "y``", "a````b",
]  # fmt: skip


@pytest.mark.parametrize("name", [n for n in ROUND_TRIP_NAMES if "." not in n])
def test_backtick_quoted_name_is_stored_verbatim(db: Db, name: str) -> None:
    quoted = f"`{name}`"
    db.rows(f"CREATE NODE TABLE {quoted}({quoted} INT64, PRIMARY KEY({quoted}))")
    assert db.tables() == [name]
    info = db.rows(f"CALL table_info({lit(name)}) RETURN name")
    assert info == [[name]]


def test_table_info_cannot_read_a_table_name_with_a_dot(db: Db) -> None:
    db.rows("CREATE NODE TABLE `a.b`(`p.q` INT64, PRIMARY KEY(`p.q`))")
    db.rows("CREATE REL TABLE `r.s`(FROM `a.b` TO `a.b`)")
    assert db.tables() == ["a.b", "r.s"]
    # table_info parses its argument as [database.]table; no quoting helps
    for arg in ("'a.b'", "'`a.b`'"):
        assert db.error(f"CALL table_info({arg}) RETURN *").startswith(
            "Runtime exception: No database named "
        )
    assert db.rows("CALL show_connection('r.s') RETURN *") == [["a.b", "a.b", "p.q", "p.q"]]


def test_doubled_backtick_is_not_an_escape(db: Db) -> None:
    db.rows("CREATE NODE TABLE `c``d`(`p``q` INT64, PRIMARY KEY(`p``q`))")
    assert db.tables() == ["c``d"]  # two backticks stored, not one
    assert db.rows("CALL table_info('c``d') RETURN name") == [["p``q"]]


def test_no_way_to_write_a_single_backtick(db: Db) -> None:
    assert db.error("CREATE NODE TABLE `a\\`b`(id INT64, PRIMARY KEY(id))").startswith(
        "Parser exception: mismatched input 'b'"
    )
    assert db.error(node("`a`b`")).startswith("Parser exception")


def test_empty_identifier_is_a_parser_error(db: Db) -> None:
    assert db.error(node("``")).startswith(
        "Parser exception: '' is not a valid token name. "
        "Token names cannot be empty or contain any null-bytes"
    )


def test_very_long_name(db: Db) -> None:
    db.rows(node("`" + "z" * 100_000 + "`"))
    assert db.tables() == ["z" * 100_000]


def test_table_names_fold_ascii_case_only(db: Db) -> None:
    db.rows(node("Person"))
    assert db.error(node("person")) == "Binder exception: person already exists in catalog."
    assert db.rows("CALL table_info('PERSON') RETURN name") == [["id"]]
    db.rows(node("Ä"))
    db.rows(node("ä"))
    assert db.tables() == ["Person", "Ä", "ä"]


def test_property_names_fold_ascii_case_only(db: Db) -> None:
    assert db.error("CREATE NODE TABLE P(Name INT64, name STRING, PRIMARY KEY(Name))") == (
        "Binder exception: Duplicated column name: name, column name must be unique."
    )
    db.rows("CREATE NODE TABLE P(Äx INT64, äx STRING, PRIMARY KEY(Äx))")
    assert db.rows("CALL table_info('p') RETURN name") == [["Äx"], ["äx"]]


# -- string literals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'a\'b'", "a'b"),
        (r"'a\"b'", 'a"b'),
        (r"'a\\b'", "a\\b"),
        (r"'a\nb'", "anb"),  # backslash escapes drop the backslash: no newline
        (r"'a\tb\rc'", "atbrc"),
        (r"'a\u00e9b'", "au00e9b"),  # no unicode escapes either
        ("'a\nb\r\tc'", "a\nb\r\tc"),  # raw control characters pass through
        ("'é😀人שלום'", "é😀人שלום"),
        ('"a\'b"', "a'b"),
    ],
)
def test_string_literal_escapes(db: Db, literal: str, value: str) -> None:
    assert db.rows(f"RETURN {literal} AS s") == [[value]]


@pytest.mark.parametrize("literal", ["'a''b'", r"'a\x41'", r"'a\0b'", r"'a\qb'"])
def test_string_literal_parser_errors(db: Db, literal: str) -> None:
    assert db.error(f"RETURN {literal} AS s").startswith("Parser exception")


HOSTILE_TEXT = "it's a \"quote\" \\ back\\slash\nnew\r\tline é😀人 שלום ; `tick` \\n \\u0041 ''"


def lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_comment_round_trips_through_show_tables(db: Db) -> None:
    db.rows(node("T"))
    assert db.rows("CALL show_tables() RETURN comment") == [[""]]
    assert db.rows(f"COMMENT ON TABLE T IS {lit(HOSTILE_TEXT)}") == [["Comment added to table T."]]
    assert db.rows("CALL show_tables() RETURN comment") == [[HOSTILE_TEXT]]


def test_string_default_prints_back_as_the_literal(db: Db) -> None:
    db.rows(node("T"))
    db.rows(f"ALTER TABLE T ADD s STRING DEFAULT {lit(HOSTILE_TEXT)}")
    db.rows("CREATE (:T {id: 1})")
    assert db.rows("MATCH (t:T) RETURN t.s") == [[HOSTILE_TEXT]]
    info = db.rows("CALL table_info('T') RETURN name, `default expression`")
    assert info == [["id", "NULL"], ["s", lit(HOSTILE_TEXT)]]


# -- ALTER syntax and messages ---------------------------------------------------


def test_alter_syntax_and_messages(db: Db) -> None:
    db.rows(node("T"))
    assert db.rows("ALTER TABLE T ADD p INT64 DEFAULT 1") == [["Property p added to table T."]]
    assert db.rows("ALTER TABLE T ADD IF NOT EXISTS p INT64") == [
        ["T table already has property p."]
    ]
    assert db.error("ALTER TABLE T ADD p INT64") == (
        "Runtime exception: T table already has property p."
    )
    assert db.rows("ALTER TABLE T RENAME p TO q") == [["Property p renamed to q."]]
    assert db.rows("ALTER TABLE T DROP q") == [["Property q has been dropped from table T."]]
    assert db.rows("ALTER TABLE T DROP IF EXISTS q") == [["T table does not have property q."]]
    assert db.error("ALTER TABLE T DROP q") == (
        "Runtime exception: T table does not have property q."
    )
    assert db.rows("ALTER TABLE T RENAME id TO key") == [["Property id renamed to key."]]
    assert db.error("ALTER TABLE T DROP key") == (
        "Binder exception: Cannot drop property key in table T because it is used as primary key."
    )
    assert db.rows("ALTER TABLE T RENAME TO U") == [["Table T renamed to U."]]
    assert db.rows("COMMENT ON TABLE U IS 'c'") == [["Comment added to table U."]]
    assert db.error("CREATE NODE TABLE V(id INT64, PRIMARY KEY(id)) COMMENT 'x'").startswith(
        "Parser exception"
    )


def test_rel_tables_with_several_pairs_and_connection_alter(db: Db) -> None:
    for name in "ABCD":
        db.rows(node(name))
    db.rows(
        "CREATE REL TABLE R(FROM A TO B, FROM C TO D, FROM A TO A, "
        "since DATE, w DOUBLE DEFAULT 1.0, MANY_ONE)"
    )
    for m in ("ONE_ONE", "ONE_MANY", "MANY_ONE", "MANY_MANY"):
        db.rows(f"CREATE REL TABLE R_{m}(FROM A TO B, {m})")
    conn = "CALL show_connection('R') RETURN *"
    assert db.columns(conn) == [
        "source table name",
        "destination table name",
        "source table primary key",
        "destination table primary key",
    ]
    assert db.rows(conn) == [["A", "B", "id", "id"], ["C", "D", "id", "id"], ["A", "A", "id", "id"]]
    assert db.rows("ALTER TABLE R ADD FROM B TO C") == [["B->C added to table R."]]
    assert db.rows("ALTER TABLE R ADD IF NOT EXISTS FROM B TO C") == [
        ["B->C already exists in R table."]
    ]
    assert db.error("ALTER TABLE R ADD FROM B TO C") == (
        "Binder exception: B->C already exists in R table."
    )
    assert db.rows("ALTER TABLE R DROP FROM A TO A") == [["A->A has been dropped from table R."]]
    assert db.rows("ALTER TABLE R DROP IF EXISTS FROM A TO A") == [
        ["A->A does not exist in R table."]
    ]
    assert db.error("ALTER TABLE R DROP FROM A TO A") == (
        "Binder exception: A->A does not exist in R table."
    )
    # the last pair can be dropped: a rel table with no connection exists
    db.rows("ALTER TABLE R_ONE_ONE DROP FROM A TO B")
    assert db.rows("CALL show_connection('R_ONE_ONE') RETURN *") == []
    # a node-table rename shows up in the connections (Kuzu cascades it)
    db.rows("ALTER TABLE C RENAME TO CC")
    assert ["CC", "D", "id", "id"] in db.rows(conn)
    assert db.error("CALL show_connection('A') RETURN *") == (
        "Binder exception: Show connection can only be called on a rel table!"
    )
    assert db.error("CREATE REL TABLE R9(FROM A TO nope)") == (
        "Binder exception: Table nope does not exist."
    )


def test_drop_referenced_node_table(db: Db) -> None:
    db.rows(node("A"))
    db.rows(node("B"))
    db.rows("CREATE REL TABLE R(FROM A TO B)")
    assert db.error("DROP TABLE B") == (
        "Binder exception: Cannot delete node table B because it is referenced by "
        "relationship table R."
    )
    assert db.error("DROP TABLE nope") == "Binder exception: Table nope does not exist."
    assert db.rows("DROP TABLE IF EXISTS nope") == [["Table nope does not exist."]]
    assert db.rows("DROP TABLE R") == [["Table R has been dropped."]]
    db.rows("DROP TABLE B")


# -- defaults ---------------------------------------------------------------


def test_defaults_need_casts_for_temporal_and_uuid(db: Db) -> None:
    db.rows(node("T"))
    for typ, val in [
        ("DATE", "2024-02-29"),
        ("TIMESTAMP", "2024-02-29 12:34:56"),
        ("UUID", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ]:
        assert db.error(f"ALTER TABLE T ADD p {typ} DEFAULT '{val}'") == (
            f"Binder exception: Expression {val} has data type STRING but expected {typ}. "
            "Implicit cast is not supported."
        )
    for fn in ("timestamp_tz", "timestamp_ns", "timestamp_ms", "timestamp_sec"):
        assert db.error(f"ALTER TABLE T ADD p {fn.upper()} DEFAULT {fn}('2024-01-01')") == (
            f"Catalog exception: function {fn.upper()} does not exist."
        )


def test_negative_literal_default_prints_without_its_sign(db: Db) -> None:
    db.rows(node("T"))
    for p, expr in [("a", "-42"), ("b", "(-42)"), ("c", "-(42)"), ("d", "CAST('-42' AS INT64)")]:
        db.rows(f"ALTER TABLE T ADD {p} INT64 DEFAULT {expr}")
    db.rows("ALTER TABLE T ADD e DOUBLE DEFAULT -1.5e10")
    db.rows("CREATE (:T {id: 1})")
    assert db.rows("MATCH (t:T) RETURN t.a, t.b, t.c, t.d, t.e") == [[-42, -42, -42, -42, -1.5e10]]
    shown = db.rows("CALL table_info('T') RETURN `default expression`")[1:]
    assert shown == [["42"], ["42"], ["-42"], ["CAST('-42' AS INT64)"], ["1.5e10"]]


def test_decimal_literal_default_goes_through_double(db: Db) -> None:
    db.rows(node("T"))
    big = "1234567890123456789012345678.0123456789"
    db.rows(f"ALTER TABLE T ADD lit DECIMAL(38, 10) DEFAULT {big}")
    db.rows(f"ALTER TABLE T ADD casted DECIMAL(38, 10) DEFAULT CAST('{big}' AS DECIMAL(38, 10))")
    db.rows("CREATE (:T {id: 1})")
    lit_value, cast_value = db.rows("MATCH (t:T) RETURN t.lit, t.casted")[0]
    assert str(cast_value) == big
    assert str(lit_value) != big


def test_no_default_and_explicit_null_default_look_the_same(db: Db) -> None:
    db.rows("CREATE NODE TABLE T(id INT64, a STRING, b STRING DEFAULT NULL, PRIMARY KEY(id))")
    assert db.rows("CALL table_info('T') RETURN `default expression`") == [
        ["NULL"],
        ["NULL"],
        ["NULL"],
    ]


# -- introspection ------------------------------------------------------------


def test_introspection_columns_and_type_strings(db: Db) -> None:
    db.rows(
        "CREATE NODE TABLE D(id UUID, x INT64[], y STRING[3], s STRUCT(a INT64, b STRING), "
        "m MAP(STRING, INT64), dd DECIMAL(10,2), u UNION(a INT64, b STRING), bl BLOB, "
        "iv INTERVAL, ll INT64[][2], b BOOLEAN, k SERIAL, i INT, PRIMARY KEY(id))"
    )
    db.rows("CREATE REL TABLE R(FROM D TO D, since DATE, w DOUBLE DEFAULT 1.0, ONE_ONE)")
    assert db.columns("CALL show_tables() RETURN *") == [
        "id",
        "name",
        "type",
        "database name",
        "comment",
    ]
    assert sorted(db.rows("CALL show_tables() RETURN name, type, `database name`")) == [
        ["D", "NODE", "local(kuzu)"],
        ["R", "REL", "local(kuzu)"],
    ]
    assert db.columns("CALL table_info('D') RETURN *") == [
        "property id",
        "name",
        "type",
        "default expression",
        "primary key",
    ]
    assert db.rows("CALL table_info('D') RETURN *") == [
        [0, "id", "UUID", "NULL", True],
        [1, "x", "INT64[]", "NULL", False],
        [2, "y", "STRING[3]", "NULL", False],
        [3, "s", "STRUCT(a INT64, b STRING)", "NULL", False],
        [4, "m", "MAP(STRING, INT64)", "NULL", False],
        [5, "dd", "DECIMAL(10, 2)", "NULL", False],
        [6, "u", "UNION(a INT64, b STRING)", "NULL", False],
        [7, "bl", "BLOB", "NULL", False],
        [8, "iv", "INTERVAL", "NULL", False],
        [9, "ll", "INT64[][2]", "NULL", False],
        [10, "b", "BOOL", "NULL", False],
        [11, "k", "SERIAL", "", False],  # SERIAL: empty, not NULL
        [12, "i", "INT32", "NULL", False],
    ]
    # rel tables: no primary key column, a storage_direction instead; property ids from 1
    # (0 is the hidden _ID); the multiplicity (ONE_ONE) is shown nowhere.
    assert db.columns("CALL table_info('R') RETURN *") == [
        "property id",
        "name",
        "type",
        "default expression",
        "storage_direction",
    ]
    assert db.rows("CALL table_info('R') RETURN *") == [
        [1, "since", "DATE", "NULL", "both"],
        [2, "w", "DOUBLE", "1.0", "both"],
    ]
    assert db.error("CALL table_info('nope') RETURN *") == (
        "Catalog exception: nope does not exist in catalog."
    )


# -- transactions ------------------------------------------------------------


def test_ddl_rolls_back(db: Db) -> None:
    db.rows(node("A"))
    db.rows("BEGIN TRANSACTION")
    db.rows(node("X"))
    db.rows(node("Y"))
    db.rows("CREATE REL TABLE XY(FROM X TO Y)")
    db.rows("ALTER TABLE A ADD p STRING DEFAULT 'x'")
    db.rows("ALTER TABLE A RENAME TO A2")
    db.rows("COMMENT ON TABLE A2 IS 'c'")
    assert db.tables() == ["A2", "X", "XY", "Y"]  # visible inside the transaction
    db.rows("ROLLBACK")
    assert db.tables() == ["A"]
    assert db.rows("CALL table_info('A') RETURN name") == [["id"]]
    assert db.rows("CALL show_tables() RETURN comment") == [[""]]


def test_drops_and_connection_changes_roll_back(db: Db) -> None:
    db.rows(node("X"))
    db.rows(node("Y"))
    db.rows("CREATE REL TABLE XY(FROM X TO Y)")
    db.rows("BEGIN TRANSACTION")
    db.rows("ALTER TABLE XY DROP FROM X TO Y")
    db.rows("ALTER TABLE XY ADD FROM Y TO X")
    db.rows("DROP TABLE XY")
    db.rows("DROP TABLE Y")
    db.rows("ROLLBACK")
    assert db.tables() == ["X", "XY", "Y"]
    assert db.rows("CALL show_connection('XY') RETURN *") == [["X", "Y", "id", "id"]]


@pytest.mark.parametrize(
    "failing",
    [
        "CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))",  # Binder
        "ALTER TABLE A ADD id STRING",  # Runtime
        "CALL table_info('nope') RETURN *",  # Catalog
    ],
)
def test_error_inside_transaction_rolls_it_back_and_ends_it(db: Db, failing: str) -> None:
    db.rows(node("A"))
    db.rows("BEGIN TRANSACTION")
    db.rows(node("Q"))
    db.error(failing)
    assert db.tables() == ["A"]  # Q is gone already
    assert db.error("COMMIT") == "No active transaction for COMMIT."
    assert db.error("ROLLBACK") == "No active transaction for ROLLBACK."


def test_parser_error_inside_transaction_keeps_it_open(db: Db) -> None:
    db.rows("BEGIN TRANSACTION")
    db.rows(node("Q"))
    assert db.error("CREATE NODE TABLE Q2 oops").startswith("Parser exception")
    assert db.tables() == ["Q"]
    db.rows("ROLLBACK")
    assert db.tables() == []


def test_nested_begin_fails_and_ends_the_outer_transaction(db: Db) -> None:
    db.rows("BEGIN TRANSACTION")
    db.rows(node("Q"))
    assert db.error("BEGIN TRANSACTION").startswith("Connection already has an active transaction.")
    assert db.error("ROLLBACK") == "No active transaction for ROLLBACK."
    assert db.tables() == []


def test_data_and_ddl_mix_in_one_transaction(db: Db) -> None:
    db.rows(node("A"))
    db.rows("BEGIN TRANSACTION")
    db.rows("CREATE (:A {id: 5})")
    db.rows(node("V"))
    db.rows("COMMIT")
    assert db.rows("MATCH (a:A) RETURN a.id") == [[5]]
    assert db.tables() == ["A", "V"]


def test_multi_statement_string(db: Db) -> None:
    db.rows(node("A"))
    results = db.conn.execute(f"{node('M1')}; {node('M2')}")
    assert isinstance(results, list) and len(results) == 2
    # auto-commit per statement: a failure keeps the statements before it
    db.error(f"{node('N1')}; {node('A')}; {node('N2')}")
    assert db.tables() == ["A", "M1", "M2", "N1"]
    # inside BEGIN ... COMMIT in the same string, the failure undoes everything
    db.error(f"BEGIN TRANSACTION; {node('P1')}; {node('A')}; COMMIT")
    assert "P1" not in db.tables()
    # a parser error anywhere in the string runs nothing
    db.error(f"{node('G1')}; CREATE NODE TABLE G2 oops")
    assert "G1" not in db.tables()


# -- cost ------------------------------------------------------------------------

_COST_SCRIPT = textwrap.dedent(
    """
    import os, sys, tempfile, time, kuzu

    def rss_mb():  # current resident set; ru_maxrss would inherit the parent's peak
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    d = tempfile.mkdtemp()
    db = kuzu.Database(os.path.join(d, "db"))
    c = kuzu.Connection(db)
    r0 = rss_mb()
    t = time.perf_counter()
    c.execute("BEGIN TRANSACTION")
    for i in range(100):
        c.execute(f"CREATE NODE TABLE T{i}(id INT64, name STRING, PRIMARY KEY(id))")
    c.execute("COMMIT")
    dt = time.perf_counter() - t
    r1 = rss_mb()
    for i in range(100):
        c.execute(f"CREATE REL TABLE R{i}(FROM T0 TO T1)")
    r2 = rss_mb()
    print((r1 - r0) / 100, (r2 - r1) / 100, dt)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_memory_per_node_table_on_disk() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _COST_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    per_node, per_rel, _seconds = (float(x) for x in out)
    assert 4.5 < per_node < 6.0  # measured 5.28 MB
    assert per_rel < 0.5  # measured 0.01 MB


def test_buffer_pool_holds_one_node_table_per_mb(tmp_path: os.PathLike[str]) -> None:
    database = kuzu.Database(os.path.join(tmp_path, "db"), buffer_pool_size=16 * 1024 * 1024)
    conn = kuzu.Connection(database)
    created = 0
    with pytest.raises(RuntimeError) as info:
        while created < 100:
            conn.execute(node(f"T{created}"))
            created += 1
    assert created == 15
    assert str(info.value) == (
        "Buffer manager exception: Unable to allocate memory! "
        "The buffer pool is full and no memory could be freed!"
    )


# -- schemalog.kuzu.cypher against these facts ------------------------------------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from schemalog.errors import InvalidEvent  # noqa: E402
from schemalog.kuzu.cypher import (  # noqa: E402
    UnquotableName,
    UnrenderableValue,
    default_expression,
    quote_identifier,
    string_literal,
)
from schemalog.model.names import reserved_property_name, validate_name  # noqa: E402


@pytest.mark.parametrize("name", ["a`b", "`", "```", "a```b", "``x`", "", "a\x00b", "\ud800"])
def test_quote_identifier_refuses(name: str) -> None:
    with pytest.raises(UnquotableName):
        quote_identifier(name)


def test_quote_identifier_and_string_literal_shapes() -> None:
    assert quote_identifier("a``b") == "`a``b`"
    assert quote_identifier("MATCH") == "`MATCH`"
    assert string_literal("it's \\ \n") == "'it\\'s \\\\ \n'"
    with pytest.raises(UnrenderableValue):
        string_literal("a\x00")
    with pytest.raises(UnrenderableValue):
        string_literal("\udc00")


def test_default_expression_shapes() -> None:
    assert default_expression(None, "INT64") is None
    assert default_expression(-5, "INT8") == "-(5)"
    assert default_expression(7, "UINT16") == "7"
    assert default_expression(True, "BOOL") == "true"
    assert default_expression("x'y", "STRING") == "'x\\'y'"
    assert default_expression("12.50", "DECIMAL(10,2)") == "CAST('12.50' AS DECIMAL(10, 2))"
    assert default_expression("2024-01-02", "DATE") == "CAST('2024-01-02' AS DATE)"
    with pytest.raises(InvalidEvent):
        default_expression("2024-02-30", "DATE")
    with pytest.raises(InvalidEvent):
        default_expression(1, "STRING")


_shared = Db()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.text(min_size=1, max_size=40))
@example("_PLACE_HOLDER")  # found: Kuzu reserves it as a property name (names.py's list)
def test_every_quotable_valid_name_round_trips(name: str) -> None:
    """Any name the event core accepts either round-trips exactly or is refused by us
    (a property name Kuzu reserves is refused by the model's reserved-property-name rule:
    it is tried as a table name only)."""
    try:
        validate_name(name, "name")
        quoted = quote_identifier(name)
    except (InvalidEvent, UnquotableName):
        return
    table = "." not in name  # a dotted table name cannot be introspected (see above)
    as_property = reserved_property_name(name) is None
    if not (table or as_property):
        return
    t = quoted if table else "`t`"
    p = quoted if as_property else "`x`"
    _shared.rows(f"CREATE NODE TABLE {t}({p} INT64, PRIMARY KEY({p}))")
    try:
        tables = [r[0] for r in _shared.rows("CALL show_tables() RETURN name")]
        assert tables == [name if table else "t"]
        info = _shared.rows(f"CALL table_info({string_literal(tables[0])}) RETURN name")
        assert info == [[name if as_property else "x"]]
    finally:
        _shared.rows(f"DROP TABLE {t}")
