"""Whichever way an incident opens, its service's policy starts and pages: through the API, a monitor
going DOWN, an alert rule on an error issue, and an Alertmanager alert group (its correlation, as the
worker runs it). Also: reassigning to another policy pages that policy's first step at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from events import alerts, keys
from events.models import AlertRule, Issue
from incidents.intake import services as intake_services
from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.correlate import correlate_group
from incidents.models import Incident
from incidents.oncall import escalation
from incidents.oncall.models import Escalation, Page
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.factories import make_event, make_incident, make_monitor, make_team, make_user
from tests.helpers import ingest
from tests.intake.conftest import am_alert, am_payload, raw
from tests.oncall.escalation_helpers import make_policy, notes

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def ann(db):
    ann = make_user("responder", username="ann", first_name="Ann", email="ann@example.com")
    team = make_team("Payments", members=[ann], services=["checkout", "db"])
    make_policy(team, [(5, [ann], [], [])], name="Payments primary", services=["checkout", "db"])
    return ann


def assert_paged(incident: Incident, who) -> None:
    """The incident's escalation runs the policy, and its first step pages ``who`` on the next tick."""
    run = Escalation.objects.get(incident=incident)
    assert (run.state, run.name) == (Escalation.State.ACTIVE, "Payments primary")
    escalation.run_due(now=run.next_step_at)
    assert list(Page.objects.filter(incident=incident).values_list("user", flat=True)) == [who.pk]


def test_an_incident_opened_through_the_api_starts_its_policy(ann, responder_client):
    response = responder_client.post(
        "/api/v1/incidents", {"title": "Checkout down", "service": "checkout", "severity": "SEV1"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert_paged(Incident.objects.get(pk=response.json()["id"]), ann)


def test_a_monitor_going_down_starts_its_services_policy(ann):
    site = make_monitor("Checkout API", open_incident=True, incident_severity="SEV1", service="checkout")
    record_result(site.pk, CheckResult("up", 20), now=T0)
    assert not Escalation.objects.exists()
    record_result(site.pk, CheckResult("down", None, "HTTP 503"), now=T0 + timedelta(minutes=1))
    incident = Incident.objects.get()
    assert incident.service == "checkout"
    assert_paged(incident, ann)


def test_an_alert_rule_that_opens_an_incident_starts_its_services_policy(ann):
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    made = AlertRule(
        project=project, name="New errors", kind=AlertRule.Kind.NEW_ISSUE, open_incident=True, incident_severity="SEV2"
    )
    made.full_clean()
    made.save()
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    alerts.evaluate([issue.pk], created=[issue.pk], now=now)
    incident = Incident.objects.get()
    assert incident.service == "checkout"
    assert_paged(incident, ann)


def test_an_alertmanager_group_that_opens_an_incident_starts_its_services_policy(ann):
    integration, _token = intake_services.create_integration(
        kind="alertmanager", name="Prometheus prod", service_label="team"
    )
    payload = am_payload(am_alert())  # labels team="db"
    result = receive_alertmanager(integration, payload, raw=raw(payload), now=T0)
    incident = correlate_group(result.group.pk)  # what the worker's task runs after the commit
    assert incident is not None and incident.service == "db"
    assert_paged(incident, ann)


def test_reassigning_to_another_policy_ends_this_escalation_and_pages_that_policys_first_step(ann, time_machine):
    bob = make_user("responder", username="bob", first_name="Bob", email="bob@example.com")
    database = make_team("Database", members=[bob], services=["postgres"])
    dba = make_policy(database, [(10, [bob], [], [])], name="DBA on call")
    time_machine.move_to(T0, tick=False)
    incident = make_incident(service="checkout", owner=ann)
    escalation.run_due()
    assert list(Page.objects.values_list("user__username", flat=True)) == ["ann"]

    escalation.reassign(incident.pk, policy=dba, by=ann)
    escalation.run_due()

    runs = list(Escalation.objects.filter(incident=incident).order_by("started_at", "id").values_list("state", "name"))
    assert runs == [("cancelled", "Payments primary"), ("active", "DBA on call")]
    assert Page.objects.get(user=ann).status == Page.Status.CANCELLED
    assert Page.objects.get(user=bob).status == Page.Status.SENT
    incident.refresh_from_db()
    assert incident.owner == ann  # a policy is not a person: the owner is left as it was
    assert any("reassigned the incident to escalation policy DBA on call" in note for note in notes(incident))
