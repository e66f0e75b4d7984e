"""Deploy quiet-window resolution and retention."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.conf import settings
from django.test import override_settings

from events import digestion, lifecycle
from events.ingest import store_events
from events.models import Event, Issue, IssueActivity, IssueStatus
from events.retention import delete_old_events
from tests import helpers
from tests.factories import make_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Each event is received when it happens (older ones would count as received now).
ingest = partial(helpers.ingest, now=T0, each_when_it_happens=True, until_done=False)
QUIET = timedelta(minutes=settings.TRACEPOINT["DEPLOY_QUIET_MINUTES"])


def test_a_deploy_followed_by_a_quiet_window_resolves_the_services_issues(project):
    ingest(project, make_event(at=T0 - timedelta(hours=1)), make_event(at=T0, event_type="DEPLOY", release="2.0"))
    deploy = Event.objects.get(event_type="DEPLOY")

    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET - timedelta(minutes=1)) == 0
    assert Issue.objects.get().status == IssueStatus.UNRESOLVED

    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=1)) == 1
    issue = Issue.objects.get()
    assert issue.status == IssueStatus.RESOLVED
    assert issue.resolved_by_deploy == deploy
    assert issue.resolved_by is None
    assert issue.resolved_at == T0 + QUIET + timedelta(minutes=1)
    assert issue.activity.last().kind == IssueActivity.Kind.RESOLVED_BY_DEPLOY
    # Running again changes nothing.
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=2)) == 0


def test_an_error_inside_the_window_keeps_the_issue_unresolved(project):
    ingest(
        project,
        make_event(at=T0 - timedelta(hours=1)),
        make_event(at=T0, event_type="DEPLOY"),
        make_event(at=T0 + QUIET / 2),
    )
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=1)) == 0
    assert Issue.objects.get().status == IssueStatus.UNRESOLVED


def test_a_deploy_of_another_service_resolves_nothing(project):
    ingest(project, make_event(at=T0 - timedelta(hours=1)), make_event(at=T0, event_type="DEPLOY", service="api"))
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET * 2) == 0


def test_issues_born_after_the_deploy_are_not_resolved_by_it(project):
    ingest(project, make_event(at=T0, event_type="CONFIG_CHANGE"), make_event(at=T0 + QUIET * 2))
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET * 3) == 0


def test_a_regression_after_a_deploy_resolution_clears_the_deploy(project):
    ingest(project, make_event(at=T0 - timedelta(hours=1)), make_event(at=T0, event_type="DEPLOY"))
    lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET * 2)
    ingest(project, make_event(at=T0 + QUIET * 3))
    issue = Issue.objects.get()
    assert (issue.status, issue.regression_count, issue.resolved_by_deploy) == ("unresolved", 1, None)


@override_settings(TRACEPOINT=settings.TRACEPOINT | {"EVENTS_RETENTION_DAYS": 30})
def test_old_events_are_deleted_in_batches_and_issues_keep_their_counters(project):
    old = [make_event(at=T0 - timedelta(days=31, minutes=i)) for i in range(7)]
    recent = [make_event(at=T0 - timedelta(days=29))]
    ingest(project, *old, *recent)
    marker = make_event(at=T0 - timedelta(days=40), event_type="DEPLOY")
    ingest(project, marker)
    issue = Issue.objects.get()
    Issue.objects.filter(pk=issue.pk).update(resolved_by_deploy=Event.objects.get(event_type="DEPLOY"))

    deleted = delete_old_events(now=T0, batch_size=3)

    assert deleted == 8
    assert list(Event.objects.values_list("timestamp", flat=True)) == [T0 - timedelta(days=29)]
    issue.refresh_from_db()
    assert issue.event_count == 8
    assert issue.resolved_by_deploy is None


def test_retention_respects_max_batches(project):
    ingest(project, *[make_event(at=T0 - timedelta(days=60, minutes=i)) for i in range(5)])
    assert delete_old_events(now=T0, batch_size=2, max_batches=2) == 4
    assert Event.objects.count() == 1


@pytest.mark.parametrize("days", [1, 7])
def test_retention_follows_the_setting(project, days):
    ingest(project, make_event(at=T0 - timedelta(days=days, hours=1)), make_event(at=T0 - timedelta(days=days - 1)))
    with override_settings(TRACEPOINT=settings.TRACEPOINT | {"EVENTS_RETENTION_DAYS": days}):
        assert delete_old_events(now=T0) == 1


def test_an_issue_reopened_by_hand_is_not_resolved_again_by_the_same_deploy(project, admin_user):
    ingest(project, make_event(at=T0 - timedelta(hours=1)), make_event(at=T0, event_type="DEPLOY", release="2.0"))
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=1)) == 1
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status="unresolved", by=admin_user, now=T0 + QUIET + timedelta(minutes=2))
    assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=5)) == 0
    assert Issue.objects.get().status == IssueStatus.UNRESOLVED


def test_a_late_event_does_not_overwrite_the_newer_release(project):
    ingest(project, make_event(at=T0, release="2.0"))
    ingest(project, make_event(at=T0 - timedelta(hours=2), release="1.9"))
    issue = Issue.objects.get()
    assert (issue.last_release, issue.first_release, issue.event_count) == ("2.0", "2.0", 2)
    assert issue.first_seen == T0 - timedelta(hours=2)


def test_an_event_older_than_retention_counts_as_received_now(project):
    ids = store_events(project, [make_event(at=T0 - timedelta(days=400))], now=T0)
    stored = Event.objects.get(event_id=ids[0])
    assert stored.timestamp == T0
    assert stored.data["original_timestamp"].startswith("2025-")


def test_undigested_events_wait_for_their_counters_before_retention(project):
    store_events(project, [make_event(at=T0 - timedelta(days=29))], now=T0 - timedelta(days=29))
    assert delete_old_events(now=T0 + timedelta(days=5)) == 0
    digestion.sweep_undigested(older_than_seconds=0, now=T0 + timedelta(days=5))
    assert delete_old_events(now=T0 + timedelta(days=5)) == 1
    assert Issue.objects.get().event_count == 1
