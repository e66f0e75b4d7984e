"""An admin sets up a status page from monitors in a real browser (1 the page, with an address suggested
from the title and a logo; 2 two monitors ticked; 3 the preview), and an anonymous visitor sees it."""

import re

import pytest

from tests.factories import make_monitor, make_user
from tests.helpers import login
from tests.statuspages.test_logo_upload import png

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_an_admin_sets_up_a_page_from_two_monitors_and_a_visitor_sees_it(
    live_server, page, browser, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    make_user("admin", username="ada")
    make_monitor("Checkout API")
    make_monitor("Storefront")
    make_monitor("Batch jobs")
    base = live_server.url
    login(page, base, "ada")

    page.goto(f"{base}/status-pages/")
    page.get_by_role("link", name="New status page").click()
    page.get_by_role("heading", level=1, name="New status page").wait_for()
    page.get_by_label("Title").fill("Acme Cloud")
    page.get_by_label("Description").click()  # the title's change event: htmx suggests the address
    address = page.get_by_label("Address")
    page.wait_for_function("document.querySelector('#id_slug').value === 'acme-cloud'")
    assert address.input_value() == "acme-cloud"
    page.get_by_label("Time zone").select_option("Europe/Paris")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    page.get_by_label("Logo").set_input_files(str(logo))
    assert page.get_by_text("Remove the password").count() == 0
    page.get_by_role("button", name="Create the page").click()

    page.wait_for_url(f"{base}/status-pages/acme-cloud/setup/components/")
    page.get_by_label(re.compile(r"Checkout API \(")).check()
    page.get_by_label(re.compile(r"Storefront \(")).check()
    page.get_by_label("Group").fill("Shop")
    page.get_by_role("button", name="Add the components").click()

    page.wait_for_url(f"{base}/status-pages/acme-cloud/setup/preview/")
    preview = page.frame_locator("iframe[title^='Preview of the public page']")
    shown = preview.locator(".sp-components .sp-name")
    shown.first.wait_for()
    assert shown.all_inner_texts() == ["Shop", "Checkout API", "Storefront"]
    page.get_by_role("link", name="Done").click()
    page.wait_for_url(f"{base}/status-pages/acme-cloud/")

    visitor = browser.new_context()
    try:
        public = visitor.new_page()
        public.goto(f"{base}/status/acme-cloud/")
        assert public.locator(".sp-components .sp-name").all_inner_texts() == ["Shop", "Checkout API", "Storefront"]
        assert public.get_by_role("status").inner_text() == "All Systems Operational"
        image = public.locator(".sp-brand img")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # the uploaded logo, served
    finally:
        visitor.close()
