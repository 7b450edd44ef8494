"""Hypothesis strategies writing Kuzu DDL text as people write it, and catalog comparison.

Statements draw names from a small pool, so that many of them meet (a table
created, altered, referenced, dropped) and many are refused (unknown names,
taken names, referenced tables). Every token is written with random letter
case (keywords and references; a name keeps its case where it is created),
optional backtick quoting, and random blanks and comments between tokens.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from schemalog.errors import SchemalogError
from schemalog.kuzu.ddl_parse import default_from_expression
from schemalog.kuzu.drift import user_catalog
from schemalog.kuzu.port import Catalog
from schemalog.model.names import KUZU_RESERVED_PROPERTY_NAMES
from schemalog.model.types import parse_type

NODES = ["Person", "city", "Thing", "node_3"]
# names Kuzu keeps for itself (drawn in random letter case), and two that Kuzu reads
# as _ID / _SRC (it upper-cases with the simple Unicode mapping: dotless i, long s)
RESERVED = [*sorted(KUZU_RESERVED_PROPERTY_NAMES), "_ıd", "_ſrc"]
RELS = ["Knows", "lives_in", "Rel3"]
PROPS = ["id", "name", "Age", "score", "x_1"]
GAPS = [" ", "  ", "\n", "\t", " /* c */ ", " // line comment\n", "\n  "]

# (type text as written, [default expressions as written])
TYPED_DEFAULTS: list[tuple[str, list[str]]] = [
    ("INT64", ["7", "-(3)", "0", "NULL"]),
    ("int32", ["-(2147483648)", "2147483647"]),
    ("INT8", ["-(128)", "127"]),
    ("UINT16", ["65535"]),
    ("INT128", ["9007199254740991"]),
    ("DOUBLE", ["1.5", "-(2.25)", "1e3", "CAST('3.5' AS DOUBLE)", "3"]),
    ("FLOAT", ["0.5", "CAST('2' AS FLOAT)"]),
    ("DECIMAL(5, 2)", ["1.25", "-(99.5)", "CAST('3.14' AS DECIMAL(5,2))", "7"]),
    ("decimal", ["12.5"]),
    ("STRING", ["'hi'", "'it\\'s'", '"dq"', "''", "'a\\\\b'"]),
    ("BOOL", ["true", "FALSE"]),
    ("BOOLEAN", ["True"]),
    ("DATE", ["date('2020-02-29')", "CAST('1999-12-31' AS DATE)", "'2020-01-01'"]),
    ("TIMESTAMP", ["timestamp('2020-01-01 10:00:00')", "CAST('2021-05-06 07:08:09' AS TIMESTAMP)"]),
    ("UUID", ["CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID)"]),
    ("SERIAL", []),
    ("BLOB", []),
    ("INTERVAL", []),
    ("TIMESTAMP_TZ", []),
    ("INT64[]", []),
    ("STRING[3]", []),
    ("MAP(STRING, INT64[])", []),
    ("STRUCT(a INT64, b UNION(x INT8, y STRING))", []),
    ("UNION(n INT64, s STRING)[]", []),
    ("DOUBLE[2][]", []),
]
MULTS = ["MANY_MANY", "many_one", "One_Many", "ONE_ONE"]


@st.composite
def word(draw: st.DrawFn, text: str) -> str:
    """A keyword in random letter case."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.lower() if f else c.upper() for c, f in zip(text, flips, strict=True))


@st.composite
def ref(draw: st.DrawFn, name: str, recase: bool = True) -> str:
    """A name as written: maybe another letter case (a reference), maybe backtick-quoted."""
    if recase and draw(st.booleans()):
        name = draw(word(name))
    return f"`{name}`" if draw(st.booleans()) else name


@st.composite
def new_prop(draw: st.DrawFn) -> str:
    """A property name as written where it is made: mostly the pool's, sometimes one
    Kuzu reserves, in any letter case."""
    if draw(st.integers(0, 4)) == 0:
        return draw(ref(draw(word(draw(st.sampled_from(RESERVED)))), recase=False))
    return draw(ref(draw(st.sampled_from(PROPS)), recase=False))


@st.composite
def column(draw: st.DrawFn, node: bool) -> tuple[str, bool]:
    """(column text, is primary key)."""
    name = draw(new_prop())
    type_text, defaults = draw(st.sampled_from(TYPED_DEFAULTS))
    parts = [name, type_text]
    if defaults and draw(st.booleans()):
        parts += [draw(word("DEFAULT")), draw(st.sampled_from(defaults))]
    pk = node and draw(st.integers(0, 3)) == 0
    if pk:
        parts += [draw(word("PRIMARY")), draw(word("KEY"))]
    return " ".join(parts), pk


