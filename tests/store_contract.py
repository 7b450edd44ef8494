"""The event store contract: one test class, subclassed per adapter.

Subclasses provide ``make_store()`` (a fresh, empty store) -- the browser
store subclasses this inside Pyodide, so test methods use no pytest fixtures.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import decode_record
from schemalog.log.store import (
    AppendConflict,
    BadCursor,
    DuplicateEventId,
    EventStore,
    FencedOut,
    Head,
    MissingParent,
    RecordTooLarge,
)
from schemalog.model.events import CommentOnTable, Event, new_event
from schemalog.synth.generator import generate

HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@lru_cache(maxsize=64)
def _events(n: int, origins: int, seed: int) -> tuple[Event, ...]:
    return tuple(generate(n, origins=origins, seed=seed, check=True))


def events(n: int, origins: int = 1, seed: int = 0) -> list[Event]:
    return list(_events(n, origins, seed))


def read_all(store: EventStore, limit: int = 1000) -> list[Event]:
    out: list[Event] = []
    cursor = None
    while True:
        page = store.read(cursor, limit)
        if not page.records:
            return out
        out.extend(r.event for r in page.records)
        cursor = page.cursor


def changed_copy(event: Event) -> Event:
    """Same id, other content."""
    from dataclasses import replace

    return replace(event, workspace=event.workspace + "x")


class StoreContract:
    def make_store(self) -> EventStore:
        raise NotImplementedError

    def store(self) -> Any:
        return self.make_store()

    # ------------------------------------------------ head and append

    def test_empty(self) -> None:
        s = self.store()
        assert s.head() == Head(0, None)
        assert len(s) == 0
        assert s.heads() == ()
        page = s.read()
        assert page.records == () and page.cursor is None and page.positions == ()
        assert list(s.iter_raw()) == []
        assert isinstance(s, EventStore)

    def test_append_and_read_back(self) -> None:
        s = self.store()
        evs = events(50)
        h = s.append(evs[:20], expected=None)
        assert h.position == 20
        h2 = s.append(evs[20:], expected=h.checksum)
        assert h2 == s.head() and h2.position == 50
        assert read_all(s) == evs
        assert list(s.event_ids()) == [e.id for e in evs]
        assert all(e.id in s for e in evs) and "nope@1.0" not in s and 42 not in s

    def test_records_are_chained_and_verified(self) -> None:
        s = self.store()
        evs = events(10)
        s.append(evs, expected=None)
        page = s.read(limit=10)
        assert page.records[0].prev is None
        for a, b in zip(page.records, page.records[1:], strict=False):
            assert b.prev == a.checksum
        assert s.head().checksum == page.records[-1].checksum

    def test_conflict_writes_nothing(self) -> None:
        s = self.store()
        evs = events(6)
        h = s.append(evs[:3], expected=None)
        with pytest.raises(AppendConflict) as info:
            s.append(evs[3:], expected=None)
        assert info.value.expected is None and info.value.actual == h.checksum
        with pytest.raises(AppendConflict):
            s.append(evs[3:], expected="sha256-v2:" + "0" * 64)
        assert s.head() == h
        assert read_all(s) == evs[:3]

    def test_idempotent_by_id(self) -> None:
        s = self.store()
        evs = events(8)
        h = s.append(evs[:5], expected=None)
        # a retry of a landed append is not a conflict, even with a stale expected head
        assert s.append(evs[:5], expected=None) == h
        # overlapping batch: only the new ones are stored
        h2 = s.append(evs[3:], expected=h.checksum)
        assert h2.position == 8
        # repeats within one batch are stored once
        s2 = self.store()
        s2.append([evs[0], evs[1], evs[0]], expected=None)
        assert read_all(s2) == evs[:2]
        assert read_all(s) == evs

    def test_duplicate_id_with_other_content(self) -> None:
        s = self.store()
        evs = events(5)
        h = s.append(evs[:3], expected=None)
        with pytest.raises(DuplicateEventId) as info:
            s.append([evs[3], changed_copy(evs[1])], expected=h.checksum)
        assert (info.value.event_id, info.value.stored_position, info.value.new_position) == (
            evs[1].id,
            1,
            4,
        )
        assert s.head() == h  # all or nothing
        with pytest.raises(DuplicateEventId) as info:
            s.append([evs[3], changed_copy(evs[3])], expected=h.checksum)
        assert info.value.stored_position == 3 and info.value.new_position == 4
        assert s.head() == h

    def test_fencing(self) -> None:
        s = self.store()
        evs = events(6)
        h = s.append(evs[:1], expected=None)  # unfenced writer, store has seen no token
        h = s.append(evs[1:2], expected=h.checksum, fencing_token=5)
        assert s.newest_fencing_token == 5
        with pytest.raises(FencedOut) as info:
            s.append(evs[2:3], expected=h.checksum, fencing_token=4)
        assert (info.value.token, info.value.newest) == (4, 5)
        with pytest.raises(FencedOut) as info:
            s.append(evs[2:3], expected=h.checksum)
        assert info.value.token is None and info.value.newest == 5
        h = s.append(evs[2:3], expected=h.checksum, fencing_token=5)
        h = s.append(evs[3:4], expected=h.checksum, fencing_token=9)
        with pytest.raises(FencedOut):
            s.append(evs[4:], expected=h.checksum, fencing_token=5)
        assert s.head() == h and h.position == 4

    def test_heads_follow_the_dag(self) -> None:
        s = self.store()
        evs = events(300, origins=3, seed=4)
        cut = 150
        h = s.append(evs[:cut], expected=None)
        s.append(evs[cut:], expected=h.checksum)
        stored = {e.id for e in evs}
        parents = {p for e in evs for p in e.parents}
        assert s.heads() == tuple(sorted(stored - parents))

    def test_an_event_before_its_parent_is_refused(self) -> None:
        """Causal order, as ``verify`` reads it: a parent is in an earlier record or earlier
        in the batch. The refusal names the record and the missing id; nothing is written."""
        s = self.store()
        evs = events(4)
        assert evs[1].parents == (evs[0].id,) and evs[2].parents == (evs[1].id,)
        with pytest.raises(MissingParent) as info:
            s.append([evs[1]], expected=None)
        assert (info.value.event_id, info.value.parent, info.value.position) == (
            evs[1].id,
            evs[0].id,
            0,
        )
        assert evs[0].id in str(info.value) and evs[1].id in str(info.value)
        assert s.head() == Head(0, None) and s.heads() == ()
        h = s.append([evs[0]], expected=None)
        # in one batch: a parent later in the batch does not count, nothing of it is written
        with pytest.raises(MissingParent) as info:
            s.append([evs[2], evs[1]], expected=h.checksum)
        assert (info.value.event_id, info.value.parent, info.value.position) == (
            evs[2].id,
            evs[1].id,
            1,
        )
        assert s.head() == h and s.heads() == (evs[0].id,)
        h = s.append([evs[1], evs[2]], expected=h.checksum)  # parents first: taken
        # a parent that is stored but no longer a head (the usual parent is a head)
        from schemalog.model.clock import HybridLogicalClock

        clock = HybridLogicalClock("side", lambda: evs[2].hlc.wall_ms + 10)
        table_id = next(e.id for e in evs if e.kind == "create_node_table")
        side = new_event(clock, "ws", [evs[0].id], CommentOnTable(table_id, "side"))
        h = s.append([side], expected=h.checksum)
        assert s.heads() == tuple(sorted((evs[2].id, side.id)))
        assert read_all(s) == [*evs[:3], side]

    # ------------------------------------------------ cursors

    def test_cursor_survives_appends(self) -> None:
        s = self.store()
        evs = events(30)
        h = s.append(evs[:10], expected=None)
        page = s.read(limit=10)
        assert s.read(page.cursor).records == ()
        assert s.read(page.cursor).cursor == page.cursor  # polling keeps the cursor
        s.append(evs[10:], expected=h.checksum)
        nxt = s.read(page.cursor, limit=100)
        assert [r.event for r in nxt.records] == evs[10:]
        assert nxt.positions == tuple(range(10, 30))

    def test_bad_cursors(self) -> None:
        s = self.store()
        s.append(events(5), expected=None)
        other = self.store()
        other.append(events(5, seed=9), expected=None)
        foreign = other.read(limit=2).cursor
        for bad in ("", "xyz", "c1.1", "c1.9.0123456789abcdef", "c1.01.0123456789abcdef", foreign):
            with pytest.raises(BadCursor):
                s.read(bad)
        with pytest.raises(ValueError):
            s.read(None, 0)

    @HYPOTHESIS
    @given(
        st.lists(st.integers(1, 40), min_size=1, max_size=30),
        st.lists(st.integers(0, 15), min_size=1, max_size=30),
    )
    def test_paging_visits_each_event_once(self, limits: list[int], growth: list[int]) -> None:
        s = self.store()
        evs = events(200, origins=2, seed=3)
        fed = 0
        seen: list[Event] = []
        cursor = None
        for i, limit in enumerate(limits * 4):
            grow = growth[i % len(growth)]
            if fed < len(evs) and grow:
                s.append(evs[fed : fed + grow], expected=s.head().checksum)
                fed = min(len(evs), fed + grow)
            page = s.read(cursor, limit)
            assert len(page.records) <= limit
            seen.extend(r.event for r in page.records)
            cursor = page.cursor
        s.append(evs[fed:], expected=s.head().checksum)
        while True:
            page = s.read(cursor, 50)
            if not page.records:
                break
            seen.extend(r.event for r in page.records)
            cursor = page.cursor
        assert seen == evs

    # ------------------------------------------------ raw chunks

    def test_iter_raw_chunks(self) -> None:
        s = self.store()
        evs = events(120, seed=5)
        s.append(evs, expected=None)
        lines = [line for chunk in s.iter_raw() for line in chunk.lines]
        assert len(lines) == 120
        for budget in (2000, 4096, 10_000, 1 << 20):
            got: list[bytes] = []
            expect_start = 3
            for chunk in s.iter_raw(3, budget):
                assert chunk.start == expect_start
                assert chunk.nbytes == sum(len(x) + 1 for x in chunk.lines) <= budget
                got.extend(chunk.lines)
                expect_start += len(chunk.lines)
            assert got == lines[3:]
        for pos, line in enumerate(lines):
            rec = decode_record(line, pos)
            assert not isinstance(rec, Exception) and getattr(rec, "event", None) == evs[pos]

    def test_iter_raw_record_too_large(self) -> None:
        s = self.store()
        s.append(events(5), expected=None)
        sizes = [len(line) + 1 for c in s.iter_raw() for line in c.lines]
        with pytest.raises(RecordTooLarge) as info:
            list(s.iter_raw(0, min(sizes) - 1))
        assert info.value.position == 0 and info.value.size == sizes[0]

    def test_unicode_and_large_comment(self) -> None:
        s = self.store()
        evs = events(20)
        table_id = next(e.id for e in evs if e.kind == "create_node_table")
        from schemalog.model.clock import HybridLogicalClock

        clock = HybridLogicalClock("tester", lambda: evs[-1].hlc.wall_ms + 10)
        comment = new_event(
            clock, "synth", [evs[-1].id], CommentOnTable(table_id, '名前 😀 \u2028 "q" ' * 100)
        )
        s.append([*evs, comment], expected=None)
        assert read_all(s)[-1] == comment

    def test_close(self) -> None:
        s = self.store()
        s.close()
        from schemalog.log.store import StoreClosed

        with pytest.raises(StoreClosed):
            s.head()
