"""kuzu-schemalog: an event-sourced schema history for KuzuDB.

Start with ``SchemaLog`` (``schemalog.api``). The subpackages are the layers,
imports pointing down (tests/test_layers.py): ``model`` (events, clock,
names, types, the schema state), ``encoding`` (canonical JSON, checksums,
the hash chain), ``history`` (causal order, merge, conflicts), ``log`` (the
store and lease ports and adapters, replay, snapshots, tracing), ``kuzu``
and ``analysis`` (engine backends, DDL, apply, drift; compatibility,
metrics), ``browser`` (everything that talks to JS) and ``cli``.

The adapters a user constructs are exported here too. Importing this
package imports neither ``kuzu`` nor ``js``.
"""

from schemalog._version import __version__
from schemalog.api import LogUnreadable, SchemaLog, UnknownName
from schemalog.errors import SchemalogError
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_record import DdlEvents
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import MemoryLeaseStore
from schemalog.log.replay import ReplayReport, replay
from schemalog.log.store import MemoryStore, NdjsonStore
from schemalog.model.schema import Rejected

__all__ = [
    "DdlError",
    "DdlEvents",
    "FileLeaseStore",
    "LogUnreadable",
    "MemoryLeaseStore",
    "MemoryStore",
    "NativeKuzuBackend",
    "NdjsonStore",
    "Rejected",
    "ReplayReport",
    "SchemaLog",
    "SchemalogError",
    "UnknownName",
    "__version__",
    "replay",
]
