"""On a state change: alerts through the notification channels, incidents opened on DOWN and resolved on UP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents.models import Incident, Status
from monitors import services
from monitors.models import Monitor, MonitorStatus
from monitors.ping import record_ping
from monitors.probes import CheckResult
from monitors.scheduler import mark_late_heartbeats, record_result
from tests.factories import make_heartbeat, make_monitor
from tests.notifications.factories import make_email_channel
from tracepoint.notifications.models import Delivery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOWN = CheckResult("down", None, "HTTP 503 (expected 200-399)")
UP = CheckResult("up", 20)


def test_down_and_recovery_are_announced_but_the_first_up_is_not(db):
    make_email_channel(topics=["monitor.*"])
    site = make_monitor("Checkout API")
    record_result(site.pk, UP, now=T0)  # pending → up: not news
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(site.pk, UP, now=T0 + timedelta(minutes=5))
    deliveries = list(Delivery.objects.order_by("id"))
    assert [d.topic for d in deliveries] == ["monitor.down", "monitor.up"]
    assert deliveries[0].subject == "[DOWN] Checkout API: HTTP 503 (expected 200-399)"
    assert deliveries[0].payload["to"] == "down" and deliveries[0].severity == "SEV2"
    assert deliveries[1].subject == "[UP] Checkout API"


def test_an_incident_is_opened_on_down_and_mitigated_on_up_by_the_monitor(db):
    site = make_monitor("Checkout API", open_incident=True, incident_severity="SEV1")
    record_result(site.pk, UP, now=T0)
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=2))  # still down: still one incident
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.status) == ("Checkout API is down", "SEV1", Status.OPEN)
    assert incident.timeline.first().actor_name == "monitor Checkout API"
    record_result(site.pk, UP, now=T0 + timedelta(minutes=9))
    incident.refresh_from_db()
    # Every signal cleared: MITIGATED (monitoring); a person confirms the fix.
    assert incident.status == Status.MITIGATED and incident.mitigated_at == T0 + timedelta(minutes=9)
    entries = [(e.kind, e.actor_name, e.body) for e in incident.timeline.all()]
    assert (
        "SIGNAL",
        "monitor Checkout API",
        "Monitor “Checkout API” resolved: monitor “Checkout API” is up again",
    ) in entries
    assert ("STATUS_CHANGED", "monitor Checkout API", "") in entries
    # Down again once mitigated: a recurrence, announced as a new incident (the old one waits for a person).
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=20))
    assert Incident.objects.count() == 2
    incident.refresh_from_db()
    assert incident.status == Status.MITIGATED and incident.signals.get().status == "resolved"
    assert Incident.objects.exclude(pk=incident.pk).get().status == Status.OPEN


def test_the_all_clear_can_resolve_and_the_next_outage_opens_a_new_incident(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "CORRELATION_ALL_CLEAR_STATUS": "RESOLVED"}
    site = make_monitor("Checkout API", open_incident=True, incident_severity="SEV1")
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=1))
    record_result(site.pk, UP, now=T0 + timedelta(minutes=9))
    incident = Incident.objects.get()
    assert incident.status == Status.RESOLVED and incident.resolved_at == T0 + timedelta(minutes=9)
    record_result(site.pk, DOWN, now=T0 + timedelta(minutes=20))
    assert Incident.objects.count() == 2


def test_pausing_is_quiet_and_leaves_incidents_alone(db):
    make_email_channel(topics=["monitor.*"])
    site = make_monitor("Checkout API", open_incident=True)
    record_result(site.pk, DOWN, now=T0)
    services.pause(site.pk, now=T0 + timedelta(minutes=1))
    services.resume(site.pk, now=T0 + timedelta(minutes=2))
    assert [d.topic for d in Delivery.objects.all()] == ["monitor.down"]
    assert Incident.objects.get().status == Status.OPEN
    assert Monitor.objects.get().status == MonitorStatus.PENDING


def test_a_heartbeat_that_misses_its_deadline_alerts(db):
    make_email_channel(topics=["monitor.down"])
    job = make_heartbeat("nightly backup", grace_seconds=60)
    record_ping(job.ping_key, now=T0)
    mark_late_heartbeats(now=T0 + timedelta(hours=2))
    delivery = Delivery.objects.get()
    assert delivery.subject.startswith("[DOWN] nightly backup: the success signal did not arrive on time")
