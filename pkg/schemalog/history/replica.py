"""Partition recovery: replicas exchange logs and converge.

Partition recovery (``Replica``)
    Replicas exchange logs and merge; re-delivery changes nothing. Refused:
    a log whose hash chain is broken (ChainBroken), an event id with other
    content (ForkedEvent naming the id, both checksums and positions), events
    with parents nowhere in the union (MissingParents), and a peer whose log
    at the position we last agreed on no longer carries the agreed checksum
    (PrefixRewritten): its history for those positions was rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from schemalog.encoding.codec import checksum, event_bytes
from schemalog.errors import SchemalogError
from schemalog.history.merge import (
    MergeResult,
    Strategy,
    decode_log,
    merge_events,
    merge_logs,
)
from schemalog.model.events import (
    Event,
)

__all__ = ["PrefixRewritten", "Replica"]


class PrefixRewritten(SchemalogError):
    """A peer's log lost or changed ``event_id``, a head both sides agreed on at the last exchange.

    Merged logs are in canonical causal order, so positions move when older
    concurrent events arrive; the agreed heads (and, through the closure check
    and the per-id content check, all their ancestors) are what must persist.
    """

    def __init__(self, peer: str, event_id: str, expected: str, actual: str | None) -> None:
        self.peer = peer
        self.event_id = event_id
        self.expected = expected
        self.actual = actual
        got = "missing" if actual is None else actual
        super().__init__(
            f"peer {peer} rewrote its history: event {event_id} agreed at the last exchange "
            f"as {expected} is {got}"
        )


# ---------------------------------------------------------------- partition recovery


class Replica:
    """One partitioned instance: its log (canonical merged form) and what it agreed with peers."""

    def __init__(
        self,
        name: str,
        events: Iterable[Event] = (),
        strategy: Strategy = "lww",
        per_kind: Mapping[str, Strategy] | None = None,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.per_kind = per_kind
        self.result = merge_events([list(events)], strategy, per_kind)
        self.agreed: dict[str, dict[str, str]] = {}  # peer -> agreed heads (id -> checksum)

    @property
    def lines(self) -> list[bytes]:
        return self.result.lines()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.result.events

    def receive(self, peer: str, lines: Sequence[bytes]) -> MergeResult:
        """Merge a peer's whole log into ours; refuse forks and rewritten histories."""
        records = decode_log(lines)
        agreed = self.agreed.get(peer)
        if agreed:
            theirs = {r.event.id: checksum(event_bytes(r.event)) for r in records}
            for eid, expected in sorted(agreed.items()):
                if theirs.get(eid) != expected:
                    raise PrefixRewritten(peer, eid, expected, theirs.get(eid))
        ours = decode_log(self.lines)
        self.result = merge_logs([ours, records], self.strategy, self.per_kind)
        return self.result

    def heads(self) -> dict[str, str]:
        """Event id -> content hash of the events no other event names as parent.

        The event's own hash, not its record checksum: a v2 record checksum
        depends on the records before it, which move as older events arrive.
        """
        parents = {p for e in self.events for p in e.parents}
        return {e.id: checksum(event_bytes(e)) for e in self.events if e.id not in parents}

    def exchange(self, other: Replica) -> None:
        """Both sides send their logs; afterwards both hold the same bytes."""
        self.receive(other.name, other.lines)
        other.receive(self.name, self.lines)
        heads = self.heads()
        self.agreed[other.name] = heads
        other.agreed[self.name] = dict(heads)
