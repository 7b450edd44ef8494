"""A throwaway PostgreSQL server for the tests and benchmarks (no mock).

``PgServer.start()`` runs ``initdb`` into a fresh temporary folder, starts
``postgres`` on a free loopback port with its socket folder inside that
temporary folder, and ``stop()`` shuts it down and removes everything.
``primary.standby()`` starts a hot standby of it (``pg_basebackup -R``:
streaming replication, reads only); ``standby.caught_up(primary)`` waits
until it has replayed everything the primary has written.
``initdb`` refuses to run as root, so as root every server command runs as
the ``postgres`` user (Debian's package creates it) on a folder it owns.

PostgreSQL missing is an error naming what to do (``./build.sh setup``
installs it), never a skipped test.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgMissing", "PgServer", "find_bindir"]


class PgMissing(RuntimeError):
    pass


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl: Debian's versioned folder, else PATH."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(cand, "initdb"), os.X_OK):
            return Path(cand)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PgMissing(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH): "
        "run ./build.sh setup (apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    root: Path
    port: int
    bindir: Path
    user: str | None  # the OS user the server runs as (None: ourselves)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> PgServer:
        bindir = find_bindir()
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PgMissing(
                    "running as root and there is no 'postgres' user to run initdb as "
                    "(apt-get install postgresql creates it)"
                ) from None
        root, user = cls._folder()
        server = cls(root, _free_port(), bindir, user)
        server._run(
            "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        server._serve()
        return server

    @classmethod
    def _folder(cls) -> tuple[Path, str | None]:
        root = Path(tempfile.mkdtemp(prefix="schemalog-pg-"))
        if os.geteuid() != 0:
            return root, None
        pw = pwd.getpwnam("postgres")
        os.chmod(root, 0o700)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        return root, "postgres"

    def _serve(self) -> None:
        """Start the server on ``root/data`` (its socket folder ``root/sock``)."""
        root = self.root
        (root / "sock").mkdir()
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(root / "sock", pw.pw_uid, pw.pw_gid)
        # (a standby needs max_connections at least the primary's)
        opts = (
            f"-p {self.port} -h 127.0.0.1 -k {root / 'sock'} -c fsync=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
            "-o", opts, "-w", "-t", "60", "start",
        )  # fmt: skip

    def standby(self) -> PgServer:
        """A hot standby of this server, streaming from it (reads only)."""
        root, user = self._folder()
        server = PgServer(root, _free_port(), self.bindir, user)
        try:
            server._run(
                "pg_basebackup", "-D", str(root / "data"), "-R", "-X", "stream", "-c", "fast",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            )  # fmt: skip
            server._serve()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def caught_up(self, primary: PgServer, timeout_s: float = 30.0) -> None:
        """Wait until this standby has replayed everything ``primary`` has written."""
        import psycopg

        with psycopg.connect(primary.url, autocommit=True) as conn:
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                sql = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
                if conn.execute(sql, (lsn,)).fetchone()[0]:  # type: ignore[index]
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby did not replay up to {lsn} in {timeout_s} s")
                time.sleep(0.05)

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bindir / tool), *args],
            user=self.user,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgMissing(
                f"{tool} failed (exit {proc.returncode}): {proc.stderr.strip()} {tail}".strip()
            )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
