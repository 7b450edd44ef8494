"""Engine profiles: what differs between Kuzu and LadybugDB, as data.

LadybugDB is the maintained fork of Kuzu (archived October 2025). Both run
the same DDL and catalog calls; the differences that matter to us, measured
on kuzu 0.11.3 and ladybug 0.22.0 (pinned by tests/test_backend_ladybug.py):

* the Python module (``kuzu`` / ``ladybug``) and the first bytes of a
  database file (``KUZU`` + storage version 39 / ``LBUG`` + version 49): a
  file of one engine does not open in the other ("not a valid Lbug database
  file"), so the engine of an existing database is read from those bytes;
* the name ``CALL show_tables()`` gives the database (``local(kuzu)`` /
  ``main(graph)``);
* ``table_info`` of a rel table has a fifth column ``storage_direction`` on
  LadybugDB (``primary key`` on Kuzu, always False there); both print the
  same four columns we read;
* identifier quoting: inside backticks Kuzu stores a doubled backtick
  doubled (no escape at all: ```a``b``` is ``a``b``), LadybugDB reads it as
  one backtick (``a`b``), so ``cypher.quote_identifier`` asks the profile
  (``backtick_escape``); names of the model never hold a backtick, so this
  matters only for names found in a catalog;
* the DDL forms accepted: LadybugDB adds ``ALTER TABLE T SET SORTED BY
  (col ASC|DESC, ...)`` (node tables; a rel table needs a CSR layout we
  never create), which Kuzu's parser rejects;
* the two extension modules cannot live in one process: whichever is
  imported second fails with pybind11's ``generic_type: type "Database" is
  already registered!``. ``open_backend`` therefore runs an engine in a child
  process when the other one is loaded (``conflicts``).

Reserved names, measured on both engines (tests/test_kuzu_facts.py): the same
property names (``_ID``, ``_LABEL``, ``_SRC``, ``_DST``... in any letter case:
``reserved_property_names``, the model's ``names.KUZU_RESERVED_PROPERTY_NAMES``,
refused by the schema model's rule ``reserved-property-name`` whatever the
engine), and no table name (``reserved_table_names`` is empty: every one of
those names, and the catalog's own words, makes a node or rel table on both).

Backends read ``catalog_columns`` and ``database_name`` (tables of another,
attached, database are not described); the DDL renderer and the pre-check
read ``ddl_forms``; ``engines.detect_engine`` reads ``magic``.
Pure: no engine import, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemalog.errors import SchemalogError
from schemalog.model.names import KUZU_RESERVED_PROPERTY_NAMES

__all__ = [
    "ENGINES",
    "KUZU",
    "LADYBUG",
    "CatalogColumns",
    "EngineProfile",
    "UnknownEngine",
    "UnsupportedByEngine",
    "profile",
]

# Step ops of kuzu.ddl that every engine runs.
_COMMON_FORMS = frozenset(
    [
        "create_node_table",
        "create_rel_table",
        "drop_table",
        "add_property",
        "drop_property",
        "rename_table",
        "rename_property",
        "add_connection",
        "drop_connection",
        "comment",
    ]
)


@dataclass(frozen=True, slots=True)
class CatalogColumns:
    """Column names of the catalog calls, as the engine prints them."""

    table_name: str = "name"
    table_type: str = "type"
    table_comment: str = "comment"
    table_database: str = "database name"
    property_id: str = "property id"
    property_name: str = "name"
    property_type: str = "type"
    property_default: str = "default expression"
    primary_key: str = "primary key"
    source: str = "source table name"
    destination: str = "destination table name"


@dataclass(frozen=True, slots=True)
class EngineProfile:
    name: str  # what --engine takes
    module: str  # the Python package
    package: str  # the PyPI requirement (the extra installs it)
    magic: bytes  # first bytes of a database file
    storage_version: int  # the byte after the magic
    database_name: str  # what show_tables() calls the open database
    ddl_forms: frozenset[str]  # Step ops the engine accepts
    backtick_escape: bool = False  # a doubled backtick inside `...` stands for one
    catalog_columns: CatalogColumns = CatalogColumns()
    # names the engine keeps for itself (upper case; compared after upper-casing)
    reserved_property_names: frozenset[str] = KUZU_RESERVED_PROPERTY_NAMES
    reserved_table_names: frozenset[str] = frozenset()
    conflicts: tuple[str, ...] = ()  # modules that cannot share a process with ours

    def accepts(self, op: str) -> bool:
        return op in self.ddl_forms

    def require(self, op: str, statement: str = "") -> None:
        """Raise UnsupportedByEngine when the engine has no DDL form for ``op``."""
        if op not in self.ddl_forms:
            raise UnsupportedByEngine(self.name, op, statement)


class UnsupportedByEngine(SchemalogError):
    """The engine has no DDL for a change of the log (``rule``: ``<op>-unsupported``)."""

    def __init__(self, engine: str, op: str, statement: str = "") -> None:
        self.engine, self.op, self.statement = engine, op, statement
        self.rule = op.replace("_", "-") + "-unsupported"
        what = f": {statement}" if statement else ""
        super().__init__(f"{engine} cannot run {op.replace('_', ' ')} ({self.rule}){what}")


class UnknownEngine(SchemalogError):
    """A name that is no engine profile, or a file of no engine we know."""


KUZU = EngineProfile(
    name="kuzu",
    module="kuzu",
    package="kuzu==0.11.3",
    magic=b"KUZU",
    storage_version=39,
    database_name="local(kuzu)",
    ddl_forms=_COMMON_FORMS,
    conflicts=("ladybug",),
)
LADYBUG = EngineProfile(
    name="ladybug",
    module="ladybug",
    package="ladybug==0.22.0",
    magic=b"LBUG",
    storage_version=49,
    database_name="main(graph)",
    ddl_forms=_COMMON_FORMS | {"set_sorted_by"},
    backtick_escape=True,
    conflicts=("kuzu",),
)
ENGINES: dict[str, EngineProfile] = {p.name: p for p in (KUZU, LADYBUG)}


def profile(engine: str | EngineProfile) -> EngineProfile:
    if isinstance(engine, EngineProfile):
        return engine
    found = ENGINES.get(engine)
    if found is None:
        raise UnknownEngine(f"unknown engine {engine!r}; known: {', '.join(sorted(ENGINES))}")
    return found
