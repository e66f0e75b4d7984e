"""One incident per problem: monitors, error issues and external alerts of one service share an incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events import alerts, keys, lifecycle
from events.models import AlertRule, Issue, IssueStatus
from incidents import correlation
from incidents import services as incident_services
from incidents.intake import correlate
from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.models import Alert, AlertGroup, AlertStatus
from incidents.intake.services import create_integration
from incidents.models import Incident, IncidentSignal, Status
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.factories import make_event, make_incident, make_monitor
from tests.helpers import ingest, race
from tests.intake.conftest import am_alert, am_payload, raw

DOWN = CheckResult("down", None, "HTTP 503 (expected 200-399)")
UP = CheckResult("up", 20)


def signal(ref: str, *, kind: str = "monitor", label: str = "probe") -> correlation.Signal:
    return correlation.Signal(kind=kind, ref=ref, label=label)


def open_or_join(ref: str, *, service: str = "checkout", severity: str = "SEV3", now=None, kind: str = "monitor"):
    return correlation.open_or_join(
        signal(ref, kind=kind),
        service=service,
        title=f"{ref} is failing",
        severity=severity,
        summary=f"{ref} says so",
        by=incident_services.Actor(label=ref),
        now=now,
    )


def receive(integration, payload: dict) -> AlertGroup:
    """Receive an Alertmanager payload and run the correlation it queues, as the worker would."""
    received = receive_alertmanager(integration, payload, raw=raw(payload))
    correlate.correlate_group(received.group.pk)
    return received.group


@pytest.fixture
def alertmanager(db):
    integration, _token = create_integration(kind="alertmanager", name="Prometheus prod", service_label="service")
    return integration


def checkout_alert(fingerprint: str = "f1", **labels) -> dict:
    alert = am_alert(fingerprint)
    alert["labels"] |= {"service": "checkout", **labels}
    return alert


def test_a_monitor_an_issue_alert_and_an_alertmanager_alert_of_one_service_give_one_incident(db, alertmanager):
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    monitor = make_monitor("Checkout API", open_incident=True, incident_severity="SEV2", service="checkout")
    record_result(monitor.pk, DOWN, now=timezone.now())
    rule = AlertRule(project=project, name="New errors", kind=AlertRule.Kind.NEW_ISSUE, open_incident=True)
    rule.full_clean()
    rule.save()
    now = timezone.now()
    ingest(project, make_event(at=now, service="checkout"), now=now)
    issue = Issue.objects.get()
    assert alerts.evaluate([issue.pk], created=[issue.pk], now=now) == 1
    group = receive(alertmanager, am_payload(checkout_alert()))

    incident = Incident.objects.get()
    assert (incident.title, incident.service) == ("Checkout API is down", "checkout")
    kinds = sorted(incident.signals.values_list("kind", "ref"))
    assert kinds == sorted([("monitor", str(monitor.pk)), ("issue", str(issue.pk)), ("alert", str(group.pk))])
    joined = [e.body for e in incident.timeline.filter(kind="SIGNAL")]
    assert len(joined) == 2  # one entry per joining signal
    assert joined[0].startswith("Error issue “LookupError: Order 1 not found” joined")
    assert joined[1].startswith("External alert “Disk almost full” joined")
    # The Alertmanager alert is critical (SEV2 in the default mapping): the incident keeps SEV2.
    assert incident.severity == "SEV2"


def test_signals_of_different_services_open_different_incidents(db):
    first, opened_first = open_or_join("a", service="checkout")
    second, opened_second = open_or_join("b", service="search")
    assert opened_first and opened_second and first.pk != second.pk


def test_a_signal_joins_only_within_the_window_unless_the_incident_still_has_an_active_signal(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "CORRELATION_WINDOW_MINUTES": 30}
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    by_hand = make_incident(service="checkout", now=t0)
    incident, opened = open_or_join("late", now=t0 + timedelta(minutes=31))
    assert opened and incident.pk != by_hand.pk  # a quiet incident opened by hand long ago is another problem
    joined, opened = open_or_join("still-failing", now=t0 + timedelta(hours=5))
    assert not opened and joined.pk == incident.pk  # "late" is still active: the same problem
    correlation.resolve_signal("monitor", "late", by=incident_services.Actor(label="x"), now=t0 + timedelta(hours=6))
    correlation.resolve_signal(
        "monitor", "still-failing", by=incident_services.Actor(label="x"), now=t0 + timedelta(hours=6)
    )
    fresh, opened = open_or_join("next-day", now=t0 + timedelta(days=1))
    assert opened and fresh.pk != incident.pk  # mitigated and quiet for longer than the window


def test_a_repeat_of_a_signal_is_a_no_op_and_a_more_severe_signal_raises_the_severity(db):
    incident, _ = open_or_join("a", severity="SEV3")
    again, opened = open_or_join("a", severity="SEV3")
    assert not opened and again.pk == incident.pk and incident.signals.count() == 1
    open_or_join("b", severity="SEV1")
    open_or_join("c", severity="SEV4")
    incident.refresh_from_db()
    assert incident.severity == "SEV1"
    change = incident.timeline.get(kind="FIELD_CHANGED")
    assert (change.field, change.from_value, change.to_value, change.actor_name) == ("severity", "SEV3", "SEV1", "b")


def test_when_every_signal_resolves_the_automatic_incident_is_mitigated_with_a_timeline_entry(db):
    incident, _ = open_or_join("a")
    open_or_join("b")
    actor = incident_services.Actor(label="probe")
    assert correlation.resolve_signal("monitor", "a", by=actor) == []
    incident.refresh_from_db()
    assert incident.status == Status.OPEN  # "b" still fails
    [moved] = correlation.resolve_signal("monitor", "b", by=actor)
    incident.refresh_from_db()
    assert moved.pk == incident.pk and incident.status == Status.MITIGATED
    bodies = list(incident.timeline.filter(kind="SIGNAL").values_list("body", flat=True))
    assert bodies[-1] == "Every signal has resolved: the incident moves to Mitigated."
    assert incident.timeline.filter(kind="STATUS_CHANGED", to_value="MITIGATED").exists()


def test_the_all_clear_setting_can_resolve_instead(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "CORRELATION_ALL_CLEAR_STATUS": "RESOLVED"}
    incident, _ = open_or_join("a")
    correlation.resolve_signal("monitor", "a", by=incident_services.Actor(label="probe"))
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_an_incident_opened_by_a_person_is_not_moved_when_the_signals_that_joined_it_resolve(db):
    by_hand = make_incident(service="checkout")
    joined, opened = open_or_join("a")
    assert not opened and joined.pk == by_hand.pk
    correlation.resolve_signal("monitor", "a", by=incident_services.Actor(label="probe"))
    by_hand.refresh_from_db()
    assert by_hand.status == Status.OPEN
    assert by_hand.signals.get().status == "resolved"


def test_a_resolved_alert_group_clears_its_signal_and_a_resolved_issue_clears_its_own(
    db, alertmanager, django_capture_on_commit_callbacks
):
    group = receive(alertmanager, am_payload(checkout_alert()))
    incident = Incident.objects.get()
    resolved = checkout_alert()
    resolved |= {"status": "resolved", "endsAt": "2026-05-16T22:10:00.000Z"}
    receive(alertmanager, am_payload(resolved))
    incident.refresh_from_db()
    assert incident.signals.get(ref=str(group.pk)).status == "resolved"
    assert incident.status == Status.MITIGATED

    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    rule = AlertRule(project=project, name="New", kind=AlertRule.Kind.NEW_ISSUE, open_incident=True)
    rule.full_clean()
    rule.save()
    now = timezone.now()
    ingest(project, make_event(at=now, service="search"), now=now)
    issue = Issue.objects.get()
    alerts.evaluate([issue.pk], created=[issue.pk], now=now)
    search = Incident.objects.get(service="search")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.set_issue_status(issue.pk, status=IssueStatus.RESOLVED, by=None)
    search.refresh_from_db()
    assert search.status == Status.MITIGATED
    assert search.timeline.filter(body__contains="the issue was resolved").exists()


def test_acknowledging_the_incident_acknowledges_its_events_api_alerts_only(
    db, alertmanager, django_capture_on_commit_callbacks
):
    pagerduty, _ = create_integration(kind="events_v2", name="Zabbix", service="checkout")
    am_group = receive(alertmanager, am_payload(checkout_alert()))
    incident = Incident.objects.get()
    v2_group = AlertGroup.objects.create(integration=pagerduty, key_hash="k", group_key="disk-full/db-1")
    v2_alert = Alert.objects.create(
        integration=pagerduty, group=v2_group, fingerprint="disk-full/db-1", starts_at=timezone.now(),
        service="checkout", summary="Disk full", severity="SEV2",
    )  # fmt: skip
    correlate.correlate_group(v2_group.pk)
    assert set(incident.signals.values_list("ref", flat=True)) == {str(am_group.pk), str(v2_group.pk)}
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=None)
    v2_alert.refresh_from_db()
    assert v2_alert.status == AlertStatus.ACKNOWLEDGED
    assert set(Alert.objects.filter(group=am_group).values_list("status", flat=True)) == {"firing"}


def test_correlation_is_queued_after_the_payload_commits(db, alertmanager, django_capture_on_commit_callbacks):
    from incidents.intake import tasks

    queued = []
    original = tasks.correlate_group.delay
    tasks.correlate_group.delay = lambda group_id: queued.append(group_id)  # what delay_on_commit calls
    try:
        with django_capture_on_commit_callbacks(execute=True):
            received = receive_alertmanager(alertmanager, am_payload(checkout_alert()), raw=b"{}")
    finally:
        tasks.correlate_group.delay = original
    assert queued == [received.group.pk]
    assert not Incident.objects.exists()  # the worker opens it
    tasks.correlate_group(received.group.pk)
    assert Incident.objects.get().signals.get().ref == str(received.group.pk)


@pytest.mark.django_db(transaction=True)
def test_signals_of_one_service_arriving_at_once_open_one_incident():
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite serialises writers anyway")
    results = race(4, lambda index: open_or_join(f"probe-{index}"))
    assert not [r for r in results if isinstance(r, Exception)]
    assert Incident.objects.count() == 1
    assert IncidentSignal.objects.count() == 4
    assert sum(opened for _incident, opened in results) == 1


def test_the_incident_page_shows_every_signal_and_hides_issues_the_user_may_not_see(db, client, responder):
    incident, _ = open_or_join("a", kind="monitor")
    correlation.open_or_join(
        correlation.Signal(kind="issue", ref="999", label="<b>Secret project's error</b>", url="/issues/999/"),
        service="checkout", title="t", severity="SEV3", summary="s", by=None,
    )  # fmt: skip
    client.force_login(responder)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="signals"' in page and "1 active of 2" not in page and "2 active of 2" in page
    assert "An error issue of a project you are not a member of" in page and "/issues/999/" not in page
    assert "<b>Secret" not in page
    assert "probe" in page


def test_more_alerts_in_a_firing_group_are_correlated_once_per_debounce_window(
    db, alertmanager, django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.cache import cache

    from incidents.intake import tasks

    cache.clear()
    queued = []
    monkeypatch.setattr(tasks.correlate_group, "delay", lambda group_id: queued.append(("now", group_id)))
    monkeypatch.setattr(
        tasks.correlate_group, "apply_async", lambda args, countdown: queued.append((countdown, args[0]))
    )
    alerts = [checkout_alert("f1")]
    for fingerprint in ("f1", "f2", "f3"):
        alerts = [*alerts, checkout_alert(fingerprint)] if fingerprint != "f1" else alerts
        with django_capture_on_commit_callbacks(execute=True):
            received = receive_alertmanager(alertmanager, am_payload(*alerts), raw=b"{}")
    group = received.group.pk
    # The new group at once; then one run at the end of the window for the two payloads that added alerts
    # (a window of 5 to 10 seconds: groups that started together do not correlate at the same instant).
    assert queued[0] == ("now", group) and len(queued) == 2 and queued[1][1] == group
    assert correlate.CORRELATE_DEBOUNCE_SECONDS <= queued[1][0] <= 2 * correlate.CORRELATE_DEBOUNCE_SECONDS
    resolved = [alert | {"status": "resolved", "endsAt": "2026-05-16T22:10:00.000Z"} for alert in alerts]
    with django_capture_on_commit_callbacks(execute=True):
        receive_alertmanager(alertmanager, am_payload(*resolved), raw=b"{}")
    assert queued[-1] == ("now", group)  # resolving is news: at once


def test_a_signal_firing_again_on_an_acknowledged_incident_rejoins_it_and_may_raise_its_severity(db):
    incident, _ = open_or_join("a", severity="SEV3")
    incident_services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=None)
    correlation.resolve_signal("monitor", "a", by=incident_services.Actor(label="probe"))
    incident.refresh_from_db()
    assert incident.status == Status.MITIGATED  # all clear
    again, opened = open_or_join("a", severity="SEV1")
    assert opened and again.pk != incident.pk and again.severity == "SEV1"  # a recurrence: a new incident

    other, _ = open_or_join("b", service="search", severity="SEV3")
    incident_services.transition_incident(other.pk, to="ACKNOWLEDGED", by=None)
    open_or_join("c", service="search", severity="SEV3")
    correlation.resolve_signal("monitor", "c", by=incident_services.Actor(label="probe"))
    same, opened = open_or_join("c", service="search", severity="SEV2")
    other.refresh_from_db()
    assert not opened and same.pk == other.pk and other.severity == "SEV2"
    assert other.timeline.filter(kind="SIGNAL", body__endswith="fired again.").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_signal_resolving_while_another_fires_again_on_the_same_incident_never_deadlocks():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    actor = incident_services.Actor(label="probe")
    for round_ in range(5):
        open_or_join(f"a{round_}")
        open_or_join(f"b{round_}")

        def work(index, round_=round_):
            if index % 2:
                return correlation.resolve_signal("monitor", f"a{round_}", by=actor)
            return open_or_join(f"a{round_}")

        results = race(4, work)
        assert not [r for r in results if isinstance(r, Exception)], results


def test_acknowledging_only_touches_alerts_of_active_signals_that_fired_before_it(
    db, django_capture_on_commit_callbacks
):
    pagerduty, _ = create_integration(kind="events_v2", name="Zabbix", service="checkout")
    group = AlertGroup.objects.create(integration=pagerduty, key_hash="k", group_key="disk-full/db-1")
    first = Alert.objects.create(
        integration=pagerduty, group=group, fingerprint="disk-full/db-1", starts_at=timezone.now(),
        service="checkout", summary="Disk full", severity="SEV2",
    )  # fmt: skip
    old = correlate.correlate_group(group.pk)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(old.pk, to="RESOLVED", by=None)
    first.refresh_from_db()
    assert first.status == AlertStatus.FIRING  # resolving is not acknowledging
    # The group fires again later and opens a new incident; a comment on the old one changes nothing.
    first.status, first.ends_at = AlertStatus.RESOLVED, timezone.now()
    first.save()
    second = Alert.objects.create(
        integration=pagerduty, group=group, fingerprint="disk-full/db-1", starts_at=timezone.now(),
        service="checkout", summary="Disk full again", severity="SEV2",
    )  # fmt: skip
    new = correlate.correlate_group(group.pk)
    assert new.pk != old.pk
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.add_comment(old.pk, body="post-mortem", by=None)
    second.refresh_from_db()
    assert second.status == AlertStatus.FIRING


def test_the_worker_that_opens_an_incident_sends_its_first_message_itself(
    db, alertmanager, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core import mail

    from incidents.intake import tasks
    from tests.notifications.factories import make_email_channel
    from tracepoint.notifications import tasks as notification_tasks

    make_email_channel(topics=["incident.created"])
    queued = []
    monkeypatch.setattr(notification_tasks.deliver_notification, "delay", queued.append)
    received = receive_alertmanager(alertmanager, am_payload(checkout_alert()), raw=b"{}")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.correlate_group(received.group.pk)
    assert Incident.objects.get().severity == "SEV2"
    assert queued == [] and [message.subject for message in mail.outbox] == ["[SEV2] New incident: Disk almost full"]
