"""LadybugDB behind the backend port: the contract, engine facts, the child process.

The test process holds ``kuzu`` (conftest.py), so LadybugDB runs here through
``RemoteBackend`` (a child process); ``test_contract_in_a_ladybug_only_process``
runs the same contract against the in-process ``LadybugBackend`` in a fresh
interpreter that never imports kuzu.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backend_contract import BackendContract
from schemalog.kuzu.cypher import quote_identifier
from schemalog.kuzu.engines import detect_engine, in_process, open_backend
from schemalog.kuzu.port import BackendCrashed, BackendError, KuzuBackend
from schemalog.kuzu.profile import KUZU, LADYBUG, UnknownEngine
from schemalog.kuzu.remote import RemoteBackend

pytestmark = [
    pytest.mark.kuzu,
    pytest.mark.skipif(
        importlib.util.find_spec("ladybug") is None or importlib.util.find_spec("kuzu") is None,
        reason="needs both the 'kuzu' and the 'ladybug' extras (./build.sh setup installs them)",
    ),
]
POOL = 2**28
TESTS = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(os.path.dirname(TESTS), "pkg")


class TestLadybugInChild(BackendContract):
    engine = LADYBUG

    def make_backend(self) -> KuzuBackend:
        return RemoteBackend(None, engine=LADYBUG, buffer_pool_size=POOL)


class TestLadybugOnDiskInChild(BackendContract):
    engine = LADYBUG

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path
        self.count = 0

    def make_backend(self) -> KuzuBackend:
        self.count += 1
        return RemoteBackend(
            self.directory / f"db{self.count}", engine=LADYBUG, buffer_pool_size=POOL
        )


class TestKuzuInChild(BackendContract):
    """The child-process adapter is engine-neutral: it passes the contract on Kuzu too."""

    def make_backend(self) -> KuzuBackend:
        return RemoteBackend(None, engine=KUZU, buffer_pool_size=POOL)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PKG, TESTS]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_contract_in_a_ladybug_only_process() -> None:
    out = _run(
        """
        import sys
        from backend_contract import BackendContract
        from schemalog.kuzu.engines import open_backend
        from schemalog.kuzu.native import LadybugBackend
        from schemalog.kuzu.profile import LADYBUG

        class Contract(BackendContract):
            engine = LADYBUG

            def make_backend(self):
                backend = open_backend(None, "ladybug", buffer_pool_size=2**28)
                assert type(backend).__name__ == "NativeBackend", type(backend)
                return backend

        ran = []
        for name in sorted(dir(Contract)):
            if name.startswith("test_"):
                getattr(Contract(), name)()
                ran.append(name)
        with LadybugBackend(None) as backend:
            assert backend.engine.name == "ladybug"
        assert "kuzu" not in sys.modules and "ladybug" in sys.modules
        print(len(ran))
        """
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 9


def test_the_two_engines_cannot_share_a_process() -> None:
    """Why RemoteBackend exists: the second engine's import fails (either order)."""
    for first, second in (("kuzu", "ladybug"), ("ladybug", "kuzu")):
        out = _run(
            f"""
            import {first}
            db = {first}.Database(":memory:")
            import {second}
            {second}.Database(":memory:")
            """
        )
        assert out.returncode != 0
        assert "already registered" in out.stderr


def test_in_process_follows_what_is_loaded() -> None:
    assert "kuzu" in sys.modules  # conftest.py
    assert in_process(KUZU) and not in_process(LADYBUG)
    with open_backend(None, "ladybug") as backend:  # type: ignore[attr-defined]
        assert isinstance(backend, RemoteBackend)
    with open_backend(None, "kuzu") as backend:  # type: ignore[attr-defined]
        assert not isinstance(backend, RemoteBackend)
    assert "ladybug" not in sys.modules


def test_show_tables_names_the_database_as_the_profile_says() -> None:
    for engine in (KUZU, LADYBUG):
        with RemoteBackend(None, engine=engine) as backend:
            backend.execute(["CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))"])
            rows = backend.query("CALL show_tables() RETURN *")
            assert [r[engine.catalog_columns.table_database] for r in rows] == [
                engine.database_name
            ]


