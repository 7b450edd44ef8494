"""Fuzz Kuzu for the session crash of kuzu/hazards.py and check the rule against it.

``python tools/kuzu_session_fuzz.py SEED COUNT``: COUNT random statement
sequences on one rel table R (property drops, adds and renames, FROM/TO pairs
added and dropped, rows, reopens of the on-disk database), each run in its own
subprocess; then, for each, whether ``SessionHazards`` flags a statement at or
before the one Kuzu died on. Prints the crashes, the UNSAFE ones (a crash the
rule did not flag first: the rule must change) and the needless flags (a reopen
or a refusal where Kuzu would have survived). Run it again when Kuzu changes.
Measured on kuzu 0.11.3: with this generator's earlier variants, 450 sequences
gave 118 crashes, 0 unsafe, 48 needless; this version, ``1 25``: 11, 0, 4.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile

from schemalog.kuzu.hazards import SessionHazards

RUNNER = r"""
import json, sys, kuzu
ops, path = json.loads(sys.argv[1]), sys.argv[2]
db = kuzu.Database(path); c = kuzu.Connection(db)
def x(q):
    r = c.execute(q)
    for one in (r if isinstance(r, list) else [r]):
        one.close()
for i, q in enumerate(ops):
    print(i, flush=True)
    if q == "REOPEN":
        c.close(); db.close(); db = kuzu.Database(path); c = kuzu.Connection(db)
    else:
        x(q)
print("done", flush=True)
c.close(); db.close()
print("closed", flush=True)
"""


def sequence(rng: random.Random) -> list[str]:
    nodes = ["A", "B", "C", "D"]
    ops = [f"CREATE NODE TABLE {n}(id INT64, PRIMARY KEY(id))" for n in nodes]
    ops += [f"CREATE (:{n} {{id: 1}})" for n in nodes]
    props = ["p0", "p1", "p2"][: rng.randint(0, 3)]
    pairs = {("A", "B")}
    ops.append("CREATE REL TABLE R(FROM A TO B" + "".join(f", {p} INT64" for p in props) + ")")
    n = 4
    for _ in range(rng.randint(2, 9)):
        k = rng.random()
        if k < 0.3 and props:
            p = rng.choice(props)
            props.remove(p)
            ops.append(f"ALTER TABLE R DROP {p}")
        elif k < 0.5:
            props.append(f"p{n}")
            ops.append(f"ALTER TABLE R ADD p{n} INT64")
            n += 1
        elif k < 0.8:
            a, b = rng.choice([(a, b) for a in nodes for b in nodes if (a, b) not in pairs])
            pairs.add((a, b))
            ops.append(f"ALTER TABLE R ADD FROM {a} TO {b}")
        elif k < 0.85 and props:
            i = rng.randrange(len(props))
            ops.append(f"ALTER TABLE R RENAME {props[i]} TO p{n}")
            props[i] = f"p{n}"
            n += 1
        elif k < 0.9:
            a, b = rng.choice(sorted(pairs))
            ops.append(f"MATCH (x:{a}), (y:{b}) WHERE x.id = 1 AND y.id = 1 CREATE (x)-[:R]->(y)")
        elif k < 0.95 and len(pairs) > 1:
            a, b = rng.choice(sorted(pairs))
            pairs.discard((a, b))
            ops.append(f"ALTER TABLE R DROP FROM {a} TO {b}")
        else:
            ops.append("REOPEN")
    return ops


def died_at(ops: list[str]) -> int | None:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, json.dumps(ops), f"{tmp}/db"],
            capture_output=True,
            text=True,
        )
    lines = done.stdout.split()
    if done.returncode == 0 and lines and lines[-1] == "closed":
        return None
    if done.returncode > 0:
        raise RuntimeError(f"Kuzu refused a statement: {done.stderr[-300:]}")
    return len(ops) if lines and lines[-1] == "done" else int(lines[-1])  # "done": at close


def flagged_at(ops: list[str]) -> int | None:
    hazards = SessionHazards()
    for i, q in enumerate(ops):
        if q == "REOPEN":
            hazards.reset()
        elif hazards.first_crash([q]) is not None:
            return i
        else:
            hazards.sent([q])
    return None


def main() -> None:
    rng = random.Random(int(sys.argv[1]))
    crashes = unsafe = needless = 0
    for _ in range(int(sys.argv[2])):
        ops = sequence(rng)
        crash, flag = died_at(ops), flagged_at(ops)
        crashes += crash is not None
        if crash is not None and (flag is None or crash < flag):
            unsafe += 1
            print("UNSAFE", crash, ops[8:], flush=True)
        needless += crash is None and flag is not None
    print(json.dumps({"crashes": crashes, "unsafe": unsafe, "needless": needless}))


if __name__ == "__main__":
    main()
