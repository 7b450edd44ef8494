"""The tracer: Trace Event Format export, slow events, memory, summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import schemalog.log.replay.batches as replay_batches
from schemalog.log.replay import replay
from schemalog.log.store import MemoryStore
from schemalog.log.trace import Tracer
from schemalog.model.schema import apply
from schemalog.synth.generator import generate

EVENTS = list(generate(120, origins=2, seed=5))


def fake_clock(step: float = 0.001) -> Callable[[], float]:
    t = [0.0]

    def clock() -> float:
        t[0] += step
        return t[0]

    return clock


def store() -> MemoryStore:
    s = MemoryStore()
    s.append(EVENTS, expected=None)
    return s


REQUIRED = {"name", "ph", "ts", "pid", "tid"}


def check_trace_event_format(obj: dict) -> list[dict]:  # type: ignore[type-arg]
    assert set(obj) >= {"traceEvents"}
    events = obj["traceEvents"]
    assert isinstance(events, list) and events
    last = -1.0
    for e in events:
        assert set(e) >= REQUIRED, e
        assert e["ph"] in {"X", "i", "C"}
        assert isinstance(e["ts"], int | float) and e["ts"] >= 0
        assert e["ts"] >= last
        last = e["ts"]
        if e["ph"] == "X":
            assert isinstance(e["dur"], int | float) and e["dur"] >= 0
        if e["ph"] == "C":
            assert all(isinstance(v, int | float) for v in e["args"].values())
        if e["ph"] == "i":
            assert e.get("s", "t") in {"g", "p", "t"}
    return events


def test_export_is_valid_trace_event_format(tmp_path: Path) -> None:
    tracer = Tracer(clock=fake_clock(), per_event=True, memory=True)
    report = replay(store(), batch_events=25, max_chunk_bytes=16 * 1024, tracer=tracer)
    assert report.ok
    path = tmp_path / "trace.json"
    tracer.write_json(str(path))
    events = check_trace_event_format(json.loads(path.read_text()))
    kinds = {(e["ph"], e["cat"]) for e in events}
    assert {("X", "replay"), ("X", "event"), ("i", "io"), ("C", "memory")} <= kinds
    assert len([e for e in events if e["cat"] == "event"]) == len(EVENTS)
    assert len([e for e in events if e["cat"] == "replay"]) == report.batches == 5
    chunks = [e for e in events if e["cat"] == "io"]
    assert len(chunks) == report.chunks > 1
    assert sum(c["args"]["lines"] for c in chunks) == len(EVENTS)
    assert tracer.memory_peak is not None and tracer.memory_peak > 0


def test_slow_events_are_kept_without_per_event_records(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    slow_ids = {EVENTS[9].id, EVENTS[70].id}

    def timed_apply(state, event):  # type: ignore[no-untyped-def]
        now[0] += 0.5 if event.id in slow_ids else 0.0001
        return apply(state, event)

    monkeypatch.setattr(replay_batches, "apply", timed_apply)
    tracer = Tracer(clock=lambda: now[0], slow_s=0.1)
    assert replay(store(), tracer=tracer).ok
    assert tracer.events == []  # per_event off: only the slow ones are kept
    assert [(e.position, e.event_id) for e in tracer.slow] == [
        (9, EVENTS[9].id),
        (70, EVENTS[70].id),
    ]
    assert all(e.seconds >= 0.5 and e.kind for e in tracer.slow)
    assert "2 slow events" in tracer.summary()
    slow = [e for e in tracer.trace_events()["traceEvents"] if e["cat"] == "slow"]
    assert [e["args"]["position"] for e in slow] == [9, 70]


def test_a_capped_slow_list_counts_what_it_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]

    def timed_apply(state, event):  # type: ignore[no-untyped-def]
        now[0] += 1.0
        return apply(state, event)

    monkeypatch.setattr(replay_batches, "apply", timed_apply)
    tracer = Tracer(clock=lambda: now[0], slow_s=0.5, max_slow=10)
    replay(store(), tracer=tracer)
    assert len(tracer.slow) == 10 and tracer.slow_dropped == len(EVENTS) - 10


def test_summary_names_batches_chunks_and_rate() -> None:
    tracer = Tracer(clock=fake_clock())
    replay(store(), batch_events=40, tracer=tracer)
    text = tracer.summary()
    assert "120 events applied" in text and "3 batches" in text and "1 chunks" in text
