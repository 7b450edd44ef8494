"""The HTTP sync service over any store (``schemalog serve``): Starlette, SSE, uvicorn.

``serve(store, host, port)`` runs it; ``create_app(Hub(backend_for(store)))``
builds the ASGI app (tests, embedding). Needs the ``server`` extra.
"""

from __future__ import annotations

from schemalog.server.hub import Hub, backend_for

__all__ = ["Hub", "backend_for", "serve"]


def serve(
    store: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    write_tokens: dict[str, str] | None = None,
    cors_origins: list[str] | None = None,
    poll_s: float = 1.0,
) -> None:
    """Serve the logs of ``store`` (a folder of NDJSON logs or postgresql://...) until stopped."""
    import uvicorn

    from schemalog.server.app import create_app

    hub = Hub(backend_for(store), poll_s=poll_s)
    app = create_app(hub, write_tokens=write_tokens, cors_origins=cors_origins)
    print(f"schemalog serve: {hub.backend.description} on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
