"""Merges that report no open conflict replay cleanly, inside Pyodide (a smaller bound).

tests/test_merge_replays.py tries the invariant in CPython, with the native
engine and hypothesis-built forks; here the same synthetic replicas (2 to 5
replicas, several seeds, every resolving strategy) are merged and replayed by
the package as Pyodide loads it: replay is ``ok``, nothing is rejected as
``concurrent``, the reference replay agrees, and the record-level merge writes
the same bytes. ``./build.sh test`` runs it in headless Chromium and under
Node (``--runtime chrome`` / ``--runtime node``).
"""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["kuzu-schemalog", "rfc8785"])
def test_merged_synthetic_replicas_replay_cleanly_in_pyodide(selenium):
    import sys

    from schemalog.encoding.codec import encode_record
    from schemalog.history.merge import merge_events, replay_merged
    from schemalog.history.merge_records import merge_record_logs
    from schemalog.log.replay import replay
    from schemalog.log.store.port import RawChunk
    from schemalog.synth.replicas import synth_replicas

    def chained(events):
        out, prev = [], None
        for event in events:
            line = encode_record(event, prev)
            prev = line[13 : line.index(b'"', 13)].decode()
            out.append(line)
        return out

    assert sys.platform == "emscripten"
    checked = 0
    for replicas, seed, size in ((3, 1, 100), (2, 2, 200), (4, 3, 80), (5, 4, 60)):
        logs = synth_replicas(replicas, size // 10, size - size // 10, seed)
        for strategy in ("lww", "fww", "drop-wins", "rename-wins"):
            result = merge_events(logs, strategy)
            assert result.unresolved == ()
            data = result.to_bytes()
            lines = data.splitlines()
            record = merge_record_logs([chained(log) for log in logs], strategy)
            assert record.to_bytes() == data
            report = replay([RawChunk(0, lines, len(data))])
            bad = [s for s in report.skipped if s.kind not in ("loser", "duplicate", "with-loser")]
            assert report.ok and not bad, (replicas, seed, strategy, bad[:3])
            assert replay_merged(result.events).state_hash == report.state_hash
            checked += 1
    assert checked == 16
