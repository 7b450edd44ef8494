"""Session set-up shared by every CPython test module.

Kuzu's and LadybugDB's extension modules cannot be loaded into one process
(pybind11: 'type "Database" is already registered'). The test process loads
``kuzu`` first, whatever order the modules run in, so that every LadybugDB
backend a test opens through ``engines.open_backend`` runs in a child process
(``kuzu.remote``) and no test can make ``import kuzu`` fail for the tests after
it. tests/test_backend_ladybug.py runs LadybugDB in-process in a process of its own.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("kuzu") is not None:
    import kuzu  # noqa: F401
