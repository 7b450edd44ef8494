"""Where replay's time goes: each stage on the same log, as a multiple of the floor.

``PYTHONPATH=pkg .venv/bin/python bench/replay/stages.py LOG [--runs N]`` prints
one JSON line. All stages run in this one process over the same lines, in
``--runs`` rounds (default 3) of every stage, best time of each kept, and are
reported in microseconds per event and as a multiple of the floor measured in
the same run:

* ``floor``: split the file's lines, ``json.loads`` and ``sha256`` each;
* ``decode``: ``codec.decode_record`` of each line (shape or parse, checksum,
  validation, objects);
* ``apply``: ``schema.apply`` of each decoded event from the empty state, on
  a working copy as replay's batches do (no effective-stream aliasing);
* ``scan``: the streaming duplicate scan (``DuplicateScanner.visit``);
* ``plan``: the effective pre-pass over the store (``plan_of_chunks``);
* ``replay``: the whole ``replay`` of the store (what bench/replay/run.py times).

The stages overlap (replay does decode, apply, scan and plan, plus its loop),
so ``replay`` minus their sum is the loop's own cost. The caches of validated
names and ids are warm after the first run, so the best of several runs is a
little kinder to ``decode`` than one cold replay.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def _timed(work: Callable[[], Any]) -> float:
    t0 = time.process_time()
    work()
    return time.process_time() - t0


def stages(path: str, runs: int) -> dict[str, Any]:
    from schemalog.encoding import codec
    from schemalog.history.duplicates import DuplicateScanner
    from schemalog.log.effective import plan_of_chunks
    from schemalog.log.replay import replay
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.model.schema import Applied, apply, empty_state, working_copy

    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    n = len(lines)

    def floor() -> None:
        loads, sha = json.loads, hashlib.sha256
        for line in data.split(b"\n")[:n]:
            loads(line)
            sha(line).digest()

    records: list[Any] = []

    def decode() -> None:
        records.clear()
        decode_record = codec.decode_record
        for i, line in enumerate(lines):
            records.append(decode_record(line, i))

    decode()  # the records the later stages take
    events = [r.event for r in records if type(r) is codec.Record]

    def apply_all() -> None:
        state = working_copy(empty_state())  # as replay's batches apply
        for event in events:
            result = apply(state, event)
            if type(result) is Applied:
                state = result.state

    def scan() -> None:
        scanner = DuplicateScanner()
        for event in events:
            scanner.visit(event)

    store = NdjsonStore.open(path, readonly=True, verify=False)
    stages = {
        "floor": floor,
        "decode": decode,
        "apply": apply_all,
        "scan": scan,
        "plan": lambda: plan_of_chunks(lambda: store.iter_raw(0)),
        "replay": lambda: replay(store),
    }
    # Rounds of every stage, best of each kept: the machine's speed drifts
    # over a run, and a drift must not land on one stage only.
    seconds = {name: float("inf") for name in stages}
    try:
        for _ in range(runs):
            for name, work in stages.items():
                seconds[name] = min(seconds[name], _timed(work))
    finally:
        store.close()
    floor_s = seconds["floor"]
    return {
        "log": path,
        "events": n,
        "runs": runs,
        "us_per_event": {k: round(s / n * 1e6, 2) for k, s in seconds.items()},
        "x_floor": {k: round(s / floor_s, 2) for k, s in seconds.items()},
        "replay_over_floor_ratio": round(floor_s / seconds["replay"], 3),
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
