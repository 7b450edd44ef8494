"""Streaming, transactional replay of a log into a schema state, as four stages.

read chunks (``read``) -> decode and verify (``decode``) -> resolve the
effective stream (``resolve``) -> apply in transactional batches
(``batches``); ``pipeline.replay`` composes them, and snapshots
(``log.snapshot``) and tracing (``log.trace``) plug in between the stages.
The data types of the result are in ``report``.

``replay(source, ...)`` reads raw lines chunk by chunk (``RawChunk``s from a
store's ``iter_raw`` within a byte budget, or any iterable of them), verifies
every record (``codec.decode_record``: canonical form and checksum) and the
hash link (each record's ``prev`` is the checksum of the record before it),
applies the events to the schema model and returns a ``ReplayReport``: errors
are values, nothing raises for a bad log.

Batches and transactions. Records are taken ``batch_events`` at a time. A
batch that fails is rolled back as a whole and the report's state is exactly
the state after the last good batch; a batch fails on

* a crash: an exception raised by ``apply`` or by a tracer hook
  (``Failure.kind == "crash"``), under either policy;
* under ``on_corrupt="stop"``: a record that does not decode (``"corrupt"``),
  a broken hash link (``"chain"``), an event the schema rejects
  (``"rejected"``).

A record larger than the chunk budget (the store raises ``RecordTooLarge``)
ends the replay with ``kind="too-large"`` naming its position and size, under
either policy (the chunk stream cannot go past it). A batch applies its
events to a working copy of the state that ``apply`` updates in place
(``state.working_copy``: a dict update instead of a path copy per event);
every write logs what it overwrote, a commit only clears that log (nothing is
copied), a rollback undoes it, the last write first, and the report's state
is persistent. Skips found
in a batch, their quarantine callbacks, the chain head and the DAG heads are
committed with the batch, so re-running from the report's checkpoint
(``resume``) reprocesses the failed batch exactly as an uninterrupted replay
would: ``resume(source, report)`` after a crash gives the same final report
fields as one replay that never crashed.

``report.position`` is the number of committed records (records
``[start, position)`` are done) and ``report.head`` the checksum of record
``position - 1``, the chain tip a resumed replay expects.

Skip policy (``on_corrupt="skip"``): skip means continue. A corrupt or
rejected event is skipped, listed in ``report.skipped`` with its position,
event id if it can be read and reason, handed to ``quarantine(skipped,
line)`` and replay goes on. Every later event is still applied when it
applies cleanly to the state, its parents skipped or not (in a linear history
each event names the one before, so a parent test alone would skip the whole
rest of the log). An event that is rejected and descends from a skipped
event (names one as parent, or descends from it through applied events:
their 8-byte id digests are kept, ``history.known_ids``) is skipped as
``kind="dependent"`` (``because_of`` = the skipped parent it names, if any;
the reason is the rejection, e.g. an unknown table);
``report.skipped_by_kind`` counts each cause. The decisions read the log
alone, so the state hash after a skip is the same on every runtime.

The hash link after a skipped corrupt record: the skipped line's own checksum
field is read if it is still well formed (the usual damage is in the body,
which the checksum then does not match). The next intact record is accepted
without comment if its ``prev`` is that claimed checksum (the damaged record
was in its place in the chain) or the checksum before the skipped line (the
skipped line was inserted garbage). Otherwise the link is broken there: under
"skip" it is listed in ``report.breaks`` and replay re-anchors on that
record's checksum (the record itself verified against its own checksum and
still goes through the schema); under "stop" it is a ``"chain"`` failure.

A batch does not end right after a skipped corrupt line (the chain head is
provisional until the next intact record settles it): it is extended by one
record until it does, so a checkpoint always carries a settled chain head.
(Only an input that *ends* inside such a run commits an unsettled head: the
report warns, ``head`` is None, and a resumed replay takes the next link as
given.)

Merged logs: the effective stream (``log.effective``). Replay applies the log's
effective stream, the one definition shared with ``merge.replay_merged``,
versions, compat and metrics: losers of the log's resolutions and duplicate
creations are skipped (``Skipped.kind`` ``"loser"`` / ``"duplicate"``, reason
as merge words it) and later changes naming a duplicate's ids are applied to
the first creation's ids. These skips are not failures: they do not make
descendants dependents (merge keeps a loser's descendants that still apply),
are not quarantined, and leave ``report.ok`` true. The plan comes from a
pre-pass over the log from position 0 (``effective.plan_of_chunks``) when the
source is a store or a re-iterable collection of chunks; a one-shot iterable of
chunks replays with the empty plan unless ``plan=`` is given: merged-log
semantics need a store (or the plan). The plan is a function of the log, so a
resume or a snapshot needs nothing more than before: it is recomputed from the
log on every call (snapshots carry no alias map or loser set; the cost is that
pre-pass over the whole log, not only the delta). A store's log can grow while
it is replayed: the replay reads the records the pre-pass read, no more
(``EffectivePlan.end``), since a record appended after it may resolve a conflict
the plan never saw (tests/test_replay_appends.py).

A rejected event built on a losing side (it descends from a loser of the
log's resolutions, or a duplicate of one, and not from that loser's winner)
is left out with its loser (``kind="with-loser"``, no dependents, no
quarantine, ``ok`` stays true: merge.py's rule 2; the ancestry test uses the
duplicate scan's lanes, effective.py ``goes_with``, or the log's parents once
the scan fell back to merge's analysis).

Rejections in concurrent history (a Merge-aware policy). In a merged log an
unresolved conflict (strategy ``reject``) leaves both events, and the schema
rejects what cannot apply; ``merge.replay_merged`` skips such a rejection. So
replay, under either policy, skips a rejected event with ``kind="concurrent"``
(no dependents, no quarantine) when its state is not the state its writer
applied it to: the log has a resolution or duplicate, or some applied DAG head
is not among the event's parents (it was written without seeing that head).
A rejected event whose writer saw exactly the applied history is what it
always was: a stop under "stop", a skip with dependents under "skip". (Known
limit: in a log without resolutions or duplicates, an event that joins every
head after an earlier concurrent rejection is judged as if its writer saw
the state; ``merge.replay_merged`` would skip it if it is rejected.)

Default batch size 1024: the batch size sets how much work a crash repeats
and how many batch spans a tracer keeps; per-batch bookkeeping is clearing the
undo log (releasing what the batch overwrote) and a few attribute writes.
"""

from schemalog.log.replay.pipeline import DEFAULT_BATCH_EVENTS, replay, resume
from schemalog.log.replay.read import RawSource
from schemalog.log.replay.report import (
    ChainBreak,
    Failure,
    Policy,
    Quarantine,
    ReplayGap,
    ReplayReport,
    Skipped,
)

__all__ = [
    "DEFAULT_BATCH_EVENTS",
    "ChainBreak",
    "Failure",
    "Policy",
    "Quarantine",
    "RawSource",
    "ReplayGap",
    "ReplayReport",
    "Skipped",
    "replay",
    "resume",
]
