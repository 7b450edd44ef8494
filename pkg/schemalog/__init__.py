"""kuzu-schemalog: an event-sourced schema history for KuzuDB."""

from schemalog._version import __version__

__all__ = ["__version__"]
