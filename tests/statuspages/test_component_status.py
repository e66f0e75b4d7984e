"""Components follow their monitors (worst wins), a manual override wins over both, maintenance shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitors.models import MonitorStatus
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from statuspages import services
from statuspages.models import Component, ComponentStatus, Maintenance, MaintenanceStatus, PageIncident
from tests.factories import make_layout, make_monitor, make_page

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOWN = CheckResult("down", None, "connection refused")
UP = CheckResult("up", 20)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "operational"),
        (["up", "up"], "operational"),
        (["pending", "paused"], "operational"),
        (["up", "degraded"], "degraded_performance"),
        (["up", "down"], "partial_outage"),
        (["down", "down", "paused"], "major_outage"),
        (["maintenance", "maintenance"], "under_maintenance"),
        (["maintenance", "up"], "operational"),
    ],
)
def test_status_from_monitors(statuses, expected):
    assert services.status_from_monitors(statuses) == expected


def test_a_component_follows_its_monitor_and_the_page_gets_a_new_version(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    version = page.version
    with django_capture_on_commit_callbacks(execute=True):
        record_result(layout["monitors"]["rest"].pk, DOWN, now=T0)
    rest = Component.objects.get(pk=layout["rest"].pk)
    assert rest.status == ComponentStatus.MAJOR
    page.refresh_from_db()
    assert page.version > version
    with django_capture_on_commit_callbacks(execute=True):
        record_result(layout["monitors"]["rest"].pk, UP, now=T0 + timedelta(minutes=5))
    assert Component.objects.get(pk=rest.pk).status == ComponentStatus.OPERATIONAL


def test_an_override_wins_until_it_is_cleared(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    services.set_override(layout["website"], ComponentStatus.DEGRADED)
    with django_capture_on_commit_callbacks(execute=True):
        record_result(layout["monitors"]["web"].pk, DOWN, now=T0)
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.DEGRADED
    services.set_override(layout["website"], "")
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.MAJOR
    with pytest.raises(services.StatusPageError):
        services.set_override(layout["website"], "on_fire")


def test_a_maintenance_window_runs_from_scheduled_to_completed_and_quiets_the_monitors(db):
    page = make_page()
    layout = make_layout(page)
    web = layout["monitors"]["web"]
    record_result(web.pk, UP, now=T0)
    window = Maintenance.objects.create(
        page=page,
        title="Database upgrade",
        scheduled_for=T0 + timedelta(hours=1),
        scheduled_until=T0 + timedelta(hours=2),
    )
    window.components.add(layout["website"])
    assert services.advance_maintenances(now=T0 + timedelta(minutes=30)) == 0
    assert services.advance_maintenances(now=T0 + timedelta(hours=1)) == 1
    window.refresh_from_db()
    web.refresh_from_db()
    assert window.status == MaintenanceStatus.IN_PROGRESS and window.started_at == T0 + timedelta(hours=1)
    assert web.status == MonitorStatus.MAINTENANCE
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.MAINTENANCE
    record_result(web.pk, DOWN, now=T0 + timedelta(hours=1, minutes=5))  # no alert, no change
    assert services.advance_maintenances(now=T0 + timedelta(hours=2)) == 1
    window.refresh_from_db()
    web.refresh_from_db()
    assert window.status == MaintenanceStatus.COMPLETED and window.completed_at == T0 + timedelta(hours=2)
    assert web.status == MonitorStatus.PENDING
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.OPERATIONAL


def test_a_monitor_that_opens_an_incident_links_it_to_its_components_pages_unpublished(db):
    page = make_page()
    layout = make_layout(page)
    rest_monitor = layout["monitors"]["rest"]
    rest_monitor.open_incident = True
    rest_monitor.save()
    record_result(rest_monitor.pk, DOWN, now=T0)
    link = PageIncident.objects.get()
    assert link.page == page and link.published_at is None
    assert list(link.components.all()) == [layout["rest"]]


def test_a_component_without_monitors_stays_operational(db):
    page = make_page()
    lonely = Component.objects.create(page=page, name="Docs")
    make_monitor("elsewhere")
    assert services.refresh_components([lonely.pk]) == []
    assert Component.objects.get(pk=lonely.pk).status == ComponentStatus.OPERATIONAL
