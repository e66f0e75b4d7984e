"""Impact kept current by digestion and the minute task (events/impact.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events import impact, lifecycle, tasks
from events.models import Issue, IssueBucket, IssueStatus
from tests.factories import make_event
from tests.helpers import ingest

T0 = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_digestion_fills_rate_hourly_bars_routes_and_priority(project):
    events = [make_event(at=T0 - timedelta(minutes=m)) for m in range(30)]  # 30 in the last hour
    events += [make_event(at=T0 - timedelta(hours=3, minutes=m)) for m in range(6)]  # 6 three hours ago
    # The route is part of the default fingerprint; a client fingerprint groups across routes.
    for event, route in zip(events, ["/orders/1/pay", "/orders/2/pay", "/cart"], strict=False):
        event.route = route  # the first two are one route once ids are stripped
    for event in events:
        event.data["fingerprint"] = ["lookup-failures"]
    ingest(project, *events, now=T0)

    issue = Issue.objects.get()
    assert issue.event_count == 36
    assert issue.error_rate == 0.5  # 30 errors in the last 60 minutes
    assert issue.route_count == 2
    assert len(issue.hourly_counts) == 24
    assert issue.hourly_counts[-1] == 30 and issue.hourly_counts[-4] == 6 and sum(issue.hourly_counts) == 36
    assert issue.severity == "medium"  # 0.5 errors/min
    assert issue.priority == 20 + 1 + 10
    assert (
        issue.priority_reason
        == "medium severity (0.5 errors/min (≥ 0.2); 2 routes (≥ 2)) +20, 0.5 errors/min +1, seen in the last hour +10"
    )


def test_a_later_batch_adds_to_the_same_buckets(project):
    ingest(project, *[make_event(at=T0)], now=T0)
    ingest(project, *[make_event(at=T0), make_event(at=T0)], now=T0)
    assert IssueBucket.objects.get(size="m").count == 3
    assert IssueBucket.objects.get(size="h").count == 3
    assert Issue.objects.get().route_count == 0


def test_the_minute_task_lets_rate_and_recency_decay_and_trims_old_buckets(project):
    ingest(project, *[make_event(at=T0 - timedelta(minutes=m)) for m in range(12)], now=T0)
    assert Issue.objects.get().error_rate == 0.2

    assert impact.refresh_active(now=T0 + timedelta(hours=2, minutes=1)) == 1
    issue = Issue.objects.get()
    assert issue.error_rate == 0.0
    assert "seen in the last 24 hours +5" in issue.priority_reason
    assert not IssueBucket.objects.filter(size="m").exists()  # minute buckets last two hours

    impact.refresh_active(now=T0 + timedelta(days=3))
    issue = Issue.objects.get()
    assert issue.hourly_counts == [0] * 24
    assert (issue.severity, issue.priority) == ("low", 5)
    assert not IssueBucket.objects.exists()
    # Long quiet and refreshed: no longer part of the minute's work.
    assert impact.refresh_active(now=T0 + timedelta(days=3, minutes=1)) == 0


def test_the_beat_task_is_scheduled_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-issue-impact"]
    assert (entry["task"], entry["schedule"]) == (tasks.refresh_issue_impact.name, 60.0)


def test_resolving_an_issue_weighs_it_down_at_once(project, admin_user):
    ingest(project, *[make_event(at=T0 - timedelta(minutes=m)) for m in range(30)], now=T0)
    before = Issue.objects.get().priority
    issue = lifecycle.set_issue_status(Issue.objects.get().pk, status=IssueStatus.RESOLVED, by=admin_user, now=T0)
    assert issue.priority == int(before * 0.25)
    assert issue.priority_reason.endswith(f"resolved: x0.25 = {issue.priority}")


def test_keywords_make_a_new_issue_critical_on_its_first_event(project):
    ingest(project, *[make_event(at=T0, kind="MemoryError", value="out of memory")], now=T0)
    issue = Issue.objects.get()
    assert (issue.severity, issue.priority) == ("critical", 70)
    assert "message mentions 'out of memory'" in issue.priority_reason