def test_a_doubled_backtick_is_an_escape_on_ladybug_only() -> None:
    for engine, stored in ((KUZU, "a``b"), (LADYBUG, "a`b")):
        with RemoteBackend(None, engine=engine) as backend:
            backend.execute(["CREATE NODE TABLE `a``b`(id INT64, PRIMARY KEY(id))"])
            assert backend.catalog().table_names == {stored}
    with RemoteBackend(None, engine=LADYBUG) as backend:
        odd = "x`y```z"  # inexpressible on Kuzu, fine on LadybugDB
        backend.execute(
            [f"CREATE NODE TABLE {quote_identifier(odd, LADYBUG)}(id INT64, PRIMARY KEY(id))"]
        )
        assert backend.catalog().table_names == {odd}


def test_sorted_by_exists_on_ladybug_only() -> None:
    statement = "ALTER TABLE `A` SET SORTED BY (`n` DESC, `id` ASC)"
    setup = ["CREATE NODE TABLE A(id INT64, n STRING, PRIMARY KEY(id))"]
    with RemoteBackend(None, engine=LADYBUG) as backend:
        backend.execute(setup)
        backend.execute([statement])
        before = backend.catalog()
        # not visible in the catalog (drift cannot compare sort keys)
        assert [p.name for p in before.node_tables[0].properties] == ["id", "n"]
        with pytest.raises(BackendError, match="requires the CSR clause"):
            backend.execute(
                ["CREATE REL TABLE R(FROM A TO A)", "ALTER TABLE R SET SORTED BY (id ASC)"]
            )
        assert backend.catalog() == before
    assert LADYBUG.accepts("set_sorted_by") and not KUZU.accepts("set_sorted_by")
    with open_backend(None, "kuzu") as backend:  # type: ignore[attr-defined]
        backend.execute(setup)
        with pytest.raises(BackendError) as info:
            backend.execute([statement])
        assert info.value.kind == "Parser"


def test_files_do_not_open_across_engines(tmp_path: Path) -> None:
    for engine, other in ((KUZU, LADYBUG), (LADYBUG, KUZU)):
        path = tmp_path / engine.name
        with RemoteBackend(path, engine=engine) as backend:
            backend.execute(["CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))"])
        head = path.read_bytes()[:5]
        assert head == engine.magic + bytes([engine.storage_version])
        assert detect_engine(path) is engine
        # the engine itself refuses the other's file...
        with pytest.raises(BackendError, match="not a valid"):
            RemoteBackend(path, engine=other)
        # ...and open_backend says why before trying
        with pytest.raises(UnknownEngine, match="migrate"):
            open_backend(path, other)
        with open_backend(path) as backend:  # type: ignore[attr-defined]
            assert backend.engine is engine
            assert backend.catalog().table_names == {"A"}
    assert detect_engine(tmp_path / "nothing") is None
    (tmp_path / "junk").write_bytes(b"hello")
    with pytest.raises(UnknownEngine, match="not a Kuzu or LadybugDB"):
        detect_engine(tmp_path / "junk")
    with pytest.raises(UnknownEngine, match="directory"):
        detect_engine(tmp_path)


def test_a_killed_child_is_backend_crashed_and_the_next_one_works() -> None:
    backend = RemoteBackend(None, engine=LADYBUG)
    backend.execute(["CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))"])
    os.kill(backend._child.pid, signal.SIGKILL)
    with pytest.raises(BackendCrashed, match="died"):
        backend.catalog()
    backend.close()  # closed already: no error
    with pytest.raises(BackendError, match="closed"):
        backend.query("RETURN 1")
    with RemoteBackend(None, engine=LADYBUG) as fresh:
        assert fresh.catalog().node_tables == ()


def test_a_closed_child_goes_back_to_the_pool_with_no_database_open(tmp_path: Path) -> None:
    path = tmp_path / "db"
    first = RemoteBackend(path, engine=LADYBUG)
    first.execute(["CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))"])
    pid = first._child.pid
    first.close()
    second = RemoteBackend(path, engine=LADYBUG)  # the same child, the file reopened
    try:
        assert second._child.pid == pid
        assert second.catalog().table_names == {"A"}
    finally:
        second.close()