@st.composite
def create_node(draw: st.DrawFn) -> list[str]:
    out = [draw(word("CREATE")), draw(word("NODE")), draw(word("TABLE"))]
    if draw(st.integers(0, 4)) == 0:
        out += [draw(word("IF")), draw(word("NOT")), draw(word("EXISTS"))]
    out.append(draw(ref(draw(st.sampled_from(NODES)), recase=False)))
    cols = draw(st.lists(column(True), min_size=1, max_size=4))
    items = [c for c, _ in cols]
    if not any(pk for _, pk in cols) and draw(st.integers(0, 5)) > 0:
        target = draw(st.sampled_from(items)).split()[0]
        items.append(f"{draw(word('PRIMARY'))} {draw(word('KEY'))} ( {target} )")
    return [*out, "(", ", ".join(items), ")"]


@st.composite
def create_rel(draw: st.DrawFn) -> list[str]:
    out = [draw(word("CREATE")), draw(word("REL")), draw(word("TABLE"))]
    if draw(st.integers(0, 4)) == 0:
        out += [draw(word("IF")), draw(word("NOT")), draw(word("EXISTS"))]
    out.append(draw(ref(draw(st.sampled_from([*RELS, NODES[0]])), recase=False)))
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)), min_size=1, max_size=3)
    )
    if draw(st.booleans()):  # a pair written twice (Kuzu refuses it)
        pairs.insert(draw(st.integers(0, len(pairs))), draw(st.sampled_from(pairs)))
    items = [
        f"{draw(word('FROM'))} {draw(ref(a))} {draw(word('TO'))} {draw(ref(b))}" for a, b in pairs
    ]
    items += [c for c, _ in draw(st.lists(column(False), max_size=2))]
    if draw(st.booleans()):
        items.append(draw(st.sampled_from(MULTS)))
    return [*out, "(", ", ".join(items), ")"]


@st.composite
def alter(draw: st.DrawFn) -> list[str]:
    table = draw(ref(draw(st.sampled_from([*NODES, *RELS]))))
    head = [draw(word("ALTER")), draw(word("TABLE")), table]
    kind = draw(st.sampled_from(["add", "drop", "rename", "rename_prop", "add_pair", "drop_pair"]))
    prop = draw(ref(draw(st.sampled_from(PROPS))))
    if kind == "add":
        maybe = (
            [draw(word("IF")), draw(word("NOT")), draw(word("EXISTS"))]
            if draw(st.booleans())
            else []
        )
        return [*head, draw(word("ADD")), *maybe, draw(column(False))[0]]
    if kind == "drop":
        maybe = [draw(word("IF")), draw(word("EXISTS"))] if draw(st.booleans()) else []
        return [*head, draw(word("DROP")), *maybe, prop]
    if kind == "rename":
        new = draw(ref(draw(st.sampled_from([*NODES, *RELS, "renamed_t"])), recase=False))
        return [*head, draw(word("RENAME")), draw(word("TO")), new]
    if kind == "rename_prop":
        if draw(st.integers(0, 2)) == 0:
            new = draw(new_prop())
        else:
            new = draw(ref(draw(st.sampled_from([*PROPS, "renamed_p"])), recase=False))
        return [*head, draw(word("RENAME")), prop, draw(word("TO")), new]
    a, b = draw(ref(draw(st.sampled_from(NODES)))), draw(ref(draw(st.sampled_from(NODES))))
    pair = [draw(word("FROM")), a, draw(word("TO")), b]
    if kind == "add_pair":
        maybe = (
            [draw(word("IF")), draw(word("NOT")), draw(word("EXISTS"))]
            if draw(st.booleans())
            else []
        )
        return [*head, draw(word("ADD")), *maybe, *pair]
    maybe = [draw(word("IF")), draw(word("EXISTS"))] if draw(st.booleans()) else []
    return [*head, draw(word("DROP")), *maybe, *pair]


@st.composite
def drop_table(draw: st.DrawFn) -> list[str]:
    maybe = [draw(word("IF")), draw(word("EXISTS"))] if draw(st.booleans()) else []
    name = draw(ref(draw(st.sampled_from([*NODES, *RELS]))))
    return [draw(word("DROP")), draw(word("TABLE")), *maybe, name]


