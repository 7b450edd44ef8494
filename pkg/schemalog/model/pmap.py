"""A small persistent (immutable, path-copying) hash map for the schema state.

Replay applies about a million events and must be able to roll back, so the
state is immutable and every ``apply`` returns a new one. Copying a dict per
event would make each step O(number of tables); this hash trie copies only the
path to the changed key: O(log32 n) small tuples per update.

Iteration order depends on ``hash()`` (randomized per process for strings), so
callers that need determinism (state hashes, snapshots) sort the keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

__all__ = ["PMap"]

K = TypeVar("K")
V = TypeVar("V")

_BITS = 5
_MASK = (1 << _BITS) - 1
_MAX_SHIFT = 64
_EMPTY_NODE: tuple[Any, ...] = (None,) * (1 << _BITS)


class _Bucket:
    """Keys whose hashes agree on the path so far; split when they differ."""

    __slots__ = ("hash", "items")

    def __init__(self, h: int, items: tuple[tuple[Any, Any], ...]) -> None:
        self.hash = h
        self.items = items


_HASH_MASK = 0xFFFFFFFFFFFFFFFF


def _hash(key: object) -> int:
    return hash(key) & _HASH_MASK


def _set(node: tuple[Any, ...], shift: int, h: int, key: Any, value: Any) -> tuple[Any, bool]:
    """Return (new node, whether a key was added)."""
    index = (h >> shift) & _MASK
    slot = node[index]
    if slot is None:
        new: Any = _Bucket(h, ((key, value),))
        added = True
    elif isinstance(slot, _Bucket):
        if slot.hash == h or shift >= _MAX_SHIFT:
            items = [(k, v) for k, v in slot.items if k != key]
            added = len(items) == len(slot.items)
            items.append((key, value))
            new = _Bucket(h, tuple(items))
        else:
            # place the old bucket one level down, then insert the new key there
            child_list = list(_EMPTY_NODE)
            child_list[(slot.hash >> (shift + _BITS)) & _MASK] = slot
            new, added = _set(tuple(child_list), shift + _BITS, h, key, value)
    else:
        new, added = _set(slot, shift + _BITS, h, key, value)
    out = list(node)
    out[index] = new
    return tuple(out), added


def _delete(node: tuple[Any, ...], shift: int, h: int, key: Any) -> tuple[Any, ...] | None:
    """Return the node without ``key`` (None if the key was absent)."""
    index = (h >> shift) & _MASK
    slot = node[index]
    if slot is None:
        return None
    if isinstance(slot, _Bucket):
        items = tuple((k, v) for k, v in slot.items if k != key)
        if len(items) == len(slot.items):
            return None
        new: Any = _Bucket(slot.hash, items) if items else None
    else:
        child = _delete(slot, shift + _BITS, h, key)
        if child is None:
            return None
        new = None if child == _EMPTY_NODE else child
    out = list(node)
    out[index] = new
    return tuple(out)


def _iter(node: tuple[Any, ...]) -> Iterator[tuple[Any, Any]]:
    for slot in node:
        if slot is None:
            continue
        if isinstance(slot, _Bucket):
            yield from slot.items
        else:
            yield from _iter(slot)


class PMap(Generic[K, V]):
    """Immutable mapping; ``set``/``delete`` return new maps sharing structure."""

    __slots__ = ("_len", "_root")

    def __init__(self, root: tuple[Any, ...] = _EMPTY_NODE, length: int = 0) -> None:
        self._root = root
        self._len = length

    @classmethod
    def from_items(cls, items: Any) -> PMap[K, V]:
        result: PMap[K, V] = cls()
        for key, value in items:
            result = result.set(key, value)
        return result

    def get(self, key: K, default: V | None = None) -> V | None:
        h = hash(key) & _HASH_MASK
        slot = self._root[h & _MASK]
        shift = 0
        while slot is not None:
            if type(slot) is _Bucket:
                for k, v in slot.items:
                    if k == key:
                        return v  # type: ignore[no-any-return]
                return default
            shift += _BITS
            slot = slot[(h >> shift) & _MASK]
        return default

    def __getitem__(self, key: K) -> V:
        marker = _MISSING
        value = self.get(key, marker)
        if value is marker:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        marker = _MISSING
        return self.get(key, marker) is not marker  # type: ignore[arg-type]

    def set(self, key: K, value: V) -> PMap[K, V]:
        # Iterative: replay sets a few keys per event, and the recursive ``_set``
        # (kept for the rare bucket split) costs a call per trie level.
        h = hash(key) & _HASH_MASK
        node = self._root
        path = []
        shift = 0
        while True:
            index = (h >> shift) & _MASK
            slot = node[index]
            if slot is None:
                new: Any = _Bucket(h, ((key, value),))
                added = True
                break
            if type(slot) is _Bucket:
                if slot.hash != h and shift < _MAX_SHIFT:  # split the bucket (rare)
                    child = list(_EMPTY_NODE)
                    child[(slot.hash >> (shift + _BITS)) & _MASK] = slot
                    new, added = _set(tuple(child), shift + _BITS, h, key, value)
                    break
                pairs = slot.items
                if len(pairs) == 1 and pairs[0][0] == key:  # replacing a value (the usual set)
                    new = _Bucket(h, ((key, value),))
                    added = False
                    break
                items = [(k, v) for k, v in pairs if k != key]
                added = len(items) == len(pairs)
                items.append((key, value))
                new = _Bucket(h, tuple(items))
                break
            path.append((node, index))
            node = slot
            shift += _BITS
        out = list(node)
        out[index] = new
        new = tuple(out)
        for parent, i in reversed(path):
            out = list(parent)
            out[i] = new
            new = tuple(out)
        return PMap(new, self._len + 1 if added else self._len)

    def delete(self, key: K) -> PMap[K, V]:
        root = _delete(self._root, 0, _hash(key), key)
        if root is None:
            return self
        return PMap(root, self._len - 1)

    def __len__(self) -> int:
        return self._len

    def items(self) -> Iterator[tuple[K, V]]:
        return _iter(self._root)

    def keys(self) -> Iterator[K]:
        return (k for k, _ in _iter(self._root))

    def values(self) -> Iterator[V]:
        return (v for _, v in _iter(self._root))

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PMap) or len(other) != self._len:
            return NotImplemented if not isinstance(other, PMap) else False
        marker = _MISSING
        return all(other.get(k, marker) == v for k, v in self.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "PMap({" + ", ".join(f"{k!r}: {v!r}" for k, v in self.items()) + "})"


_MISSING: Any = object()
