"""Cross-app signals: who listens to what is in the AppConfigs (and greppable), never in module-level hook lists."""

from __future__ import annotations

import logging
import re
import weakref
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext

from events import receivers as events_receivers
from incidents import services as incident_services
from incidents.intake import receivers as intake_receivers
from incidents.intake.models import Integration
from incidents.intake.signals import change_event_received
from incidents.models import Incident
from incidents.oncall import receivers as oncall_receivers
from incidents.signals import incident_changed, incident_opened, incident_resolved
from monitors import services as monitor_services
from monitors.models import Monitor, MonitorKind, MonitorStatus
from monitors.signals import monitor_deleting, monitor_opened_incident, monitor_status_changed
from monitors.status import set_status
from statuspages import receivers as statuspages_receivers
from tests.factories import make_incident
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.signals import delivery_attempted

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
APPS = ("incidents", "events", "monitors", "statuspages", "tracepoint")
APP_DIRS = {"intake": "incidents/intake", "oncall": "incidents/oncall"}  # app label -> its folder, where they differ

# signal -> its sender and [(dispatch_uid, receiver)], in the order they run.
EXPECTED = {
    monitor_status_changed: (
        Monitor,
        [("statuspages.on_monitor_status_changed", statuspages_receivers.on_monitor_status_changed)],
    ),
    monitor_opened_incident: (
        Monitor,
        [("statuspages.on_monitor_opened_incident", statuspages_receivers.on_monitor_opened_incident)],
    ),
    monitor_deleting: (Monitor, [("statuspages.on_monitor_deleting", statuspages_receivers.on_monitor_deleting)]),
    incident_changed: (
        Incident,
        [
            ("intake.on_incident_changed", intake_receivers.on_incident_changed),
            ("oncall.stop_escalation", oncall_receivers.stop_escalation),
            ("statuspages.on_incident_changed", statuspages_receivers.on_incident_changed),
        ],
    ),
    incident_opened: (Incident, [("oncall.start_escalation", oncall_receivers.start_escalation)]),
    delivery_attempted: (Delivery, [("oncall.settle_page_delivery", oncall_receivers.settle_page_delivery)]),
    incident_resolved: (Incident, [("events.on_incident_resolved", events_receivers.on_incident_resolved)]),
    change_event_received: (
        Integration,
        [("events.on_change_event_received", events_receivers.on_change_event_received)],
    ),
}
NAMES = {
    monitor_status_changed: "monitor_status_changed",
    monitor_opened_incident: "monitor_opened_incident",
    monitor_deleting: "monitor_deleting",
    incident_changed: "incident_changed",
    incident_opened: "incident_opened",
    delivery_attempted: "delivery_attempted",
    incident_resolved: "incident_resolved",
    change_event_received: "change_event_received",
}


def connected(signal: Signal) -> list[tuple]:
    """(dispatch_uid, receiver) of every receiver connected to ``signal``."""
    found = []
    for (uid, _), receiver, _ in signal.receivers:
        if isinstance(receiver, weakref.ReferenceType):
            receiver = receiver()
        found.append((uid, receiver))
    return found


@pytest.mark.parametrize("signal", list(EXPECTED), ids=NAMES.get)
def test_each_signal_has_exactly_its_intended_receivers(signal):
    sender, expected = EXPECTED[signal]
    assert connected(signal) == expected
    # ...and connected for the sender the service sends with.
    assert signal._live_receivers(sender) == ([receiver for _, receiver in expected], [])


def test_each_receiver_is_connected_where_a_grep_for_its_signal_finds_it():
    for signal, (_, expected) in EXPECTED.items():
        for uid, receiver in expected:
            app = uid.split(".")[0]
            ready = (ROOT / APP_DIRS.get(app, app) / "apps.py").read_text()
            assert re.search(rf"{NAMES[signal]}\.connect\(\s*receivers\.{receiver.__name__},", ready), (app, uid)


def test_no_module_level_hook_list_remains_in_the_apps():
    pattern = re.compile(r"\b[A-Z][A-Z0-9_]*_HOOKS\b|^\w+\s*:\s*list\[Callable", re.MULTILINE)
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for match in pattern.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == []


