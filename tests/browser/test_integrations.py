import pytest
from playwright.sync_api import expect

from incidents.intake import services
from incidents.intake.models import Integration
from tests.factories import make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_an_admin_creates_an_integration_in_the_form_and_sees_its_token_once(live_server, page):
    make_user("admin", username="ada")
    base = live_server.url
    login(page, base, "ada")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    page.get_by_text("No integrations yet").wait_for()
    page.get_by_role("link", name="Integrations").click()
    page.get_by_role("link", name="New integration").click()
    page.get_by_role("heading", level=1, name="New integration").wait_for()

    # Kind first, then the name, the service and the severity rows.
    page.get_by_label("Grafana", exact=True).check()
    page.get_by_role("textbox", name="Name", exact=True).fill("Grafana team dashboards")
    page.get_by_label("Every alert is for one service").check()
    page.get_by_label("Service name").fill("Not Valid")
    page.get_by_role("button", name="Create integration").click()
    page.get_by_text("Use lowercase letters").wait_for()  # shown inline: htmx swapped the form only
    assert page.get_by_role("textbox", name="Name", exact=True).input_value() == "Grafana team dashboards"
    page.get_by_label("Service name").fill("checkout")

    rows = page.locator("input[name=mapping_source]")
    before = rows.count()
    page.get_by_role("button", name="Add a row").click()
    page.wait_for_function(f"document.querySelectorAll('input[name=mapping_source]').length === {before + 1}")
    page.get_by_label(f"Sender's severity, row {before + 1}").fill("page")
    page.get_by_label(f"Incident severity, row {before + 1}").select_option("SEV1")
    page.get_by_label("Any other severity").select_option("SEV4")
    page.get_by_role("button", name="Create integration").click()

    page.get_by_role("heading", level=1, name="Integration created: Grafana team dashboards").wait_for()
    token = page.locator("#integration-token").inner_text().strip()
    integration = Integration.objects.get()
    assert services.authenticate(token) == integration
    assert integration.kind == "grafana" and integration.service == "checkout"
    assert integration.severity_mapping["page"] == "SEV1" and integration.severity_mapping["default"] == "SEV4"
    expect(page.get_by_text("authorization_credentials")).to_be_visible()
    assert token in page.locator("pre.snippet").first.inner_text()

    # Shown once: a reload, and the integration's own page, no longer have it.
    page.reload()
    page.get_by_text("This token has been shown already").wait_for()
    assert token not in page.content()
    page.get_by_role("link", name="Back to the integration").click()
    page.get_by_role("heading", level=1, name="Grafana team dashboards").wait_for()
    assert token not in page.content() and integration.token_prefix in page.content()