@st.composite
def comment_on(draw: st.DrawFn) -> list[str]:
    name = draw(ref(draw(st.sampled_from([*NODES, *RELS]))))
    text = draw(st.sampled_from(["'people'", "'it\\'s \"q\"'", "''", '"dq"', "'ünï ✓'"]))
    return [
        draw(word("COMMENT")),
        draw(word("ON")),
        draw(word("TABLE")),
        name,
        draw(word("IS")),
        text,
    ]


@st.composite
def valid_node(draw: st.DrawFn, name: str) -> list[str]:
    """A CREATE NODE TABLE that Kuzu takes: distinct property names, a usable key."""
    names = draw(st.lists(st.sampled_from(PROPS[1:]), unique=True, max_size=3))
    key_type = draw(st.sampled_from(["INT64", "STRING", "SERIAL", "DATE", "UUID", "INT32"]))
    items = [f"id {key_type}"]
    for n in names:
        type_text, defaults = draw(st.sampled_from(TYPED_DEFAULTS))
        default = ""
        if defaults and draw(st.booleans()):
            value = draw(st.sampled_from(defaults))
            if not value.startswith("'2020"):  # (the one refused default)
                default = f" {draw(word('DEFAULT'))} {value}"
        items.append(f"{draw(ref(n, recase=False))} {type_text}{default}")
    if draw(st.booleans()):
        items[0] += f" {draw(word('PRIMARY'))} {draw(word('KEY'))}"
    else:
        items.append(f"{draw(word('PRIMARY'))} {draw(word('KEY'))}({draw(ref('id', False))})")
    head = [draw(word("CREATE")), draw(word("NODE")), draw(word("TABLE"))]
    return [*head, draw(ref(name, recase=False)), "(", ", ".join(items), ")"]


@st.composite
def valid_rel(draw: st.DrawFn, name: str, nodes: list[str]) -> list[str]:
    """A CREATE REL TABLE between existing node tables."""
    pair = st.tuples(st.sampled_from(nodes), st.sampled_from(nodes))
    pairs = draw(st.lists(pair, min_size=1, max_size=3, unique=True))
    items = [
        f"{draw(word('FROM'))} {draw(ref(a))} {draw(word('TO'))} {draw(ref(b))}" for a, b in pairs
    ]
    if draw(st.booleans()):
        items.append(f"{draw(ref('score', False))} DOUBLE")
    if draw(st.booleans()):
        items.append(draw(st.sampled_from(MULTS)))
    head = [draw(word("CREATE")), draw(word("REL")), draw(word("TABLE"))]
    return [*head, draw(ref(name, recase=False)), "(", ", ".join(items), ")"]


def joined(draw: st.DrawFn, tokens: list[str]) -> str:
    """Tokens joined by random blanks and comments."""
    gaps = draw(st.lists(st.sampled_from(GAPS), min_size=len(tokens), max_size=len(tokens)))
    return "".join(t + g for t, g in zip(tokens, gaps, strict=True)).rstrip()


@st.composite
def statement(draw: st.DrawFn) -> str:
    """One statement of any kind (often refused: names from a small pool)."""
    kinds = [create_node(), create_rel(), alter(), alter(), alter(), drop_table(), comment_on()]
    return joined(draw, draw(st.one_of(kinds)))


@st.composite
def script(draw: st.DrawFn) -> list[str]:
    """A few tables Kuzu takes, then statements of every kind."""
    nodes = draw(st.lists(st.sampled_from(NODES), min_size=1, max_size=3, unique=True))
    rels = draw(st.lists(st.sampled_from(RELS), max_size=2, unique=True))
    out = [joined(draw, draw(valid_node(n))) for n in nodes]
    out += [joined(draw, draw(valid_rel(r, nodes))) for r in rels]
    out += draw(st.lists(statement(), min_size=1, max_size=12))
    return out


def comparable(catalog: Catalog) -> dict[str, Any]:
    """A catalog with defaults as the model's values, types canonical: two catalogs built
    with different spellings of the same schema compare equal."""

    def prop(p: Any) -> tuple[str, str, Any]:
        typ = str(parse_type(p.type))
        value: Any = p.default
        if p.default is not None:
            try:
                value = ("value", default_from_expression(p.default, typ))
            except SchemalogError:
                value = ("expression", p.default)
        return (p.name, typ, value)

    live = user_catalog(catalog)
    out: dict[str, Any] = {}
    for n in live.node_tables:
        out[n.name] = ("NODE", [prop(p) for p in n.properties], n.primary_key, n.comment)
    for r in live.rel_tables:
        out[r.name] = ("REL", [prop(p) for p in r.properties], sorted(r.connections), r.comment)
    return out
