"""Layer 5, kuzu: the backend port (``port``), the native adapter (``native``),
DDL rendering and compaction (``ddl``, ``cypher``), apply and drift. The
kuzu-wasm adapter lives in ``schemalog.browser.kuzu_wasm``.

Importing this package never imports ``kuzu``; the native adapter imports it
when a ``NativeKuzuBackend`` is constructed.
"""

from schemalog.kuzu.port import (
    BackendError,
    Catalog,
    KnownCrash,
    KuzuBackend,
    NodeTableInfo,
    PropertyInfo,
    RelTableInfo,
)

__all__ = [
    "BackendError",
    "Catalog",
    "KnownCrash",
    "KuzuBackend",
    "NodeTableInfo",
    "PropertyInfo",
    "RelTableInfo",
]
