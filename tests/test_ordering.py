"""Causal order, cycle detection, the delivery buffer."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.errors import CycleDetected
from schemalog.history.ordering import (
    CausalBuffer,
    ForkedEvent,
    MissingParents,
    causal_order,
    find_cycle,
    order_ids,
    sort_key,
)
from schemalog.model.events import Tag
from schemalog.synth.replicas import synth_replicas


def _union(logs: list[list]) -> list:  # type: ignore[type-arg]
    return list({e.id: e for log in logs for e in log}.values())


def _check_causal(order: list) -> None:  # type: ignore[type-arg]
    placed: set[str] = set()
    for e in order:
        assert all(p in placed for p in e.parents), e.id
        placed.add(e.id)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 4), st.randoms(use_true_random=False))
def test_causal_order_is_a_function_of_the_set(
    seed: int, replicas: int, rnd: random.Random
) -> None:
    events = _union(synth_replicas(replicas, 5, 8, seed))
    order = causal_order(events)
    _check_causal(order)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert causal_order(shuffled) == order
    # the Kahn fallback gives the same order as the sorted fast path
    ids = order_ids({e.id: sort_key(e) for e in events}, {e.id: e.parents for e in events})
    assert ids == [e.id for e in order]


def test_kahn_respects_parents_against_keys() -> None:
    # keys say c < b < a, parents say a before b before c
    keys = {"a": 3, "b": 2, "c": 1, "d": 0}
    parents = {"a": [], "b": ["a"], "c": ["b"], "d": []}
    assert order_ids(keys, parents) == ["d", "a", "b", "c"]


def test_cycle_is_named() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    assert find_cycle(graph) == ("a", "b", "c")
    assert find_cycle({"x": ["y"], "y": []}) is None
    assert find_cycle({"s": ["s"]}) == ("s",)
    with pytest.raises(CycleDetected) as info:
        order_ids({k: k for k in graph}, graph)
    assert info.value.ids == ("a", "b", "c")


def test_find_cycle_on_a_million_long_chain_has_no_recursion_limit() -> None:
    n = 200_000
    graph = {str(i): [str(i + 1)] for i in range(n)}
    assert find_cycle(graph) is None
    graph[str(n)] = ["0"]
    cycle = find_cycle(graph)
    assert cycle is not None and len(cycle) == n + 1 and cycle[0] == "0"


def test_missing_parents_are_named() -> None:
    events = synth_replicas(1, 4, 0, 1)[0]
    with pytest.raises(MissingParents) as info:
        causal_order(events[2:])
    assert info.value.missing == {events[2].id: (events[1].id,)}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 3), st.randoms(use_true_random=False))
def test_buffer_any_delivery_order_converges(seed: int, replicas: int, rnd: random.Random) -> None:
    events = _union(synth_replicas(replicas, 4, 6, seed))
    delivery = list(events)
    rnd.shuffle(delivery)
    delivery += rnd.sample(delivery, min(3, len(delivery)))  # re-delivery
    buf = CausalBuffer()
    released = []
    for e in delivery:
        released.extend(buf.add(e))
        _check_causal(released)
    assert buf.pending() == {}
    assert sorted(e.id for e in released) == sorted(e.id for e in events)
    assert causal_order(released) == causal_order(events)


def test_buffer_holds_back_and_releases() -> None:
    a, b, c = synth_replicas(1, 3, 0, 2)[0]
    buf = CausalBuffer()
    assert buf.add(c) == []
    assert buf.pending() == {c.id: (b.id,)}
    assert buf.add(b) == []
    assert buf.pending() == {b.id: (a.id,), c.id: (b.id,)}
    assert buf.add(a) == [a, b, c]
    assert buf.pending() == {}


def test_buffer_refuses_another_event_with_a_known_id() -> None:
    a = synth_replicas(1, 2, 0, 3)[0][1]
    forged = replace(a, change=Tag("forged"))
    buf = CausalBuffer([a])
    with pytest.raises(ForkedEvent):
        buf.add(forged)


def test_forked_id_in_causal_order() -> None:
    a = synth_replicas(1, 1, 0, 3)[0][0]
    forged = replace(a, change=Tag("forged"))
    with pytest.raises(ForkedEvent):
        causal_order([a, forged])
