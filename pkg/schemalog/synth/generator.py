"""Synthetic workloads: realistic, applicable event logs of any size.

``generate(n_events, origins=1, seed=0, ...)`` yields events that apply
cleanly one after another (``schema.apply``; ``check=True`` proves it as it
goes): a few hundred node and rel tables (capped, Kuzu spends ~5 MB per
table), property add/drop churn (at most ``max_table_properties`` per table, so
the schema stays the size of a real one however long the log), renames of tables and properties, rel
connections added and dropped, comments, tags, and -- with several origins --
causal parents and merge events.

Determinism: one ``random.Random(seed)`` and a simulated wall clock (start
``start_ms``, each event ``1..max_step_ms`` later; ``now_ms`` may inject
another, which is kept strictly increasing). No clock or OS reads.

Causality with several origins: each origin knows the events up to its last
sync plus its own; its event's parents are the heads it has seen; it syncs
(sees every head) with probability ``sync_rate`` per event, and a sync that
joins two or more heads may be recorded as a ``merge`` event. An origin only
touches a table (and the node tables a rel change references) when the last
event that touched it is one it has seen, so concurrent events never touch
the same table: the log is conflict-free, and because wall time increases
with every event, the causal order (topological, ties by hlc) is exactly the
log order.

The ``mix`` weights say how often each kind is drawn; a kind that is
impossible at that moment (nothing to drop, table caps reached) is redrawn.
``Generator.summary`` counts what was produced, so tests know their figures
by construction.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemalog.encoding.codec import (
    CHECKSUM_PREFIX,
    DEFAULT_MAX_EVENT_BYTES,
    encode_record,
    record_checksum,
)
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    PropertyDef,
    RenameProperty,
    RenameTable,
    Tag,
    new_event,
)
from schemalog.model.schema import Applied, apply, empty_state

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "Generator",
    "SynthSummary",
    "fast_record",
    "generate",
    "write_log",
]

KINDS = (
    "create_node_table",
    "create_rel_table",
    "add_property",
    "drop_property",
    "rename_property",
    "rename_table",
    "drop_table",
    "add_connection",
    "drop_connection",
    "comment_on_table",
    "tag",
    "merge",
)
DEFAULT_MIX: dict[str, float] = {
    "create_node_table": 4,
    "create_rel_table": 3,
    "add_property": 24,
    "drop_property": 10,
    "rename_property": 12,
    "rename_table": 6,
    "drop_table": 2,
    "add_connection": 6,
    "drop_connection": 4,
    "comment_on_table": 8,
    "tag": 1,
    "merge": 2,
}
START_MS = 1_700_000_000_000
_TABLE_WORDS = (
    "Person", "Company", "City", "Account", "Order", "Product", "Device", "Post",
    "Comment", "Tag", "Forum", "Invoice", "Sensor", "Route", "Team", "Project",
)  # fmt: skip
_REL_WORDS = (
    "Knows", "WorksAt", "LivesIn", "Owns", "Bought", "Likes", "Follows", "Reports",
    "LinksTo", "Contains", "Replies", "Manages",
)  # fmt: skip
_PROP_WORDS = (
    "name", "age", "email", "created_at", "score", "title", "status", "amount",
    "tags", "city", "rank", "note", "active", "updated", "weight", "code",
)  # fmt: skip
# (canonical type, default factory or None); SERIAL only as a node primary key
_PROP_TYPES: tuple[tuple[str, Callable[[random.Random], Any] | None], ...] = (
    ("INT64", lambda r: r.randrange(-1000, 1000)),
    ("STRING", lambda r: r.choice(("", "n/a", "unknown", "ok"))),
    ("BOOLEAN", lambda r: r.random() < 0.5),
    ("DOUBLE", None),
    ("DATE", None),
    ("TIMESTAMP", None),
    ("INT32", lambda r: r.randrange(0, 100)),
    ("FLOAT", None),
    ("STRING[]", None),
    ("INT64[]", None),
    ("MAP(STRING, INT64)", None),
    ("STRUCT(a INT64, b STRING)", None),
    ("DECIMAL(18, 4)", None),
    ("UUID", None),
)
_PK_TYPES = ("INT64", "STRING", "SERIAL", "UUID")
_MULTIPLICITIES = ("MANY_MANY", "MANY_MANY", "MANY_ONE", "ONE_MANY", "ONE_ONE")


@dataclass
class SynthSummary:
    """What a generator produced (filled in as events are drawn)."""

    seed: int
    origins: int
    events: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    syncs: int = 0
    node_tables: int = 0  # at the end
    rel_tables: int = 0
    heads: tuple[str, ...] = ()
    bytes: int = 0  # written by write_log
    head_checksum: str | None = None  # of the last record written by write_log

    def to_obj(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "counts": dict(self.counts),
            "events": self.events,
            "head_checksum": self.head_checksum,
            "heads": list(self.heads),
            "node_tables": self.node_tables,
            "origins": self.origins,
            "rel_tables": self.rel_tables,
            "seed": self.seed,
            "syncs": self.syncs,
        }


class _Table:
    __slots__ = (
        "conns",
        "id",
        "kind",
        "name",
        "pk",
        "prop_keys",
        "props",
        "refs",
        "serial",
        "touch",
    )

    def __init__(self, table_id: str, kind: str, name: str, touch: tuple[int, int]) -> None:
        self.id = table_id
        self.kind = kind
        self.name = name
        self.props: dict[str, str] = {}  # property id -> name
        self.prop_keys: set[str] = set()  # lower-cased names
        self.pk: str | None = None
        self.serial = False  # a SERIAL key: Kuzu cannot rename the table or the key
        self.conns: list[Connection] = []
        self.refs = 0  # connections of rel tables pointing here (node tables)
        self.touch = touch  # (origin index, log index) of the last event touching it


class _Pool:
    """Table ids with O(1) random pick and removal."""

    __slots__ = ("ids", "where")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.where: dict[str, int] = {}

    def add(self, tid: str) -> None:
        self.where[tid] = len(self.ids)
        self.ids.append(tid)

    def remove(self, tid: str) -> None:
        i = self.where.pop(tid)
        last = self.ids.pop()
        if last != tid:
            self.ids[i] = last
            self.where[last] = i

    def __len__(self) -> int:
        return len(self.ids)


class _Origin:
    __slots__ = ("clock", "frontier", "index", "sync_index")

    def __init__(self, index: int, clock: HybridLogicalClock) -> None:
        self.index = index
        self.clock = clock
        self.frontier: tuple[str, ...] = ()  # heads this origin has seen
        self.sync_index = 0  # it has seen every event with log index below this


class _Impossible(Exception):
    pass


class Generator:
    """An iterator of synthetic events; ``summary`` counts what it produced."""

    def __init__(
        self,
        n_events: int,
        origins: int = 1,
        seed: int = 0,
        *,
        mix: Mapping[str, float] | None = None,
        workspace: str = "synth",
        start_ms: int = START_MS,
        max_step_ms: int = 1000,
        now_ms: Callable[[], int] | None = None,
        sync_rate: float = 0.05,
        max_node_tables: int = 250,
        max_rel_tables: int = 200,
        max_table_properties: int = 40,
        check: bool = False,
    ) -> None:
        if n_events < 0 or origins < 1 or origins > 256:
            raise ValueError("n_events must be >= 0 and origins within 1..256")
        weights = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(weights) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds in mix: {sorted(unknown)}")
        if not any(w > 0 for w in weights.values()):
            raise ValueError("mix has no positive weight")
        self.n_events = n_events
        self.rng = random.Random(seed)
        self.kinds = [k for k in KINDS if weights.get(k, 0) > 0]
        self.weights = [weights[k] for k in self.kinds]
        self.workspace = workspace
        self.max_step_ms = max_step_ms
        self.now_ms = now_ms
        self.sync_rate = sync_rate if origins > 1 else 0.0
        self.max_nodes = max_node_tables
        self.max_rels = max_rel_tables
        self.max_props = max_table_properties
        self.check = check
        self.summary = SynthSummary(seed=seed, origins=origins)
        self._wall = start_ms
        self._origins = [
            _Origin(i, HybridLogicalClock(f"origin-{i + 1}", self._read_wall))
            for i in range(origins)
        ]
        self._tables: dict[str, _Table] = {}
        self._nodes = _Pool()
        self._rels = _Pool()
        self._heads: set[str] = set()
        self._count = 0  # events produced
        self._names = 0  # counter for fresh names
        self._state = empty_state()
        self._iter = self._run()

    def __iter__(self) -> Generator:
        return self

    def __next__(self) -> Event:
        return next(self._iter)

    def _read_wall(self) -> int:
        return self._wall

    # ------------------------------------------------ the loop

    def _run(self) -> Iterator[Event]:
        rng = self.rng
        summary = self.summary
        while self._count < self.n_events:
            if self.now_ms is not None:
                self._wall = max(self._wall + 1, self.now_ms())
            else:
                self._wall += rng.randint(1, self.max_step_ms)
            origin = self._origins[rng.randrange(len(self._origins))]
            if self.sync_rate and rng.random() < self.sync_rate:
                self._sync(origin)
            event = None
            # weighted draws first; then every kind of the mix once, so a kind
            # is forced past its cap only when nothing in the mix is possible
            draws = rng.choices(self.kinds, self.weights, k=20) + self.kinds
            for kind in draws:
                try:
                    event = self._make(kind, origin)
                except _Impossible:
                    continue
                break
            if event is None:  # nothing in the mix is possible now: a node table always is
                event = self._make("create_node_table", origin, force=True)
                kind = "create_node_table"
            if self.check:
                result = apply(self._state, event)
                if not isinstance(result, Applied):
                    raise AssertionError(f"synth produced a rejected event: {result}")
                self._state = result.state
            self._heads.difference_update(event.parents)
            self._heads.add(event.id)
            origin.frontier = (event.id,)
            self._count += 1
            summary.events = self._count
            summary.counts[kind] += 1
            summary.node_tables = len(self._nodes)
            summary.rel_tables = len(self._rels)
            if self._count == self.n_events:
                summary.heads = tuple(sorted(self._heads))
            yield event

    def _sync(self, origin: _Origin) -> None:
        origin.frontier = tuple(sorted(self._heads))
        origin.sync_index = self._count
        self.summary.syncs += 1

    def _event(self, origin: _Origin, change: Any) -> Event:
        return new_event(origin.clock, self.workspace, origin.frontier, change)

    def _fresh(self, words: tuple[str, ...]) -> str:
        self._names += 1
        return f"{self.rng.choice(words)}{self._names}"

    def _touchable(self, origin: _Origin, table: _Table) -> bool:
        who, index = table.touch
        return who == origin.index or index < origin.sync_index

    def _pick(self, origin: _Origin, pool: _Pool, ok: Callable[[_Table], bool]) -> _Table:
        if not pool:
            raise _Impossible
        for _ in range(8):
            table = self._tables[pool.ids[self.rng.randrange(len(pool))]]
            if self._touchable(origin, table) and ok(table):
                return table
        raise _Impossible

    def _any_table(self, origin: _Origin, ok: Callable[[_Table], bool]) -> _Table:
        n, r = len(self._nodes), len(self._rels)
        if n + r == 0:
            raise _Impossible
        pool = self._nodes if self.rng.randrange(n + r) < n else self._rels
        return self._pick(origin, pool, ok)

    def _prop_name(self, table: _Table) -> str:
        word = self.rng.choice(_PROP_WORDS)
        if word in table.prop_keys:
            self._names += 1
            word = f"{word}_{self._names}"
        return word

    def _new_prop(self, table: _Table, pid: str) -> PropertyDef:
        type_text, default_of = self.rng.choice(_PROP_TYPES)
        default = default_of(self.rng) if default_of and self.rng.random() < 0.3 else None
        name = self._prop_name(table)
        table.props[pid] = name
        table.prop_keys.add(name.lower())
        return PropertyDef(pid, name, type_text, default)

    def _touch(self, origin: _Origin, *tables: _Table) -> None:
        for table in tables:
            table.touch = (origin.index, self._count)

    # ------------------------------------------------ one event of a kind

    def _make(self, kind: str, origin: _Origin, force: bool = False) -> Event:
        rng = self.rng
        if kind == "create_node_table":
            if len(self._nodes) >= self.max_nodes and not force:
                raise _Impossible
            name = self._fresh(_TABLE_WORDS)
            n_props = rng.randint(1, 6)
            pk_type = rng.choice(_PK_TYPES)

            def build_node(eid: str) -> CreateNodeTable:
                table = _Table(eid, "NODE", name, (origin.index, self._count))
                pk = PropertyDef(f"{eid}/p0", "id", pk_type)
                table.props[pk.property_id] = "id"
                table.prop_keys.add("id")
                table.pk = pk.property_id
                table.serial = pk_type == "SERIAL"
                props = [pk] + [self._new_prop(table, f"{eid}/p{i}") for i in range(1, n_props)]
                self._tables[eid] = table
                self._nodes.add(eid)
                return CreateNodeTable(eid, name, tuple(props), pk.property_id)

            return self._event(origin, build_node)
        if kind == "create_rel_table":
            if len(self._rels) >= self.max_rels:
                raise _Impossible
            ends = [self._pick(origin, self._nodes, _always) for _ in range(rng.randint(1, 3) * 2)]
            pairs = zip(ends[::2], ends[1::2], strict=True)
            conns = tuple(sorted({Connection(a.id, b.id) for a, b in pairs}))
            name = self._fresh(_REL_WORDS)
            n_props = rng.choice((0, 0, 1, 2))
            multiplicity = rng.choice(_MULTIPLICITIES)

            def build_rel(eid: str) -> CreateRelTable:
                table = _Table(eid, "REL", name, (origin.index, self._count))
                props = tuple(self._rel_prop(table, f"{eid}/p{i}") for i in range(n_props))
                table.conns = list(conns)
                for conn in conns:
                    self._ref(conn, +1)
                self._touch(origin, *ends)
                self._tables[eid] = table
                self._rels.add(eid)
                return CreateRelTable(eid, name, conns, props, multiplicity)

            return self._event(origin, build_rel)
        if kind == "add_property":
            # property churn, not growth: a real table keeps tens of properties
            target = self._any_table(origin, lambda t: len(t.props) < self.max_props)

            def build_add(eid: str) -> AddProperty:
                if target.kind == "NODE":
                    prop = self._new_prop(target, f"{eid}/p0")
                else:
                    prop = self._rel_prop(target, f"{eid}/p0")
                self._touch(origin, target)
                return AddProperty(target.id, prop)

            return self._event(origin, build_add)
        if kind == "drop_property":
            table = self._any_table(origin, lambda t: len(t.props) > (1 if t.pk else 0))
            pid = rng.choice([p for p in table.props if p != table.pk])
            table.prop_keys.discard(table.props.pop(pid).lower())
            self._touch(origin, table)
            return self._event(origin, DropProperty(table.id, pid))
        if kind == "rename_property":
            table = self._any_table(origin, lambda t: len(t.props) > (1 if t.serial else 0))
            pid = rng.choice([p for p in table.props if not (table.serial and p == table.pk)])
            self._names += 1
            new = f"{rng.choice(_PROP_WORDS)}_{self._names}"
            table.prop_keys.discard(table.props[pid].lower())
            table.props[pid] = new
            table.prop_keys.add(new.lower())
            self._touch(origin, table)
            return self._event(origin, RenameProperty(table.id, pid, new))
        if kind == "rename_table":
            table = self._any_table(origin, lambda t: not t.serial)
            table.name = self._fresh(_TABLE_WORDS if table.kind == "NODE" else _REL_WORDS)
            self._touch(origin, table)
            return self._event(origin, RenameTable(table.id, table.name))
        if kind == "drop_table":
            # rel tables most of the time; node tables once nothing references them
            if self._rels and rng.random() < 0.7:
                table = self._pick(origin, self._rels, _always)
                ends = [
                    self._tables[t] for c in table.conns for t in (c.from_table_id, c.to_table_id)
                ]
                if not all(self._touchable(origin, t) for t in ends):
                    raise _Impossible
                for conn in table.conns:
                    self._ref(conn, -1)
                self._touch(origin, *ends)
                self._rels.remove(table.id)
            else:
                table = self._pick(origin, self._nodes, lambda t: t.refs == 0)
                self._nodes.remove(table.id)
            del self._tables[table.id]
            return self._event(origin, DropTable(table.id))
        if kind in ("add_connection", "drop_connection"):
            rel = self._pick(origin, self._rels, _always)
            if kind == "add_connection":
                a = self._pick(origin, self._nodes, _always)
                b = self._pick(origin, self._nodes, _always)
                conn = Connection(a.id, b.id)
                if conn in rel.conns:
                    raise _Impossible
                rel.conns.append(conn)
                rel.conns.sort()
                self._ref(conn, +1)
                self._touch(origin, rel, a, b)
                return self._event(origin, AddConnection(rel.id, conn))
            if len(rel.conns) < 2:
                raise _Impossible
            conn = rng.choice(rel.conns)
            a, b = self._tables[conn.from_table_id], self._tables[conn.to_table_id]
            if not (self._touchable(origin, a) and self._touchable(origin, b)):
                raise _Impossible
            rel.conns.remove(conn)
            self._ref(conn, -1)
            self._touch(origin, rel, a, b)
            return self._event(origin, DropConnection(rel.id, conn))
        if kind == "comment_on_table":
            table = self._any_table(origin, _always)
            self._touch(origin, table)
            text = rng.choice(("", "owned by data team", "deprecated", f"v{self._count}"))
            return self._event(origin, CommentOnTable(table.id, text))
        if kind == "tag":
            self._names += 1
            return self._event(origin, Tag(f"v{self._names}"))
        if kind == "merge":
            if len(self._heads) < 2:
                raise _Impossible
            self._sync(origin)
            return self._event(origin, Merge())
        raise ValueError(f"unknown kind {kind!r}")

    def _rel_prop(self, table: _Table, pid: str) -> PropertyDef:
        prop = self._new_prop(table, pid)
        return prop if prop.type != "SERIAL" else PropertyDef(pid, prop.name, "INT64")

    def _ref(self, conn: Connection, delta: int) -> None:
        self._tables[conn.from_table_id].refs += delta
        if conn.to_table_id != conn.from_table_id:
            self._tables[conn.to_table_id].refs += delta


def _always(table: _Table) -> bool:
    return True


# Events hold only ASCII keys, ints within 2**53 and validated strings, so
# their JCS form is json.dumps with sorted keys (see codec's docstring): three
# times cheaper than the general encoder. tests/test_synth.py proves the bytes
# equal codec.encode_record's.
_dumps_sorted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def fast_record(event: Event, prev: str | None) -> bytes:
    """``codec.encode_record(event, prev)`` for a validated event, faster."""
    data = _dumps_sorted(event.to_obj()).encode("utf-8")
    if len(data) > DEFAULT_MAX_EVENT_BYTES:
        return encode_record(event, prev)  # raises EventTooLarge
    if prev is not None and not prev.startswith(CHECKSUM_PREFIX):
        return encode_record(event, prev)  # raises LegacyLog
    sum_ = record_checksum(prev, data)
    prev_json = b"null" if prev is None else b'"' + prev.encode("ascii") + b'"'
    return (
        b'{"checksum":"'
        + sum_.encode("ascii")
        + b'","event":'
        + data
        + b',"prev":'
        + prev_json
        + b"}"
    )


def generate(n_events: int, origins: int = 1, seed: int = 0, **options: Any) -> Generator:
    """Synthetic events (an iterator with a ``summary``); options as ``Generator``."""
    return Generator(n_events, origins, seed, **options)


def write_log(
    path: str | os.PathLike[str],
    n_events: int,
    origins: int = 1,
    seed: int = 0,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> SynthSummary:
    """Write a hash-chained NDJSON log of ``n_events`` (streaming, constant memory)."""
    gen = generate(n_events, origins, seed, **options)
    prev: str | None = None
    buf: list[bytes] = []
    total = 0
    with open(os.fspath(path), "wb" if overwrite else "xb") as f:
        for i, event in enumerate(gen, 1):
            line = fast_record(event, prev)
            prev = line[13:87].decode("ascii")
            buf.append(line)
            if len(buf) >= 4096:
                data = b"\n".join(buf) + b"\n"
                f.write(data)
                total += len(data)
                buf.clear()
                if progress is not None:
                    progress(i)
        if buf:
            data = b"\n".join(buf) + b"\n"
            f.write(data)
            total += len(data)
    gen.summary.bytes = total
    gen.summary.head_checksum = prev
    return gen.summary
