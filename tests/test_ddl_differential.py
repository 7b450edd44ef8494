"""Differential: per-event DDL, compacted DDL and diffs all reach the model's schema, in
Kuzu and in LadybugDB (its histories include SET SORTED BY, which only it runs)."""

from __future__ import annotations

import importlib.util
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddl_helpers import POOL, assert_diff_order, assert_matches, fresh, kuzu_can_hold, states
from schemalog.kuzu.ddl import ddl_for_diff, ddl_for_event, ddl_for_state
from schemalog.kuzu.hazards import SessionHazards
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import ENGINES, LADYBUG
from schemalog.model.events import Event
from strategies import histories

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
# Skip names Kuzu cannot hold until the name rule forbids them (see ddl_helpers).
kuzu_histories = histories(min_events=1, max_events=25).filter(kuzu_can_hold)
ladybug_histories = histories(min_events=1, max_events=25, sorted_by=True).filter(kuzu_can_hold)
needs_ladybug = pytest.mark.skipif(
    importlib.util.find_spec("ladybug") is None, reason="the 'ladybug' extra is not installed"
)
BOTH = pytest.mark.parametrize(
    ("engine", "drawn"),
    [
        pytest.param("kuzu", kuzu_histories, id="kuzu"),
        pytest.param("ladybug", ladybug_histories, id="ladybug", marks=needs_ladybug),
    ],
)


@BOTH
@SETTINGS
@given(data=st.data())
def test_per_event_and_compacted_ddl_reach_the_model(
    engine: str, drawn: st.SearchStrategy[list[Event]], data: st.DataObject
) -> None:
    events = data.draw(drawn, label="history")
    profile = ENGINES[engine]
    path = states(events)
    per_event = [
        ddl_for_event(before, ev, profile) for before, ev in zip(path, events, strict=False)
    ]
    # events one by one in one session may need the new session the adapter opens to
    # avoid a known Kuzu crash (hazards.py): on disk then (in memory it would refuse)
    hazard = SessionHazards().first_crash([s for batch in per_event for s in batch])
    with tempfile.TemporaryDirectory() as tmp, fresh(engine) as compacted:
        where = os.path.join(tmp, "db") if hazard is not None else None
        with _backend(engine, where) as one_by_one:
            for statements in per_event:
                one_by_one.execute(statements)
            assert_matches(one_by_one, path[-1])
        compacted.execute(ddl_for_state(path[-1], profile))
        assert_matches(compacted, path[-1])


def _backend(engine: str, path: str | None) -> KuzuBackend:
    if engine == "ladybug":
        from schemalog.kuzu.remote import RemoteBackend

        return RemoteBackend(path, engine=LADYBUG, buffer_pool_size=POOL)
    return NativeKuzuBackend(path, buffer_pool_size=POOL)


@BOTH
@SETTINGS
@given(data=st.data())
def test_diff_between_any_two_states_of_a_history(
    engine: str, drawn: st.SearchStrategy[list[Event]], data: st.DataObject
) -> None:
    events = data.draw(drawn, label="history")
    profile = ENGINES[engine]
    path = states(events)
    i = data.draw(st.integers(0, len(path) - 1), label="from")
    j = data.draw(st.integers(0, len(path) - 1), label="to")
    with fresh(engine) as backend:
        backend.execute(ddl_for_state(path[i], profile))
        plan = ddl_for_diff(path[i], path[j], allow_destructive=True, engine=profile)
        assert plan.complete
        backend.execute(plan.statements)
        # ALTER TABLE ADD appends, so a diff keeps the order of the properties the
        # source had and puts the ones it adds after them (a dropped property added
        # back lands last): that order, not the target's history order, is the promise.
        assert_matches(backend, path[j], order=False)
        assert_diff_order(backend, path[i], path[j])
        # applying the same diff again to the target is a no-op
        assert ddl_for_diff(path[j], path[j]).statements == []
