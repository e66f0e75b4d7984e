"""My on-call in a real browser: acknowledge an open page in place (htmx), and make a new iCal address."""

import pytest

from incidents.oncall.models import Escalation, Page, UserFeed
from tests.factories import make_incident, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_paged_person_acknowledges_in_place_and_rotates_their_feed(live_server, page):
    ann = make_user("responder", username="ann", email="ann@example.com")
    incident = make_incident(title="Checkout down", severity="SEV1")
    escalation = Escalation.objects.create(incident=incident, name="Payments policy", steps=[])
    Page.objects.create(escalation=escalation, incident=incident, user=ann, round=0, step_index=0, status="sent")
    base = live_server.url
    login(page, base, "ann")

    page.goto(f"{base}/oncall/me/")
    page.get_by_role("heading", level=1, name="My on-call").wait_for()
    row = page.locator("#me-pages tr", has_text="Checkout down")
    assert "Step 1 of Payments policy" in row.inner_text()
    page.evaluate("window.notReloaded = true")
    row.get_by_role("button", name="Acknowledge").click()
    # The fragment is swapped: no Acknowledge button is left (the page closes, or shows the new status).
    page.locator("#me-pages").get_by_role("button", name="Acknowledge").wait_for(state="detached")
    page.get_by_text("You acknowledged “Checkout down”.").wait_for()  # the toast
    assert page.evaluate("window.notReloaded") is True
    incident.refresh_from_db()
    assert incident.status == "ACKNOWLEDGED"

    old = page.get_by_label("iCal address").input_value()
    assert old.endswith(f"/oncall/feeds/users/{UserFeed.objects.get(user=ann).token}.ics")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Make a new address").click()
    page.get_by_text("New address: the old one no longer works.").wait_for()
    new = page.get_by_label("iCal address").input_value()
    assert new != old and new.endswith(f"/{UserFeed.objects.get(user=ann).token}.ics")
    assert page.evaluate("window.notReloaded") is True
