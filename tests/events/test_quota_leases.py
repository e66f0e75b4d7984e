"""Quota leases: a busy project's process takes its budget up to 200 events at a time; exact near the limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings

from events import keys, quota
from events.models import Project
from tracepoint import redis

FROZEN = datetime(2026, 3, 2, 12, 0, 23, tzinfo=UTC)
NOW = FROZEN.timestamp()


@pytest.fixture
def project(db):
    return keys.create_project(name="Shop", slug="shop")


def counted(store: str, project, now: float = NOW) -> int:
    """What the store has counted in the project's current minute."""
    key = quota._key(project.pk, "m", int(now // quota.MINUTE))
    if store == "redis":
        return int(redis.client().get(key) or 0)
    from tracepoint.models import RateLimitCounter

    row = RateLimitCounter.objects.filter(key=key).first()
    return row.count if row else 0


def test_a_busy_project_asks_the_store_once_per_lease(store, project):
    quota.set_events_per_minute(project, 10_000)  # spike guard 5,000: a lease of 50 (a hundredth)
    assert quota.lease_size(project.event_rate(), project.event_burst_limit()) == 50

    assert quota.check(project, now=NOW).allowed
    assert counted(store, project) == 50
    for _ in range(49):
        assert quota.check(project, now=NOW).allowed
    assert counted(store, project) == 50  # all 50 from the first lease
    assert quota.check(project, now=NOW).allowed
    assert counted(store, project) == 100


def test_a_lease_ends_with_its_window(store, project):
    quota.set_events_per_minute(project, 10_000)  # a lease of 50
    quota.check(project, now=NOW)

    later = NOW + 60
    quota.check(project, now=later)

    assert counted(store, project, later) == 50


def test_near_the_limit_events_are_counted_one_by_one_and_the_limit_is_exact(store, project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_BURST_PERCENT": 100}
    quota.set_events_per_minute(project, 5_000)  # a lease of 50
    assert quota.check(project, 4_960, now=NOW).allowed  # other processes took all but 40 of the minute
    assert counted(store, project) == 4_960

    admitted = sum(quota.check(project, now=NOW).allowed for _ in range(60))

    assert admitted == 40
    assert counted(store, project) == 5_000
    # The leases the store refused near the limit are not dropped events; the 20 refused events are.
    assert quota.dropped_events(Project.objects.get(pk=project.pk)) == 20


def test_a_lease_is_at_most_lease_max_events(project):
    # 1,000,000 a minute: a hundredth of the spike guard would be 5,000 events, taken at most 200 at a time.
    assert quota.lease_size(1_000_000, 500_000) == quota.LEASE_MAX_EVENTS == 200


def test_a_quiet_project_is_counted_event_by_event(store, project):
    quota.set_events_per_minute(project, 120)
    assert quota.lease_size(project.event_rate(), project.event_burst_limit()) == 1

    for _ in range(3):
        quota.check(project, now=NOW)

    assert counted(store, project) == 3


def test_what_is_left_of_a_lease_goes_back_to_the_minute_when_its_window_ends(store, project):
    quota.set_events_per_minute(project, 10_000)  # a lease of 50
    quota.check(project, now=NOW)  # 12:00:23: a lease of 50, one used

    quota.check(project, now=NOW + 10)  # 12:00:33, the same minute: 49 back, a new lease of 50

    assert counted(store, project) == 51


@pytest.mark.parametrize(("events", "most_refused"), [(5_880, 0), (6_000, 4 * 29)])
def test_events_spread_over_a_minute_are_admitted_by_several_processes_up_to_their_leases(
    store, project, events, most_refused
):
    """Within 98 % of the rate, nothing is refused; at exactly the rate, at most what the other processes
    hold leased when the minute ends (4 processes, leases of 30)."""
    quota.set_events_per_minute(project, 6_000)
    minute = (NOW // 60) * 60
    processes = [{} for _ in range(4)]

    refused, own = 0, quota._leases
    try:
        for index in range(events):
            quota._leases = processes[index % 4]  # each process has its own leases
            refused += not quota.check(project, now=minute + index * 60 / events).allowed
    finally:
        quota._leases = own

    assert refused <= most_refused


def test_a_give_back_to_a_minute_lost_meanwhile_leaves_an_expiring_count(project):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    quota.reset()
    quota.set_events_per_minute(project, 10_000)  # a lease of 50
    quota.check(project, now=NOW)  # a lease of 50, one used
    key = quota._key(project.pk, "m", int(NOW // quota.MINUTE))
    redis.client().delete(key)  # evicted, or Redis restarted

    quota.check(project, now=NOW + 10)  # the 49 left have nothing to go back to: a new lease of 50

    assert int(redis.client().get(key)) == 50 and redis.client().ttl(key) > 0
    quota.reset()
