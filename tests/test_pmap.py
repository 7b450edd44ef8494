"""PMap against a dict model: set/delete/get/len/items, including full hash collisions."""

from __future__ import annotations

from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.model.pmap import PMap


class Collide:
    """A key whose hash is chosen, to force shared trie paths and whole-hash buckets."""

    HASHES: ClassVar[dict[str, int]] = {
        "a": 0,
        "b": 0,
        "c": 32,
        "d": 2**40,
        "e": -1,
        "f": 2**64 + 1,
        "g": 1,
        "h": 2**40,
    }

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return self.HASHES[self.name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collide) and other.name == self.name

    def __repr__(self) -> str:
        return f"Collide({self.name!r})"


_keys = st.one_of(
    st.text(max_size=3),
    st.integers(-(2**70), 2**70),
    st.builds(Collide, st.sampled_from(sorted(Collide.HASHES))),
)
_ops = st.lists(st.tuples(st.booleans(), _keys, st.integers()), max_size=200)


def _check(m: PMap[object, int], model: dict[object, int]) -> None:
    assert len(m) == len(model)
    assert sorted(map(repr, m.items())) == sorted(map(repr, model.items()))
    for k, v in model.items():
        assert m.get(k) == v
        assert k in m
        assert m[k] == v


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_matches_dict_model(ops: list[tuple[bool, object, int]]) -> None:
    m: PMap[object, int] = PMap()
    model: dict[object, int] = {}
    history = []
    for is_set, key, value in ops:
        before = dict(model)
        if is_set:
            m2 = m.set(key, value)
            model[key] = value
        else:
            m2 = m.delete(key)
            model.pop(key, None)
        history.append((m, before))
        m = m2
        _check(m, model)
    for old, snapshot in history:  # persistence: earlier versions are untouched
        _check(old, snapshot)


def test_many_string_keys() -> None:
    m: PMap[str, int] = PMap()
    for i in range(5000):
        m = m.set(f"k{i}", i)
    m = m.set("k7", -7)
    assert len(m) == 5000 and m["k7"] == -7 and m.get("k4999") == 4999
    for i in range(0, 5000, 2):
        m = m.delete(f"k{i}")
    assert len(m) == 2500 and "k2" not in m and m["k3"] == 3
    assert m == PMap.from_items((f"k{i}", i) for i in range(1, 5000, 2) if i != 7).set("k7", -7)
