"""Dependency suppression end to end, with real HTTP checks: the VPN fails, the shop behind it fails in the same
tick; only the VPN alerts and opens an incident, the shop is on its timeline, its page says why, and the status
page still shows the shop's outage."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident
from monitors.models import Monitor
from monitors.scheduler import check_now, run_due_checks
from monitors.services import create_monitor
from statuspages.models import Component, StatusPage
from tests.factories import make_user
from tests.helpers import Target, login
from tests.notifications.factories import make_email_channel
from tracepoint.notifications.models import Delivery

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_shop_behind_a_down_vpn_is_shown_down_but_only_the_vpn_alerts(live_server, page, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    make_user("viewer", username="vera")
    make_email_channel(topics=["monitor.*", "incident.*"])
    vpn_target, shop_target = Target(), Target()
    try:
        vpn = create_monitor(name="VPN", kind="http", url=vpn_target.url, down_after=1, open_incident=True)
        shop = create_monitor(
            name="Shop", kind="http", url=shop_target.url, down_after=1, open_incident=True, depends_on=[vpn]
        )
        status_page = StatusPage.objects.create(slug="acme", title="Acme")
        component = Component.objects.create(page=status_page, name="Shop", position=1)
        component.monitors.add(shop)
        check_now(vpn.pk)
        check_now(shop.pk)

        vpn_target.mode = shop_target.mode = "failing"
        Monitor.objects.filter(pk__in=[vpn.pk, shop.pk]).update(next_check_at=vpn.created_at)
        assert run_due_checks() == 2  # one tick: the VPN is recorded first

        assert [d.subject.split(":")[0] for d in Delivery.objects.filter(topic__startswith="monitor.")] == [
            "[DOWN] VPN"
        ]
        assert Incident.objects.get().title == "VPN is down"

        login(page, live_server.url, "vera")
        page.goto(f"{live_server.url}/monitors/{shop.pk}/")
        assert page.locator("#monitor-status").inner_text() == "Down"
        assert page.locator("#down-because").inner_text().startswith("because VPN is down")
        expect(page.locator("#depends-on").get_by_role("link", name="VPN")).to_be_visible()

        page.locator("#incidents-h").locator("..").get_by_role("link", name="VPN is down").click()
        page.wait_for_url("**/incidents/**")
        entry = page.locator("#timeline .signal-entry", has_text="Monitor “Shop” is down because “VPN” is down")
        assert entry.count() == 1

        page.goto(f"{live_server.url}/status/acme/")
        assert page.locator(f"#component-{component.public_id} .sp-status").inner_text() == "Major outage"
    finally:
        vpn_target.close()
        shop_target.close()
