"""My on-call → Contact methods in a real browser: add a webhook method (kind first), send a test
page that answers in place, and add a rule."""

import pytest
from playwright.sync_api import expect

from incidents.oncall.models import NotificationRule
from tests.factories import make_user
from tests.helpers import login
from tests.notifications.conftest import WebhookReceiver

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}  # it listens on 127.0.0.1
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.mark.django_db(transaction=True)
def test_a_user_adds_a_webhook_method_and_a_test_page_answers_in_place(live_server, page, receiver):
    make_user("responder", username="rita", email="rita@example.com")
    base = live_server.url
    login(page, base, "rita")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My on-call").click()
    page.get_by_role("heading", level=1, name="My on-call").wait_for()
    page.get_by_role("link", name="Contact methods", exact=True).click()
    page.get_by_role("heading", level=1, name="My on-call: contact methods").wait_for()
    page.get_by_role("link", name="Add a contact method").click()
    page.get_by_role("link", name="Webhook").click()
    assert page.get_by_label("Email address").count() == 0  # only the webhook's fields
    page.get_by_label("Label").fill("Home automation")
    page.get_by_label("Webhook URL").fill(f"{receiver.url}/rita-token")
    page.get_by_role("button", name="Add contact method").click()
    page.wait_for_url(f"{base}/oncall/me/contact-methods/")

    row = page.locator("tr.contact-method-row", has_text="Home automation")
    assert "rita-token" not in row.inner_text()  # shown as its host only
    page.evaluate("window.notReloaded = true")
    row.get_by_role("button", name="Send me a test page").click()
    row.get_by_text("Test page sent").wait_for()
    assert page.evaluate("window.notReloaded") is True  # swapped in place by htmx
    expect(row.get_by_text("Reached")).to_be_visible()
    assert [request.path for request in receiver.requests] == ["/hook/rita-token"]

    page.get_by_label("Contact method", exact=True).select_option(label="Home automation (Webhook)")
    page.get_by_label("Minutes after the page starts").fill("5")
    page.get_by_role("button", name="Add rule").click()
    rule = page.locator("table.notification-rules tbody tr", has_text="After 5 minutes")
    rule.wait_for()
    assert "Home automation" in rule.inner_text()
    assert NotificationRule.objects.get().delay_minutes == 5
