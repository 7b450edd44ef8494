"""The contract every Kuzu backend adapter passes (native here; kuzu-wasm in Pyodide later).

Subclass ``BackendContract`` in a ``Test*`` class and implement ``make_backend``
to return a fresh, empty, open backend. The methods use nothing CPython-only
(no tmp_path, no subprocess, no kuzu import): only the port and
``schemalog.kuzu.cypher``, so the same class can run inside Pyodide.
"""

from __future__ import annotations

from schemalog.kuzu.cypher import default_expression, quote_identifier, string_literal
from schemalog.kuzu.port import BackendError, Catalog, KuzuBackend, PropertyInfo
from schemalog.kuzu.profile import KUZU, EngineProfile

HOSTILE_NAMES = [
    "a b",
    'say "hi"',
    "it's",
    "semi;colon",
    "MATCH",
    "TABLE",
    "FROM",
    "PRIMARY",
    "人物",
    "😀",
    "שלום",
    "back\\slash",
    "two``ticks",
    "Ä",
    "x" * 128,
]

HOSTILE_TEXT = "it's \"quoted\" \\ back\\slash\nline2\r\ttab é😀人 שלום ; `tick` \\n ''"


class BackendContract:
    """Exercise execute/query/catalog of a backend made by ``make_backend``."""

    engine: EngineProfile = KUZU  # how names are quoted (LadybugDB: doubled backticks)

    def make_backend(self) -> KuzuBackend:
        raise NotImplementedError

    def q(self, name: str) -> str:
        return quote_identifier(name, self.engine)

    def _fresh(self) -> KuzuBackend:
        backend = self.make_backend()
        assert isinstance(backend, KuzuBackend)
        return backend

    def test_empty_catalog(self) -> None:
        backend = self._fresh()
        try:
            assert backend.catalog() == Catalog()
            backend.execute([])
            assert backend.catalog() == Catalog()
        finally:
            backend.close()

    def test_node_and_rel_tables_with_several_pairs(self) -> None:
        backend = self._fresh()
        try:
            backend.execute(
                [
                    "CREATE NODE TABLE A(id INT64, name STRING, PRIMARY KEY(id))",
                    "CREATE NODE TABLE B(key STRING, PRIMARY KEY(key))",
                    "CREATE NODE TABLE C(id INT64, PRIMARY KEY(id))",
                    "CREATE REL TABLE R(FROM A TO B, FROM C TO A, FROM A TO A, since DATE, "
                    "MANY_ONE)",
                ]
            )
            catalog = backend.catalog()
            assert [t.name for t in catalog.node_tables] == ["A", "B", "C"]
            a = catalog.node_table("A")
            assert a is not None
            assert a.primary_key == "id"
            assert a.properties == (PropertyInfo("id", "INT64"), PropertyInfo("name", "STRING"))
            b = catalog.node_table("B")
            assert b is not None and b.primary_key == "key"
            r = catalog.rel_table("R")
            assert r is not None
            assert r.connections == (("A", "B"), ("C", "A"), ("A", "A"))
            assert r.properties == (PropertyInfo("since", "DATE"),)
            assert r.comment == ""
            assert catalog.table_names == {"A", "B", "C", "R"}

            backend.execute(["ALTER TABLE R ADD FROM B TO C", "ALTER TABLE R DROP FROM A TO A"])
            r = backend.catalog().rel_table("R")
            assert r is not None and r.connections == (("A", "B"), ("C", "A"), ("B", "C"))
        finally:
            backend.close()

    def test_query_returns_dicts(self) -> None:
        backend = self._fresh()
        try:
            backend.execute(["CREATE NODE TABLE P(id INT64, PRIMARY KEY(id))"])
            backend.execute(["CREATE (:P {id: 1})", "CREATE (:P {id: 2})"])
            rows = backend.query("MATCH (p:P) RETURN p.id AS id ORDER BY id")
            assert rows == [{"id": 1}, {"id": 2}]
            assert backend.query(f"RETURN {string_literal(HOSTILE_TEXT)} AS s") == [
                {"s": HOSTILE_TEXT}
            ]
        finally:
            backend.close()

    def test_hostile_names_round_trip(self) -> None:
        q = self.q
        backend = self._fresh()
        try:
            statements = [
                f"CREATE NODE TABLE {q(n)}({q(n)} INT64, {q('p ' + n)} STRING, PRIMARY KEY({q(n)}))"
                for n in HOSTILE_NAMES
            ]
            rel = "rel " + HOSTILE_NAMES[0]
            pairs = ", ".join(f"FROM {q(a)} TO {q('人物')}" for a in HOSTILE_NAMES[:3])
            statements.append(f"CREATE REL TABLE {q(rel)}({pairs}, {q('w;`` x')} DOUBLE)")
            backend.execute(statements)
            catalog = backend.catalog()
            assert {t.name for t in catalog.node_tables} == set(HOSTILE_NAMES)
            for name in HOSTILE_NAMES:
                table = catalog.node_table(name)
                assert table is not None
                assert table.primary_key == name
                assert [p.name for p in table.properties] == [name, "p " + name]
            r = catalog.rel_table(rel)
            assert r is not None
            assert r.connections == tuple((a, "人物") for a in HOSTILE_NAMES[:3])
            assert r.properties == (PropertyInfo("w;`` x", "DOUBLE"),)
        finally:
            backend.close()

    def test_comments(self) -> None:
        backend = self._fresh()
        try:
            backend.execute(
                [
                    "CREATE NODE TABLE N(id INT64, PRIMARY KEY(id))",
                    "CREATE REL TABLE E(FROM N TO N)",
                    f"COMMENT ON TABLE N IS {string_literal(HOSTILE_TEXT)}",
                    f"COMMENT ON TABLE E IS {string_literal('rel: ' + HOSTILE_TEXT)}",
                ]
            )
            catalog = backend.catalog()
            n, e = catalog.node_table("N"), catalog.rel_table("E")
            assert n is not None and n.comment == HOSTILE_TEXT
            assert e is not None and e.comment == "rel: " + HOSTILE_TEXT
        finally:
            backend.close()

    def test_defaults_print_back_as_rendered(self) -> None:
        cases: list[tuple[str, int | str | bool]] = [
            ("INT64", 42),
            ("INT64", -42),
            ("INT8", -128),
            ("UINT64", 2**53 - 1),
            ("BOOLEAN", True),
            ("BOOLEAN", False),
            ("STRING", HOSTILE_TEXT),
            ("STRING", ""),
            ("DOUBLE", "-1.5e10"),
            ("FLOAT", "0.25"),
            ("DECIMAL(38, 10)", "1234567890123456789012345678.0123456789"),
            ("DATE", "2024-02-29"),
            ("TIMESTAMP", "2024-02-29 12:34:56.123456"),
            ("TIMESTAMP_TZ", "2024-02-29 12:34:56+02:00"),
            ("TIMESTAMP_NS", "2024-02-29 12:34:56.123456789"),
            ("TIMESTAMP_MS", "2024-02-29 12:34:56.123"),
            ("TIMESTAMP_SEC", "2024-02-29 12:34:56"),
            ("UUID", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ]
        backend = self._fresh()
        try:
            statements = ["CREATE NODE TABLE D(id INT64, PRIMARY KEY(id))"]
            expected = [PropertyInfo("id", "INT64")]
            for i, (typ, value) in enumerate(cases):
                expr = default_expression(value, typ)
                assert expr is not None
                statements.append(f"ALTER TABLE D ADD p{i} {typ} DEFAULT {expr}")
                # Kuzu prints the expression sent, except -(42) which it prints as -42
                shown = str(value) if type(value) is int else expr
                expected.append(PropertyInfo(f"p{i}", "BOOL" if typ == "BOOLEAN" else typ, shown))
            backend.execute(statements)
            table = backend.catalog().node_table("D")
            assert table is not None
            assert list(table.properties) == expected
            backend.execute(["CREATE (:D {id: 1})"])
            row = backend.query("MATCH (d:D) RETURN d.p0, d.p1, d.p2, d.p6, d.p10")[0]
            assert [row["d.p0"], row["d.p1"], row["d.p2"], row["d.p6"]] == [
                42,
                -42,
                -128,
                HOSTILE_TEXT,
            ]
            # exact: no trip through DOUBLE (str() is the same text in CPython and Pyodide)
            assert str(row["d.p10"]) == "1234567890123456789012345678.0123456789"
        finally:
            backend.close()

    def test_error_is_wrapped_and_batch_rolled_back(self) -> None:
        backend = self._fresh()
        try:
            backend.execute(
                [
                    "CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))",
                    "CREATE REL TABLE R(FROM A TO A)",
                ]
            )
            before = backend.catalog()
            failing = "DROP TABLE A"
            try:
                backend.execute(
                    [
                        "CREATE NODE TABLE B(id INT64, PRIMARY KEY(id))",
                        "ALTER TABLE A ADD x STRING",
                        failing,
                        "CREATE NODE TABLE C(id INT64, PRIMARY KEY(id))",
                    ]
                )
            except BackendError as exc:
                assert exc.statement == failing
                assert exc.index == 2
                assert exc.kind == "Binder"
                assert exc.message == (
                    "Binder exception: Cannot delete node table A because it is "
                    "referenced by relationship table R."
                )
            else:
                raise AssertionError("DROP TABLE of a referenced node table did not fail")
            assert backend.catalog() == before
            # the backend is usable afterwards (no transaction left open)
            backend.execute(["CREATE NODE TABLE B(id INT64, PRIMARY KEY(id))"])
            assert backend.catalog().table_names == {"A", "B", "R"}
        finally:
            backend.close()

    def test_parser_error_is_wrapped_and_batch_rolled_back(self) -> None:
        backend = self._fresh()
        try:
            try:
                backend.execute(
                    ["CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))", "CREATE NODE TABLE oops"]
                )
            except BackendError as exc:
                assert exc.index == 1
                assert exc.kind == "Parser"
            else:
                raise AssertionError("a parser error did not fail")
            assert backend.catalog() == Catalog()
            try:
                backend.query("MATCH (n:Nope) RETURN n")
            except BackendError as exc:
                assert exc.statement == "MATCH (n:Nope) RETURN n"
                assert exc.index is None
                assert exc.kind == "Binder"
            else:
                raise AssertionError("a query on a missing table did not fail")
        finally:
            backend.close()

    def test_close_twice_and_use_after_close(self) -> None:
        backend = self._fresh()
        backend.close()
        backend.close()
        try:
            backend.query("RETURN 1")
        except BackendError:
            pass
        else:
            raise AssertionError("query after close did not fail")
