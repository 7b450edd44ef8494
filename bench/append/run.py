"""bench/append: what an append costs as the log grows, and many writers at once.

Run by ``./build.sh bench append`` or
``.venv/bin/python bench/append/run.py [--events N] [--writers W] [--each K] [--durable]``.

* ``single``: one ``SchemaLog`` handle appends N events (default 100,000) one
  at a time to an NDJSON log (add a property, drop it, comment on the table,
  in turn: every append goes through the facade's checks, the store's lock,
  fence and head checks, and the view's refresh). Appends/s of the first and
  the last 10,000 and their ratio: with appends in O(new records) the ratio
  stays near 1 (the issue asks for at most 1.5).
* ``writers``: W processes (default 10) x K appends (default 1,000) through
  the store API, once without a lease (expected-head checks under the lock,
  retry on AppendConflict) and once with the file lease around every append
  (acquire, append with its token, release). Appends/s over the wall time,
  and ``lost`` (acknowledged, not in the log) / ``duplicated`` (in the log
  twice): both must be 0; ``verified``: the log verifies after.

Without ``--durable`` the log's fsync is skipped (the figures then measure
the code, not the disk: an fsync costs ~10 ms on the shared test machine);
the lease file is always fsynced. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK = 10_000


def single(n: int, durable: bool, where: Path) -> dict[str, object]:
    from schemalog.api import SchemaLog
    from schemalog.log.store import NdjsonStore

    log = SchemaLog(NdjsonStore.open(where / "single.ndjson", create=True, durable=durable))
    log.create_node_table("T", [("id", "INT64")], "id")
    block = min(BLOCK, n)
    rates: list[float] = []
    t = time.perf_counter()
    for i in range(n):
        if i % 3 == 0:
            log.add_property("T", "p", "INT64")
        elif i % 3 == 1:
            log.drop_property("T", "p")
        else:
            log.comment("T", f"c{i}")
        if (i + 1) % block == 0:
            now = time.perf_counter()
            rates.append(block / (now - t))
            t = now
    assert log.position == n + 1
    return {
        "events": n,
        "first_10k_per_s": round(rates[0]),
        "last_10k_per_s": round(rates[-1]),
        "ratio_first_to_last": round(rates[0] / rates[-1], 3),
        "per_block_per_s": [round(r) for r in rates],
    }


def writers(mode: str, w: int, k: int, durable: bool, where: Path) -> dict[str, object]:
    from schemalog.log.store import NdjsonStore
    from schemalog.log.store.verify import verify_log

    log = where / f"{mode}.ndjson"
    NdjsonStore.open(log, create=True).close()
    extra = [str(where / f"leases-{mode}")] if mode == "lease" else []

    def argv(i: int) -> list[str]:
        acks = str(where / f"{mode}-acks{i}")
        return [mode, str(log), f"w{i}", str(k), acks, "1" if durable else "0", *extra]

    t = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "writer.py"), *argv(i)]) for i in range(w)
    ]
    codes = [p.wait(timeout=3600) for p in procs]
    wall = time.perf_counter() - t
    acked = [
        line
        for i in range(w)
        for line in (where / f"{mode}-acks{i}").read_text().split("\n")
        if line
    ]
    store = NdjsonStore.open(log)
    ids = list(store.event_ids())
    store.close()
    return {
        "writers": w,
        "appends_each": k,
        "exit_codes_ok": all(c == 0 for c in codes),
        "appends": len(ids),
        "appends_per_s": round(len(ids) / wall, 1),
        "lost": len(set(acked) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "verified": verify_log(log).ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--each", type=int, default=1_000)
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        result = {
            "bench": "append",
            "durable": args.durable,
            "single": single(args.events, args.durable, where),
            "writers_no_lease": writers("store", args.writers, args.each, args.durable, where),
            "writers_lease": writers("lease", args.writers, args.each, args.durable, where),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
