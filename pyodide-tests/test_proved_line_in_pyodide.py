"""Replay's line grammar proves in Pyodide exactly what it proves in CPython.

``encoding.proved_line`` leans on the regex engine (back-references, scoped
flags, bounded repeats): Pyodide runs Python 3.14's, CPython here 3.11's. The
grammar's edges and a sample of the one-character edits and field mutations
of every kind's line, creations included (tests/test_proved_line.py, where
CPython holds them to ``decode_record``) must give the same facts, or the
same None, in Pyodide.
"""

import contextlib
import sys
from pathlib import Path

from pytest_pyodide import run_in_pyodide

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_proved_line as cases  # noqa: E402
from schemalog.encoding import codec  # noqa: E402
from schemalog.encoding.proved_line import PROVED_KINDS, prove_line  # noqa: E402
from test_decode_fast import _edited, _mutations  # noqa: E402


def _lines() -> list[bytes]:
    lines = [cases._line(obj) for obj, _ in cases._EDGES]
    for event in cases._corpus():  # every proved kind, creations with all their parts
        if event.kind not in PROVED_KINDS:
            continue
        lines.append(cases._line(event.to_obj()))
        text = codec.event_bytes(event).decode()
        for i in range(0, len(text), 5):
            for data in _edited(text, i)[::3]:
                lines.append(codec._record_bytes(codec.record_checksum(None, data), data, None))
        for case in _mutations(event.to_obj())[::4]:
            with contextlib.suppress(codec.NotCanonical):  # a float: no canonical line
                lines.append(cases._line(case))
    return lines


@run_in_pyodide(packages=["kuzu-schemalog"])
def _proved_in_pyodide(selenium, lines):
    from schemalog.encoding.proved_line import prove_line

    return [repr(prove_line(line)) for line in lines]


def test_the_line_grammar_proves_the_same_in_pyodide(selenium):
    lines = _lines()
    here = [repr(prove_line(line)) for line in lines]
    assert sum(r != "None" for r in here) > 100  # sound lines among them, not only rejections
    assert sum(r == "None" for r in here) > 100
    assert _proved_in_pyodide(selenium, lines) == here
