"""A log served by `schemalog serve` (a real process on the host) from inside Pyodide:
``pyodide.http.pyfetch`` under Node and Chromium, and in Chromium (JSPI) the whole
store contract through ``schemalog.browser.http.open_served``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

from test_browser_store import CONTRACT_SOURCE, HYPOTHESIS_STANDIN, _contract_methods

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from schemalog.log.store.http import HttpStore  # noqa: E402
from schemalog.synth.generator import generate  # noqa: E402
from served import Service  # noqa: E402


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    served = Service(str(tmp_path_factory.mktemp("served") / "logs"), ("--cors", "*")).start()
    yield served
    served.stop()


@run_in_pyodide(packages=["kuzu-schemalog"])
async def _fetch_both_ways(selenium, url, ids):
    import time

    from schemalog.browser.http import PyfetchTransport
    from schemalog.encoding.codec import decode_record, encode_record
    from schemalog.log.store.base import line_checksum
    from schemalog.model.clock import HybridLogicalClock
    from schemalog.model.events import Tag, new_event

    fetch = PyfetchTransport()
    head = (await fetch.request_async("GET", f"{url}/head", {})).json()
    assert head["position"] == len(ids), head
    page = await fetch.request_async("GET", f"{url}/records?limit=100", {})
    lines = page.body.split(b"\n")[:-1]
    got = [decode_record(line, i).event.id for i, line in enumerate(lines)]
    assert got == ids, got
    # an append from Pyodide, encoded here, verified by the service
    clock = HybridLogicalClock("pyodide", lambda: time.time_ns() // 1_000_000)
    event = new_event(clock, "ws", [ids[-1]], Tag("from_pyodide"))
    line = encode_record(event, head["checksum"])
    headers = {"Schemalog-Expected-Head": head["checksum"]}
    reply = await fetch.request_async("POST", f"{url}/append", headers, line + b"\n")
    assert reply.status == 201, reply.body
    assert reply.json()["checksum"] == line_checksum(line)
    # a stale head is refused with the head that moved
    reply = await fetch.request_async("POST", f"{url}/append", headers, line + b"\n")
    assert reply.status == 201  # the same record again: idempotent, not a conflict
    other = encode_record(new_event(clock, "ws", [event.id], Tag("stale")), head["checksum"])
    reply = await fetch.request_async("POST", f"{url}/append", headers, other + b"\n")
    assert reply.status == 412 and reply.json()["actual"] == line_checksum(line), reply.body
    return event.id


def test_pyfetch_reads_and_appends_a_served_log(selenium, service):
    log = f"p{uuid.uuid4().hex[:12]}"
    evs = list(generate(12, origins=2, seed=5))
    with HttpStore.open(service.log_url(log)) as host:
        host.append(evs, expected=None)
        new_id = _fetch_both_ways(selenium, service.log_url(log), [e.id for e in evs])
        stored = [r.event.id for r in host.read(limit=100).records]
        assert stored == [e.id for e in evs] + [new_id]


@run_in_pyodide(packages=["kuzu-schemalog"])
async def _run_contract_method(selenium, standin, source, method, base):
    import types
    import uuid

    from schemalog.browser.http import open_served

    exec(standin, {})
    module = types.ModuleType("store_contract")
    exec(compile(source, "store_contract.py", "exec"), module.__dict__)
    made = []

    class TestServed(module.StoreContract):
        def make_store(self):
            made.append(open_served(f"{base}/logs/c{uuid.uuid4().hex[:12]}"))
            return made[-1]

        def test_heads_with_parent_appended_later(self):
            from schemalog.log.store.http import RecordRefused

            s = self.store()
            evs = module.events(3)
            try:
                s.append([evs[1]], expected=None)
            except RecordRefused as exc:
                assert exc.field == "parents"
            else:
                raise AssertionError("the service stored a record whose parent it lacks")

    try:
        getattr(TestServed(), method)()
    finally:
        for store in made:
            store.close()


@pytest.mark.page  # JSPI (synchronous calls over fetch): Chromium only
@pytest.mark.parametrize("method", _contract_methods())
def test_store_contract_over_pyfetch(selenium, service, method):
    _run_contract_method(selenium, HYPOTHESIS_STANDIN, CONTRACT_SOURCE, method, service.url)
