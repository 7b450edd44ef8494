"""The plan's block search inside Pyodide (Emscripten's file system, its ``readinto``):
the same marked lines, plan and too-large stop as the line path (tests/test_plan_blocks.py)."""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["kuzu-schemalog"])
def test_the_block_search_finds_the_line_paths_lines_in_pyodide(selenium):
    import os
    import tempfile

    from schemalog.history.merge import merge_events
    from schemalog.log.effective import (
        _RESOLVING,
        RawReader,
        _all_lines,
        _marked_lines,
        plan_of_chunks,
    )
    from schemalog.log.replay.read import REREAD_BYTES, _store_chunks, rereader
    from schemalog.log.store import NdjsonStore, RecordTooLarge
    from schemalog.synth.replicas import synth_replicas

    result = merge_events(synth_replicas(3, 6, 30, 7, conflict_rate=0.6), "lww")
    lines = result.lines()
    assert sum(_RESOLVING in line for line in lines) >= 2
    lines.insert(len(lines) - 3, b"z" * 5000)  # too large below 5,001 bytes
    path = os.path.join(tempfile.mkdtemp(), "log.ndjson")
    with open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines) + b'{"torn')
    store = NdjsonStore.open(path, readonly=True, verify=False)

    def stop(chunks):
        try:
            for _ in chunks:
                pass
        except RecordTooLarge as exc:
            return exc.position, exc.size, exc.budget
        return None

    try:
        stops = set()
        for budget in (4096, 5000, 5001, 5002, 1 << 20):
            for block in (1, 7, 33, 300, 4096, 1 << 18):

                def chunks(budget=budget):
                    return _store_chunks(store.iter_raw, 0, budget, REREAD_BYTES)

                def blocks(budget=budget, block=block):
                    return store.iter_blocks(0, budget, block)

                by_lines = list(_all_lines(chunks, containing=_RESOLVING))
                assert list(_marked_lines(blocks, _RESOLVING)) == by_lines, (budget, block)
                data = b"".join(bytes(b) for b in store.iter_blocks(0, 1 << 20, block))
                assert data == b"".join(line + b"\n" for line in lines)
                assert plan_of_chunks(RawReader(chunks, blocks)) == plan_of_chunks(chunks)
                assert stop(blocks()) == stop(chunks())
                stops.add(stop(chunks()))
        assert stops == {None, (len(lines) - 4, 5001, 4096), (len(lines) - 4, 5001, 5000)}
        reader = rereader(store, 1 << 20)
        assert reader.blocks is not None and plan_of_chunks(reader).plan.losers
        assert plan_of_chunks(reader) == plan_of_chunks(lambda: reader())
    finally:
        store.close()
