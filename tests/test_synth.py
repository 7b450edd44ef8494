"""The synthetic workload generator."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from schemalog.encoding.codec import encode_record
from schemalog.log.store import NdjsonStore
from schemalog.log.store.verify import verify_log
from schemalog.model.schema import Applied, apply, empty_state
from schemalog.synth.generator import KINDS, fast_record, generate, write_log


@pytest.mark.parametrize("origins", [1, 3])
def test_every_event_applies_and_is_deterministic(origins: int) -> None:
    gen = generate(3000, origins=origins, seed=7, check=True)
    evs = list(gen)
    assert len(evs) == 3000 and gen.summary.events == 3000
    assert evs == list(generate(3000, origins=origins, seed=7))
    assert evs != list(generate(3000, origins=origins, seed=8))
    state = empty_state()
    for e in evs:
        result = apply(state, e)
        assert isinstance(result, Applied), result
        state = result.state
    assert sum(gen.summary.counts.values()) == 3000
    assert gen.summary.node_tables == sum(1 for t in state.tables.values() if t.kind == "NODE")
    assert gen.summary.rel_tables == sum(1 for t in state.tables.values() if t.kind == "REL")


def test_multi_origin_causality() -> None:
    gen = generate(2000, origins=4, seed=1)
    evs = list(gen)
    ids = {e.id for e in evs}
    seen: set[str] = set()
    for e in evs:
        assert set(e.parents) <= seen  # parents come first in the log
        seen.add(e.id)
    assert len({e.origin for e in evs}) == 4
    # hlc increases along the log, so causal order (topological, ties by hlc) = log order
    assert all(a.hlc < b.hlc for a, b in itertools.pairwise(evs))
    assert gen.summary.counts["merge"] > 0 and gen.summary.syncs > 0
    parents = {p for e in evs for p in e.parents}
    assert gen.summary.heads == tuple(sorted(ids - parents))
    assert any(len(e.parents) > 1 for e in evs)


def test_mix_is_obeyed_and_counted() -> None:
    mix = {"create_node_table": 1, "rename_table": 3, "comment_on_table": 1}
    gen = generate(500, seed=2, mix=mix, check=True)
    list(gen)
    produced = {k for k, v in gen.summary.counts.items() if v}
    assert produced <= set(mix)
    assert gen.summary.counts["rename_table"] > gen.summary.counts["comment_on_table"]
    with pytest.raises(ValueError):
        generate(1, mix={"explode": 1})
    assert set(KINDS) >= set(gen.summary.counts)


def test_table_caps() -> None:
    gen = generate(
        3000,
        seed=3,
        mix={"create_node_table": 5, "add_property": 1},
        max_node_tables=40,
        max_table_properties=10_000,
    )
    list(gen)
    assert gen.summary.node_tables == 40


def test_property_cap_keeps_tables_realistic() -> None:
    from schemalog.log.replay import replay
    from schemalog.log.store import MemoryStore

    gen = generate(4000, origins=2, seed=4, max_table_properties=12)
    store = MemoryStore()
    store.append(list(gen), expected=None)
    state = replay(store).state
    widths = [len(t.properties) for t in state.tables.values()]
    assert widths and max(widths) <= 12
    assert gen.summary.counts["add_property"] > 0


def test_fast_record_equals_codec() -> None:
    prev = None
    for e in generate(800, origins=2, seed=5):
        line = fast_record(e, prev)
        assert line == encode_record(e, prev)
        prev = line[13:87].decode()


def test_write_log_is_a_valid_chained_log(tmp_path: Path) -> None:
    path = tmp_path / "s.ndjson"
    summary = write_log(path, 5000, origins=2, seed=9)
    assert summary.bytes == path.stat().st_size
    report = verify_log(path)
    assert report.ok and report.records == 5000 and report.head == summary.head_checksum
    store = NdjsonStore.open(path)
    assert store.heads() == summary.heads
    with pytest.raises(FileExistsError):
        write_log(path, 1)
    write_log(path, 3, overwrite=True)
    assert verify_log(path).records == 3


def test_injected_clock_is_kept_increasing() -> None:
    ticks = iter([5_000, 5_000, 4_000] + [6_000] * 50)
    evs = list(generate(20, seed=0, now_ms=lambda: next(ticks)))
    walls = [e.hlc.wall_ms for e in evs]
    assert walls == sorted(walls) and len(set(walls)) == 20
