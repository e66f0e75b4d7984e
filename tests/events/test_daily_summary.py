"""The daily summary email (events/daily_summary.py) and its opt-in on the profile page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from events import daily_summary, keys, lifecycle, tasks
from events.models import DailySummarySubscription, Issue, IssueStatus
from incidents import services as incident_services
from tests.factories import make_event
from tests.helpers import ingest


@pytest.fixture
def day(project, viewer, admin_user):
    """A new issue, a regression, an old quiet one, incidents; and another project's issue."""
    now = timezone.now()
    project.members.add(viewer)
    ingest(project, make_event(at=now - timedelta(days=3), value="Old <b>problem</b>"), now=now - timedelta(days=3))
    old = Issue.objects.get()
    lifecycle.set_issue_status(old.pk, status=IssueStatus.RESOLVED, by=admin_user, now=now - timedelta(days=2))
    ingest(project, make_event(at=now - timedelta(hours=2), value="Old <b>problem</b>"), now=now)  # regresses
    ingest(project, make_event(at=now - timedelta(hours=1), value="Fresh failure", kind="KeyError"), now=now)
    other = keys.create_project(name="Secret", slug="secret", services=["hr"])
    ingest(other, make_event(at=now - timedelta(hours=1), value="Payroll leak"), now=now)
    incident = incident_services.create_incident(
        title="Checkout slow", service="checkout", severity="SEV2", by=admin_user, now=now - timedelta(hours=3)
    )
    incident_services.transition_incident(incident.pk, to="RESOLVED", by=admin_user, now=now - timedelta(hours=1))
    viewer.email = "vera@example.com"
    viewer.save()
    return now


def test_the_summary_lists_the_users_projects_day_in_text_and_html(viewer, day):
    daily_summary.set_subscription(viewer, enabled=True)
    assert daily_summary.send_daily_summaries(now=day) == 1
    [message] = mail.outbox
    assert message.to == ["vera@example.com"]
    assert message.subject.startswith("Tracepoint daily summary") and "1 new issue, 1 regressed, 1 incident opened" in (
        message.subject
    )
    text = message.body
    assert "KeyError: Fresh failure" in text and "LookupError: Old <b>problem</b>" in text
    assert "Payroll" not in text  # not the viewer's project
    assert "Incidents resolved: 1" in text and "[SEV2] Checkout slow" in text
    assert "why: " in text
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Old &lt;b&gt;problem&lt;/b&gt;" in html and "<b>problem</b>" not in html  # escaped
    assert "Payroll" not in html


def test_the_summary_shows_every_monitors_uptime_over_the_last_day(viewer, day):
    from monitors.models import Monitor, StatusPeriod

    def monitor(name: str, *periods) -> Monitor:
        created = Monitor.objects.create(name=name, kind="http", url="https://example.com/", status=periods[-1][0])
        for status, started, ended in periods:
            StatusPeriod.objects.create(monitor=created, status=status, started_at=started, ended_at=ended)
        return created

    shop = monitor(
        "Shop <api>",
        ("up", day - timedelta(days=2), day - timedelta(hours=3)),
        ("down", day - timedelta(hours=3), day - timedelta(hours=2)),  # 1 h of 24: 95.83 %
        ("up", day - timedelta(hours=2), None),
    )
    billing = monitor("Billing & jobs", ("up", day - timedelta(days=2), None))
    daily_summary.set_subscription(viewer, enabled=True)  # a viewer: monitors belong to no project, all are shown

    assert daily_summary.send_daily_summaries(now=day) == 1
    [message] = mail.outbox
    text = message.body
    assert "Monitors (uptime, last 24 h, worst first):" in text
    assert "- Shop <api>: 95.83%\n" in text and f"/monitors/{shop.pk}/\n" in text
    assert "- Billing & jobs: 100%\n" in text
    assert text.index("Shop <api>") < text.index("Billing & jobs")  # worst first
    html, _ = message.alternatives[0]
    assert f'/monitors/{shop.pk}/">Shop &lt;api&gt;</a>: 95.83%' in html
    assert f'/monitors/{billing.pk}/">Billing &amp; jobs</a>: 100%' in html
    assert "Shop <api>" not in html and "Billing & jobs" not in html  # escaped


def test_one_summary_per_day_even_when_the_task_runs_twice(viewer, day):
    daily_summary.set_subscription(viewer, enabled=True)
    assert daily_summary.send_daily_summaries(now=day) == 1
    assert daily_summary.send_daily_summaries(now=day + timedelta(minutes=5)) == 0
    assert len(mail.outbox) == 1
    assert daily_summary.send_daily_summaries(now=day + timedelta(days=1)) == 1


def test_users_who_did_not_opt_in_or_have_no_email_get_nothing(viewer, responder, day):
    responder.email = ""
    responder.save()
    daily_summary.set_subscription(responder, enabled=True)  # no email address
    assert daily_summary.send_daily_summaries(now=day) == 0
    assert mail.outbox == []


def test_a_failed_send_is_retried_on_the_next_run(viewer, day, monkeypatch):
    daily_summary.set_subscription(viewer, enabled=True)

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken)
    assert daily_summary.send_daily_summaries(now=day) == 0
    assert DailySummarySubscription.objects.get(user=viewer).last_sent_on is None
    monkeypatch.undo()
    assert daily_summary.send_daily_summaries(now=day) == 1


def test_the_beat_schedule_and_the_task(settings, viewer, day):
    entry = settings.CELERY_BEAT_SCHEDULE["send-daily-summaries"]
    assert entry["task"] == tasks.send_daily_summaries.name
    assert entry["schedule"].hour == {7}
    daily_summary.set_subscription(viewer, enabled=True)
    assert tasks.send_daily_summaries() == 1


def test_the_profile_page_turns_the_summary_on_and_off(client, viewer):
    viewer.email = "vera@example.com"
    viewer.save()
    client.force_login(viewer)
    assert 'id="daily-summary-enabled"' in client.get("/account/").content.decode()
    assert client.post("/issues/daily-summary/", {"enabled": "on"}).status_code == 302
    assert DailySummarySubscription.objects.get(user=viewer).enabled
    client.post("/issues/daily-summary/", {})
    assert not DailySummarySubscription.objects.get(user=viewer).enabled


def test_without_an_email_address_the_summary_cannot_be_turned_on(client, viewer):
    viewer.email = ""
    viewer.save()
    client.force_login(viewer)
    response = client.post("/issues/daily-summary/", {"enabled": "on"}, follow=True)
    assert "Add an email address" in response.content.decode()
    assert not DailySummarySubscription.objects.filter(user=viewer, enabled=True).exists()


def test_the_toggle_needs_a_login_and_a_post(client, viewer):
    assert client.post("/issues/daily-summary/", {"enabled": "on"}).status_code == 302  # to the login page
    client.force_login(viewer)
    assert client.get("/issues/daily-summary/").status_code == 405


def test_users_without_a_role_get_no_summary_and_cannot_opt_in(client, day):
    from tests.factories import make_user

    nobody = make_user(None, username="nobody", email="nobody@example.com")
    daily_summary.set_subscription(nobody, enabled=True)  # as if they had a role once
    assert daily_summary.send_daily_summaries(now=day) == 0
    assert mail.outbox == []
    client.force_login(nobody)
    assert client.post("/issues/daily-summary/", {"enabled": "on"}).status_code == 403
