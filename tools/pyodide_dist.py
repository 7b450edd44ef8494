"""Make a Pyodide lock file describe the wheels we actually ship.

npm's Pyodide core carries a pyodide-lock.json that names every package of
the full distribution, with the sha256 of Pyodide's own builds. We ship a few
of those as PyPI's pure wheels instead (same name and version), whose bytes
differ: rewrite the sha256 (and file name) of exactly those entries, so that
`loadPackage` verifies what it downloads. Our own wheel is added afterwards
by `pyodide lockfile add-wheels`.

Usage: python tools/pyodide_dist.py match-lock LOCK DIST_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def match_lock(lock_path: Path, dist: Path) -> list[str]:
    lock = json.loads(lock_path.read_text())
    packages = lock["packages"]
    matched = []
    for wheel in sorted(dist.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        entry = packages.get(canonical(name))
        if entry is None:
            raise SystemExit(f"{wheel.name}: no package {canonical(name)!r} in {lock_path}")
        if entry["version"] != version:
            raise SystemExit(
                f"{wheel.name}: the lock pins {canonical(name)} {entry['version']}, not {version}"
            )
        entry["file_name"] = wheel.name
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
        matched.append(wheel.name)
    lock_path.write_text(json.dumps(lock, indent=2) + "\n")
    return matched


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "match-lock":
        print(__doc__, file=sys.stderr)
        return 2
    matched = match_lock(Path(argv[1]), Path(argv[2]))
    print(f"lock entries matched to shipped wheels: {len(matched)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
