"""Sum the junit files of the test suites into one closing line.

Usage: python tools/summarize_junit.py NAME:EXIT_CODE:JUNIT_FILE ...

Prints one line per suite and, last, `total: N passed, N failed, N skipped`.
Exits non-zero when any suite failed, errored, or ran no test at all.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(junit: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a pytest junit file; failed includes errors."""
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    ok = True
    total = [0, 0, 0]
    for arg in argv:
        name, rc, path = arg.split(":", 2)
        junit = Path(path)
        if not junit.exists():
            print(f"{name}: no junit file ({path}); pytest exit code {rc}")
            ok = False
            continue
        passed, failed, skipped = counts(junit)
        verdict = "ok"
        if int(rc) != 0 or failed:
            verdict, ok = f"FAILED (pytest exit code {rc})", False
        if passed + failed == 0:
            verdict, ok = "FAILED: ran no test", False
        print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped - {verdict}")
        for i, n in enumerate((passed, failed, skipped)):
            total[i] += n
    print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
