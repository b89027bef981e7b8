"""After-commit fan-out: one trip per transaction, with Django's on_commit semantics."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from consult import events

pytestmark = pytest.mark.django_db(transaction=True)


class _Boom(Exception):
    pass


@pytest.fixture
def sent(monkeypatch) -> list[list[tuple[str, dict[str, Any]]]]:  # type: ignore[no-untyped-def]
    """Every trip to the channel layer, as the list of events it carried."""
    trips: list[list[tuple[str, dict[str, Any]]]] = []
    monkeypatch.setattr(events, "_send", lambda batch: trips.append(list(batch)))
    return trips


def _event(n: int) -> dict[str, Any]:
    return {"type": "test.event", "n": n}


def test_a_transactions_events_go_in_one_trip_after_commit(sent) -> None:  # type: ignore[no-untyped-def]
    """Three events to two groups: nothing before the commit, one ordered trip after."""
    with transaction.atomic():
        events.publish_on_commit("g.a", _event(1))
        events.publish_on_commit("g.b", _event(2))
        events.publish_on_commit("g.a", _event(3))
        before_commit = len(sent)
    assert (before_commit, sent) == (
        0,
        [[("g.a", _event(1)), ("g.b", _event(2)), ("g.a", _event(3))]],
    )


def test_events_of_a_rolled_back_savepoint_are_not_sent(sent) -> None:  # type: ignore[no-untyped-def]
    """Published before, inside (rolled back) and after a savepoint: 1 and 3 go."""
    with transaction.atomic():
        events.publish_on_commit("g", _event(1))
        try:
            with transaction.atomic():
                events.publish_on_commit("g", _event(2))
                raise _Boom
        except _Boom:
            pass
        events.publish_on_commit("g", _event(3))
    assert sent == [[("g", _event(1)), ("g", _event(3))]]


def test_a_rolled_back_first_savepoint_does_not_lose_later_events(sent) -> None:  # type: ignore[no-untyped-def]
    """The first event is in a rolled-back savepoint; the next one still goes."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                events.publish_on_commit("g", _event(1))
                raise _Boom
        except _Boom:
            pass
        events.publish_on_commit("g", _event(2))
    assert sent == [[("g", _event(2))]]


def test_events_of_a_released_savepoint_are_sent(sent) -> None:  # type: ignore[no-untyped-def]
    """A savepoint that commits into its transaction keeps its events, in order."""
    with transaction.atomic():
        with transaction.atomic():
            events.publish_on_commit("g", _event(1))
        events.publish_on_commit("g", _event(2))
    assert sent == [[("g", _event(1)), ("g", _event(2))]]


def test_a_rolled_back_transaction_sends_nothing(sent) -> None:  # type: ignore[no-untyped-def]
    """Nothing leaves a transaction that does not commit."""
    with pytest.raises(_Boom), transaction.atomic():
        events.publish_on_commit("g", _event(1))
        raise _Boom
    assert sent == []


def test_outside_a_transaction_each_event_is_sent_at_once(sent) -> None:  # type: ignore[no-untyped-def]
    """Autocommit: sent immediately, one trip per event (as on_commit runs at once)."""
    events.publish_on_commit("g", _event(1))
    first = list(sent)
    events.publish_on_commit("g", _event(2))
    assert (first, sent) == (
        [[("g", _event(1))]],
        [[("g", _event(1))], [("g", _event(2))]],
    )


def test_the_fan_out_runs_after_other_commit_hooks_registered_later(sent) -> None:  # type: ignore[no-untyped-def]
    """The one trip happens after every event's hook, whatever else was registered."""
    order: list[str] = []
    with transaction.atomic():
        events.publish_on_commit("g", _event(1))
        transaction.on_commit(lambda: order.append(f"hook after {len(sent)} trips"))
        events.publish_on_commit("g", _event(2))
    assert (order, sent, connection.run_on_commit) == (
        ["hook after 0 trips"],
        [[("g", _event(1)), ("g", _event(2))]],
        [],
    )
