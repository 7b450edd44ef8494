"""Small side files next to a log (fence, lease, lock): read and replaced safely.

A side file is read while a writers' lock is held, so reading it must never
block and never read without bound: it is opened with ``O_NONBLOCK`` (a FIFO
put in its place opens at once instead of waiting for a writer), checked to
be a regular file with ``fstat`` (not a FIFO, a directory, a device), and
read up to a limit. Anything else is ``SideFileUnreadable`` with the reason;
the callers turn it into their own error naming the file (FenceFileCorrupt,
LeaseFileCorrupt). Replacing one writes a fresh temporary file (an old one,
whatever it is, is unlinked first and the new one created with ``O_EXCL``),
fsyncs it and renames it over the old: a crash leaves the old or the new.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from schemalog import _compat

_NO_FLOCK = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}

# Whether ``locked`` excludes other processes. Not in Pyodide: Emscripten's
# flock (and lockf) answer 0 and lock nothing, on MEMFS and on NODEFS alike.
# Measured (pyodide-tests/test_pyodide_file_lock.py, under Node): LOCK_EX |
# LOCK_NB on a NODEFS file is granted while a CPython process holds that flock.
# So in Pyodide a log and a file lease are one process's (one Pyodide
# instance's): the appends of its handles cannot interleave (Python runs them
# one at a time, each re-reading the file first), another process's can.
CROSS_PROCESS_LOCK: bool = not _compat.IN_PYODIDE

__all__ = [
    "CROSS_PROCESS_LOCK",
    "SideFileUnreadable",
    "locked",
    "open_lock",
    "read_side_file",
    "replace_side_file",
]


class SideFileUnreadable(Exception):
    """Why a side file cannot be read (the caller names the file in its own error)."""


def read_side_file(path: str, limit: int) -> bytes | None:
    """The bytes of the regular file at ``path`` (None if absent), at most ``limit``."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SideFileUnreadable(f"cannot be opened ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SideFileUnreadable(f"is not a regular file ({_kind(mode)})")
        data = b""
        while len(data) <= limit:
            piece = os.read(fd, limit + 1 - len(data))
            if not piece:
                break
            data += piece
        if len(data) > limit:
            raise SideFileUnreadable(f"is larger than {limit} bytes")
        return data
    except OSError as exc:
        raise SideFileUnreadable(f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def replace_side_file(path: str, data: bytes, durable: bool = True) -> None:
    """Atomically make ``path`` hold ``data`` (temporary file, fsync, rename)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # whatever a crash (or someone) left there; never opened
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def open_lock(path: str) -> int:
    """A descriptor of the lock target ``path`` (created), refused unless a regular file."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise SideFileUnreadable(f"cannot be opened ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SideFileUnreadable(f"is not a regular file ({_kind(mode)})")
    return fd


@contextmanager
def locked(fd: int) -> Iterator[None]:
    """An exclusive ``flock`` on ``fd`` for the block (released by the kernel if we die).

    In Pyodide nothing is held (``CROSS_PROCESS_LOCK``: its flock is a pretence);
    where ``flock`` answers ENOSYS/ENOTSUP/EINVAL neither.
    """
    if not CROSS_PROCESS_LOCK:
        yield  # one process: nothing to exclude, and nothing that could
        return
    try:
        import fcntl
    except ImportError:  # no processes to exclude
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in _NO_FLOCK:
            raise
        yield  # a file system without flock: nothing to hold
        return
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
