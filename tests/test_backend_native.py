"""The backend contract against native kuzu, in memory and on disk; native-only extras."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend_contract import BackendContract
from schemalog.kuzu.port import BackendError, KuzuBackend

pytest.importorskip("kuzu")

from schemalog.kuzu.native import NativeKuzuBackend

pytestmark = pytest.mark.kuzu


class TestNativeInMemory(BackendContract):
    def make_backend(self) -> KuzuBackend:
        return NativeKuzuBackend(buffer_pool_size=256 * 1024 * 1024)


class TestNativeOnDisk(BackendContract):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path
        self.count = 0

    def make_backend(self) -> KuzuBackend:
        self.count += 1
        return NativeKuzuBackend(self.directory / f"db{self.count}", buffer_pool_size=2**28)


def test_on_disk_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with NativeKuzuBackend(path) as backend:
        backend.execute(
            [
                "CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))",
                "CREATE REL TABLE R(FROM A TO A)",
                "COMMENT ON TABLE A IS 'kept'",
            ]
        )
        before = backend.catalog()
    with NativeKuzuBackend(path, read_only=True) as backend:
        assert backend.catalog() == before
        with pytest.raises(BackendError):
            backend.execute(["CREATE NODE TABLE B(id INT64, PRIMARY KEY(id))"])


def test_buffer_pool_size_is_applied() -> None:
    with NativeKuzuBackend(buffer_pool_size=16 * 1024 * 1024) as backend:
        with pytest.raises(BackendError) as info:
            backend.execute(
                [f"CREATE NODE TABLE T{i}(id INT64, PRIMARY KEY(id))" for i in range(20)]
            )
        assert info.value.kind == "Buffer manager"
        assert info.value.index == 15
        assert backend.catalog().node_tables == ()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        NativeKuzuBackend(buffer_pool_size=-1)
    with NativeKuzuBackend() as backend, pytest.raises(TypeError):
        backend.execute("CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))")


def test_dotted_table_name_cannot_be_introspected() -> None:
    with NativeKuzuBackend() as backend:
        backend.execute(["CREATE NODE TABLE `a.b`(id INT64, PRIMARY KEY(id))"])
        with pytest.raises(BackendError, match=r"database\.table"):
            backend.catalog()


def test_package_import_does_not_import_kuzu() -> None:
    import subprocess
    import sys

    code = "import sys, schemalog.kuzu, schemalog.kuzu.cypher; print('kuzu' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "False"
