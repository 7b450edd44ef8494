"""Choosing and opening an engine: ``detect_engine`` and ``open_backend``.

``detect_engine(path)`` reads the first bytes of a database file (each
engine writes its magic there, see ``profile``). ``open_backend`` opens a
``NativeBackend`` in this process unless a module that conflicts with the
engine is already loaded here (Kuzu and LadybugDB cannot share a process),
in which case the engine runs in a child process (``remote``). Either way the
caller holds the same backend port.
"""

from __future__ import annotations

import os
import sys

from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import ENGINES, EngineProfile, UnknownEngine, profile

__all__ = ["detect_engine", "in_process", "open_backend"]


def detect_engine(path: str | os.PathLike[str]) -> EngineProfile | None:
    """The engine whose database file ``path`` is; None when nothing is there yet.

    Raises UnknownEngine for a directory or a file no engine wrote.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path):
        raise UnknownEngine(f"{path}: a directory, not a Kuzu or LadybugDB database file")
    with open(path, "rb") as f:
        head = f.read(8)
    for p in ENGINES.values():
        if head.startswith(p.magic):
            return p
    raise UnknownEngine(f"{path}: not a Kuzu or LadybugDB database file (starts {head!r})")


def in_process(engine: str | EngineProfile) -> bool:
    """Whether ``engine`` can be loaded into this process (no conflicting module loaded)."""
    return not any(name in sys.modules for name in profile(engine).conflicts)


def open_backend(
    path: str | os.PathLike[str] | None,
    engine: str | EngineProfile | None = None,
    *,
    buffer_pool_size: int = 0,
    read_only: bool = False,
    remote: bool | None = None,
) -> KuzuBackend:
    """Open ``path`` with ``engine`` (default: the engine of the file there, else Kuzu).

    A file of another engine is refused here, before the engine would
    refuse it. ``remote`` forces (True) or forbids (False) the child process;
    None decides by ``in_process``.
    """
    found = detect_engine(path) if path is not None else None
    chosen = profile(engine) if engine is not None else (found or ENGINES["kuzu"])
    if found is not None and found is not chosen:
        raise UnknownEngine(
            f"{os.fspath(path or '')}: a {found.name} database (storage version "
            f"{found.storage_version}), not a {chosen.name} one: files do not open across "
            "engines; migrate the schema by replay (`schemalog migrate`)"
        )
    if remote is None:
        remote = not in_process(chosen)
    if remote:
        from schemalog.kuzu.remote import RemoteBackend

        return RemoteBackend(
            path, engine=chosen, buffer_pool_size=buffer_pool_size, read_only=read_only
        )
    from schemalog.kuzu.native import NativeBackend

    return NativeBackend(
        path, engine=chosen, buffer_pool_size=buffer_pool_size, read_only=read_only
    )
