"""Two workers digesting the first events of a new fingerprint at once make one issue (PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections  # noqa: F401 - the skipif condition reads connection

from events import digestion, ingest
from events.ingest import NewEvent
from events.models import Event, Issue, IssueGrouping
from tests.factories import make_event
from tests.helpers import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL"),
]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _race(targets) -> list:
    return race(len(targets), lambda index: targets[index]())


def _error(index: int) -> NewEvent:
    return make_event(f"took {index}s", kind="TimeoutError", at=T0 + timedelta(seconds=index), user_id=f"user-{index}")


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_first_events_of_a_fingerprint_make_exactly_one_issue(project, round_):
    events = [_error(1), _error(2)]
    ingest.store_events(project, events, now=T0)

    # One event each: the second worker skips the row the first one holds (SKIP LOCKED).
    results = _race([lambda: digestion.digest_pending(limit=1, now=T0)] * 2)

    assert results == [1, 1]
    issue = Issue.objects.get()
    assert issue.event_count == 2
    assert issue.user_count == 2
    assert issue.first_seen == T0 + timedelta(seconds=1)
    assert issue.last_seen == T0 + timedelta(seconds=2)
    assert IssueGrouping.objects.count() == 1
    assert set(Event.objects.values_list("issue_id", flat=True)) == {issue.pk}
    assert issue.activity.count() == 1


def test_two_workers_given_the_same_events_count_each_once(project):
    ingest.store_events(project, [_error(i) for i in range(20)], now=T0)

    results = _race([lambda: digestion.digest_pending(now=T0)] * 2)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 20
    assert Issue.objects.get().event_count == 20
    assert not Event.objects.filter(digested_at__isnull=True).exists()


def _receive(project, index: int) -> None:
    """An SDK's event as the envelope view stores it (its JSON alone, deflated)."""
    import uuid
    import zlib

    from tests.helpers import event_item

    event_id = uuid.UUID(int=index + 1)
    _, payload = event_item(event_id=event_id.hex, user={"id": f"user-{index}"}, timestamp=T0.timestamp() + index)
    ingest.receive(project, event_id, body=zlib.compress(payload), encoding="deflate", envelope=False, now=T0)


@pytest.mark.parametrize("round_", range(3))
def test_three_workers_digesting_received_events_store_and_count_each_once(project, round_):
    for index in range(60):
        _receive(project, index)

    results = _race([lambda: digestion.digest_pending(limit=7, now=T0)] * 3)
    while digestion.digest_pending(now=T0):
        pass

    assert all(isinstance(r, int) for r in results), results
    assert Event.objects.count() == 60
    issue = Issue.objects.get()
    assert (issue.event_count, issue.user_count) == (60, 60)
    assert issue.activity.count() == 1
    assert set(Event.objects.values_list("issue_id", flat=True)) == {issue.pk}
