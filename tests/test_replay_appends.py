"""A replay reads the records its plan's pre-pass read, no more.

Writers append while a replay runs. A record appended after the pre-pass (which
reads the whole log for Merges with resolutions) may hold a resolution the plan
never saw: read anyway, it would decide the records before it otherwise, and the
report would name a position whose state no whole replay gives (a snapshot would
keep that state). So the replay ends where the pre-pass ended
(``EffectivePlan.end``); the next replay takes the rest.

Each test appends from the pre-pass's read of the store's blocks, the moment the
race happens: a Merge that resolves a rename-rename conflict (a's Town wins over
b's Village) the log held open until then.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.history.merge import merge_events, replay_merged
from schemalog.log.replay import replay
from schemalog.log.snapshot import SnapshotDir, SnapshotKey, replay_with_snapshots
from schemalog.log.store import MemoryStore
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.model.events import Event, RenameTable, build_node_table, new_event
from test_replay import ticking_clock

KEY = SnapshotKey(b"k" * 32)


pytestmark = pytest.mark.usefixtures("snapshot_key_outside_home")


def open_then_resolved() -> tuple[list[Event], list[Event], list[Event]]:
    """A table renamed to Town by a and to Village by b, concurrently (no winner), then
    the Merge that resolves it for a: (the open log, what resolves it, the whole log)."""
    city = build_node_table("City", [("id", "INT64")], "id")
    base = new_event(ticking_clock("o", 1_700_000_000_000), "ws", (), city)
    town, village = RenameTable(base.id, "Town"), RenameTable(base.id, "Village")
    a = new_event(ticking_clock("a", 1_700_000_001_000), "ws", (base.id,), town)
    b = new_event(ticking_clock("b", 1_700_000_002_000), "ws", (base.id,), village)
    open_log = list(merge_events([[base, a], [base, b]], "reject").events)
    resolved = merge_events([open_log], "fww")
    return open_log, list(resolved.added), list(resolved.events)


class AppendsAfterThePrePass:
    """A store whose first read to the end (the plan's pre-pass: its blocks, or with
    ``blocks=False`` its lines, as a store without ``iter_blocks``) makes ``append``
    run: another writer's records land between the pre-pass and replay's own read."""

    def __init__(self, store: Any, append: Callable[[], None], blocks: bool = True) -> None:
        self.store, self.append, self.blocks, self.appended = store, append, blocks, False

    def __getattr__(self, name: str) -> Any:
        if name == "iter_blocks":
            if not self.blocks:
                raise AttributeError(name)
            return self._iter_blocks
        return getattr(self.store, name)

    def _read_once(self) -> None:
        if not self.appended:
            self.appended = True
            self.append()

    def _iter_blocks(self, *args: Any, **kwargs: Any) -> Generator[Any, None, int]:
        end: int = yield from self.store.iter_blocks(*args, **kwargs)
        self._read_once()
        return end  # (port: where the read ended)

    def iter_raw(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from self.store.iter_raw(*args, **kwargs)
        if not self.blocks:
            self._read_once()


def _racing(
    blocks: bool,
) -> tuple[MemoryStore, AppendsAfterThePrePass, Any, list[Event], list[Event]]:
    """The open log in a memory store, that store racing its resolution in after the
    pre-pass, and the open log's whole replay: (store, racing, prefix, open log, whole)."""
    open_log, resolution, whole = open_then_resolved()
    store = MemoryStore()
    store.append(open_log, expected=None)
    racing = AppendsAfterThePrePass(
        store, lambda: store.append(resolution, expected=store.head().checksum), blocks
    )
    return store, racing, replay(store), open_log, whole


def _names(report: Any) -> list[str]:
    return [t.name for t in report.state.tables.values()]


@pytest.mark.parametrize("blocks", [True, False], ids=["blocks", "lines"])
def test_a_resolution_appended_after_the_pre_pass_is_left_to_the_next_replay(
    blocks: bool,
) -> None:
    store, racing, prefix, open_log, whole = _racing(blocks)

    report = replay(racing)  # type: ignore[arg-type]
    assert racing.appended and len(store) == len(whole)
    assert (report.position, report.state_hash) == (len(open_log), prefix.state_hash)
    assert report.ok and report.head == prefix.head

    after = replay(store)  # the next replay takes the resolution: a's Town wins
    assert after.state_hash == replay_merged(whole).state_hash
    assert (after.position, _names(after)) == (len(whole), ["Town"])
    assert [s.event_id for s in after.skipped] == [open_log[2].id]  # b's rename: the loser


