"""Incidents opened by monitors and alert rules before correlation get their signals on upgrade."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("monitors", "0007_monitor_service"), ("events", "0008_daily_summary_subscription")]
AFTER = [("monitors", "0008_signals_of_open_incidents"), ("events", "0009_signals_of_open_incidents")]


def migrate(targets) -> object:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_open_incidents_of_monitors_and_alert_rules_get_their_signals():
    apps = migrate(BEFORE)
    now = timezone.now()
    Incident = apps.get_model("incidents", "Incident")
    Monitor = apps.get_model("monitors", "Monitor")
    Project = apps.get_model("events", "Project")
    Issue = apps.get_model("events", "Issue")
    down = Monitor.objects.create(name="API", kind="http", url="https://example.com", status="down")
    up = Monitor.objects.create(name="Web", kind="http", url="https://example.com", status="up", status_changed_at=now)
    open_incident = Incident.objects.create(title="API is down", service="api", severity="SEV2")
    closed = Incident.objects.create(title="old", service="api", severity="SEV2", status="RESOLVED", resolved_at=now)
    apps.get_model("monitors", "MonitorIncident").objects.create(monitor=down, incident=open_incident)
    apps.get_model("monitors", "MonitorIncident").objects.create(monitor=up, incident=open_incident)
    apps.get_model("monitors", "MonitorIncident").objects.create(monitor=down, incident=closed)
    project = Project.objects.create(name="Shop", slug="shop")
    issue = Issue.objects.create(
        project=project, title="KeyError", first_seen=now, last_seen=now, status="unresolved", service="api"
    )
    apps.get_model("events", "IssueIncident").objects.create(issue=issue, incident=open_incident)

    apps = migrate(AFTER)
    signals = apps.get_model("incidents", "IncidentSignal").objects
    assert sorted(signals.values_list("incident_id", "kind", "ref", "status")) == sorted(
        [
            (open_incident.pk, "monitor", str(down.pk), "active"),
            (open_incident.pk, "monitor", str(up.pk), "resolved"),
            (open_incident.pk, "issue", str(issue.pk), "active"),
        ]
    )
    migrate(executor_leaf_nodes())


def executor_leaf_nodes():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
