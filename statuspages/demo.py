"""A demo status page: grouped components driven by the demo monitors, a past incident with its
public updates, and an upcoming maintenance."""

from __future__ import annotations

from datetime import datetime, timedelta

from incidents import services as incident_services
from incidents.services import Actor
from monitors.models import Monitor
from statuspages import services
from statuspages.models import Component, ComponentGroup, Maintenance, PublicUpdate, StatusPage


def is_empty() -> bool:
    return not StatusPage.objects.exists()


def seed(*, now: datetime, stdout) -> None:
    page = StatusPage.objects.create(
        slug="tracepoint",
        title="Tracepoint demo",
        description="The services behind this Tracepoint, watched by its own demo monitors.",
        footer_links=[{"label": "Tracepoint on GitHub", "url": "https://github.com/"}],
    )
    platform = ComponentGroup.objects.create(page=page, name="Platform", position=1)
    monitors = {monitor.name: monitor for monitor in Monitor.objects.all()}
    web = Component.objects.create(page=page, group=platform, name="Web app", position=1, description="Dashboard")
    api = Component.objects.create(page=page, group=platform, name="API", position=2, description="REST API")
    jobs = Component.objects.create(page=page, name="Background jobs", position=2)
    for component, names in (
        (web, ["Tracepoint web", "Web port"]),
        (api, ["Tracepoint API docs"]),
        (jobs, ["Nightly backup"]),
    ):
        component.monitors.add(*[monitors[name] for name in names if name in monitors])
    services.refresh_components([web.pk, api.pk, jobs.pk], now=now)

    actor = Actor(label="demo")
    started = now - timedelta(days=3, hours=2)
    incident = incident_services.create_incident(
        title="Slow dashboard pages", service="web", severity="SEV3", by=actor, now=started
    )
    link = services.publish_incident(
        page, incident, components=[web], body="Some dashboard pages load slowly; we are investigating.", now=started
    )
    services.post_update(
        link, body="A slow database query is the cause; a fix is being deployed.", status="identified",
        now=started + timedelta(minutes=18),
    )  # fmt: skip
    services.post_update(
        link, body="The fix is live and pages load normally again.", status="resolved",
        now=started + timedelta(minutes=41),
    )  # fmt: skip

    window = Maintenance.objects.create(
        page=page,
        title="Database upgrade",
        message="The API may answer **slowly** for a few minutes during the upgrade.",
        scheduled_for=(now + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0),
        scheduled_until=(now + timedelta(days=3)).replace(hour=3, minute=0, second=0, microsecond=0),
        created_at=now,
        updated_at=now,
    )
    window.components.add(api)
    PublicUpdate.objects.create(
        maintenance=window, status="scheduled", body="Scheduled for a quiet hour.", display_at=now, created_at=now
    )
    stdout.write(f"Status page: /status/{page.slug}/ with {page.components.count()} components.")
