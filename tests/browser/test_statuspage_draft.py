"""A monitor goes DOWN and opens an incident; its component is on a status page: the incident page
proposes a draft with the component pre-selected, a responder publishes it in one click and the public
page shows it (and showed nothing before). As the incident moves on (mitigated when the monitor
recovers, then resolved), the matching public updates are proposed and posted in one click."""

import pytest
from playwright.sync_api import expect

from monitors.scheduler import check_now
from statuspages.models import Component, StatusPage
from tests.factories import make_monitor, make_user
from tests.helpers import Target, login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_responder_publishes_the_proposed_draft_and_visitors_see_it(live_server, page, browser, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    target = Target()
    visitor = browser.new_context().new_page()
    try:
        monitor = make_monitor(
            "checkout health", url=f"{target.url}/health", down_after=1, open_incident=True, incident_severity="SEV2"
        )
        shop = StatusPage.objects.create(slug="shop", title="Shop")
        checkout = Component.objects.create(page=shop, name="Checkout API", position=1)
        checkout.monitors.add(monitor)
        search = Component.objects.create(page=shop, name="Search", position=2)
        check_now(monitor.pk)  # up
        target.mode = "failing"
        check_now(monitor.pk)  # 503: down, an incident opens
        incident = monitor.incident_links.get().incident

        visitor.goto(f"{live_server.url}/status/shop/")
        assert visitor.locator(f"#component-{checkout.public_id} .sp-status").inner_text() == "Major outage"
        assert visitor.get_by_role("link", name="checkout health is down").count() == 0  # not published

        make_user("responder", username="rita")
        login(page, live_server.url, "rita")
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        draft = page.locator(f"#draft-{shop.public_id}")
        draft.get_by_text("Draft for “Shop”").wait_for()
        assert draft.get_by_label("Checkout API").is_checked()
        assert not draft.get_by_label("Search").is_checked()
        assert draft.get_by_label("Impact").input_value() == "major"
        assert draft.get_by_label("Public name").input_value() == "checkout health is down"
        body = draft.get_by_label("First update")
        assert body.input_value().startswith("We are investigating problems with Checkout API.")

        draft.get_by_label("Public name").fill("Checkout is failing")
        draft.get_by_role("button", name="Publish on Shop").click()
        panel = page.locator("#status-pages")
        panel.get_by_text("as “Checkout is failing”").wait_for()
        expect(page.get_by_text("Published on “Shop”.")).to_be_visible()
        assert page.locator(f"#draft-{shop.public_id}").count() == 0
        assert search.page_incidents.count() == 0

        visitor.reload()
        visitor.get_by_role("link", name="Checkout is failing").click()
        visitor.get_by_text("We are investigating problems with Checkout API.").wait_for()

        # The monitor recovers: the incident is mitigated, a "monitoring" update is proposed; posted in one click.
        target.mode = "healthy"
        check_now(monitor.pk)
        page.reload()
        proposed = panel.get_by_role("group", name="Update for “Shop”")
        text = proposed.get_by_label("“Monitoring” update").input_value()
        assert text == "A fix has been applied for Checkout API and we are monitoring the results."
        proposed.get_by_role("button", name="Post “Monitoring” update").click()
        page.get_by_text("“Monitoring” update posted on “Shop”.").wait_for()
        assert panel.get_by_role("group", name="Update for “Shop”").count() == 0

        # Resolving by hand re-renders the incident with the "resolved" draft.
        page.get_by_role("button", name="Resolve").click()
        page.locator("#incident-status", has_text="Resolved").wait_for()
        proposed = page.locator("#status-pages").get_by_role("group", name="Update for “Shop”")
        assert "Checkout API is operating normally again." in proposed.get_by_label("“Resolved” update").input_value()
        proposed.get_by_role("button", name="Post “Resolved” update").click()
        page.get_by_text("“Resolved” update posted on “Shop”.").wait_for()
        visitor.reload()
        visitor.get_by_text("Checkout API is operating normally again.").wait_for()
        visitor.get_by_text("we are monitoring the results").wait_for()
    finally:
        visitor.context.close()
        target.close()
