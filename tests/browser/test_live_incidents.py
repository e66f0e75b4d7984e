"""The incidents list and an incident's page follow another user's changes without reloading."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from incidents import services
from tests.factories import make_incident, make_user
from tests.helpers import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="the live stream needs Redis; set REDIS_URL"),
]


@pytest.mark.django_db(transaction=True)
def test_another_users_changes_appear_without_reloading(live_server, asgi_server, page, settings):
    stream_url = asgi_server.replace("127.0.0.1", "localhost")
    settings.TRACEPOINT = {**settings.TRACEPOINT, "STREAM_BASE_URL": stream_url, "BASE_URL": live_server.url}
    make_user("viewer", username="vera")
    rita = make_user("responder", username="rita")
    incident = make_incident(by=rita, title="Checkout errors", severity="SEV2")
    login(page, live_server.url, "vera")

    with page.expect_response(lambda response: "/incidents/live/" in response.url) as opened:
        page.goto(f"{live_server.url}/incidents/")
    assert opened.value.status == 200
    table = page.locator("#incident-table")
    table.get_by_role("link", name="Checkout errors").wait_for()
    page.wait_for_timeout(500)  # subscribed

    make_incident(by=rita, title="Search is down", severity="SEV1")
    table.get_by_role("link", name="Search is down").wait_for(timeout=10_000)

    with page.expect_response(lambda response: "/incidents/live/" in response.url):
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.wait_for_timeout(500)
    services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=rita)
    services.add_comment(incident.pk, body="Rolling back the deploy", by=rita)
    page.locator("#incident-status").get_by_text("Acknowledged").wait_for(timeout=10_000)
    page.get_by_text("Rolling back the deploy").wait_for(timeout=10_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
