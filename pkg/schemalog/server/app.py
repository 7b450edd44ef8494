"""The HTTP sync service (Starlette; Server-Sent Events for new records).

Routes under ``/logs/{log}`` (the README's "HTTP API" lists them with
examples): ``GET head``, ``POST append``, ``GET records``, ``GET raw``,
``GET heads``, ``GET events/{id}``, ``GET stream`` (SSE), ``POST lease``,
``POST lease/renew``, ``POST lease/release``; ``GET /healthz``.

Every record of an append is decoded and verified here before the store
sees it: canonical form, checksum, event validity, the hash link from the
expected head through the batch; the store then checks, under its lock, that
every parent is stored or earlier in the batch (``MissingParent``, answered
as ``missing_parent``). A client cannot store what ``verify`` would refuse.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from schemalog.encoding.codec import DecodeFailure, decode_record
from schemalog.errors import ClockDriftError, InvalidEvent
from schemalog.log.lease.port import Lease, LeaseHeld, LeaseLost
from schemalog.log.store.errors import (
    AppendConflict,
    BadCursor,
    DuplicateEventId,
    FencedOut,
    MissingParent,
    RecordTooLarge,
    StoreError,
    StoreReadOnly,
)
from schemalog.log.store.http import (
    COUNT_HEADER,
    CURSOR_HEADER,
    EXPECTED_HEADER,
    START_HEADER,
    TOKEN_HEADER,
)
from schemalog.log.store.port import EventStore, Head
from schemalog.server.hub import Hub

__all__ = ["BadRequest", "create_app"]

MAX_BODY = 64 * 1024 * 1024
# What one read answers at most, whatever it asks for: a page of records (decoded in
# memory under the log's lock) and a raw chunk. Clients follow the cursor / position.
MAX_PAGE = 10_000
MAX_RAW_BYTES = 64 * 1024 * 1024
NDJSON = "application/x-ndjson"


class BadRequest(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body


def _bad(reason: str, status: int = 400) -> BadRequest:
    return BadRequest(status, {"error": "bad_request", "reason": reason})


def _head(head: Head, store: EventStore) -> dict[str, Any]:
    return {
        "position": head.position,
        "checksum": head.checksum,
        "fence": store.newest_fencing_token,
    }


def _int_param(request: Request, name: str, default: int | None, low: int = 0) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < low:
        raise _bad(f"{name} must be an integer >= {low}, got {text!r}")
    return int(text)


def verify_batch(body: bytes, expected: str | None) -> list[Any]:
    """The events of an append body, or BadRequest naming the first bad record."""
    if body and not body.endswith(b"\n"):
        raise _bad("the body must be NDJSON records, each ending with a newline")
    lines = body.split(b"\n")[:-1] if body else []
    prev, events = expected, []
    for i, line in enumerate(lines):

        def refuse(reason: str, field: str | None = None, i: int = i) -> BadRequest:
            return BadRequest(
                400, {"error": "bad_record", "position": i, "field": field, "reason": reason}
            )

        try:
            record = decode_record(line, i)
        except RecursionError:  # nesting deeper than the decoder's stack
            raise refuse("malformed JSON: nested too deeply") from None
        if isinstance(record, DecodeFailure):
            raise refuse(record.reason, record.field)
        if record.prev != prev:
            raise refuse(f"hash link broken: prev is {record.prev}, expected {prev}", "prev")
        prev = record.checksum
        events.append(record.event)
    return events


def create_app(
    hub: Hub,
    *,
    write_tokens: dict[str, str] | None = None,
    cors_origins: list[str] | None = None,
) -> Starlette:
    """``write_tokens``: log name (or ``*``) -> bearer token required for its writes."""
    tokens = dict(write_tokens or {})

    def check_write(request: Request, log: str) -> None:
        want = tokens.get(log, tokens.get("*"))
        if want is None:
            return
        got = request.headers.get("authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {want}".encode()):
            raise BadRequest(
                401, {"error": "unauthorized", "reason": f"writes to {log} need its token"}
            )

    async def call(log: str, create: bool, work: Callable[[EventStore], Any]) -> Any:
        return await run_in_threadpool(hub.with_store, log, create, work)

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_BODY):
            raise _bad(f"body of {declared} bytes exceeds {MAX_BODY}", 413)
        # read as it comes and stop at the bound: a chunked body declares no length,
        # and reading it whole first would hold whatever a client sends
        parts: list[bytes] = []
        size = 0
        async for piece in request.stream():
            size += len(piece)
            if size > MAX_BODY:
                raise _bad(f"body of more than {MAX_BODY} bytes", 413)
            parts.append(piece)
        return b"".join(parts)

    # ------------------------------------------------ routes

    async def head(request: Request) -> Response:
        log = request.path_params["log"]
        return JSONResponse(await call(log, False, lambda s: _head(s.head(), s)))

    async def append(request: Request) -> Response:
        log = request.path_params["log"]
        check_write(request, log)
        raw_expected = request.headers.get(EXPECTED_HEADER)
        if raw_expected is None:
            raise _bad(f"the {EXPECTED_HEADER} header is required (a checksum or null)")
        expected = None if raw_expected == "null" else raw_expected
        raw_token = request.headers.get(TOKEN_HEADER)
        if raw_token is not None and not (
            raw_token.isascii() and raw_token.isdigit() and len(raw_token) <= 19
        ):
            shown = raw_token if len(raw_token) <= 40 else raw_token[:40] + "..."
            raise _bad(f"{TOKEN_HEADER} must be an integer in 0..2**63-1, got {shown!r}")
        token = None if raw_token is None else int(raw_token)
        body = await body_of(request)

        def work(store: EventStore) -> dict[str, Any]:
            events = verify_batch(body, expected)  # the store checks the parents
            return _head(store.append(events, expected=expected, fencing_token=token), store)

        result = await call(log, True, work)
        hub.fire(log)
        return JSONResponse(result, status_code=201)

    async def records(request: Request) -> Response:
        log = request.path_params["log"]
        after = request.query_params.get("after")
        limit = _int_param(request, "limit", 1000, low=1)
        assert limit is not None
        limit = min(limit, MAX_PAGE)  # a page, not the log: the cursor goes on

        def work(store: EventStore) -> tuple[int, str | None, list[bytes]]:
            page = store.read(after, limit)  # checks the cursor, decodes and links the page
            if not page.records:
                return 0, page.cursor, []
            budget = sum(r.size + 1 for r in page.records)
            chunk = next(iter(store.iter_raw(page.positions[0], budget)))
            return page.positions[0], page.cursor, chunk.lines[: len(page.records)]

        start, cursor, lines = await call(log, False, work)
        headers = {START_HEADER: str(start)}
        if cursor is not None:
            headers[CURSOR_HEADER] = cursor
        return Response(b"".join(x + b"\n" for x in lines), headers=headers, media_type=NDJSON)

    async def raw(request: Request) -> Response:
        log = request.path_params["log"]
        start = _int_param(request, "start", 0)
        budget = _int_param(request, "max_bytes", 32 * 1024 * 1024, low=1)
        stop = _int_param(request, "stop", None)
        assert start is not None and budget is not None
        budget = min(budget, MAX_RAW_BYTES)  # a chunk, not the log: the client asks on

        def work(store: EventStore) -> tuple[int, list[bytes]]:
            count = len(store)
            end = count if stop is None else min(stop, count)
            if start >= end:
                return count, []
            chunk = next(iter(store.iter_raw(start, budget)), None)
            return count, [] if chunk is None else chunk.lines[: end - start]

        count, lines = await call(log, False, work)
        body = b"".join(x + b"\n" for x in lines)
        return Response(body, headers={COUNT_HEADER: str(count)}, media_type=NDJSON)

    async def heads(request: Request) -> Response:
        return JSONResponse(await call(request.path_params["log"], False, lambda s: s.heads()))

    async def has_event(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        found = await call(request.path_params["log"], False, lambda s: event_id in s)
        return JSONResponse({"id": event_id, "stored": found}, status_code=200 if found else 404)

    async def stream(request: Request) -> Response:
        from sse_starlette.sse import EventSourceResponse

        log = request.path_params["log"]
        after = request.query_params.get("after") or request.headers.get("last-event-id")

        def page(cursor: str | None) -> tuple[str | None, list[bytes]]:
            def work(store: EventStore) -> tuple[str | None, list[bytes]]:
                got = store.read(cursor, 500)
                if not got.records:
                    return cursor, []
                budget = sum(r.size + 1 for r in got.records)
                chunk = next(iter(store.iter_raw(got.positions[0], budget)))
                return got.cursor, chunk.lines[: len(got.records)]

            return hub.with_store(log, False, work)

        await call(log, False, lambda s: s.read(after, 1))  # a bad cursor is a 400 up front

        async def events() -> AsyncIterator[dict[str, str]]:
            cursor = after
            while True:
                woken = hub.signal(log)  # before reading: an append in between wakes us
                cursor, lines = await run_in_threadpool(page, cursor)
                if lines:
                    data = b"\n".join(lines).decode("utf-8")
                    yield {"event": "records", "id": cursor or "", "data": data}
                    continue
                await hub.wait(woken)

        return EventSourceResponse(events(), ping=15)

    async def lease(request: Request) -> Response:
        log = request.path_params["log"]
        action = request.path_params.get("action", "acquire")
        if action not in ("acquire", "renew", "release"):
            raise _bad(f"no lease action {action!r} (renew, release)", 404)
        check_write(request, log)
        try:
            obj = json.loads(await body_of(request) or b"{}")
        except ValueError as exc:
            raise _bad(f"the body must be a JSON object: {exc}") from None
        except RecursionError:  # nesting deeper than the parser's stack
            raise _bad("the body must be a JSON object: nested too deeply") from None
        if not isinstance(obj, dict):
            raise _bad("the body must be a JSON object")
        holder, ttl = obj.get("holder"), obj.get("ttl_ms")

        def work(leases: Any) -> Any:
            if action == "acquire":  # (fences the log on a backend that needs it)
                return hub.acquire(leases, log, holder, ttl)
            token = obj.get("token")
            if type(token) is not int or type(holder) is not str:
                raise _bad("renew and release take holder (string) and token (int)")
            mine = Lease(log, holder, token, 0)
            if action == "renew":
                return leases.renew(mine, ttl)
            leases.release(mine)
            return None

        got = await run_in_threadpool(hub.with_leases, work)
        if got is None:
            return Response(status_code=204)
        return JSONResponse(
            {
                "resource": got.resource,
                "holder": got.holder,
                "token": got.token,
                "expires_at_ms": got.expires_at_ms,
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "backend": hub.backend.description})

    # ------------------------------------------------ errors -> answers

    async def on_bad(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return JSONResponse(exc.body, status_code=exc.status)

    async def on_store_error(request: Request, exc: Exception) -> Response:
        status, body = store_answer(exc)
        return JSONResponse(body, status_code=status)

    async def on_value_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "bad_request", "reason": str(exc)}, status_code=400)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await run_in_threadpool(hub.stop)

    routes = [
        Route("/healthz", healthz),
        Route("/logs/{log}/head", head),
        Route("/logs/{log}/append", append, methods=["POST"]),
        Route("/logs/{log}/records", records),
        Route("/logs/{log}/raw", raw),
        Route("/logs/{log}/heads", heads),
        Route("/logs/{log}/events/{event_id}", has_event),
        Route("/logs/{log}/stream", stream),
        Route("/logs/{log}/lease", lease, methods=["POST"]),
        Route("/logs/{log}/lease/{action:str}", lease, methods=["POST"]),
    ]
    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Last-Event-ID",
                    EXPECTED_HEADER,
                    TOKEN_HEADER,
                ],
                expose_headers=[START_HEADER, CURSOR_HEADER, COUNT_HEADER],
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            BadRequest: on_bad,
            StoreError: on_store_error,
            LeaseHeld: on_store_error,
            LeaseLost: on_store_error,
            InvalidEvent: on_value_error,
            ClockDriftError: on_store_error,
            ValueError: on_value_error,
        },
        lifespan=lifespan,
    )


def store_answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a store or lease error."""
    if isinstance(exc, AppendConflict):
        return 412, {"error": "append_conflict", "expected": exc.expected, "actual": exc.actual}
    if isinstance(exc, FencedOut):
        return 409, {"error": "fenced_out", "token": exc.token, "newest": exc.newest}
    if isinstance(exc, DuplicateEventId):
        return 400, {
            "error": "duplicate_event_id",
            "event_id": exc.event_id,
            "stored_position": exc.stored_position,
            "new_position": exc.new_position,
        }
    if isinstance(exc, MissingParent):
        return 400, {
            "error": "missing_parent",
            "event_id": exc.event_id,
            "parent": exc.parent,
            "position": exc.position,
        }
    if isinstance(exc, BadCursor):
        return 400, {"error": "bad_cursor", "cursor": exc.cursor, "reason": exc.reason}
    if isinstance(exc, RecordTooLarge):
        return 413, {
            "error": "record_too_large",
            "position": exc.position,
            "size": exc.size,
            "budget": exc.budget,
        }
    if isinstance(exc, LeaseHeld):
        return 423, {
            "error": "lease_held",
            "holder": exc.holder,
            "since_ms": exc.since_ms,
            "expires_at_ms": exc.expires_at_ms,
            "reason": str(exc),
        }
    if isinstance(exc, ClockDriftError):
        # stamped too far ahead of the service's clock (the store's drift bound)
        return 400, {
            "error": "clock_drift",
            "remote": str(exc.remote),
            "local": exc.local,
            "bound_ms": exc.bound_ms,
        }
    if isinstance(exc, LeaseLost):
        return 410, {"error": "lease_lost", "reason": exc.reason}
    if isinstance(exc, StoreReadOnly):  # a hot standby: reads only
        return 503, {"error": "read_only", "reason": exc.reason or str(exc)}
    return 503, {"error": "store_error", "reason": str(exc)}
