"""The HTTP store adapter against `schemalog serve` (a real process) over NDJSON and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.log.store.http import HttpStore
from served import Service
from store_contract import HYPOTHESIS, StoreContract, events


def fresh_log() -> str:
    return "h" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="module")
def ndjson_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = Service(str(tmp_path_factory.mktemp("served") / "logs")).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def pg_service(pg_url: str) -> Iterator[Service]:
    service = Service(pg_url).start()
    yield service
    service.stop()


class HttpContract(StoreContract):
    service: Service

    @pytest.fixture(autouse=True)
    def _opened(self) -> Iterator[None]:
        self.opened: list[HttpStore] = []
        yield
        for store in self.opened:
            store.close()

    def make_store(self) -> HttpStore:
        store = HttpStore.open(self.service.log_url(fresh_log()))
        self.opened.append(store)
        return store

    # each step is a few HTTP round trips: fewer examples of the same property
    test_paging_visits_each_event_once = settings(HYPOTHESIS, max_examples=6)(
        given(
            st.lists(st.integers(1, 40), min_size=1, max_size=30),
            st.lists(st.integers(0, 15), min_size=1, max_size=30),
        )(StoreContract.test_paging_visits_each_event_once.hypothesis.inner_test)  # type: ignore[attr-defined]
    )


class TestHttpOverNdjson(HttpContract):
    @pytest.fixture(autouse=True)
    def _service(self, ndjson_service: Service) -> None:
        self.service = ndjson_service


class TestHttpOverPostgres(HttpContract):
    @pytest.fixture(autouse=True)
    def _service(self, pg_service: Service) -> None:
        self.service = pg_service


def test_served_ndjson_log_is_a_plain_file(ndjson_service: Service) -> None:
    log = fresh_log()
    with HttpStore.open(ndjson_service.log_url(log)) as s:
        s.append(events(5), expected=None)
    path = Path(ndjson_service.store) / f"{log}.ndjson"
    assert len(path.read_bytes().splitlines()) == 5


def test_replay_and_the_facade_over_served_logs(pg_url: str, pg_service: Service) -> None:
    """The same log replays to the same state from memory, PostgreSQL and the service,
    and two SchemaLog instances share a served log."""
    from schemalog.api import SchemaLog
    from schemalog.log.replay import replay
    from schemalog.log.store import MemoryStore
    from schemalog.log.store.postgres import PostgresStore

    evs = events(300, origins=3, seed=4)
    log = fresh_log()
    memory = MemoryStore()
    memory.append(evs, expected=None)
    with HttpStore.open(pg_service.log_url(log)) as served:
        served.append(evs, expected=None)
        with PostgresStore.open(pg_url, log=log) as direct:
            hashes = {replay(s, max_chunk_bytes=4096).state_hash for s in (memory, direct, served)}
    assert len(hashes) == 1

    team = fresh_log()
    with (
        HttpStore.open(pg_service.log_url(team)) as a,
        HttpStore.open(pg_service.log_url(team)) as b,
    ):
        alice, bob = SchemaLog(a, origin="alice"), SchemaLog(b, origin="bob")
        alice.create_node_table("Person", [("id", "INT64")], "id")
        bob.refresh()
        assert [t.name for t in bob.tables()] == ["Person"]
        bob.add_property("Person", "name", "STRING")
        alice.refresh()
        assert alice.state_hash == bob.state_hash and alice.position == 2
