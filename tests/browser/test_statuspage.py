"""A visitor's status page follows a real monitor into an outage, then shows the incident's updates."""

import pytest

from incidents.services import Actor, create_incident
from monitors.scheduler import check_now
from statuspages import services
from statuspages.models import Component, StatusPage
from tests.factories import make_monitor
from tests.helpers import Target

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_visitor_sees_the_outage_and_then_the_incident_timeline(live_server, page, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    target = Target()
    try:
        monitor = make_monitor("checkout health", url=f"{target.url}/health", down_after=1)
        status_page = StatusPage.objects.create(slug="acme", title="Acme")
        checkout = Component.objects.create(page=status_page, name="Checkout", position=1)
        checkout.monitors.add(monitor)
        check_now(monitor.pk)  # a real HTTP check: up

        page.goto(f"{live_server.url}/status/acme/")
        row = page.locator(f"#component-{checkout.public_id}")
        assert row.locator(".sp-status").inner_text() == "Operational"
        assert page.get_by_role("status").inner_text() == "All Systems Operational"

        target.mode = "failing"
        check_now(monitor.pk)  # 503: down, and the component follows
        page.reload()
        assert row.locator(".sp-status").inner_text() == "Major outage"
        assert page.get_by_role("status").inner_text() == "Major System Outage"

        incident = create_incident(
            title="Checkout is failing", service="checkout", severity="SEV1", by=Actor(label="ops")
        )
        link = services.publish_incident(status_page, incident, components=[checkout], body="We are investigating.")
        services.post_update(link, body="A bad deploy; rolling back.", status="identified")
        page.reload()
        page.get_by_role("link", name="Checkout is failing").click()
        page.wait_for_url(f"**/status/acme/incidents/{link.public_id}/")
        updates = page.locator(".sp-updates li")
        assert updates.count() == 2
        assert "Identified" in updates.nth(0).inner_text() and "rolling back" in updates.nth(0).inner_text()
        assert "Investigating" in updates.nth(1).inner_text()
    finally:
        target.close()
