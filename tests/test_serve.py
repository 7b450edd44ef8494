"""`schemalog serve` as a real process: what it refuses, concurrency with direct writers,
SIGKILL mid-append, fencing of a stale lease holder, the stream, tokens and CORS."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemalog.encoding.codec import encode_record
from schemalog.log.lease.port import LeaseHeld, LeaseLost
from schemalog.log.store import AppendConflict, FencedOut, NdjsonStore
from schemalog.log.store.base import line_checksum
from schemalog.log.store.http import HttpLeaseStore, HttpStore, Unauthorized
from schemalog.log.store.postgres import PostgresStore
from schemalog.log.store.verify import verify_log
from served import Service
from store_contract import changed_copy, events, read_all
from test_store_postgres import HERE, check_one_winner_per_head, run_appenders


def fresh_log() -> str:
    return "s" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "logs"


@pytest.fixture(scope="module")
def ndjson_service(folder: Path) -> Iterator[Service]:
    service = Service(str(folder)).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def pg_service(pg_url: str) -> Iterator[Service]:
    service = Service(pg_url).start()
    yield service
    service.stop()


def post(service: Service, log: str, body: bytes, **headers: str) -> httpx.Response:
    headers = {"Schemalog-Expected-Head": "null", **headers}
    return httpx.post(f"{service.log_url(log)}/append", content=body, headers=headers)


# ---------------------------------------------------------------- refusals


def test_service_refuses_what_verify_refuses(ndjson_service: Service, folder: Path) -> None:
    log = fresh_log()
    evs = events(6)
    good = [encode_record(evs[0], None)]
    good.append(encode_record(evs[1], line_checksum(good[0])))
    assert post(ndjson_service, log, b"".join(x + b"\n" for x in good)).status_code == 201
    head = line_checksum(good[1])
    nxt = encode_record(evs[2], head)
    tampered = nxt.replace(b'"origin":"', b'"origin":"x', 1)
    spaced = nxt.replace(b'"prev":', b'"prev": ', 1)
    relinked = encode_record(evs[2], line_checksum(good[0]))  # skips record 1
    orphan = encode_record(evs[3], head)  # its parent evs[2] is stored nowhere
    dup = encode_record(changed_copy(evs[1]), head)
    cases = {
        "no newline": (nxt, {}, "bad_request", None),
        "garbage": (b"[" * 1000 + b"]" * 1000 + b"\n", {}, "bad_record", None),
        "tampered": (tampered + b"\n", {}, "bad_record", "checksum"),
        "not canonical": (spaced + b"\n", {}, "bad_record", None),
        "broken link": (relinked + b"\n", {}, "bad_record", "prev"),
        "unknown parent": (orphan + b"\n", {}, "missing_parent", None),
        "duplicate id": (dup + b"\n", {}, "duplicate_event_id", None),
        "bad token": (nxt + b"\n", {"Schemalog-Fencing-Token": "-1"}, "bad_request", None),
    }
    for name, (body, extra, error, field) in cases.items():
        r = post(ndjson_service, log, body, **{"Schemalog-Expected-Head": head, **extra})
        assert r.status_code == 400, (name, r.status_code, r.text)
        info = r.json()
        assert info["error"] == error and info.get("reason") != "", name
        if field is not None:
            assert info["field"] == field, (name, info)
        if error == "missing_parent":  # the store's check: the record and the missing id
            assert (info["event_id"], info["parent"], info["position"]) == (evs[3].id, evs[2].id, 2)
    r = httpx.post(f"{ndjson_service.log_url(log)}/append", content=nxt + b"\n")
    assert r.status_code == 400 and "Expected-Head" in r.json()["reason"]
    assert post(ndjson_service, "../etc", nxt + b"\n").status_code in (400, 404)
    # nothing of it was stored; what is stored verifies
    assert httpx.get(f"{ndjson_service.log_url(log)}/head").json()["position"] == 2
    report = verify_log(folder / f"{log}.ndjson")
    assert report.ok and report.records == 2 and report.head == head
    # the good record is taken, with the right answers for a moved head
    assert post(ndjson_service, log, nxt + b"\n", **{"Schemalog-Expected-Head": head}).is_success
    r = post(ndjson_service, log, orphan + b"\n", **{"Schemalog-Expected-Head": head})
    assert r.status_code == 412 and r.json()["error"] == "append_conflict"


def test_an_event_from_a_fast_clock_is_refused(ndjson_service: Service) -> None:
    """The store's drift bound, judged by the service's clock, reaches the client."""
    from schemalog.errors import ClockDriftError
    from schemalog.model.clock import HybridLogicalClock
    from schemalog.model.events import Tag, new_event

    fast = HybridLogicalClock("fast", lambda: time.time_ns() // 1_000_000 + 3_600_000)
    with HttpStore.open(ndjson_service.log_url(fresh_log())) as store:
        with pytest.raises(ClockDriftError) as info:
            store.append([new_event(fast, "ws", [], Tag("ahead"))], expected=None)
        assert info.value.bound_ms > 0 and store.head().position == 0


# ---------------------------------------------------------------- concurrency


def test_writers_through_the_service_and_straight_to_postgres(
    pg_url: str, pg_service: Service
) -> None:
    log = fresh_log()
    store = PostgresStore.open(pg_url, log=log, create=True)
    try:
        targets = [pg_service.log_url(log)] * 3 + [f"{pg_url}?log={log}"] * 3
        attempts = run_appenders(targets, 10)
        assert sum(1 for a in attempts if a["won"]) == 60
        assert any(not a["won"] for a in attempts)  # they did contend
        check_one_winner_per_head(store, attempts)
        served = HttpStore.open(pg_service.log_url(log))
        assert read_all(served) == read_all(store)
        served.close()
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["ndjson", "postgres"])
def test_sigkill_mid_append_loses_no_acknowledged_record(
    backend: str, pg_url: str, tmp_path: Path
) -> None:
    """Writers append through a service that is SIGKILLed twice at a random moment among
    the appends and restarted on the same port; they retry what they could not confirm."""
    spec = str(tmp_path / "logs") if backend == "ndjson" else pg_url
    log = fresh_log()
    service = Service(spec).start()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "concurrent_appenders.py"),
                service.log_url(log),
                f"w{i}",
                "25",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        for target in (15, 40):
            deadline = time.monotonic() + 120
            while httpx.get(f"{service.log_url(log)}/head").json()["position"] < target:
                assert time.monotonic() < deadline, "the writers did not append"
                time.sleep(0.02)
            time.sleep(random.random() / 10)  # a random moment among the appends
            service.kill()
            service.start()
        outs = [w.communicate(timeout=240) for w in writers]
    finally:
        for w in writers:
            w.kill()
        service.stop()
    assert all(w.returncode == 0 for w in writers), "\n".join(err[-3000:] for _, err in outs)
    acked = [json.loads(x)["id"] for out, _ in outs for x in out.splitlines() if '"won": true' in x]
    assert len(acked) == 75
    if backend == "ndjson":
        path = tmp_path / "logs" / f"{log}.ndjson"
        report = verify_log(path)
        assert report.ok, report.problem
        with NdjsonStore.open(path) as store:
            stored = list(store.event_ids())
    else:
        with PostgresStore.open(pg_url, log=log) as pg:
            stored = list(pg.event_ids())
    assert sorted(stored) == sorted(acked)  # nothing acknowledged lost, nothing twice


# ---------------------------------------------------------------- leases


@pytest.mark.parametrize("backend", ["ndjson", "postgres"])
def test_stale_lease_holder_is_fenced_out(
    backend: str, ndjson_service: Service, pg_service: Service
) -> None:
    service = ndjson_service if backend == "ndjson" else pg_service
    log = fresh_log()
    leases = HttpLeaseStore(service.url)
    store = HttpStore.open(service.log_url(log))
    evs = events(5)
    try:
        a = leases.acquire(log, "alice", 5_000)
        with pytest.raises(LeaseHeld) as held:
            leases.acquire(log, "bob", 5_000)
        assert held.value.holder == "alice"
        a = leases.renew(a, ttl_ms=300)
        h = store.append(evs[:1], expected=None, fencing_token=a.token)
        time.sleep(0.6)  # alice pauses past her lease
        with pytest.raises(LeaseLost):
            leases.renew(a)
        b = leases.acquire(log, "bob", 60_000)
        assert b.token == a.token + 1
        h = store.append(evs[1:2], expected=h.checksum, fencing_token=b.token)
        with pytest.raises(FencedOut) as out:  # alice wakes up, still believing she holds it
            store.append(evs[2:3], expected=h.checksum, fencing_token=a.token)
        assert (out.value.token, out.value.newest) == (a.token, b.token)
        with pytest.raises(AppendConflict):
            store.append(evs[2:3], expected=None, fencing_token=b.token)
        leases.release(b)
        assert leases.acquire(log, "carol", 1000).token == b.token + 1
        assert [e.id for e in read_all(store)] == [evs[0].id, evs[1].id]
    finally:
        store.close()
        leases.close()


@pytest.mark.parametrize("backend", ["ndjson", "postgres"])
def test_a_takeover_fences_the_old_holder_before_the_new_one_writes(
    backend: str, ndjson_service: Service, pg_service: Service
) -> None:
    """alice pauses past her lease, bob takes it and writes nothing yet: alice's next
    append is fenced out all the same (on NDJSON logs the service raises the log's fence
    when it grants the lease; PostgreSQL's append reads the lease table)."""
    service = ndjson_service if backend == "ndjson" else pg_service
    log = fresh_log()
    leases = HttpLeaseStore(service.url)
    store = HttpStore.open(service.log_url(log))
    evs = events(3)
    try:
        a = leases.acquire(log, "alice", 300)
        h = store.append(evs[:1], expected=None, fencing_token=a.token)
        time.sleep(0.6)  # alice pauses past her lease
        b = leases.acquire(log, "bob", 60_000)
        with pytest.raises(FencedOut) as out:
            store.append(evs[1:2], expected=h.checksum, fencing_token=a.token)
        assert (out.value.token, out.value.newest) == (a.token, b.token)
        h = store.append(evs[1:2], expected=h.checksum, fencing_token=b.token)
        assert [e.id for e in read_all(store)] == [evs[0].id, evs[1].id]
    finally:
        store.close()
        leases.close()


# ---------------------------------------------------------------- the stream


def read_stream(url: str, got: list[str], stop: threading.Event) -> None:
    """Collect the event ids of a served log's stream into ``got`` until ``stop``."""
    with httpx.stream("GET", url, timeout=60) as r:
        data: list[str] = []
        for line in r.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "" and data:
                got.extend(json.loads(x)["event"]["id"] for x in data)
                data = []
            if stop.is_set():
                return


def wait_for(got: list[str], n: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(got) >= n


def test_stream_brings_records_of_other_writers(pg_url: str) -> None:
    """A direct PostgreSQL writer wakes the stream through NOTIFY (polling is slowed to 60 s),
    an append through the service wakes it at once."""
    service = Service(pg_url, ("--poll", "60")).start()
    log = fresh_log()
    store = PostgresStore.open(pg_url, log=log, create=True)
    stop = threading.Event()
    try:
        evs = events(12)
        h = store.append(evs[:2], expected=None)
        got: list[str] = []
        url = f"{service.log_url(log)}/stream"
        reader = threading.Thread(target=read_stream, args=(url, got, stop), daemon=True)
        reader.start()
        assert wait_for(got, 2, 20), got  # what was there before
        h = store.append(evs[2:7], expected=h.checksum)  # straight to the database
        assert wait_for(got, 7, 20), got
        with HttpStore.open(service.log_url(log)) as served:
            served.append(evs[7:], expected=h.checksum)  # through the service
        assert wait_for(got, 12, 20), got
        assert got == [e.id for e in evs]
        # a reader that reconnects with the last cursor gets only what is new
        cursor = store.read(None, 7).cursor
        again: list[str] = []
        headers = {"Last-Event-ID": str(cursor)}
        with httpx.stream("GET", url, headers=headers, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    again.append(json.loads(line[5:].strip())["event"]["id"])
                if len(again) == 5:
                    break
        assert again == [e.id for e in evs[7:]]
    finally:
        stop.set()
        store.close()
        service.stop()


# ---------------------------------------------------------------- tokens, CORS, CLI


def test_write_token_and_cors(tmp_path: Path) -> None:
    service = Service(
        str(tmp_path / "logs"),
        ("--write-token", "team=s3cret", "--cors", "http://page.test"),
    ).start()
    try:
        evs = events(3)
        with HttpStore.open(service.log_url("team")) as anon:
            with pytest.raises(Unauthorized):
                anon.append(evs, expected=None)
            with (
                HttpStore.open(service.log_url("team"), token="wrong") as bad,
                pytest.raises(Unauthorized),
            ):
                bad.append(evs, expected=None)
            with HttpStore.open(service.log_url("team"), token="s3cret") as member:
                member.append(evs, expected=None)
            assert len(anon) == 3  # reads need no token
            with HttpStore.open(service.log_url("open")) as other:
                other.append(evs, expected=None)  # another log: no token configured
        with pytest.raises(Unauthorized):
            HttpLeaseStore(service.url).acquire("team", "me", 1000)
        pre = httpx.options(
            f"{service.log_url('team')}/append",
            headers={
                "Origin": "http://page.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "schemalog-expected-head,authorization",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://page.test"
        r = httpx.get(f"{service.log_url('team')}/records", headers={"Origin": "http://page.test"})
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "schemalog-cursor" in exposed and "schemalog-start" in exposed
        r = httpx.get(f"{service.log_url('team')}/records", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in r.headers
    finally:
        service.stop()


def test_serve_usage_errors(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "schemalog", "serve", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    r = serve("--store", str(tmp_path), "--write-token", "nope")
    assert r.returncode == 2 and "LOG=TOKEN" in r.stderr and "Traceback" not in r.stderr
    r = serve("--store", "postgresql://nobody@127.0.0.1:1/none")
    assert r.returncode == 2 and "127.0.0.1" in r.stderr and "Traceback" not in r.stderr


def test_cli_reads_served_and_postgres_logs(pg_url: str, pg_service: Service) -> None:
    log = fresh_log()
    evs = events(40, origins=2, seed=2)
    with PostgresStore.open(pg_url, log=log, create=True) as store:
        store.append(evs, expected=None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "schemalog", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    hashes = set()
    for spec in (f"{pg_url}?log={log}", pg_service.log_url(log)):
        r = cli("replay", spec, "--json")
        assert r.returncode == 0, r.stderr
        obj = json.loads(r.stdout)
        hashes.add(obj["state_hash"])
        assert obj["applied"] == 40 or obj.get("position") == 40, obj
        r = cli("log", spec, "--limit", "5", "--json")
        assert r.returncode == 0, r.stderr
        assert [x["event"]["id"] for x in json.loads(r.stdout)["records"]] == [
            e.id for e in evs[:5]
        ]
        assert cli("schema", spec).returncode == 0
    assert len(hashes) == 1
    r = cli("log", pg_service.log_url(fresh_log()))
    assert r.returncode == 2 and "no such log" in r.stderr and "Traceback" not in r.stderr
    r = cli("log", f"{pg_url}?log={fresh_log()}")
    assert r.returncode == 2 and "no such log" in r.stderr and "Traceback" not in r.stderr


def test_cli_verify_and_merge_take_log_urls(
    pg_url: str, pg_service: Service, tmp_path: Path
) -> None:
    """`verify` and `merge` take PostgreSQL and served-log URLs like the other commands;
    a URL merge writes the bytes the same merge of local copies writes."""
    first, second = fresh_log(), fresh_log()
    copies = []
    for log, seed in ((first, 4), (second, 5)):
        with PostgresStore.open(pg_url, log=log, create=True) as store:
            store.append(events(30, origins=2, seed=seed), expected=None)
            path = tmp_path / f"{log}.ndjson"
            path.write_bytes(b"".join(line + b"\n" for c in store.iter_raw(0) for line in c.lines))
            copies.append(str(path))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "schemalog", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    pg_first, http_second = f"{pg_url}?log={first}", pg_service.log_url(second)
    for spec in (pg_first, http_second):
        r = cli("verify", spec, "--json")
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["ok"] is True and report["records"] == 30
        head = report["head"]
        assert cli("verify", spec, "--expect-head", head).returncode == 0
    r = cli("verify", pg_first, "--expect-head", "sha256-v2:" + "0" * 64)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = cli("verify", pg_service.log_url(fresh_log()))
    assert r.returncode == 2 and "no such log" in r.stderr and "Traceback" not in r.stderr

    local = tmp_path / "local.ndjson"
    assert cli("merge", *copies, "-o", str(local), "--strategy", "lww").returncode == 0
    merged = tmp_path / "merged.ndjson"
    r = cli("merge", pg_first, http_second, "-o", str(merged), "--strategy", "lww")
    assert r.returncode == 0, r.stderr
    assert merged.read_bytes() == local.read_bytes()
    target = pg_service.log_url(fresh_log())
    r = cli("merge", http_second, pg_first, "-o", target, "--strategy", "lww", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output"] == target
    with HttpStore.open(target) as store:
        served = b"".join(line + b"\n" for c in store.iter_raw(0) for line in c.lines)
    assert served == local.read_bytes()
    r = cli("merge", pg_first, "-o", target)
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("target", ["http-ndjson", "postgresql", "http-postgresql"])
def test_record_writes_to_a_shared_log_by_its_url(
    target: str, ndjson_service: Service, pg_service: Service, pg_url: str, folder: Path
) -> None:
    """``schemalog record URL``: the statements become events of the shared log, each
    writer chained on the head it read; a dry run and a refused statement write nothing."""

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "schemalog", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    log = fresh_log()
    url = {
        "http-ndjson": ndjson_service.log_url(log),
        "postgresql": f"{pg_url}?log={log}",
        "http-postgresql": pg_service.log_url(log),
    }[target]
    r = cli("record", url, "--dry-run", "-e", "CREATE NODE TABLE A(id INT64 PRIMARY KEY)")
    assert r.returncode == 0, r.stderr
    assert cli("verify", url).returncode != 0  # the dry run made no log
    for origin, ddl in (("w1", "CREATE NODE TABLE A(id INT64 PRIMARY KEY)"),
                        ("w2", "ALTER TABLE A ADD name STRING")):  # fmt: skip
        r = cli("record", url, "--origin", origin, "-e", ddl)
        assert r.returncode == 0, r.stderr
    refused = cli("record", url, "-e", "CREATE NODE TABLE a(k INT64 PRIMARY KEY)")
    assert refused.returncode == 1 and "name-taken" in refused.stderr, refused.stderr
    r = cli("replay", url, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["position"] == 2
    assert cli("verify", url).returncode == 0
    if target == "http-ndjson":  # the service's own file holds the two records
        assert len((folder / f"{log}.ndjson").read_bytes().splitlines()) == 2
