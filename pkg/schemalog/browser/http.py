"""A served log from inside Pyodide: the HTTP store adapter over ``pyodide.http.pyfetch``.

Pyodide cannot open sockets; ``fetch`` is its way out, and it is
asynchronous. ``PyfetchTransport.request_async`` is the fetch itself;
``request`` waits for it synchronously through JSPI (``bridge.blocking``),
so ``HttpStore`` -- and with it ``SchemaLog``, replay and merge -- runs
unchanged in a page (Chromium has JSPI; where it is missing, ``blocking``
raises SyncBridgeUnavailable and only the async calls work).

    store = open_served("http://127.0.0.1:8080/logs/team")   # sync, JSPI
    reply = await PyfetchTransport().request_async("GET", url, {})

The page's origin must be allowed by the service (``--cors ORIGIN``).
"""

from __future__ import annotations

from typing import Any

from schemalog.browser.bridge import blocking
from schemalog.log.store.errors import StoreUnavailable
from schemalog.log.store.http import HttpStore, Reply

__all__ = ["PyfetchTransport", "open_served"]


class PyfetchTransport:
    """The HTTP transport of ``HttpStore`` in Pyodide."""

    async def request_async(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        from pyodide.http import pyfetch

        options: dict[str, Any] = {"method": method, "headers": headers, "cache": "no-store"}
        if body is not None:
            options["body"] = body.decode("utf-8")  # records are UTF-8 text
        try:
            response = await pyfetch(url, **options)
            data = await response.bytes()
        except Exception as exc:  # fetch rejects with a TypeError when the service is away
            raise StoreUnavailable(url, f"{type(exc).__name__}: {exc}") from None
        names = {str(k).lower(): str(v) for k, v in dict(response.headers).items()}
        return Reply(int(response.status), names, bytes(data))

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        return blocking(self.request_async(method, url, headers, body))

    def close(self) -> None:
        pass


def open_served(url: str, token: str | None = None) -> HttpStore:
    """The served log at ``url`` (``http://host:port/logs/NAME``), synchronously (JSPI)."""
    store = HttpStore(url, PyfetchTransport(), token)
    store.head()  # fail now, naming the service, if it is not there
    return store
