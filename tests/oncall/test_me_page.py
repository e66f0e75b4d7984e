"""The "My on-call" page (/oncall/me/): my shifts now and in the next 14 days in the schedule's zone and
UTC, my open pages with Acknowledge (mine only), how pages reach me, and my iCal address."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.test import Client
from django.urls import reverse

from incidents import services
from incidents.models import Status
from incidents.oncall import contacts, feeds
from incidents.oncall.models import Escalation, Page, UserFeed
from tests.factories import make_incident, make_layer, make_override, make_schedule, make_team, make_user
from tests.oncall.conftest import utc

pytestmark = pytest.mark.django_db

ME = reverse("oncall:me")
HTMX = {"HX-Request": "true"}
DASH = "\N{EN DASH}"
NOW = utc(2026, 3, 25, 12, 0)  # Ann's turn: 03-25 09:00 → 03-26 09:00 Paris


@pytest.fixture
def ann(db):
    return make_user(None, username="ann", first_name="Ann", email="ann@example.com")  # no role needed


@pytest.fixture
def bob(db):
    return make_user("responder", username="bob")


@pytest.fixture
def client(ann) -> Client:
    client = Client()
    client.force_login(ann)
    return client


@pytest.fixture
def schedule(ann, bob):
    primary = make_schedule(make_team("Payments"), name="Primary", time_zone="Europe/Paris")
    make_layer(primary, [ann, bob], name="Daily", start_date=date(2026, 3, 1), shift_unit="days", handoff_time=time(9))
    return primary


@pytest.fixture
def at_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def page_for(user, *, title: str = "Checkout down", schedule=None, status: str = "sent", step: int = 1, **incident):
    opened = make_incident(title=title, severity="SEV2", **incident)
    escalation = Escalation.objects.create(incident=opened, name="Payments policy", steps=[], state="active")
    return Page.objects.create(
        escalation=escalation, incident=opened, user=user, round=0, step_index=step, schedule=schedule, status=status
    )


# --- access ----------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page():
    for url in (ME, reverse("oncall:page-acknowledge", args=[1])):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_user_without_a_role_has_the_page(client, at_now):
    response = client.get(ME)
    html = response.content.decode()
    assert response.status_code == 200 and "My on-call" in html
    assert "You are not on call right now." in html and "No open pages." in html


# --- shifts ----------------------------------------------------------------------------------------


def test_my_current_and_next_shifts_in_the_schedules_zone_and_in_utc(client, schedule, ann, at_now):
    other = make_schedule(make_team("Search"), name="Search", time_zone="America/New_York")
    make_override(other, ann, utc(2026, 4, 1, 13), utc(2026, 4, 1, 21), note="cover")

    html = client.get(ME).content.decode()

    now_section = html.split('id="me-now"')[1].split("</section>")[0]
    assert "Primary" in now_section and "Thu 26 Mar 09:00 CET" in now_section and "(08:00 UTC)" in now_section
    next_section = html.split('id="me-next"')[1].split("</section>")[0]
    # Every other day is Ann's; Paris moves to summer time on 03-29, so 09:00 local is 07:00 UTC.
    assert "Fri 27 Mar 09:00 CET" in next_section and f"Fri 27 Mar 08:00 {DASH} Sat 28 Mar 08:00" in next_section
    assert "Sun 29 Mar 09:00 CEST" in next_section and f"Sun 29 Mar 07:00 {DASH} Mon 30 Mar 07:00" in next_section
    assert "Wed 1 Apr 09:00 EDT" in next_section and f"Wed 1 Apr 13:00 {DASH} Wed 1 Apr 21:00" in next_section
    # 14 days: up to 04-08 12:00 UTC, in the middle of Ann's turn of 04-08, which goes on "after" that.
    assert "after Wed 8 Apr 14:00 CEST" in next_section
    assert f"Wed 8 Apr 07:00 {DASH} after Wed 8 Apr 12:00" in next_section
    assert "Thu 9 Apr" not in next_section and "Thu 26 Mar" not in next_section
    assert next_section.count("<tr>") - 2 == 7 + 1  # 03-27, 29, 31, 04-02, 04, 06, 08 and the override


def test_a_person_on_no_schedule_is_told_so(client, at_now):
    make_schedule(name="Not mine")
    html = client.get(ME).content.decode()
    assert "No shifts for you in the next 14 days." in html


# --- open pages ------------------------------------------------------------------------------------


def test_my_open_pages_are_listed_and_nobody_elses(client, ann, bob, schedule):
    mine = page_for(ann, title="Checkout <down>", schedule=schedule)
    page_for(bob, title="Bob's own page")
    page_for(ann, title="Already handled", status="acknowledged")

    html = client.get(ME).content.decode()

    pages = html.split('id="me-pages"')[1].split("</section>")[0]
    assert "Checkout &lt;down&gt;" in pages and "Checkout <down>" not in pages
    assert reverse("incidents:detail", args=[mine.incident_id]) in pages
    assert "SEV2" in pages and "Step 2 of Payments policy" in pages and "on call on Primary" in pages
    assert reverse("oncall:page-acknowledge", args=[mine.pk]) in pages
    assert "Bob" not in pages and "Already handled" not in pages


def test_the_open_pages_refresh_every_30_seconds_as_a_fragment(client, ann):
    page_for(ann, title="Disk full")

    first = client.get(ME).content.decode()
    fragment = client.get(ME, headers=HTMX)

    assert 'hx-trigger="every 30s"' in first and f'hx-get="{ME}"' in first
    html = fragment.content.decode()
    assert fragment.status_code == 200 and html.lstrip().startswith('<section class="card" aria-labelledby="pages-h"')
    assert "Disk full" in html and "<html" not in html and "My shifts" not in html


def test_acknowledging_my_page_acknowledges_the_incident(client, ann):
    page = page_for(ann)

    response = client.post(reverse("oncall:page-acknowledge", args=[page.pk]), follow=True)

    page.incident.refresh_from_db()
    assert page.incident.status == Status.ACKNOWLEDGED and page.incident.acknowledged_by == ann
    assert response.redirect_chain == [(ME, 302)] and "You acknowledged “Checkout down”." in response.content.decode()


def test_acknowledging_with_htmx_returns_the_pages_fragment_and_a_toast(client, ann):
    page = page_for(ann)

    response = client.post(reverse("oncall:page-acknowledge", args=[page.pk]), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and 'id="me-pages"' in html and "<html" not in html
    assert "You acknowledged" in response["HX-Trigger"]
    page.incident.refresh_from_db()
    assert page.incident.status == Status.ACKNOWLEDGED


def test_an_incident_acknowledged_already_is_a_message_not_an_error(client, ann, bob):
    page = page_for(ann)
    services.transition_incident(page.incident_id, to=Status.ACKNOWLEDGED, by=bob)
    services.transition_incident(page.incident_id, to=Status.RESOLVED, by=bob)  # Bob moved it on meanwhile

    response = client.post(reverse("oncall:page-acknowledge", args=[page.pk]), follow=True)

    page.incident.refresh_from_db()
    assert response.status_code == 200 and "“Checkout down” is already resolved." in response.content.decode()
    assert page.incident.status == Status.RESOLVED and page.incident.acknowledged_by == bob


def test_another_users_page_cannot_be_acknowledged(client, bob):
    theirs = page_for(bob)

    response = client.post(reverse("oncall:page-acknowledge", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.incident.refresh_from_db()
    assert theirs.incident.status == Status.OPEN
    assert client.post(reverse("oncall:page-acknowledge", args=[999999])).status_code == 404


def test_acknowledge_is_a_post(client, ann):
    page = page_for(ann)
    assert client.get(reverse("oncall:page-acknowledge", args=[page.pk])).status_code == 405
    page.incident.refresh_from_db()
    assert page.incident.status == Status.OPEN


# --- contact methods and the feed ------------------------------------------------------------------


def test_how_pages_reach_me_without_rules_is_the_account_email(client):
    html = client.get(ME).content.decode()
    reach = html.split('id="me-reach"')[1].split("</section>")[0]
    assert "Immediately" in reach and "your account email is used" in reach
    assert reverse("oncall:contact-methods") in reach


def test_how_pages_reach_me_follows_my_rules(client, ann):
    phone = contacts.add_contact_method(ann, kind="email", label="Pager", target="pager@example.com")
    contacts.add_notification_rule(ann, contact_method=phone, delay_minutes=5)

    reach = client.get(ME).content.decode().split('id="me-reach"')[1].split("</section>")[0]

    assert "After 5 minutes" in reach and "Pager" in reach and "account email is used" not in reach
    assert "(1 method)" in reach


def test_my_ical_address_is_shown_with_a_rotate_button(client, ann):
    html = client.get(ME).content.decode()

    token = UserFeed.objects.get(user=ann).token
    assert f'value="http://testserver/oncall/feeds/users/{token}.ics"' in html
    assert f'href="webcal://testserver/oncall/feeds/users/{token}.ics"' in html
    assert reverse("oncall:user-feed-rotate") in html
    assert feeds.feed_url(None, user=ann).endswith(f"{token}.ics")  # the same secret, created once
