"""Where replay's time goes: its stages on the same log, as a multiple of the floor.

``PYTHONPATH=pkg .venv/bin/python bench/replay/stages.py LOG [--runs N]`` prints
one JSON line. Everything runs in this one process over the same log, in
``--runs`` rounds (default 3) of every measurement, the best of each kept, in
microseconds of CPU per event and as a multiple of the floor of the same run:

* ``floor``: split the file's lines, ``json.loads`` and ``sha256`` each;
* ``read``: the store's chunks (``iter_raw``), nothing else;
* ``read_blocks``: the store's raw blocks (``iter_blocks``), nothing else;
* ``plan``: the effective pre-pass over the store as replay makes it
  (``plan_of_chunks`` of ``rereader``: a search over the raw blocks);
* ``plan_lines``: the same pre-pass over the split lines of replay's re-reads
  (the path of a store without raw blocks);
* ``prove``: the fused path's proof of every line (log/replay/fused.py
  ``prove_line``: shape, checksum, envelope, fields), a window at a time;
* ``prove_c``: the proof's calls into C alone, the least any replay of this
  record format by its grammar does per line: decode, the kind's ``fullmatch``
  and ``groups``, the hash link's two SHA-256 (no parents, fields, caches);
* ``replay``: the whole ``replay`` of the store (what bench/replay/run.py
  times), and inside it, timed by wrapping the fused path's steps:
  ``in_prove`` (proving windows), ``in_apply`` (watch, scan and apply of the
  proved records, with the next two), ``in_commit`` (batch commits: the
  working state's copy, drafts frozen) and ``in_staged`` (records the fused
  path leaves to the staged path: creations, merges, anything unproved);
* ``replay_no_scan``: the same replay with the duplicate scan's visits made
  no-ops (its difference to ``replay`` is the scan's share; the state and
  decisions of this log do not depend on it: it has no duplicates);
* ``scan_alone``: the duplicate scan by itself: the visits one replay made
  (``EffectiveStream.visit_fields`` and ``visit``, recorded once, outside the
  clock) made again on a fresh stream of the same plan, with replay's collector
  threshold. ``scan`` is the difference of two replays, this one is measured;
* ``replay_staged``: the replay through the staged path only (decode_record,
  Event objects, ``schema.apply``), as before the fused path.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _timed(work: Callable[[], Any], clock: Callable[[], float]) -> float:
    t0 = clock()
    work()
    return clock() - t0


@contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def stages(path: str, runs: int, clock: Callable[[], float] = time.process_time) -> dict[str, Any]:
    """``clock``: CPU seconds (Pyodide's ``time.process_time`` is Emscripten's wall
    clock; bench/replay/stages_pyodide.mjs passes Node's process CPU)."""
    from schemalog.log import effective
    from schemalog.log.effective import plan_of_chunks
    from schemalog.log.replay import batches, fused, pipeline, replay
    from schemalog.log.replay.decode import WINDOW
    from schemalog.log.replay.read import rereader
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.log.store.port import DEFAULT_CHUNK_BYTES

    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    n = len(lines)
    store = NdjsonStore.open(path, readonly=True, verify=False)

    def floor() -> None:
        loads, sha = json.loads, hashlib.sha256
        for line in data.split(b"\n")[:n]:
            loads(line)
            sha(line).digest()

    def read() -> None:
        for _ in store.iter_raw(0):
            pass

    def read_blocks() -> None:
        for _ in store.iter_blocks(0):
            pass

    reread = rereader(store, DEFAULT_CHUNK_BYTES)  # replay's (its budget: the default)
    assert reread is not None

    def prove() -> None:
        old = gc.get_threshold()
        gc.set_threshold(20_000, *old[1:])  # as replay runs
        try:
            for i in range(0, n, WINDOW):
                list(map(fused.prove_line, lines[i : i + WINDOW]))
        finally:
            gc.set_threshold(*old)

    from schemalog.encoding import proved_line

    def prove_c() -> None:
        patterns, heads, at = proved_line._LINES, proved_line._KIND_OF_HEAD, proved_line._HEAD_AT
        kind_of, sha, bad = proved_line.kind_of, hashlib.sha256, 0
        for line in lines:
            text = line.decode()
            m = patterns[heads.get(text[at : at + 16]) or kind_of(text)].fullmatch(text)
            g = m.groups()  # type: ignore[union-attr]
            # (the link's sizes: a prev of 71 characters, the event up to it)
            link = sha(line[-73:-2] + b"\n" + sha(line[97:-84]).digest()).hexdigest()
            bad += link == g[0]
        assert bad == 0  # (the slices are a cost model, not the record's link)

    inside = {"in_prove": 0.0, "in_apply": 0.0, "in_commit": 0.0, "in_staged": 0.0}

    def timing(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args)
            finally:
                inside[key] += clock() - t0

        return timed

    def traced_replay() -> None:
        with (
            _patched(fused, "prove_line", timing("in_prove", fused.prove_line)),
            _patched(fused.Fused, "apply_window", timing("in_apply", fused.Fused.apply_window)),
            _patched(batches.Batches, "commit", timing("in_commit", batches.Batches.commit)),
            _patched(fused.Fused, "staged", timing("in_staged", fused.Fused.staged)),
        ):
            replay(store)

    def no_scan() -> None:
        noop = lambda *args: None  # noqa: E731
        with (
            _patched(effective.EffectiveStream, "visit_fields", noop),
            _patched(effective.EffectiveStream, "visit", noop),
        ):
            replay(store)

    def staged() -> None:
        with _patched(pipeline, "fused_possible", lambda tracer: False):
            replay(store)

    visits: list[tuple[bool, Any]] = []  # (fields?, arguments) of every visit, in order
    visit_fields, visit = effective.EffectiveStream.visit_fields, effective.EffectiveStream.visit

    def recording_fields(self: Any, *args: Any) -> None:
        visits.append((True, args))
        visit_fields(self, *args)

    def recording(self: Any, event: Any) -> None:
        visits.append((False, event))
        visit(self, event)

    with (
        _patched(effective.EffectiveStream, "visit_fields", recording_fields),
        _patched(effective.EffectiveStream, "visit", recording),
    ):
        replay(store)
    plan = plan_of_chunks(reread)

    def scan_alone() -> None:
        old = gc.get_threshold()
        gc.set_threshold(20_000, *old[1:])  # as replay runs
        try:
            stream = plan.stream()
            by_fields, by_event = stream.visit_fields, stream.visit
            for fields, args in visits:
                if fields:
                    by_fields(*args)
                else:
                    by_event(args)
        finally:
            gc.set_threshold(*old)

    measured: dict[str, Callable[[], None]] = {
        "floor": floor,
        "read": read,
        "read_blocks": read_blocks,
        "plan": lambda: plan_of_chunks(reread),
        "plan_lines": lambda: plan_of_chunks(lambda: reread()),
        "prove": prove,
        "prove_c": prove_c,
        "replay": lambda: replay(store),
        "replay_no_scan": no_scan,
        "replay_staged": staged,
        "scan_alone": scan_alone,
    }
    # Rounds of every measurement, best of each kept: the machine's speed drifts
    # over a run, and a drift must not land on one measurement only.
    seconds = {name: float("inf") for name in measured}
    split: dict[str, float] = {}
    try:
        for _ in range(runs):
            for name, work in measured.items():
                seconds[name] = min(seconds[name], _timed(work, clock))
            for key in inside:
                inside[key] = 0.0
            total = _timed(traced_replay, clock)
            if not split or total < split["replay_traced"]:
                split = {"replay_traced": total, **inside}
    finally:
        store.close()
    seconds["scan"] = seconds["replay"] - seconds["replay_no_scan"]
    floor_s = seconds["floor"]

    def us(s: float) -> float:
        return round(s / n * 1e6, 2)

    return {
        "log": path,
        "events": n,
        "runs": runs,
        "us_per_event": {k: us(s) for k, s in seconds.items()},
        "x_floor": {k: round(s / floor_s, 2) for k, s in seconds.items()},
        "inside_replay_us_per_event": {k: us(s) for k, s in split.items()},
        "replay_over_floor_ratio": round(floor_s / seconds["replay"], 3),
        "fused_over_staged_speed": round(seconds["replay_staged"] / seconds["replay"], 3),
    }


def main(argv: list[str]) -> None:
    runs = 3
    if "--runs" in argv:
        i = argv.index("--runs")
        runs = int(argv[i + 1])
        del argv[i : i + 2]
    if len(argv) != 1:
        raise SystemExit("usage: stages.py LOG [--runs N]")
    print(json.dumps(stages(argv[0], runs)))


if __name__ == "__main__":
    main(sys.argv[1:])
