"""What one request can make `schemalog serve` hold, and malformed bodies (session 11).

Found by attacking the service: a chunked body (no Content-Length) was read whole
before its size was checked, so a client streaming without end grew the service
without bound; ``records?limit=`` and ``raw?max_bytes=`` (up to 18 digits) decoded or
read the whole log in one answer; a lease body nested deeper than the JSON parser's
stack was a 500 with a traceback in the service's log.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from schemalog.encoding.codec import encode_record
from schemalog.log.store.base import line_checksum
from schemalog.server import app as app_module
from schemalog.server.app import MAX_BODY, create_app
from schemalog.server.hub import Hub, NdjsonBackend
from served import Service
from store_contract import events


def _flood(port: int, cap: int) -> tuple[int, bytes]:
    """POST a chunked body of up to ``cap`` bytes; (bytes sent when the answer came, answer)."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(
            b"POST /logs/flood/append HTTP/1.1\r\nHost: x\r\nSchemalog-Expected-Head: null\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
        sent, left = 0, memoryview(b"")
        while sent < cap:
            readable, writable, _ = select.select([s], [s], [], 10)
            if readable:
                break  # the answer (or the close) came while the body was still being sent
            if not writable:
                continue
            if not left:
                left = memoryview(piece)
            try:
                n = s.send(left)
            except OSError:
                break  # the service closed the connection: its answer is waiting
            left = left[n:]
            sent += n
        s.settimeout(30)
        if sent >= cap:
            s.sendall(bytes(left) + b"0\r\n\r\n")
        return sent, s.recv(4096)
    finally:
        s.close()


def test_a_chunked_body_is_refused_at_the_bound_not_read_whole(tmp_path: Path) -> None:
    service = Service(str(tmp_path / "logs")).start()
    try:
        sent, answer = _flood(service.port, 3 * MAX_BODY)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # the answer came while the client was still sending: within the bound plus
        # what the socket buffers hold, not after everything was read
        assert sent < MAX_BODY + (16 << 20), f"answered after {sent:,} bytes"
        store_ok = service.proc is not None and service.proc.poll() is None
        assert store_ok and not (tmp_path / "logs" / "flood.ndjson").exists()
    finally:
        service.stop()


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """The app in this process (its bounds made small), served by uvicorn on loopback."""
    monkeypatch.setattr(app_module, "MAX_PAGE", 5)
    monkeypatch.setattr(app_module, "MAX_RAW_BYTES", 2000)
    app = create_app(Hub(NdjsonBackend(tmp_path / "logs"), poll_s=0.2))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _append(client: httpx.Client, n: int) -> list[bytes]:
    prev, lines = None, []
    for event in events(n):
        line = encode_record(event, prev)
        prev = line_checksum(line)
        lines.append(line)
    r = client.post(
        "/logs/t/append",
        content=b"".join(x + b"\n" for x in lines),
        headers={"Schemalog-Expected-Head": "null"},
    )
    assert r.status_code == 201, r.text
    return lines


def test_one_answer_holds_a_page_not_the_log(client: httpx.Client) -> None:
    lines = _append(client, 30)
    r = client.get("/logs/t/records?limit=999999999999999999")
    assert r.status_code == 200 and r.content.count(b"\n") == 5
    got, cursor = [], None
    while True:  # the cursor goes on: every record, in order, page by page
        query = "?limit=999999999999999999" + (f"&after={cursor}" if cursor else "")
        r = client.get("/logs/t/records" + query)
        page = r.content.split(b"\n")[:-1]
        if not page:
            break
        got += page
        cursor = r.headers["Schemalog-Cursor"]
    assert got == lines
    r = client.get("/logs/t/raw?start=0&max_bytes=999999999999999999")
    body = r.content
    assert r.status_code == 200 and 0 < len(body) <= 2000 and body.endswith(b"\n")
    assert body.split(b"\n")[:-1] == lines[: body.count(b"\n")]


def test_a_lease_body_nested_too_deeply_is_a_400(client: httpx.Client) -> None:
    for body in (b"[" * 100_000, b'{"a":' * 100_000):
        r = client.post("/logs/t/lease", content=body)
        assert r.status_code == 400 and "nested too deeply" in r.json()["reason"], r.text
