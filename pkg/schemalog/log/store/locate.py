"""A LOG argument to its store: a path, ``postgresql://...?log=NAME`` or a served log URL.

``open_store`` is what the command line calls for every LOG it reads; the
network adapters are imported only when such a URL is given. A served log's
bearer token (for writes) comes from ``SCHEMALOG_TOKEN``; a PostgreSQL
password belongs in the URL or in libpq's usual places (``PGPASSWORD``,
``~/.pgpass``).
"""

from __future__ import annotations

import os

from schemalog.log.store.errors import NotALog, StoreMissing
from schemalog.log.store.port import EventStore

__all__ = ["is_url", "open_store"]

_PG = ("postgresql://", "postgres://")
_HTTP = ("http://", "https://")


def is_url(spec: str) -> bool:
    return spec.startswith(_PG + _HTTP)


def open_store(
    spec: str, *, create: bool = False, readonly: bool = False, verify: bool = True
) -> EventStore:
    """Open the log named by ``spec``; StoreMissing if it is not there (and not ``create``);
    NotALog for a URL that names no log (no ``?log=``, no ``/logs/NAME``, not a URL)."""
    if spec.startswith(_PG):
        from schemalog.log.store.postgres import PostgresStore, redact

        try:
            return PostgresStore.open(spec, create=create and not readonly)
        except ValueError as exc:  # the URL, not the server: said as such, not a traceback
            shown = redact(spec)  # (never a password)
            raise NotALog(shown, str(exc).removeprefix(f"{shown}: ")) from None
    if spec.startswith(_HTTP):
        from schemalog.log.store.http import HttpStore, parse_log_url

        try:
            parse_log_url(spec)
        except ValueError as exc:
            raise NotALog(spec, str(exc)) from None
        store = HttpStore.open(spec, token=os.environ.get("SCHEMALOG_TOKEN"))
        if not create and store.head().position == 0:
            store.close()
            raise StoreMissing(spec)
        return store
    from schemalog.log.store.ndjson import NdjsonStore

    if not create and not os.path.exists(spec):
        raise StoreMissing(spec)
    return NdjsonStore.open(spec, create=create, readonly=readonly, verify=verify)
