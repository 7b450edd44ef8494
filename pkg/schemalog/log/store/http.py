"""HTTP adapter: a log served by ``schemalog serve`` (``http://host:port/logs/NAME``).

The client encodes the records itself (``codec.encode_record``, chained from
the expected head) and the service decodes and verifies every one before the
store sees it, so both ends agree on the bytes. Answers map back onto the
port's errors: 412 AppendConflict, 409 FencedOut, 400 DuplicateEventId /
MissingParent / BadCursor / RecordRefused, 413 RecordTooLarge, 401 Unauthorized; a service
that cannot be reached is StoreUnavailable. Reads decode and check every
record and the hash links within a page, like the local stores.

The transport is a small port (``Transport.request``); ``HttpxTransport``
serves CPython. The HTTP API itself is documented in the README ("Sharing a
log with a team").
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from schemalog.encoding.codec import ChainVerifier, DecodeFailure, decode_record, encode_record
from schemalog.errors import ClockDriftError
from schemalog.log.lease.port import Lease, LeaseHeld, LeaseLost
from schemalog.log.store.base import check_fencing_token, line_checksum, line_id
from schemalog.log.store.errors import (
    AppendConflict,
    BadCursor,
    CorruptLog,
    DuplicateEventId,
    FencedOut,
    MissingParent,
    RecordTooLarge,
    StoreClosed,
    StoreError,
    StoreReadOnly,
    StoreUnavailable,
)
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, Head, Page, RawChunk
from schemalog.model.events import Event

__all__ = [
    "HttpLeaseStore",
    "HttpStore",
    "HttpxTransport",
    "RecordRefused",
    "Reply",
    "Transport",
    "Unauthorized",
    "parse_log_url",
]

EXPECTED_HEADER = "Schemalog-Expected-Head"
TOKEN_HEADER = "Schemalog-Fencing-Token"
START_HEADER = "Schemalog-Start"
CURSOR_HEADER = "Schemalog-Cursor"
COUNT_HEADER = "Schemalog-Count"


class RecordRefused(StoreError):
    """The service refused a record it would not verify (checksum, chain, parents...)."""

    def __init__(self, position: int | None, field: str | None, reason: str) -> None:
        self.position = position
        self.field = field
        self.reason = reason
        where = "" if position is None else f"record {position} of the batch: "
        what = f" ({field})" if field else ""
        super().__init__(f"refused: {where}{reason}{what}")


class Unauthorized(StoreError):
    """A write without the log's bearer token (or with a wrong one)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what}: writes need this log's bearer token")


def parse_log_url(url: str) -> tuple[str, str]:
    """(service base URL, log name) of ``http(s)://host:port[/prefix]/logs/NAME``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    prefix, sep, name = path.rpartition("/logs/")
    if parts.scheme not in ("http", "https") or not sep or not name or "/" in name:
        raise ValueError(f"{url!r} is not a served log URL (http://host:port/logs/NAME)")
    return f"{parts.scheme}://{parts.netloc}{prefix}", name


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Transport(Protocol):
    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply: ...

    def close(self) -> None: ...


class HttpxTransport:
    """CPython: one httpx client (keep-alive) per store."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.Client(timeout=timeout_s)

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        try:
            r = self._client.request(method, url, headers=headers, content=body)
        except self._httpx.HTTPError as exc:
            raise StoreUnavailable(url, f"{type(exc).__name__}: {exc}") from None
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    def close(self) -> None:
        self._client.close()


def _lines(body: bytes) -> list[bytes]:
    if not body:
        return []
    lines = body.split(b"\n")
    lines.pop()  # after the last newline (a slice would copy the list)
    return lines


# ``iter_blocks``' reply size: a round trip per MiB (the replay's re-reads: REREAD_BYTES)
HTTP_BLOCK_BYTES = 1 << 20


