import io

from django.test import Client
from django.utils import timezone

from monitors import demo as monitor_demo
from statuspages import demo
from statuspages.models import Component, ComponentStatus, Maintenance, MaintenanceStatus, PageIncident


def test_seed_adds_a_page_with_grouped_components_driven_by_the_demo_monitors(db):
    now = timezone.now()
    monitor_demo.seed(now=now, stdout=io.StringIO())
    assert demo.is_empty()
    demo.seed(now=now, stdout=io.StringIO())
    assert not demo.is_empty()
    web = Component.objects.get(name="Web app")
    assert web.group.name == "Platform" and web.monitors.count() == 2
    assert web.status == ComponentStatus.OPERATIONAL
    link = PageIncident.objects.get()
    assert link.published_at and [u.status for u in link.updates.all()] == ["resolved", "identified", "investigating"]
    assert Maintenance.objects.get().status == MaintenanceStatus.SCHEDULED
    html = Client().get("/status/tracepoint/").content.decode()
    assert "All Systems Operational" in html and "Slow dashboard pages" in html and "Database upgrade" in html
