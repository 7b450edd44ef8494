"""Hybrid logical clock: monotonic, merges remotes, bounds drift, rejects bad numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemalog.errors import ClockDriftError, InvalidTimestamp
from schemalog.model.clock import HybridLogicalClock, Timestamp
from strategies import slow_ok


class FakeWall:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_tick_uses_wall_and_counts_within_a_millisecond() -> None:
    wall = FakeWall(1000)
    clock = HybridLogicalClock("a", wall)
    assert clock.tick() == Timestamp(1000, 0, "a")
    assert clock.tick() == Timestamp(1000, 1, "a")
    wall.now = 1005
    assert clock.tick() == Timestamp(1005, 0, "a")


def test_backward_wall_jump_keeps_monotonic() -> None:
    wall = FakeWall(10_000)
    clock = HybridLogicalClock("a", wall)
    first = clock.tick()
    wall.now = 5_000
    second = clock.tick()
    assert second > first
    assert second == Timestamp(10_000, 1, "a")


def test_observe_moves_past_remote() -> None:
    wall = FakeWall(1000)
    clock = HybridLogicalClock("a", wall, max_drift_ms=500)
    merged = clock.observe(Timestamp(1400, 7, "b"))
    assert merged == Timestamp(1400, 8, "a")
    assert clock.tick() > Timestamp(1400, 7, "b")


def test_remote_beyond_drift_is_rejected_and_clock_unchanged() -> None:
    wall = FakeWall(1000)
    clock = HybridLogicalClock("a", wall, max_drift_ms=500)
    before = clock.tick()
    remote = Timestamp(1501, 0, "b")
    with pytest.raises(ClockDriftError) as info:
        clock.observe(remote)
    assert (info.value.remote, info.value.local, info.value.bound_ms) == (remote, 1000, 500)
    assert "500 ms" in str(info.value) and "1501.0@b" in str(info.value)
    assert clock.last == before
    assert clock.observe(Timestamp(1500, 0, "b")) == Timestamp(1500, 1, "a")  # at the bound: ok


@pytest.mark.parametrize(
    ("wall", "logical", "reason"),
    [
        (0, 0, "outside 1..2**53-1"),
        (-1, 0, "outside"),
        (2**63, 0, "outside"),
        (2**53, 0, "outside"),
        (1, -1, "outside 0..2**53-1"),
        (True, 0, "must be an int, got bool"),
        (1.0, 0, "must be an int, got float"),
    ],
)
def test_bad_timestamps_rejected(wall: object, logical: object, reason: str) -> None:
    with pytest.raises(InvalidTimestamp) as info:
        Timestamp(wall, logical, "a")  # type: ignore[arg-type]
    assert reason in info.value.reason
    assert info.value.field.startswith("hlc.")


@pytest.mark.parametrize("bad_now", [0, -5, 2**63, 1.5])
def test_bad_wall_clock_readings_rejected(bad_now: object) -> None:
    clock = HybridLogicalClock("a", lambda: bad_now)  # type: ignore[arg-type, return-value]
    with pytest.raises(InvalidTimestamp, match="now_ms"):
        clock.tick()
    assert clock.last is None


def test_order_is_wall_logical_origin() -> None:
    assert Timestamp(1, 5, "z") < Timestamp(2, 0, "a")
    assert Timestamp(2, 0, "z") < Timestamp(2, 1, "a")
    assert Timestamp(2, 1, "a") < Timestamp(2, 1, "b")


BOUND = 1_000

# A step is a local tick at a wall reading, or an observed remote timestamp
# within BOUND of that wall reading.
steps = st.lists(
    st.tuples(
        st.integers(1, 10**9),  # wall reading (may jump back)
        st.booleans(),  # remote?
        st.integers(-(10**9), BOUND),  # remote wall offset from the local wall
        st.integers(0, 1000),  # remote logical
    ),
    max_size=60,
)


@slow_ok
@given(steps)
def test_monotonic_under_any_local_and_remote_sequence(
    sequence: list[tuple[int, bool, int, int]],
) -> None:
    wall = FakeWall(1)
    clock = HybridLogicalClock("me", wall, max_drift_ms=BOUND)
    issued: list[Timestamp] = []
    for now, is_remote, offset, logical in sequence:
        wall.now = now
        if is_remote:
            remote = Timestamp(max(1, now + offset), logical, "peer")
            stamp = clock.observe(remote)
            assert stamp > remote
        else:
            stamp = clock.tick()
        if issued:
            assert stamp > issued[-1]
        assert stamp.wall_ms >= now
        issued.append(stamp)