@pytest.fixture
def heard():
    """Connect a recorder to every signal for one test; what each heard is listed per signal."""
    calls: dict[Signal, list[dict]] = {signal: [] for signal in EXPECTED}
    receivers = {}
    for signal in EXPECTED:

        def record(sender, signal=signal, **kwargs):
            calls[signal].append(kwargs)

        receivers[signal] = record
        signal.connect(record, dispatch_uid="tests.heard")
    yield calls
    for signal in EXPECTED:
        signal.disconnect(dispatch_uid="tests.heard")


def test_incident_changed_and_resolved_are_sent_after_the_commit(
    db, heard, responder, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=responder)
        assert heard[incident_changed] == []  # not before the commit
    assert heard[incident_changed] == [{"incident_id": incident.pk, "created": True}]
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(incident.pk, to="RESOLVED", by=responder)
        assert heard[incident_resolved] == []
    assert heard[incident_resolved] == [{"incident_id": incident.pk, "user": responder}]
    assert heard[incident_changed][-1] == {"incident_id": incident.pk, "created": False}


def test_incident_opened_is_sent_inside_the_transaction_that_opens_the_incident(db, heard, responder):
    with transaction.atomic():
        incident = make_incident(by=responder, status="RESOLVED")
        [opened] = heard[incident_opened]
        assert opened["incident"] == incident and opened["reopened"] is False
        incident_services.reopen_incident(incident.pk, by=responder)
        assert [call["reopened"] for call in heard[incident_opened]] == [False, True]


def test_a_failing_receiver_is_logged_and_the_others_still_run(db, heard, django_capture_on_commit_callbacks):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("django.dispatch")
    logger.addHandler(handler)

    def broken(sender, **kwargs):
        raise RuntimeError("receiver broke")

    incident_changed.connect(broken, sender=Incident, dispatch_uid="tests.broken")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            incident = make_incident()
    finally:
        incident_changed.disconnect(sender=Incident, dispatch_uid="tests.broken")
        logger.removeHandler(handler)
    # connected after `broken`, still called
    assert heard[incident_changed] == [{"incident_id": incident.pk, "created": True}]
    assert [r.exc_info[1].args for r in records] == [("receiver broke",)]


def test_the_monitor_signals_run_in_the_transaction_or_after_it(db, heard, django_capture_on_commit_callbacks):
    site = Monitor.objects.create(name="Shop", kind=MonitorKind.HTTP, url="https://shop.example/", open_incident=True)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        set_status(site, MonitorStatus.DOWN, reason="HTTP 503", at=T0)
        incident = Incident.objects.get()
        assert heard[monitor_opened_incident] == [{"monitor_id": site.pk, "incident_id": incident.pk}]
        assert heard[monitor_status_changed] == []  # waits for the commit
    assert heard[monitor_status_changed] == [{"monitor_id": site.pk}]

    seen = []

    def deleting(sender, monitor_id, **kwargs):
        seen.append(Monitor.objects.filter(pk=monitor_id).exists())  # sent before the delete
        raise RuntimeError("keep it")  # `send`, not `send_robust`: the error aborts the delete

    monitor_deleting.connect(deleting, sender=Monitor, dispatch_uid="tests.deleting")
    try:
        with pytest.raises(RuntimeError, match="keep it"):
            monitor_services.delete_monitor(site.pk)
    finally:
        monitor_deleting.disconnect(sender=Monitor, dispatch_uid="tests.deleting")
    assert seen == [True]
    assert Monitor.objects.filter(pk=site.pk).exists()
    monitor_services.delete_monitor(site.pk)
    assert heard[monitor_deleting] == [{"monitor_id": site.pk}, {"monitor_id": site.pk}]
    assert not Monitor.objects.filter(pk=site.pk).exists()


def test_a_new_incident_asks_nothing_of_the_database_after_its_commit(
    db, responder, django_capture_on_commit_callbacks
):
    """Status pages, intake and on-call have nothing to do for an incident that did not exist before
    (``created=True``), and the live message is built from the committed row: every incident opened
    by a storm of alerts costs only its own inserts."""
    with django_capture_on_commit_callbacks() as callbacks:
        make_incident(by=responder, severity="SEV3")
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()
    assert [q["sql"] for q in queries.captured_queries] == []
