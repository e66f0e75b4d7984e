"""Digestion: grouping stored events into issues, counters, idempotency, regressions."""

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from time import sleep as time_sleep

import pytest

from events import digestion, lifecycle, tasks
from events import ingest as events_ingest
from events.ingest import store_events
from events.models import Event, Issue, IssueActivity, IssueGrouping, IssueStatus
from tests import helpers
from tests.factories import in_app_frame, make_event
from tracepoint.errors import DomainError, NotFoundError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
error = partial(make_event, at=T0, frames=[in_app_frame("shop.orders", "get", lineno=3)])
ingest = partial(helpers.ingest, now=T0, until_done=False)


def test_events_of_one_fingerprint_share_one_issue_with_its_counters(project):
    ingest(
        project,
        error(at=T0, value="Order 1 not found", user_id="u1", release="1.0"),
        error(at=T0 + timedelta(minutes=5), value="Order 2 not found", user_id="u2", release="1.1"),
        error(at=T0 + timedelta(minutes=2), value="Order 3 not found", user_id="u1", release="1.1"),
    )
    issue = Issue.objects.get()
    assert issue.event_count == 3
    assert issue.user_count == 2
    assert issue.first_seen == T0
    assert issue.last_seen == T0 + timedelta(minutes=5)
    assert issue.first_release == "1.0"
    assert issue.last_release == "1.1"
    assert issue.title == "LookupError: Order 1 not found"
    assert issue.culprit == "shop.orders in get"
    assert issue.service == "checkout"
    assert Event.objects.filter(issue=issue, digested_at__isnull=False).count() == 3
    assert list(IssueActivity.objects.values_list("kind", flat=True)) == ["created"]


def test_a_different_error_opens_another_issue(project):
    ingest(project, error(value="Order 1 not found"), error(value="Card declined"))
    assert Issue.objects.count() == 2
    assert IssueGrouping.objects.count() == 2


def test_digesting_twice_counts_once(project):
    ingest(project, error(user_id="u1"), error(user_id="u2"))
    assert digestion.digest_pending(now=T0) == 0
    assert digestion.sweep_undigested(older_than_seconds=0, now=T0 + timedelta(hours=1)) == 0
    issue = Issue.objects.get()
    assert (issue.event_count, issue.user_count) == (2, 2)


def test_the_same_event_id_sent_twice_is_stored_and_counted_once(project):
    event = error()
    ingest(project, event)
    ingest(project, event)
    assert Event.objects.count() == 1
    assert Issue.objects.get().event_count == 1


def test_deploy_markers_are_digested_without_an_issue(project):
    ingest(project, error(event_type="DEPLOY", data={}, release="2.0"))
    event = Event.objects.get()
    assert event.digested_at is not None
    assert event.issue is None
    assert not Issue.objects.exists()


