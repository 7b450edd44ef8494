"""Kuzu backends: the port (``port``) and its adapters (``kuzu_native``; kuzu-wasm later).

Importing this package never imports ``kuzu``; the native adapter imports it
when a ``NativeKuzuBackend`` is constructed.
"""

from schemalog.backends.port import (
    BackendError,
    Catalog,
    KuzuBackend,
    NodeTableInfo,
    PropertyInfo,
    RelTableInfo,
)

__all__ = [
    "BackendError",
    "Catalog",
    "KuzuBackend",
    "NodeTableInfo",
    "PropertyInfo",
    "RelTableInfo",
]
