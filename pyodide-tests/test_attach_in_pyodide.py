"""``browser.attach.Attachment`` inside Pyodide in Chromium -- what the notebook's attach
cell runs: a Workspace over kuzu-wasm and a local log, attached to a real
``schemalog serve`` through ``pyfetch`` (JSPI). Pull, push, and a write that met a
concurrent one: pushed with the strategy's Merge event, the local log replaced by
the served order, the database's catalog in the log's column order."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from schemalog.log.store.http import HttpStore  # noqa: E402
from schemalog.model.clock import HybridLogicalClock  # noqa: E402
from schemalog.model.events import build_node_table, new_event  # noqa: E402
from served import Service  # noqa: E402

pytestmark = pytest.mark.page  # JSPI: Chromium only


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    served = Service(str(tmp_path_factory.mktemp("served") / "logs"), ("--cors", "*")).start()
    yield served
    served.stop()


@run_in_pyodide(packages=["kuzu-schemalog"])
async def _attached_workspace(selenium, url, person_id, city_id):
    import js

    from schemalog.browser.attach import Attachment
    from schemalog.browser.http import open_served
    from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend
    from schemalog.browser.workspace import Workspace
    from schemalog.log.store import MemoryStore
    from schemalog.model.clock import HybridLogicalClock
    from schemalog.model.events import RenameTable, build_add_property, new_event

    backend = SyncKuzuBackend(await WasmKuzuBackend.open(f"attach-{js.Date.now()}"))
    clock = HybridLogicalClock("pyodide", lambda: int(js.Date.now()))
    ws = Workspace("team", MemoryStore(), backend, clock, strategy="lww")
    attached = Attachment(ws, url, replace_local=MemoryStore)  # pyfetch: the default here
    steps = {"first": attached.round().to_obj()}
    steps["tables"] = sorted(t.name for t in ws.state.tables.values())
    ws.change(build_add_property(city_id, "zip", "STRING"))
    steps["push"] = attached.round().to_obj()

    # another writer appends to the served log; this workspace has not seen it
    other = open_served(url)
    theirs = HybridLogicalClock("other", lambda: int(js.Date.now()))
    for change in (
        RenameTable(person_id, "Human"),
        build_add_property(city_id, "country", "STRING"),
    ):
        event = new_event(theirs, "team", list(other.heads()), change)
        other.append([event], expected=other.head().checksum)
    other.close()
    ws.change(RenameTable(person_id, "People"))
    ws.change(build_add_property(city_id, "region", "STRING"))
    steps["merge"] = attached.round().to_obj()
    steps["again"] = attached.round().to_obj()
    steps["state"] = attached.to_obj()["state"]
    steps["hash"] = ws.state_hash
    steps["position"] = ws.position
    steps["healed"] = [h.reason for h in ws.healed]
    steps["catalog"] = sorted(
        [t.name, [p.name for p in t.properties]]
        for t in ws.catalog().node_tables
        if not t.name.startswith("_")
    )
    ws.close()
    return steps


def test_attachment_in_pyodide_pulls_pushes_and_merges(selenium, service):
    from schemalog.log.replay import replay

    url = service.log_url(f"a{uuid.uuid4().hex[:12]}")
    clock = HybridLogicalClock("host", lambda: 1_767_225_600_000)
    person = new_event(clock, "team", [], build_node_table("Person", [("id", "INT64")], "id"))
    city = new_event(clock, "team", [person.id], build_node_table("City", [("id", "INT64")], "id"))
    with HttpStore.open(url) as host:
        host.append([person, city], expected=None)
        steps = _attached_workspace(selenium, url, person.id, city.id)
        report = replay(host)
        served = [line for chunk in host.iter_raw(0) for line in chunk.lines]
    assert steps["first"]["pulled"] == 2 and steps["tables"] == ["City", "Person"], steps
    assert steps["push"]["pushed"] == 1 and not steps["push"]["replaced"], steps
    merge = steps["merge"]
    assert merge["online"] and merge["replaced"] and merge["pushed"] == 2, steps
    assert merge["written"]["conflicts"] and merge["written"]["resolutions"], steps
    again = steps["again"]
    assert (again["pulled"], again["pushed"], again["replaced"]) == (0, 0, False), steps
    assert steps["state"] == "online" and steps["position"] == len(served), steps
    assert steps["hash"] == report.state_hash
    want = sorted([t.name, [p.name for p in t.properties]] for t in report.state.tables.values())
    assert steps["catalog"] == want, (steps["catalog"], want)
    assert any("orders the columns" in h for h in steps["healed"]), steps["healed"]
