"""An engine in a child process, behind the same backend port.

Kuzu's and LadybugDB's extension modules cannot be loaded into one process
(pybind11: ``generic_type: type "Database" is already registered!``), yet a
migration reads one engine and writes the other, and one test run exercises
both. ``RemoteBackend`` starts ``python -m schemalog.kuzu.remote``, which
opens a ``NativeBackend`` of the given engine and answers requests over its
stdin/stdout: length-prefixed pickle frames (parent and child are the same
program; nothing else writes to the pipe -- the child moves its stdout away
first, so an engine that prints cannot corrupt a frame).

A refusal comes back as the same ``BackendError`` (statement, message,
index); a child that dies mid-call surfaces as ``BackendCrashed``, like a
kuzu-wasm trap: its database may be gone, the caller rebuilds from the log.

Starting a child costs an interpreter and an engine import (0.3 s of CPU,
1-2 s of wall time on a busy machine), so a closed backend hands its child,
with no database open, back to a small idle pool that the next
``RemoteBackend`` of the same engine takes; the pool is emptied at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import IO, Any, Self

from schemalog.kuzu.port import BackendCrashed, BackendError, Catalog
from schemalog.kuzu.profile import EngineProfile, profile

__all__ = ["RemoteBackend"]

_LEN = struct.Struct(">Q")


def _send(out: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)) + data)
    out.flush()


def _receive(inp: IO[bytes]) -> Any:
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _LEN.unpack(head)
    data = inp.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-frame")
    return pickle.loads(data)


_IDLE: dict[str, list[subprocess.Popen[bytes]]] = {}
_POOL_SIZE = 2


def _spawn() -> subprocess.Popen[bytes]:
    # the directory holding the schemalog package this module was imported from
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "schemalog.kuzu.remote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _take(engine: str) -> subprocess.Popen[bytes]:
    idle = _IDLE.get(engine, [])
    while idle:
        child = idle.pop()
        if child.poll() is None:
            return child
    return _spawn()


def _end(child: subprocess.Popen[bytes]) -> int | None:
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        return child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


@atexit.register
def _drain() -> None:
    for idle in _IDLE.values():
        while idle:
            _end(idle.pop())


class RemoteBackend:
    """A ``NativeBackend`` of ``engine`` running in a child process."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        engine: str | EngineProfile,
        buffer_pool_size: int = 0,
        read_only: bool = False,
    ) -> None:
        self.engine = profile(engine)
        if type(buffer_pool_size) is not int or buffer_pool_size < 0:
            raise ValueError(f"buffer_pool_size must be an int >= 0, got {buffer_pool_size!r}")
        self.path = ":memory:" if path is None else os.fspath(path)
        self._child = _take(self.engine.name)
        self._closed = False
        try:
            self._call("open", self.engine.name, path and self.path, buffer_pool_size, read_only)
        except BackendError as exc:
            if isinstance(exc, BackendCrashed):
                raise
            self._release()  # the child is fine; the database did not open
            raise
        except BaseException:
            self._reap()
            raise

    # -- port -------------------------------------------------------------

    def execute(self, statements: Sequence[str]) -> None:
        if isinstance(statements, str):
            raise TypeError("execute() takes a sequence of statements, not one string")
        batch = list(statements)
        if batch:
            self._call("execute", batch)

    def query(self, cypher: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("query", cypher)
        return rows

    def catalog(self) -> Catalog:
        catalog: Catalog = self._call("catalog")
        return catalog

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._call("close")
        except BackendCrashed:
            return
        except BaseException:
            self._reap()
            raise
        self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _call(self, op: str, *args: Any) -> Any:
        if self._closed:
            statement = args[0] if op == "query" else None
            raise BackendError(statement, "the backend is closed")
        assert self._child.stdin is not None and self._child.stdout is not None
        try:
            _send(self._child.stdin, (op, args))
            reply = _receive(self._child.stdout)
        except (EOFError, BrokenPipeError, OSError) as exc:
            code = self._reap()
            raise BackendCrashed(
                None, f"the {self.engine.name} child process died (exit code {code}): {exc}"
            ) from exc
        except BaseException:
            # interrupted between request and reply (Ctrl-C): the pipe is out of step,
            # so the child goes; a transaction it had open is rolled back with it
            self._child.kill()
            self._reap()
            raise
        if reply[0] == "ok":
            return reply[1]
        _, cls_name, statement, message, index = reply
        if cls_name == "TypeError":
            raise TypeError(message)
        if cls_name == "ValueError":
            raise ValueError(message)
        raise BackendError(statement, message, index)

    def _release(self) -> None:
        """Back to the idle pool: the child has no database open."""
        self._closed = True
        idle = _IDLE.setdefault(self.engine.name, [])
        if len(idle) < _POOL_SIZE and self._child.poll() is None:
            idle.append(self._child)
        else:
            _end(self._child)

    def _reap(self) -> int | None:
        self._closed = True
        return _end(self._child)


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    from schemalog.kuzu.native import NativeBackend

    backend: NativeBackend | None = None
    while True:
        try:
            op, args = _receive(inp)
        except EOFError:
            break
        try:
            if op == "open":
                if backend is not None:
                    raise BackendError(None, "a database is already open in this child")
                name, path, pool, read_only = args
                backend = NativeBackend(
                    path, buffer_pool_size=pool, read_only=read_only, engine=profile(name)
                )
                result: Any = None
            elif backend is None:
                raise BackendError(None, "no database is open")
            elif op == "execute":
                backend.execute(args[0])
                result = None
            elif op == "query":
                result = backend.query(args[0])
            elif op == "catalog":
                result = backend.catalog()
            elif op == "close":
                backend.close()
                backend = None
                result = None
            else:
                raise BackendError(None, f"unknown request {op!r}")
        except BackendError as exc:
            _send(out, ("err", "BackendError", exc.statement, exc.message, exc.index))
        except (TypeError, ValueError) as exc:
            _send(out, ("err", type(exc).__name__, None, str(exc), None))
        else:
            _send(out, ("ok", result))
    if backend is not None:
        backend.close()


def main() -> None:
    # Frames go to the original stdout only; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
