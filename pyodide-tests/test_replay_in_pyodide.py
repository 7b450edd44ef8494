"""Replay inside Pyodide: a log on Pyodide's file system, chunked and whole, same state."""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["kuzu-schemalog"])
def test_replay_chunked_and_whole_agree_in_pyodide(selenium):
    import os
    import tempfile

    from schemalog import _compat
    from schemalog.log.replay import replay
    from schemalog.log.snapshot import replay_with_snapshots
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.log.trace import Tracer
    from schemalog.synth.generator import write_log

    assert _compat.IN_PYODIDE
    heap = _compat.wasm_heap_bytes()
    assert isinstance(heap, int) and heap > 0

    root = tempfile.mkdtemp()
    path = os.path.join(root, "log.ndjson")
    summary = write_log(path, 400, origins=3, seed=2)
    store = NdjsonStore.open(path, readonly=True, verify=False)
    try:
        whole = replay(store)
        tracer = Tracer(memory=True)
        chunked = replay(store, max_chunk_bytes=8 * 1024, batch_events=37, tracer=tracer)
        snaps = os.path.join(root, "snaps")
        first = replay_with_snapshots(store, snaps, max_chunk_bytes=16 * 1024)
        again = replay_with_snapshots(store, snaps)
    finally:
        store.close()
    assert whole.ok and whole.applied == 400 and whole.head == summary.head_checksum
    assert chunked.ok and chunked.chunks > 1
    assert chunked.state_hash == whole.state_hash and chunked.heads == whole.heads
    assert first.state_hash == whole.state_hash and os.listdir(snaps) == ["snapshot-400.json"]
    assert again.applied == 0 and again.state_hash == whole.state_hash
    assert tracer.memory_source == "wasm-heap" and tracer.memory_peak >= heap
    events = tracer.trace_events()["traceEvents"]
    assert {e["ph"] for e in events} == {"X", "i", "C"}