def test_a_snapshot_replay_does_not_save_a_state_no_whole_replay_gives(tmp_path: Path) -> None:
    """The snapshot's delta pre-pass, then the append: the replay from the snapshot ends
    at the snapshot's position and saves nothing newer; the next one replays whole
    (a merged log) and gives the resolution's state."""
    open_log, resolution, whole = open_then_resolved()
    store = MemoryStore()
    store.append(open_log, expected=None)
    snaps = SnapshotDir(tmp_path / "snaps", key=KEY)
    replay_with_snapshots(store, snaps)
    racing = AppendsAfterThePrePass(
        store, lambda: store.append(resolution, expected=store.head().checksum)
    )

    report = replay_with_snapshots(racing, snaps)  # type: ignore[arg-type]
    assert racing.appended and report.position == len(open_log)
    assert snaps.positions() == [len(open_log)]  # nothing saved past what the plan saw

    after = replay_with_snapshots(store, snaps)
    assert (after.position, _names(after)) == (len(whole), ["Town"])
    assert after.state_hash == replay_merged(whole).state_hash


_WRITER = """
import json, sys
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.model.events import Event
store = NdjsonStore.open(sys.argv[1])
events = [Event.from_obj(json.loads(line)) for line in open(sys.argv[2])]
store.append(events, expected=store.head().checksum)
store.close()
"""


def test_another_process_appending_to_an_ndjson_log_meanwhile(tmp_path: Path) -> None:
    """The same race on a file: another process appends the resolution to the NDJSON
    log while this process's read-only store replays it."""
    open_log, resolution, whole = open_then_resolved()
    path = tmp_path / "log.ndjson"
    writer = NdjsonStore.open(path, create=True)
    writer.append(open_log, expected=None)
    writer.close()
    added = tmp_path / "added.ndjson"
    added.write_text("".join(json.dumps(e.to_obj()) + "\n" for e in resolution))

    def other_process() -> None:
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_WRITER), str(path), str(added)],
            check=True,
            timeout=120,
        )

    reader = NdjsonStore.open(path, readonly=True)
    prefix = replay(reader)
    racing = AppendsAfterThePrePass(reader, other_process)
    report = replay(racing)  # type: ignore[arg-type]
    assert racing.appended and len(reader) == len(whole)
    assert (report.position, report.state_hash) == (len(open_log), prefix.state_hash)
    after = replay(reader)
    assert (after.position, _names(after)) == (len(whole), ["Town"])
    reader.close()


@pytest.mark.parametrize("read", ["versions", "effective events"])
@pytest.mark.parametrize("blocks", [True, False], ids=["blocks", "lines"])
def test_versions_and_the_effective_stream_of_a_store_stop_where_the_pre_pass_did(
    blocks: bool, read: str
) -> None:
    """The other readers of a store's effective stream (versions, compat, metrics read
    ``walk`` or ``effective_events`` over ``StoreEvents``): the same race, the same end."""
    from schemalog.analysis.versions import state_at
    from schemalog.encoding.codec import state_hash
    from schemalog.log.effective import effective_events
    from schemalog.log.store.events import StoreEvents

    store, racing, prefix, open_log, whole = _racing(blocks)
    events = StoreEvents(racing)  # type: ignore[arg-type]
    if read == "versions":
        version, state = state_at(events, "head")
        assert (version.position, state_hash(state)) == (len(open_log), prefix.state_hash)
    else:
        seen = [event.id for event, _, _ in effective_events(events)]
        assert seen == [e.id for e in open_log]
    assert racing.appended and len(store) == len(whole)
    version, state = state_at(StoreEvents(store), "head")  # the next read: Town
    assert version.position == len(whole)
    assert [t.name for t in state.tables.values()] == ["Town"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(["lww", "fww", "drop-wins", "rename-wins"]),
    cut=st.floats(0.0, 1.0),
    blocks=st.booleans(),
)
def test_any_merged_log_cut_anywhere_replays_as_its_prefix_while_the_rest_is_appended(
    seed: int, strategy: str, cut: float, blocks: bool
) -> None:
    """Merged logs of three replicas (resolutions, duplicates), the store holding a
    prefix when the replay starts and the rest appended right after its pre-pass: the
    report is a whole replay of what it covers, that is of the prefix, and the next
    replay is the whole log's. (With the bound removed the first assertion fails: a
    report covers resolutions its plan never saw.)"""
    from schemalog.synth.replicas import synth_replicas

    log = list(merge_events(synth_replicas(3, 8, 20, seed, conflict_rate=0.5), strategy).events)
    k = round(cut * len(log))
    store = MemoryStore()
    if k:
        store.append(log[:k], expected=None)
    prefix = replay(store)

    def rest() -> None:
        if k < len(log):
            store.append(log[k:], expected=store.head().checksum if k else None)

    report = replay(AppendsAfterThePrePass(store, rest, blocks))  # type: ignore[arg-type]
    assert len(store) == len(log)
    # what it reports is a whole replay of the records it covers ...
    covered = MemoryStore()
    if report.position:
        covered.append(log[: report.position], expected=None)
    assert report.to_obj() == replay(covered).to_obj()
    # ... and they are those its pre-pass read; the next replay takes the rest
    assert report.to_obj() == prefix.to_obj()
    whole = MemoryStore()
    whole.append(log, expected=None)
    assert replay(store).to_obj() == replay(whole).to_obj()
