"""A schedule's page in a real browser: open it from the on-call index, add an override through the
form, and see the final schedule's row (SVG) and its table change to the override's person, in place;
then change the override from its row and see the row follow."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents.oncall.models import Override
from incidents.oncall.timeline import local_text
from incidents.oncall.timemath import local_to_utc
from tests.factories import make_layer, make_schedule, make_team, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.django_db(transaction=True)
def test_a_responder_adds_an_override_and_the_final_row_changes_to_that_person(live_server, page):
    alice = make_user(username="alice", first_name="Alice", last_name="Martin")
    make_user(username="carol", first_name="Carol", last_name="Petit")
    make_user("responder", username="rita")
    team = make_team("Payments", services=["checkout"], members=[alice])
    schedule = make_schedule(team, name="Primary", time_zone="Europe/Paris")
    today = timezone.now().astimezone(PARIS).date()
    make_layer(schedule, [alice], name="Daily", shift_unit="days", start_date=today - timedelta(days=30))
    tomorrow = today + timedelta(days=1)
    start = local_to_utc(datetime.combine(tomorrow, time(10, 0)), PARIS)
    end = local_to_utc(datetime.combine(tomorrow, time(16, 30)), PARIS)
    title = f"Carol Petit: {local_text(start, PARIS)} to {local_text(end, PARIS)} (override)"

    base = live_server.url
    login(page, base, "rita")
    page.goto(f"{base}/oncall/")
    page.get_by_role("link", name="Primary").click()
    page.get_by_role("heading", level=1, name="Primary").wait_for()
    final_titles = page.locator("svg.oncall-timeline g.row-final g.bar > title")
    assert final_titles.count() >= 1
    assert all(text.startswith("Alice Martin:") for text in final_titles.all_text_contents())

    page.evaluate("window.notReloaded = true")
    page.get_by_label("Who covers").select_option(label="Carol Petit (carol)")
    page.get_by_label("From", exact=True).fill(f"{tomorrow:%Y-%m-%d}T10:00")
    page.get_by_label("Until", exact=True).fill(f"{tomorrow:%Y-%m-%d}T16:30")
    page.get_by_label("Note").fill("Alice at the dentist")
    page.get_by_role("button", name="Add override").click()

    page.locator("svg.oncall-timeline g.row-final g.bar > title", has_text=title).wait_for(state="attached")
    assert page.evaluate("window.notReloaded") is True  # the fragment was swapped in by htmx
    texts = final_titles.all_text_contents()
    assert title in texts
    assert texts.index(title) > 0 and texts[texts.index(title) + 1].startswith("Alice Martin:")
    carol_row = page.locator("table.oncall-shifts tbody tr", has_text="Carol Petit")
    assert carol_row.count() == 1 and "6 h 30 min" in carol_row.inner_text()
    assert "Alice at the dentist" in page.locator("table.oncall-overrides").inner_text()
    override = Override.objects.get()
    assert (override.start, override.end, override.user.username) == (start, end, "carol")

    # Change it in place: Carol's time moves to the afternoon, and the final row follows.
    page.get_by_role("link", name=f"Change the override of Carol Petit from {local_text(start, PARIS)}").click()
    page.get_by_role("heading", name="Change the override of Carol Petit").wait_for()
    assert page.get_by_label("From", exact=True).input_value() == f"{tomorrow:%Y-%m-%d}T10:00"
    page.get_by_label("From", exact=True).fill(f"{tomorrow:%Y-%m-%d}T13:00")
    page.get_by_label("Until", exact=True).fill(f"{tomorrow:%Y-%m-%d}T18:00")
    page.get_by_role("button", name="Save changes").click()

    moved_start = local_to_utc(datetime.combine(tomorrow, time(13, 0)), PARIS)
    moved_end = local_to_utc(datetime.combine(tomorrow, time(18, 0)), PARIS)
    moved = f"Carol Petit: {local_text(moved_start, PARIS)} to {local_text(moved_end, PARIS)} (override)"
    page.locator("svg.oncall-timeline g.row-final g.bar > title", has_text=moved).wait_for(state="attached")
    assert title not in final_titles.all_text_contents()
    assert page.evaluate("window.notReloaded") is True
    page.get_by_role("button", name="Add override").wait_for()  # the form is back to adding
    override.refresh_from_db()
    assert (override.start, override.end) == (moved_start, moved_end)
