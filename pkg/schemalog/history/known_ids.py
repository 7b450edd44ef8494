"""The causal facts a log's reader checks as it streams: known parents, one record per id.

A log is in causal order: every parent an event names is an earlier record of
the same log, and an id is stored once. ``KnownIds`` checks both in one pass
with 8 bytes per id (a 64-bit BLAKE2b digest of the id, the same on every
runtime), so that ``verify`` and every command built on it keep their bounded
memory on a log of millions of records: the digests of the newest ids sit in
a set, older ones in a few sorted ``array('q')`` runs (merged pairwise as they
grow, like a binary counter, up to 128K ids a run).

Exactness: a parent whose digest is absent is certainly missing. A repeated
digest is only a *candidate* duplicate: the caller confirms it by finding
the earlier record with that id (``verify`` re-reads the log, in the error
path only), so a digest collision never refuses a sound log. The one
approximation: a missing parent whose digest equals another stored id's goes
unnoticed, with probability about n / 2**64 per parent (n ids stored).
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left

__all__ = ["KnownIds", "id_digest"]

_RECENT_MAX = 1 << 15
# Runs stop merging at this size: a merge builds a transient list of Python
# ints (~36 bytes each), so this bounds that peak (~9 MB) at the cost of one
# more bisect per 128K ids.
_RUN_MAX = 1 << 17


def id_digest(event_id: str) -> int:
    """A 64-bit digest of an event id (signed, for ``array('q')``)."""
    return int.from_bytes(
        hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
        "little",
        signed=True,
    )


class KnownIds:
    """Digests of the ids seen so far; see the module docstring."""

    __slots__ = ("_recent", "_runs", "count")

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []
        self.count = 0

    def __contains__(self, digest: int) -> bool:
        if digest in self._recent:
            return True
        for run in self._runs:
            i = bisect_left(run, digest)
            if i < len(run) and run[i] == digest:
                return True
        return False

    def add(self, digest: int) -> None:
        self._recent.add(digest)
        self.count += 1
        if len(self._recent) >= _RECENT_MAX:
            self._flush()

    def _flush(self) -> None:
        run = array("q", sorted(self._recent))
        self._recent = set()
        # merge equal-sized neighbours: sizes stay distinct powers of two (times the flush)
        while self._runs and len(self._runs[-1]) <= len(run) and len(run) < _RUN_MAX:
            run = array("q", sorted([*self._runs.pop(), *run]))  # timsort: two runs, linear
        self._runs.append(run)

    def nbytes(self) -> int:
        return sum(run.itemsize * len(run) for run in self._runs) + 64 * len(self._recent)
