"""kuzu-schemalog: an event-sourced schema history for KuzuDB.

Start with ``SchemaLog`` (``schemalog.api``); the modules underneath are the
pure core (events, codec, clock, schema, ordering, merge, compat, metrics,
ddl), the ports (store, lease, backends) and their adapters.
"""

from schemalog._version import __version__
from schemalog.api import LogUnreadable, SchemaLog, UnknownName
from schemalog.model.schema import Rejected

__all__ = ["LogUnreadable", "Rejected", "SchemaLog", "UnknownName", "__version__"]
