"""In a real browser: add an apprise channel (kind first), send it a test (HTMX), act on an incident link."""

from __future__ import annotations

import json
import re

import pytest

from tests.factories import make_incident, make_user
from tests.helpers import keep_screenshot, login
from tests.notifications.conftest import local_targets_allowed, receiver  # noqa: F401 (fixtures: 127.0.0.1 allowed)
from tracepoint.notifications.models import NotificationChannel

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_an_admin_adds_an_apprise_channel_and_sends_it_a_test(live_server, page, receiver):  # noqa: F811 (the fixture)
    make_user("admin", username="ada")
    port = receiver.server.server_address[1]
    base = live_server.url
    login(page, base, "ada")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="Add a channel").click()
    keep_screenshot(page, "channel_kind")
    page.get_by_role("link", name="Chat or push (apprise)").click()
    assert page.get_by_label("Recipients").count() == 0  # only this kind's fields
    page.get_by_label("Name").fill("Team chat")
    page.get_by_label("Apprise URL").fill(f"json://bot:s3cr3tpass@127.0.0.1:{port}/hook")
    page.get_by_label("An incident is acknowledged, mitigated, resolved or reopened (incident.status_changed)").check()
    page.get_by_label("Minimum severity").select_option("SEV2")
    keep_screenshot(page, "channel_form")
    page.get_by_role("button", name="Add channel").click()

    page.get_by_text("Channel “Team chat” added.").wait_for()
    row = page.locator("tr", has_text="Team chat")
    assert "json://bot:****@127.0.0.1" in row.inner_text() and "s3cr3tpass" not in page.content()
    row.get_by_role("button", name="Send test").click()
    page.locator(".test-result", has_text="Test message sent.").wait_for()
    keep_screenshot(page, "channel_list")
    assert page.url.endswith("/channels/")  # swapped in place
    (request,) = receiver.requests
    assert json.loads(request.body)["title"] == "Tracepoint test notification for Team chat"
    channel = NotificationChannel.objects.get()
    assert channel.topics == ["incident.status_changed"] and channel.min_severity == "SEV2"


@pytest.mark.django_db(transaction=True)
def test_someone_without_a_login_acknowledges_through_a_link(live_server, page):
    from incidents.notifications import action_url

    incident = make_incident(title="Checkout is down", severity="SEV1")
    url = action_url(incident, "acknowledge", via="Slack")
    path = re.sub(r"^https?://[^/]+", "", url)

    page.goto(live_server.url + path)
    page.get_by_role("heading", name="Acknowledge incident?").wait_for()
    keep_screenshot(page, "action_confirm")
    incident.refresh_from_db()
    assert incident.status == "OPEN"  # opening the link changed nothing
    page.get_by_label("Your name").fill("Ann")
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_role("heading", name="Incident acknowledged").wait_for()
    keep_screenshot(page, "action_done")
    incident.refresh_from_db()
    assert incident.status == "ACKNOWLEDGED"
    assert incident.timeline.last().actor_label == "Ann via Slack link"

    page.goto(live_server.url + path)
    page.get_by_role("heading", name="This link was already used").wait_for()
