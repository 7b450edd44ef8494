"""Session set-up shared by every CPython test module.

Kuzu's and LadybugDB's extension modules cannot be loaded into one process
(pybind11: 'type "Database" is already registered'). The test process loads
``kuzu`` first, whatever order the modules run in, so that every LadybugDB
backend a test opens through ``engines.open_backend`` runs in a child process
(``kuzu.remote``) and no test can make ``import kuzu`` fail for the tests after
it. tests/test_backend_ladybug.py runs LadybugDB in-process in a process of its own.

``pg_url``: a real PostgreSQL server for the whole session (tests/pg_server.py).
``snapshot_key_outside_home``: no test writes a snapshot key into the real ~/.config.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from pg_server import PgServer

if importlib.util.find_spec("kuzu") is not None:
    import kuzu  # noqa: F401


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server (started once, stopped at the end)."""
    server = PgServer.start()  # PostgreSQL missing: an error naming ./build.sh setup
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def snapshot_key_outside_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshot keys in a temporary folder (modules use it with ``pytestmark``)."""
    where = tmp_path_factory.mktemp("key") / "snapshot.key"
    monkeypatch.setenv("SCHEMALOG_SNAPSHOT_KEY", str(where))
