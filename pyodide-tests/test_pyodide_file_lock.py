"""The NDJSON log and file lease in Pyodide: one process only (issue 17).

What really happens (measured here, under Node): Emscripten's ``flock`` and
``lockf`` answer 0 and lock nothing, on MEMFS and on a NODEFS folder, even
while a CPython process holds the flock of that very file. It never answers
ENOSYS/ENOTSUP, so "no flock, go ahead unlocked" was never the path taken:
the lock was a pretence. The behaviour is now said, not pretended
(``side_files.CROSS_PROCESS_LOCK`` False, ``NdjsonStore.process_safe``
False, pkg/schemalog/log/store/ndjson.py docstring): a log in Pyodide
belongs to one process, and within it, handles never interleave or share
a ``prev`` and a stale token is FencedOut. Another process writing the same
NODEFS file is not excluded (shown below with a CPython process holding the
lock: the Pyodide append goes ahead).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["kuzu-schemalog"])
def _two_handles_one_process(selenium, folder, host_root):
    import json

    from schemalog.log import side_files
    from schemalog.log.store import AppendConflict, FencedOut
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.log.store.verify import verify_log
    from schemalog.synth.generator import generate

    if host_root:  # under Node: the log lives in a host folder (NODEFS)
        import js
        import pyodide_js
        from pyodide.ffi import to_js

        fs = pyodide_js.FS
        fs.mkdir(folder)
        options = to_js({"root": host_root}, dict_converter=js.Object.fromEntries)
        fs.mount(fs.filesystems.NODEFS, options, folder)
    else:
        import os

        os.makedirs(folder)
    path = f"{folder}/log.ndjson"
    events = list(generate(6, seed=5))
    one = NdjsonStore.open(path, create=True, durable=False)
    two = NdjsonStore.open(path, durable=False)
    assert side_files.CROSS_PROCESS_LOCK is False
    assert one.process_safe is False and two.process_safe is False

    head = one.append(events[:2], expected=None)
    try:  # two has not looked since it opened: its append re-reads first
        two.append(events[2:3], expected=None)
        raise AssertionError("a stale head was accepted")
    except AppendConflict as exc:
        assert exc.expected is None and exc.actual == head.checksum
    head = two.append(events[2:3], expected=head.checksum)
    head = one.append(events[3:4], expected=head.checksum, fencing_token=7)
    try:  # the fence file is re-read at every append, not only at open
        two.append(events[4:5], expected=head.checksum, fencing_token=6)
        raise AssertionError("a stale token was accepted")
    except FencedOut as exc:
        assert (exc.token, exc.newest) == (6, 7)
    two.append(events[4:6], expected=head.checksum, fencing_token=7)
    one.close()
    two.close()
    report = verify_log(path)
    return json.dumps({"ok": report.ok, "records": report.records})


def test_one_process_two_handles_never_interleave(selenium, tmp_path):
    node = selenium.browser == "node"
    folder = f"/log-{uuid.uuid4().hex[:8]}"
    got = _two_handles_one_process(selenium, folder, str(tmp_path) if node else "")
    assert got == '{"ok": true, "records": 6}'
    if node:  # the host sees the same log
        assert len((tmp_path / "log.ndjson").read_bytes().splitlines()) == 6


HOLDER = """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(120)
"""


@run_in_pyodide(packages=["kuzu-schemalog"])
def _append_while_another_process_holds_the_lock(selenium, host_root):
    import errno
    import fcntl
    import json
    import os

    import js
    import pyodide_js
    from pyodide.ffi import to_js

    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.synth.generator import generate

    fs = pyodide_js.FS
    fs.mkdir("/shared")
    options = to_js({"root": host_root}, dict_converter=js.Object.fromEntries)
    fs.mount(fs.filesystems.NODEFS, options, "/shared")
    # the fact: Emscripten's flock grants what another process holds
    fd = os.open("/shared/log.ndjson.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        flock = "granted"
    except OSError as exc:
        flock = errno.errorcode.get(exc.errno, str(exc.errno))
    os.close(fd)
    # the behaviour: an append does not wait for the other process's lock
    store = NdjsonStore.open("/shared/log.ndjson", create=True, durable=False)
    head = store.append(list(generate(3, seed=8)), expected=None)
    store.close()
    return json.dumps({"flock": flock, "appended": head.position})


@pytest.mark.node_only
def test_another_process_is_not_excluded_in_pyodide(selenium, tmp_path: Path):
    lock = tmp_path / "log.ndjson.lock"  # the NDJSON store's lock file of log.ndjson
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(lock)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        got = _append_while_another_process_holds_the_lock(selenium, str(tmp_path))
    finally:
        holder.kill()
        holder.wait(10)
    # If a Pyodide release makes flock real, "flock" becomes EWOULDBLOCK and the
    # append waits: then CROSS_PROCESS_LOCK can follow, and this test says so.
    assert got == '{"flock": "granted", "appended": 3}'