class HttpStore:
    """The store port over HTTP; ``token`` is the log's bearer token for writes."""

    def __init__(self, url: str, transport: Transport, token: str | None = None) -> None:
        self.base, self.log = parse_log_url(url)
        self.url = f"{self.base}/logs/{quote(self.log, safe='')}"
        self.name = url
        self._transport = transport
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._fence: int | None = None
        self._closed = False

    @classmethod
    def open(cls, url: str, *, token: str | None = None) -> HttpStore:
        store = cls(url, HttpxTransport(), token)
        store.head()  # fail now, naming the service, if it is not there
        return store

    # ------------------------------------------------ plumbing

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if self._closed:
            raise StoreClosed(self.name)
        reply = self._transport.request(
            method, self.url + path, {**self._headers, **(headers or {})}, body
        )
        if reply.status < 400:
            return reply
        try:
            info = reply.json()
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        raise self._error(reply.status, info, reply.body)

    def _error(self, status: int, info: dict[str, Any], body: bytes) -> Exception:
        try:
            return self._known_error(status, info, body)
        except (KeyError, TypeError, ValueError):  # an error body missing its facts
            return self._not_served(f"a request (HTTP {status})", f"{info!r:.80}")

    def _known_error(self, status: int, info: dict[str, Any], body: bytes) -> Exception:
        kind = info.get("error")
        if kind == "append_conflict":
            return AppendConflict(info.get("expected"), info.get("actual"))
        if kind == "fenced_out":
            return FencedOut(info.get("token"), int(info["newest"]))
        if kind == "duplicate_event_id":
            return DuplicateEventId(
                str(info["event_id"]), int(info["stored_position"]), int(info["new_position"])
            )
        if kind == "missing_parent":
            return MissingParent(str(info["event_id"]), str(info["parent"]), int(info["position"]))
        if kind == "bad_cursor":
            return BadCursor(str(info.get("cursor")), str(info.get("reason")))
        if kind == "record_too_large":
            return RecordTooLarge(int(info["position"]), int(info["size"]), int(info["budget"]))
        if kind == "bad_record":
            return RecordRefused(info.get("position"), info.get("field"), str(info.get("reason")))
        if kind == "clock_drift":
            return ClockDriftError(info.get("remote"), int(info["local"]), int(info["bound_ms"]))
        if kind == "bad_request":
            return ValueError(str(info.get("reason")))
        if kind == "read_only":
            return StoreReadOnly(self.name, str(info.get("reason")))
        if status == 401:
            return Unauthorized(self.name)
        text = " ".join(body[:2000].decode("utf-8", "replace").split())[:160]
        return StoreUnavailable(self.name, f"HTTP {status}: {info.get('reason') or text}")

    # An answer that is not the service's (another server at that URL, a proxy's page)
    # is StoreUnavailable naming what came, never a traceback or a wrong position.

    def _not_served(self, what: str, got: str) -> StoreUnavailable:
        return StoreUnavailable(
            self.name,
            f"the answer to {what} is not schemalog serve's ({got}): is this a served log?",
        )

    def _json(self, reply: Reply, what: str) -> Any:
        try:
            return reply.json()
        except (ValueError, RecursionError):
            shown = " ".join(reply.body[:200].decode("utf-8", "replace").split())[:80]
            raise self._not_served(what, f"not JSON: {shown!r}") from None

    def _header_int(self, reply: Reply, name: str) -> int:
        text = reply.headers.get(name.lower(), "")
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise self._not_served(name, f"header {name}: {text!r:.40}")
        return int(text)

    def _head_of(self, info: Any) -> Head:
        ok = type(info) is dict and type(info.get("position")) is int and info["position"] >= 0
        ok = ok and (info.get("checksum") is None or type(info.get("checksum")) is str)
        ok = ok and (info.get("fence") is None or type(info.get("fence")) is int)
        if not ok:
            raise self._not_served("head", f"{info!r:.80}")
        self._fence = info.get("fence")
        return Head(info["position"], info["checksum"])

    # ------------------------------------------------ the port

    def head(self) -> Head:
        return self._head_of(self._json(self._call("GET", "/head"), "head"))

    def __len__(self) -> int:
        return self.head().position

    @property
    def newest_fencing_token(self) -> int | None:
        return self._fence

    def append(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head:
        if self._closed:
            raise StoreClosed(self.name)
        check_fencing_token(fencing_token)
        prev = expected
        lines = []
        for event in events:
            if type(event) is not Event:
                raise TypeError(f"append takes Events, got {type(event).__name__}")
            line = encode_record(event, prev)
            prev = line_checksum(line)
            lines.append(line)
        headers = {EXPECTED_HEADER: "null" if expected is None else expected}
        if fencing_token is not None:
            headers[TOKEN_HEADER] = str(fencing_token)
        body = b"".join(line + b"\n" for line in lines)
        return self._head_of(self._json(self._call("POST", "/append", body, headers), "append"))

    def read(self, after: str | None = None, limit: int = 1000) -> Page:
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        query = f"?limit={limit}" + ("" if after is None else f"&after={quote(after, safe='')}")
        reply = self._call("GET", "/records" + query)
        start = self._header_int(reply, START_HEADER)
        cursor = reply.headers.get(CURSOR_HEADER.lower())
        records = []
        chain: ChainVerifier | None = None
        for pos, line in enumerate(_lines(reply.body), start):
            record = decode_record(line, pos)
            if isinstance(record, DecodeFailure):
                raise CorruptLog(self.name, pos + 1, pos, record.reason)
            if chain is None:
                chain = ChainVerifier(record.prev, pos)
            broken = chain.feed(record)
            if broken is not None:
                raise CorruptLog(self.name, pos + 1, pos, str(broken))
            records.append(record)
        if not records:
            return Page((), after, ())
        return Page(tuple(records), cursor, tuple(range(start, start + len(records))))

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]:
        pos, stop = max(start, 0), None
        while stop is None or pos < stop:
            query = f"?start={pos}&max_bytes={max_chunk_bytes}"
            if stop is not None:
                query += f"&stop={stop}"
            reply = self._call("GET", "/raw" + query)
            if stop is None:  # the log's length when the iteration began, as local stores do
                stop = self._header_int(reply, COUNT_HEADER)
            nbytes = len(reply.body)
            lines = _lines(reply.body)
            del reply  # its body, a second copy of the chunk's bytes
            if not lines:
                return
            # handed over (as NdjsonStore's chunks): nothing of this chunk is named
            # here while the reader has it, nor when the next one is fetched
            handed = [RawChunk(pos, lines, nbytes)]
            pos += len(lines)
            del lines
            yield handed.pop()

    def iter_blocks(
        self,
        start: int = 0,
        max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        block_bytes: int = HTTP_BLOCK_BYTES,
    ) -> Generator[bytes, None, int]:
        """The ``/raw`` replies' bodies as they come (port): whole lines, never split.

        A reply holds about ``block_bytes``; a record larger than that, within
        ``max_chunk_bytes``, comes in a reply of its own (the service answers 413
        for it, naming its size); a larger one is ``RecordTooLarge`` at the budget.
        """
        pos, stop = max(start, 0), None
        size = max(1, min(block_bytes, max_chunk_bytes))

        def raw(max_bytes: int) -> Reply:
            end = "" if stop is None else f"&stop={stop}"
            return self._call("GET", f"/raw?start={pos}&max_bytes={max_bytes}{end}")

        while stop is None or pos < stop:
            try:
                reply = raw(size)
            except RecordTooLarge as exc:
                if size >= max_chunk_bytes or exc.size > max_chunk_bytes:
                    raise RecordTooLarge(exc.position, exc.size, max_chunk_bytes) from None
                reply = raw(exc.size)  # that record alone
            if stop is None:  # the log's length when the iteration began, as iter_raw
                stop = self._header_int(reply, COUNT_HEADER)
            body = reply.body
            del reply
            if not body:
                return pos
            pos += body.count(b"\n")
            handed = [body]  # handed over: this frame names no body while the reader has it
            del body
            yield handed.pop()
        return pos

    def heads(self) -> tuple[str, ...]:
        heads = self._json(self._call("GET", "/heads"), "heads")
        if type(heads) is not list or not all(type(h) is str for h in heads):
            raise self._not_served("heads", f"{heads!r:.80}")
        return tuple(heads)

    def event_ids(self) -> Iterator[str]:
        for chunk in self.iter_raw(0):
            for line in chunk.lines:
                yield line_id(line).decode("ascii")
            del chunk  # before the next chunk is read: one chunk in memory, not two

    def __contains__(self, event_id: object) -> bool:
        if type(event_id) is not str or not event_id.isascii() or not event_id:
            return False
        if self._closed:
            raise StoreClosed(self.name)
        reply = self._transport.request(
            "GET", f"{self.url}/events/{quote(event_id, safe='')}", self._headers
        )
        if reply.status == 404:
            return False
        if reply.status != 200:
            raise self._error(reply.status, {}, reply.body)
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()

    def __enter__(self) -> HttpStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpLeaseStore:
    """The lease port over HTTP: the service's lease store (resource = log name).

    ``base`` is the service's URL (``http://host:port``); ``token`` the bearer
    token of the logs leased (leases are writes).
    """

    def __init__(self, base: str, token: str | None = None, transport: Transport | None = None):
        self.base = base.rstrip("/")
        self._transport = transport if transport is not None else HttpxTransport()
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _post(self, resource: str, action: str, obj: dict[str, Any]) -> Reply:
        url = f"{self.base}/logs/{quote(resource, safe='')}/lease{action}"
        return self._transport.request("POST", url, self._headers, json.dumps(obj).encode())

    def _fail(self, reply: Reply, resource: str, lease: Lease | None) -> Exception:
        try:
            info = reply.json()
        except ValueError:
            info = {}
        info = info if isinstance(info, dict) else {}
        if reply.status == 423:
            return LeaseHeld(resource, info["holder"], info["since_ms"], info["expires_at_ms"])
        if reply.status == 410 and lease is not None:
            return LeaseLost(lease, str(info.get("reason")))
        if reply.status == 401:
            return Unauthorized(f"{self.base}/logs/{resource}")
        if reply.status == 400:
            return ValueError(str(info.get("reason")))
        return StoreUnavailable(self.base, f"HTTP {reply.status}: {info.get('reason')}")

    @staticmethod
    def _lease(reply: Reply) -> Lease:
        obj = reply.json()
        return Lease(obj["resource"], obj["holder"], obj["token"], obj["expires_at_ms"])

    def acquire(self, resource: str, holder: str, ttl_ms: int) -> Lease:
        reply = self._post(resource, "", {"holder": holder, "ttl_ms": ttl_ms})
        if reply.status != 200:
            raise self._fail(reply, resource, None)
        return self._lease(reply)

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        obj = {"holder": lease.holder, "token": lease.token, "ttl_ms": ttl_ms}
        reply = self._post(lease.resource, "/renew", obj)
        if reply.status != 200:
            raise self._fail(reply, lease.resource, lease)
        return self._lease(reply)

    def release(self, lease: Lease) -> None:
        obj = {"holder": lease.holder, "token": lease.token}
        reply = self._post(lease.resource, "/release", obj)
        if reply.status != 204:
            raise self._fail(reply, lease.resource, lease)

    def close(self) -> None:
        self._transport.close()
