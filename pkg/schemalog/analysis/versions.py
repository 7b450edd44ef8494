"""Schema versions: positions and tags of a log, resolved and walked in one streaming pass.

A *version* is a point of a log. It is named by

* a **position**: the number of records applied, 0-based (``0`` is the empty
  schema before the first record, ``n`` the state after the first ``n``
  records). Every record counts, including Tag and Merge records and records
  the schema rejects (a rejected record leaves the state as it was);
* a **tag**: the name recorded by a Tag event; it names the position just
  after that Tag record (the state the Tag was written on). A tag name written
  twice in one log (two origins tagging ``v1``) is ambiguous and refuses to
  resolve, naming both positions: ask for a position instead;
* ``head``: the position after the last record;
* an **event id**: the position just after that event.

A spec is text (``parse_spec``): ``head``, digits (a position), ``tag:NAME``
(always a tag, even ``tag:12`` or ``tag:head``), an event id
(``origin@wall.logical``), or else a tag name.

The schema of a version is the replay of the log up to it. ``walk`` replays
one record at a time; ``iter_versions`` yields the states at chosen versions
(every record, every tag, or explicit positions) in one pass and keeps only the
current state, the state at the previous yielded version and small per-element
bookkeeping: O(schema) memory, never O(events). States are persistent
(``PMap``), so holding the previous one costs only what changed since.

The effective stream: versions walk a log as replay does (effective.py): on a
merged log the losers of its resolutions and its duplicate creations are
records that leave the state unchanged (``Step.skipped`` says why), and later
changes naming a duplicate's ids apply to the first creation's. The plan comes
from a pre-pass when ``events`` is a sequence (or is given as ``plan=``); a
one-shot iterator is walked record by record (merged-log semantics need a
sequence, a store, or the plan).

Provenance: ``Provenance`` records, for every live table and property, the id of
the last event that changed it and the position since which it is unchanged,
and for elements dropped since the previous yielded version, the dropping
event. compat uses it to name the event behind each finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from schemalog.errors import SchemalogError
from schemalog.log.effective import EffectivePlan, plan_of_events
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    Tag,
)
from schemalog.model.schema import Applied, Rejected, SchemaState, apply, empty_state

__all__ = [
    "HEAD",
    "Provenance",
    "Spec",
    "Step",
    "Version",
    "VersionNotFound",
    "VersionState",
    "iter_versions",
    "parse_spec",
    "resolve",
    "state_at",
    "touched_tables",
    "walk",
]

HEAD = "head"
_EVENT_ID_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}@[1-9][0-9]{0,15}\.(0|[1-9][0-9]{0,15})\Z"
)


class VersionNotFound(SchemalogError):
    """A version spec names no version of this log (or a tag that is ambiguous)."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"version {spec!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a log: ``position`` records applied; the last of them is ``event_id``."""

    position: int
    event_id: str | None = None
    tag: str | None = None

    @property
    def label(self) -> str:
        return f"{self.position} ({self.tag})" if self.tag else str(self.position)

    def __str__(self) -> str:
        return f"version {self.label}"

    def to_obj(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "position": self.position, "tag": self.tag}


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed version spec."""

    kind: Literal["position", "head", "tag", "event"]
    value: str | int

    def __str__(self) -> str:
        if self.kind == "tag":
            return f"tag:{self.value}"
        return str(self.value)


def parse_spec(text: str | int) -> Spec:
    """``head`` | digits | ``tag:NAME`` | event id | tag name (see module docstring)."""
    if isinstance(text, int):
        if text < 0:
            raise VersionNotFound(str(text), "a position is 0 or more")
        return Spec("position", text)
    if text == HEAD:
        return Spec("head", HEAD)
    if text.isascii() and text.isdigit():
        return Spec("position", int(text))
    if text.startswith("tag:") and len(text) > 4:
        return Spec("tag", text[4:])
    if _EVENT_ID_RE.match(text):
        return Spec("event", text)
    if not text:
        raise VersionNotFound(text, "empty version spec")
    return Spec("tag", text)


def _tag_of(event: Event) -> str | None:
    change = event.change
    return change.name if isinstance(change, Tag) else None


def resolve(specs: Iterable[Spec | str | int], events: Iterable[Event]) -> list[Version]:
    """Resolve several specs in one pass over ``events`` (memory: O(specs), not O(events))."""
    wanted = [s if isinstance(s, Spec) else parse_spec(s) for s in specs]
    tags: dict[str, list[Version]] = {str(s.value): [] for s in wanted if s.kind == "tag"}
    ids: dict[str, Version | None] = {str(s.value): None for s in wanted if s.kind == "event"}
    positions = {int(s.value) for s in wanted if s.kind == "position"}
    at_position: dict[int, Version] = {}
    if 0 in positions:
        at_position[0] = Version(0)
    count = 0
    last: Version = Version(0)
    for event in events:
        count += 1
        tag = _tag_of(event)
        last = Version(count, event.id, tag)
        if count in positions:
            at_position[count] = last
        if tag is not None and tag in tags:
            tags[tag].append(last)
        if event.id in ids:
            ids[event.id] = last
    out: list[Version] = []
    for spec in wanted:
        if spec.kind == "head":
            out.append(last)
        elif spec.kind == "position":
            found = at_position.get(int(spec.value))
            if found is None:
                raise VersionNotFound(str(spec), f"the log has positions 0..{count} only")
            out.append(found)
        elif spec.kind == "tag":
            hits = tags[str(spec.value)]
            if not hits:
                raise VersionNotFound(str(spec), "no Tag event has this name")
            if len(hits) > 1:
                where = ", ".join(str(v.position) for v in hits)
                raise VersionNotFound(str(spec), f"tag is ambiguous (positions {where})")
            out.append(hits[0])
        else:
            hit = ids[str(spec.value)]
            if hit is None:
                raise VersionNotFound(str(spec), "no event with this id in the log")
            out.append(hit)
    return out


# ---------------------------------------------------------------- walking


@dataclass(frozen=True, slots=True)
class Step:
    """One record applied: ``version`` is the version after it.

    ``event`` is the effective event (a merged log's aliased ids); ``skipped``
    the effective stream's reason for leaving the record out (loser,
    duplicate), else None.
    """

    version: Version
    event: Event
    before: SchemaState
    after: SchemaState
    rejected: Rejected | None
    skipped: str | None = None


def walk(
    events: Iterable[Event],
    state: SchemaState | None = None,
    *,
    plan: EffectivePlan | None = None,
) -> Iterator[Step]:
    """Apply the effective stream one record at a time (a rejected or skipped record
    leaves the state unchanged); ``plan`` None: computed when ``events`` is a sequence."""
    current = state if state is not None else empty_state()
    eplan = plan if plan is not None else plan_of_events(events)
    events = eplan.read(events)  # a store's: no record appended after the pre-pass (its end)
    stream = eplan.stream((lambda: events) if iter(events) is not events else None)
    for position, raw in enumerate(events, 1):
        event, why = stream.step(raw)
        if event is None:
            assert why is not None
            version = Version(position, raw.id, _tag_of(raw))
            yield Step(version, raw, current, current, None, why[1])
            continue
        result = apply(current, event)
        if isinstance(result, Applied):
            yield Step(
                Version(position, event.id, _tag_of(event)), event, current, result.state, None
            )
            current = result.state
        else:
            version = Version(position, event.id, _tag_of(event))
            if stream.losers and stream.goes_with(raw) is not None:
                stream.left_out(raw)  # (a copy of a creation may take its place: holders.py)
            elif (again := stream.repeats(raw, event, result.rule, current)) is not None:
                made = f"makes {again} again: {result}"  # (a duplicate, as replay says)
                yield Step(version, raw, current, current, None, made)
                continue
            yield Step(version, event, current, current, result)


def touched_tables(event: Event) -> tuple[str, ...]:
    """Ids of the tables an event changes (none for Merge and Tag)."""
    table_id: str | None = getattr(event.change, "table_id", None)
    return (table_id,) if table_id is not None else ()


class Provenance:
    """Per live element: (id of the last event that changed it, position since unchanged).

    Elements are table ids and property ids. For elements of the *base* state
    (the previous yielded version) that changed or were dropped since, ``prior``
    keeps their entry as of the base and ``dropped`` the dropping event;
    ``rebase`` clears both. ``name_since`` is the position since which an
    element has its current name. Memory: O(live elements + base).
    """

    __slots__ = ("changed", "dropped", "name_since", "prior")

    def __init__(self) -> None:
        self.changed: dict[str, tuple[str, int]] = {}
        self.name_since: dict[str, int] = {}
        self.prior: dict[str, tuple[str, int, int]] = {}
        self.dropped: dict[str, str] = {}

    def last_event(self, element: str) -> str | None:
        """The last event that changed (or dropped) ``element``."""
        hit = self.changed.get(element)
        return hit[0] if hit is not None else self.dropped.get(element)

    def base_since(self, element: str) -> int | None:
        """Position since which ``element`` was unchanged, as of the base version."""
        prior = self.prior.get(element)
        if prior is not None:
            return prior[1]
        hit = self.changed.get(element)
        return hit[1] if hit is not None else None

    def base_name_since(self, element: str) -> int | None:
        """Position since which ``element`` had its name, as of the base version."""
        prior = self.prior.get(element)
        return prior[2] if prior is not None else self.name_since.get(element)

    def rebase(self) -> None:
        self.dropped.clear()
        self.prior.clear()

    def _remember(self, element: str) -> None:
        if element not in self.prior:
            hit = self.changed.get(element)
            if hit is not None:
                self.prior[element] = (hit[0], hit[1], self.name_since.get(element, hit[1]))

    def _touch(self, element: str, event_id: str, position: int, renamed: bool = False) -> None:
        self._remember(element)
        self.changed[element] = (event_id, position)
        if renamed or element not in self.name_since:
            self.name_since[element] = position

    def _drop(self, element: str, event_id: str, in_base: bool) -> None:
        if in_base:
            self._remember(element)
            self.dropped[element] = event_id
        self.changed.pop(element, None)
        self.name_since.pop(element, None)

    def feed(self, step: Step, base: SchemaState | None) -> None:
        """What ``step`` changed (not if rejected or skipped); ``base`` None: keep no drops."""
        if step.rejected is not None or step.skipped is not None:
            return
        change, eid, pos = step.event.change, step.event.id, step.version.position
        if isinstance(change, CreateNodeTable | CreateRelTable):
            self._touch(change.table_id, eid, pos, True)
            for prop in change.properties:
                self._touch(prop.property_id, eid, pos, True)
        elif isinstance(change, AddProperty):
            self._touch(change.table_id, eid, pos)
            self._touch(change.property.property_id, eid, pos, True)
        elif isinstance(change, DropProperty):
            self._touch(change.table_id, eid, pos)
            base_table = base.tables.get(change.table_id) if base is not None else None
            in_base = base_table is not None and base_table.property(change.property_id) is not None
            self._drop(change.property_id, eid, in_base)
        elif isinstance(change, RenameProperty):
            self._touch(change.property_id, eid, pos, True)
        elif isinstance(change, RenameTable):
            self._touch(change.table_id, eid, pos, True)
        elif isinstance(change, DropTable):
            dropped = step.before.tables[change.table_id]
            base_table = base.tables.get(change.table_id) if base is not None else None
            self._drop(change.table_id, eid, base_table is not None)
            for prop in dropped.properties:
                in_base = (
                    base_table is not None and base_table.property(prop.property_id) is not None
                )
                self._drop(prop.property_id, eid, in_base)
        elif isinstance(change, AddConnection | DropConnection | CommentOnTable | SetSortedBy):
            self._touch(change.table_id, eid, pos)


@dataclass(frozen=True, slots=True)
class VersionState:
    """The state at ``version``; ``previous``/``before`` are the prior yielded version and state.

    ``touched`` holds the ids of tables changed in between (including dropped
    ones), ``events`` how many records were read, ``rejected`` the records the
    schema refused in between. ``provenance`` is live (valid until the next item).
    """

    version: Version
    state: SchemaState
    previous: Version | None
    before: SchemaState | None
    touched: frozenset[str]
    events: int
    rejected: tuple[Rejected, ...]
    provenance: Provenance
    event: Event | None = None  # the last record read (None for the start version)
    skipped: int = 0  # records in between the effective stream left out (merge losers...)


Boundaries = Literal["event", "tag"] | frozenset[int]


def iter_versions(
    events: Iterable[Event],
    every: Boundaries = "event",
    *,
    start: int = 0,
    stop: int | None = None,
    plan: EffectivePlan | None = None,
) -> Iterator[VersionState]:
    """Yield the state at ``start``, then at every boundary after it, and at ``stop``.

    ``every``: ``"event"`` (each position), ``"tag"`` (each Tag record), or a
    set of positions. ``stop`` None means the head (yielded once the log ends,
    unless it was just yielded). Reads nothing past ``stop`` (the effective
    stream's pre-pass over a sequence reads it whole: module doc).
    """
    prov = Provenance()
    state = empty_state()
    base_version = Version(0)
    base_state = state
    touched: set[str] = set()
    rejected: list[Rejected] = []
    skipped = 0
    count = 0
    started = start == 0
    last_yielded = -1
    if started:
        yield VersionState(base_version, state, None, None, frozenset(), 0, (), prov)
        last_yielded = 0
        if stop == 0:
            return
    version = base_version
    for step in walk(events, plan=plan):
        count += 1
        version = step.version
        if started:
            prov.feed(step, base_state)
            if step.skipped is None:
                touched.update(touched_tables(step.event))
            if step.rejected is not None:
                rejected.append(step.rejected)
            if step.skipped is not None:
                skipped += 1
        else:
            prov.feed(step, None)
        state = step.after
        pos = version.position
        if not started:
            if pos == start:
                started = True
                prov.rebase()
                base_version, base_state = version, state
                yield VersionState(version, state, None, None, frozenset(), 0, (), prov)
                last_yielded = pos
                if pos == stop:
                    return
            continue
        at_boundary = (
            every == "event"
            or (every == "tag" and version.tag is not None)
            or (isinstance(every, frozenset) and pos in every)
            or pos == stop
        )
        if at_boundary:
            yield VersionState(
                version,
                state,
                base_version,
                base_state,
                frozenset(touched),
                pos - base_version.position,
                tuple(rejected),
                prov,
                step.event,
                skipped,
            )
            last_yielded = pos
            prov.rebase()
            base_version, base_state = version, state
            touched.clear()
            rejected.clear()
            skipped = 0
        if pos == stop:
            return
    if not started:
        raise VersionNotFound(str(start), f"the log has positions 0..{count} only")
    if stop is not None and stop > count:
        raise VersionNotFound(str(stop), f"the log has positions 0..{count} only")
    if last_yielded != version.position:
        yield VersionState(
            version,
            state,
            base_version,
            base_state,
            frozenset(touched),
            version.position - base_version.position,
            tuple(rejected),
            prov,
            None,
        )


def state_at(events: Iterable[Event], spec: Spec | str | int) -> tuple[Version, SchemaState]:
    """The version a spec names and its schema (two passes only for tags and event ids)."""
    parsed = spec if isinstance(spec, Spec) else parse_spec(spec)
    if parsed.kind not in ("position", "head"):
        raise VersionNotFound(str(parsed), "resolve tags and event ids first (versions.resolve)")
    stop = int(parsed.value) if parsed.kind == "position" else None
    last: VersionState | None = None
    for item in iter_versions(events, frozenset(), stop=stop):
        last = item
    assert last is not None
    return last.version, last.state