def test_a_resolved_issue_seeing_its_fingerprint_again_regresses(
    project, responder, monkeypatch, django_capture_on_commit_callbacks
):
    ingest(project, error())
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status="resolved", by=responder, now=T0)
    queued = []
    monkeypatch.setattr(tasks.evaluate_alerts, "apply_async", lambda **kw: queued.append(kw["kwargs"]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(project, error(at=T0 + timedelta(hours=1)))
        assert queued == []  # the regression reaches the alert rules only after the commit
    issue.refresh_from_db()
    assert issue.status == IssueStatus.UNRESOLVED
    assert issue.regression_count == 1
    assert (issue.resolved_at, issue.resolved_by, issue.resolved_by_deploy) == (None, None, None)
    assert issue.event_count == 2
    assert list(issue.activity.values_list("kind", flat=True)) == ["created", "resolved", "regressed"]
    newest = Event.objects.order_by("-timestamp").first()
    assert issue.activity.get(kind="regressed").event_id == newest.pk
    assert queued == [{"issue_ids": [issue.pk], "created": [], "regressed": [issue.pk]}]
    assert callbacks


def test_an_ignored_issue_does_not_regress(project, responder):
    ingest(project, error())
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status="ignored", by=responder, now=T0)
    ingest(project, error(at=T0 + timedelta(hours=1)))
    issue.refresh_from_db()
    assert (issue.status, issue.regression_count, issue.event_count) == ("ignored", 0, 2)


def test_each_new_issue_is_reported_once_to_the_alert_rules(project, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.evaluate_alerts, "apply_async", lambda **kw: queued.append(kw["kwargs"]))
    with django_capture_on_commit_callbacks(execute=True):
        ingest(project, error(), error(), error(value="Card declined"))
    ids = sorted(Issue.objects.values_list("pk", flat=True))
    assert len(ids) == 2
    assert queued == [{"issue_ids": ids, "created": ids, "regressed": []}]
    assert sorted(IssueActivity.objects.filter(kind="created").values_list("issue_id", flat=True)) == ids


def test_set_issue_status_records_who_and_when_and_rejects_unknown_states(project, responder):
    ingest(project, error())
    issue = Issue.objects.get()
    resolved = lifecycle.set_issue_status(issue.pk, status="resolved", by=responder, now=T0)
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by) == ("resolved", T0, responder)
    again = lifecycle.set_issue_status(issue.pk, status="resolved", by=responder, now=T0 + timedelta(hours=1))
    assert again.resolved_at == T0  # the same status is a no-op
    reopened = lifecycle.set_issue_status(issue.pk, status="unresolved", by=responder, now=T0)
    assert (reopened.resolved_at, reopened.resolved_by) == (None, None)
    assert issue.activity.count() == 3
    with pytest.raises(DomainError):
        lifecycle.set_issue_status(issue.pk, status="closed", by=responder)
    with pytest.raises(NotFoundError):
        lifecycle.set_issue_status(issue.pk + 1000, status="resolved", by=responder)


def test_sweeper_digests_only_events_older_than_the_delay(project):
    store_events(project, [error()], now=T0)
    assert digestion.sweep_undigested(older_than_seconds=60, now=T0 + timedelta(seconds=30)) == 0
    assert digestion.sweep_undigested(older_than_seconds=60, now=T0 + timedelta(seconds=61)) == 1
    assert Issue.objects.get().event_count == 1


def test_the_digest_task_works_through_full_batches_and_stops_at_a_partial_one(project, monkeypatch):
    from events import tasks

    monkeypatch.setattr(events_ingest, "WAKE_LATE_SECONDS", 0.0)  # a run as long as a busy one: no last look
    store_events(project, [error(value=f"Order {n} not found") for n in range(5)], now=T0)
    monkeypatch.setattr(digestion, "batch_size", lambda: 2)
    batches = []
    digest = digestion.digest_pending

    def counting(**kwargs):
        done = digest(**kwargs)
        batches.append(done)
        if len(batches) == 3:  # arrives while the last, partial batch runs: left for the next wake-up
            store_events(project, [error(value="Order 9 not found")], now=T0)
        return done

    monkeypatch.setattr(digestion, "digest_pending", counting)
    assert tasks.digest_pending() == 5
    assert batches == [2, 2, 1]
    assert Issue.objects.get().event_count == 5
    assert Event.objects.filter(digested_at__isnull=True).count() == 1


def test_a_short_digest_task_looks_once_more_after_the_late_wake_up_window(project, monkeypatch):
    """A process that found the wake-up key just before the task cleared it stores events for
    WAKE_LATE_SECONDS without asking again: the task's last look starts no sooner than that."""
    from events import tasks

    store_events(project, [error(value="Order 1 not found")], now=T0)
    looks, slept = [], []
    digest = digestion.digest_pending

    def counting(**kwargs):
        looks.append(time.monotonic())
        done = digest(**kwargs)
        if len(looks) == 1:  # stored by that process while the first, partial batch ran
            store_events(project, [error(value="Order 2 not found")], now=T0)
        return done

    monkeypatch.setattr(digestion, "digest_pending", counting)
    monkeypatch.setattr(tasks.time, "sleep", lambda seconds: slept.append(seconds) or time_sleep(seconds))
    started = time.monotonic()

    assert tasks.digest_pending() == 2
    assert len(looks) == 2 and looks[1] - started >= events_ingest.WAKE_LATE_SECONDS
    assert 0 < slept[0] <= events_ingest.WAKE_LATE_SECONDS
    assert Event.objects.filter(digested_at__isnull=True).count() == 0


def test_a_batch_with_one_bad_group_keeps_the_good_groups_of_the_same_batch(project, monkeypatch):
    good = [error(value="Order 1 not found"), error(value="Order 2 not found")]
    bad = error(data={"exception": [{"type": "PoisonError", "value": "x", "stacktrace": {"frames": []}}]})
    store_events(project, [*good, bad], now=T0)
    original = digestion._issue_for

    def fail_for_poison(first, **kwargs):
        if first.data["exception"][0]["type"] == "PoisonError":
            raise RuntimeError("cannot store this group")
        return original(first, **kwargs)

    monkeypatch.setattr(digestion, "_issue_for", fail_for_poison)
    assert digestion.digest_pending(now=T0) == 3
    issue = Issue.objects.get()
    assert (issue.event_count, issue.title) == (2, "LookupError: Order 1 not found")
    assert set(issue.events.values_list("event_id", flat=True)) == {e.event_id for e in good}
    assert not Event.objects.filter(digested_at__isnull=True).exists()


def test_one_batch_counts_many_issues_each_on_its_own(project):
    store_events(
        project,
        [
            error(value="Order 1 not found", user_id="u1", at=T0),
            error(value="Order 2 not found", user_id="u2", at=T0 + timedelta(minutes=1), release="2.0"),
            error(service="billing", value="Invoice 3 missing", user_id="u1", at=T0 - timedelta(minutes=1)),
            error(data={"exception": [{"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": []}}]}),
        ],
        now=T0,
    )
    assert digestion.digest_pending(now=T0) == 4
    lookup = Issue.objects.get(title__startswith="LookupError: Order")
    assert (lookup.event_count, lookup.user_count, lookup.first_seen, lookup.last_seen, lookup.last_release) == (
        2,
        2,
        T0,
        T0 + timedelta(minutes=1),
        "2.0",
    )
    billing = Issue.objects.get(service="billing")
    assert (billing.event_count, billing.user_count, billing.first_seen) == (1, 1, T0 - timedelta(minutes=1))
    assert Issue.objects.get(title__startswith="KeyError").event_count == 1
    assert Issue.objects.count() == 3


def test_a_late_event_in_a_later_batch_keeps_the_newer_release_and_dates(project):
    ingest(project, error(at=T0 + timedelta(minutes=10), release="2.0"))
    ingest(project, error(at=T0, release="1.0", user_id="u9"))
    issue = Issue.objects.get()
    assert (issue.last_release, issue.first_seen, issue.last_seen) == ("2.0", T0, T0 + timedelta(minutes=10))
    assert (issue.event_count, issue.user_count) == (2, 1)


def test_a_failing_regression_step_does_not_stall_the_queue(project, monkeypatch, caplog):
    ingest(project, error(at=T0))
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status=IssueStatus.RESOLVED, by=None, now=T0 + timedelta(minutes=1))

    def broken(*args, **kwargs):
        raise RuntimeError("regression handling failed")

    monkeypatch.setattr(lifecycle, "regress", broken)
    store_events(project, [error(at=T0 + timedelta(minutes=5))], now=T0)
    assert digestion.digest_pending(now=T0 + timedelta(minutes=5)) == 1
    issue.refresh_from_db()
    assert issue.event_count == 2  # counted; the regression step was skipped and logged
    assert not Event.objects.filter(digested_at__isnull=True).exists()
    assert "follow-up of issue" in caplog.text


def test_an_issue_deleted_while_its_events_wait_gets_a_new_issue(project, monkeypatch):
    ingest(project, error(at=T0))
    old = Issue.objects.get()
    known = digestion._known_issues

    def lookup_then_delete(groups):
        found = known(groups)
        Issue.objects.filter(pk=old.pk).delete()  # an admin deletes it between lookup and lock
        return found

    monkeypatch.setattr(digestion, "_known_issues", lookup_then_delete)
    store_events(project, [error(at=T0 + timedelta(minutes=1))], now=T0)
    assert digestion.digest_pending(now=T0) == 1
    new = Issue.objects.get()
    assert new.pk != old.pk and new.event_count == 1
    assert Event.objects.get(issue__isnull=False).issue_id == new.pk
