"""The on-call index (/oncall/) and a schedule's page (/oncall/schedules/<pk>/): who is on call now and
next, the 14-day timeline and its table, overrides added and deleted (HTMX fragments or redirects),
local times in the schedule's zone, access by role, and user text escaped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import NoReverseMatch, include, path, reverse

from incidents.oncall.models import EscalationPolicy, Override, Team
from incidents.oncall.schedule_forms import OverrideForm
from tests.factories import make_layer, make_override, make_schedule, make_team, make_user
from tests.oncall.conftest import PARIS, wall

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
INDEX = reverse("oncall:index")
# Wednesday 25 March 2026, 13:00 in Paris (CET); the clocks go forward on Sunday 29 March.
NOW = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)


def _stub(request, *args, **kwargs) -> HttpResponse:
    return HttpResponse("stand-in")


@pytest.fixture(autouse=True)
def other_oncall_pages(settings):
    """The index links each policy to ``oncall:policy-detail`` and the schedule page shows the iCal
    feed of ``oncall:schedule-feed``: pages of other modules. Where they are not installed yet, a URL
    conf with stand-ins under the same names (the real ones win once they exist)."""
    from tracepoint import urls as root

    wanted = {
        "policy-detail": ("policies/<int:pk>/", [1]),
        "schedule-feed": ("feeds/schedules/<str:token>.ics", ["t"]),
        "schedule-feed-rotate": ("schedules/<int:pk>/feed/rotate/", [1]),
    }
    missing = []
    for name, (route, args) in wanted.items():
        try:
            reverse(f"oncall:{name}", args=args)
        except NoReverseMatch:
            missing.append(path(route, _stub, name=name))
    if not missing:
        return
    from incidents.oncall import urls as oncall_urls

    oncall = path("oncall/", include(([*oncall_urls.urlpatterns, *missing], "oncall")))
    patterns = [p for p in root.urlpatterns if getattr(p, "namespace", None) != "oncall"] + [oncall]
    settings.ROOT_URLCONF = type("UrlConfWithStandIns", (), {"urlpatterns": patterns})


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def people(db):
    return {
        "alice": make_user(username="alice", first_name="Alice", last_name="Martin"),
        "bob": make_user(username="bob", first_name="Bob", last_name="Durand"),
        "carol": make_user(username="carol", first_name="Carol", last_name="Petit"),
    }


@pytest.fixture
def schedule(people):
    """Payments' primary schedule in Paris: Alice and Bob weekly, handing off Mondays at 09:00.
    Week of 23 March: Bob; from Monday 30 March 09:00: Alice; from 6 April: Bob."""
    team = make_team("Payments", services=["checkout", "billing"], members=[people["alice"], people["bob"]])
    schedule = make_schedule(team, name="Primary", time_zone="Europe/Paris")
    make_layer(schedule, [people["alice"], people["bob"]], name="Weekly")
    return schedule


def client_for(role: str | None, **fields) -> Client:
    client = Client()
    client.force_login(make_user(role, **fields))
    return client


@pytest.fixture
def viewer_page():
    return client_for("viewer", username="vera")


@pytest.fixture
def responder_page():
    return client_for("responder", username="rita", first_name="Rita", last_name="Roy")


def detail_url(schedule, **params) -> str:
    url = reverse("oncall:schedule-detail", args=[schedule.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def create_url(schedule) -> str:
    return reverse("oncall:override-create", args=[schedule.pk])


def final_row(html: str) -> str:
    """The final schedule's row of the SVG."""
    match = re.search(
        r'<g class="row row-final" data-row="final">(.*?)</g>\s*(?:<g class="now-marker"|</svg>)', html, re.S
    )
    assert match, "no final row in the page"
    return match.group(1)


def final_titles(html: str) -> list[str]:
    return re.findall(r'<g class="bar" data-user="\d+"><title>([^<]*)</title>', final_row(html))


# --- /oncall/ ------------------------------------------------------------------------------------


def test_the_index_shows_each_team_its_schedules_with_who_is_on_call_now_and_next(clock, schedule, viewer_page):
    team = schedule.team
    policy = EscalationPolicy.objects.create(team=team, name="Checkout first", services=["checkout"])
    fallback = EscalationPolicy.objects.create(team=team, name="Everything else")
    Team.objects.filter(pk=team.pk).update(default_policy=fallback)

    response = viewer_page.get(INDEX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Payments" in html and "<code>checkout</code>, <code>billing</code>" in html
    assert "Alice Martin, Bob Durand" in html
    assert f'href="{detail_url(schedule)}">Primary</a>' in html
    row = re.search(rf'<tr id="schedule-{schedule.pk}">(.*?)</tr>', html, re.S).group(1)
    current, upcoming = row.split('class="on-call-next"')
    assert "<strong>Bob Durand</strong>" in current and "until" in current and "Mon 30 Mar 09:00" in current
    assert "Alice Martin" in upcoming and "from" in upcoming and "Mon 30 Mar 09:00" in upcoming
    assert reverse("oncall:policy-detail", args=[policy.pk]) in html
    assert reverse("oncall:policy-detail", args=[fallback.pk]) in html
    default_item = re.search(r"Everything else</a>(.*?)</li>", html, re.S).group(1)
    assert "default" in default_item and "default" not in re.search(r"Checkout first</a>(.*?)</li>", html, re.S).group(
        1
    )
    assert "admin/" not in html.split("<main", 1)[1]  # no set-up links for viewers


def test_the_index_says_what_to_do_when_there_is_nothing_yet(db, viewer_page):
    html = viewer_page.get(INDEX).content.decode()
    assert "No on-call teams yet" in html and "Ask one to add yours" in html

    admin = client_for("admin")
    html = admin.get(INDEX).content.decode()
    assert reverse("admin:oncall_team_add") in html

    make_team("Search", services=["search"])
    html = admin.get(INDEX).content.decode()
    assert "No schedules yet" in html and reverse("admin:oncall_schedule_add") in html
    assert "No escalation policies yet" in html


def test_a_schedule_without_layers_or_in_a_gap_says_nobody(clock, people, viewer_page):
    empty = make_schedule(make_team("Search"), name="Empty")
    html = viewer_page.get(INDEX).content.decode()
    row = re.search(rf'<tr id="schedule-{empty.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "Nobody" in row and "no layers yet" in row

    html = viewer_page.get(detail_url(empty)).content.decode()
    assert "this schedule has no layers yet" in html


@pytest.mark.parametrize("name", ["oncall:index", "oncall:schedule-detail"])
def test_pages_send_anonymous_users_to_the_login_and_refuse_users_without_a_role(schedule, name):
    url = reverse(name, args=[schedule.pk] if name.endswith("detail") else [])
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client_for(None).get(url).status_code == 403


# --- /oncall/schedules/<pk>/ ----------------------------------------------------------------------


def test_a_viewer_sees_the_timeline_the_shift_table_and_no_override_form(clock, schedule, people, viewer_page):
    response = viewer_page.get(detail_url(schedule))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Primary</h1>" in html and "Europe/Paris" in html and "Payments" in html
    assert "Wed 25 Mar \N{EN DASH} Tue 7 Apr 2026" in html
    assert '<g class="row row-layer" data-row="layer">' in html and "Overrides" in html and "Final schedule" in html
    assert final_titles(html) == [
        "Bob Durand: Wed 25 Mar 00:00 to Mon 30 Mar 09:00 (layer Weekly)",
        "Alice Martin: Mon 30 Mar 09:00 to Mon 6 Apr 09:00 (layer Weekly)",
        "Bob Durand: Mon 6 Apr 09:00 to Wed 8 Apr 00:00 (layer Weekly)",
    ]
    assert html.count('class="shift"') == 3  # the table under the chart, for screen readers
    assert "23 h" in html  # Sunday 29 March: the clocks go forward
    assert 'class="now-marker"' in html
    assert 'id="add-override"' not in html and "Responders and admins add overrides here" in html
    on_call = html.split('class="on-call-current"', 1)[1].split("</dd>", 1)[0]
    assert "Bob Durand" in on_call and "Mon 30 Mar 09:00" in on_call


def test_an_unknown_schedule_is_404(db, viewer_page):
    assert viewer_page.get("/oncall/schedules/999999/").status_code == 404


def test_start_pages_through_time_and_a_bad_start_is_a_400_that_says_why(clock, schedule, viewer_page):
    html = viewer_page.get(detail_url(schedule, start="2026-04-06")).content.decode()
    assert "Mon 6 Apr \N{EN DASH} Sun 19 Apr 2026" in html
    assert f'href="{detail_url(schedule, start="2026-03-23")}"' in html  # previous 14 days
    assert f'href="{detail_url(schedule, start="2026-04-20")}"' in html  # next 14 days
    assert 'class="now-marker"' not in html  # now is not in this window
    assert final_titles(html)[0].startswith("Alice Martin: Mon 6 Apr 00:00 to Mon 6 Apr 09:00")

    response = viewer_page.get(detail_url(schedule, start="next-week"))
    assert response.status_code == 400
    assert "is not a date as YYYY-MM-DD" in response.content.decode()
    assert viewer_page.get(detail_url(schedule, start="0001-01-01")).status_code == 400


def test_the_page_shows_the_absolute_ical_feed_address(clock, schedule, viewer_page):
    html = viewer_page.get(detail_url(schedule)).content.decode()
    feed = "http://testserver" + reverse("oncall:schedule-feed", args=[schedule.ical_token])
    assert f'value="{feed}" readonly' in html
    assert "The address is a secret" in html
    assert "Change the address" not in html  # admins only

    html = client_for("admin").get(detail_url(schedule)).content.decode()
    rotate = reverse("oncall:schedule-feed-rotate", args=[schedule.pk])
    assert f'action="{rotate}"' in html and "Change the address" in html


def test_htmx_navigation_returns_only_the_live_fragment(clock, schedule, viewer_page):
    response = viewer_page.get(detail_url(schedule, start="2026-04-06"), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="schedule-live">') and "<html" not in html
    assert response.headers["Vary"].count("HX-Request") == 1


# --- overrides ------------------------------------------------------------------------------------


def test_a_viewer_cannot_add_or_delete_an_override(clock, schedule, people, viewer_page):
    response = viewer_page.post(
        create_url(schedule), {"user": people["carol"].pk, "start": "2026-03-26T10:00", "end": "2026-03-26T18:00"}
    )
    assert response.status_code == 403
    override = make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    response = viewer_page.post(reverse("oncall:override-delete", args=[schedule.pk, override.pk]))
    assert response.status_code == 403
    assert list(Override.objects.values_list("pk", flat=True)) == [override.pk]


def test_a_responder_adds_an_override_in_local_time_and_it_takes_over_the_final_row(
    clock, schedule, people, responder_page
):
    response = responder_page.post(
        create_url(schedule),
        {
            "user": people["carol"].pk,
            "start": "2026-03-26T10:00",
            "end": "2026-03-27T18:30",
            "note": "Bob's dentist",
            "window": "2026-03-25",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == detail_url(schedule, start="2026-03-25")
    override = Override.objects.get()
    # Paris is UTC+1 until 29 March: the local times are turned into these instants.
    assert (override.start, override.end) == (
        datetime(2026, 3, 26, 9, tzinfo=UTC),
        datetime(2026, 3, 27, 17, 30, tzinfo=UTC),
    )
    assert (override.user, override.note, override.created_by.username) == (people["carol"], "Bob's dentist", "rita")

    html = responder_page.get(response["Location"]).content.decode()
    assert "Override added: Carol Petit covers Primary from Thu 26 Mar 10:00 to Fri 27 Mar 18:30." in html
    assert final_titles(html)[:3] == [
        "Bob Durand: Wed 25 Mar 00:00 to Thu 26 Mar 10:00 (layer Weekly)",
        "Carol Petit: Thu 26 Mar 10:00 to Fri 27 Mar 18:30 (override)",
        "Bob Durand: Fri 27 Mar 18:30 to Mon 30 Mar 09:00 (layer Weekly)",
    ]
    overrides = html.split('id="overrides-h"', 1)[1]
    assert "Carol Petit" in overrides and "Bob&#x27;s dentist" in overrides and "Rita Roy" in overrides


def test_local_times_the_clock_skips_become_the_instant_it_jumps():
    form = OverrideForm(
        {"user": "", "start": "2026-03-29T02:30", "end": "2026-03-29T04:00"}, zone=PARIS
    )  # the user is missing: only the times are checked here
    form.is_valid()
    assert form.cleaned_data["start"] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert form.cleaned_data["end"] == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert "user" in form.errors and "end" not in form.errors


def test_bad_override_input_is_a_400_with_the_error_next_to_the_field(clock, schedule, people, responder_page):
    inactive = make_user(username="gone", is_active=False)
    cases = [
        (
            {"user": people["carol"].pk, "start": "2026-03-26T18:00", "end": "2026-03-26T10:00"},
            "must end after it starts",
        ),
        ({"user": 999999, "start": "2026-03-26T10:00", "end": "2026-03-26T18:00"}, "Choose one of the listed people"),
        (
            {"user": inactive.pk, "start": "2026-03-26T10:00", "end": "2026-03-26T18:00"},
            "Choose one of the listed people",
        ),
        ({"user": people["carol"].pk, "start": "tomorrow", "end": "2026-03-26T18:00"}, "Enter a date and time"),
        ({"user": people["carol"].pk, "start": "2026-03-26T10:00", "end": ""}, "This field is required"),
    ]
    for data, message in cases:
        response = responder_page.post(create_url(schedule), data)
        assert response.status_code == 400, data
        html = response.content.decode()
        assert re.search(rf'class="field-errors"[^>]*><li>[^<]*{message}', html), (data, message)
        assert "<html" in html  # the whole page, the typed values kept
    assert not Override.objects.exists()


def test_htmx_add_returns_only_the_fragment_with_the_new_override_and_a_toast(clock, schedule, people, responder_page):
    data = {"user": people["carol"].pk, "start": "2026-03-26T10:00", "end": "2026-03-26T18:00", "window": "2026-03-25"}
    response = responder_page.post(create_url(schedule), data, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="schedule-live">') and "<html" not in html
    assert "Carol Petit: Thu 26 Mar 10:00 to Thu 26 Mar 18:00 (override)" in final_titles(html)
    assert json.loads(response["HX-Trigger"])["toast"]["message"].startswith("Override added: Carol Petit")


def test_htmx_errors_come_back_in_the_fragment(clock, schedule, people, responder_page):
    data = {"user": people["carol"].pk, "start": "2026-03-26T18:00", "end": "2026-03-26T10:00"}
    response = responder_page.post(create_url(schedule), data, headers=HTMX)
    # htmx swaps only 2xx answers, so the fragment with the inline error is a 200 here.
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "The override must end after it starts." in html
    assert 'value="2026-03-26T18:00"' in html


def test_a_responder_deletes_an_override_of_this_schedule_only(clock, schedule, people, responder_page):
    override = make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    other = make_schedule(schedule.team, name="Secondary")
    elsewhere = make_override(other, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))

    assert responder_page.post(reverse("oncall:override-delete", args=[schedule.pk, elsewhere.pk])).status_code == 404

    response = responder_page.post(
        reverse("oncall:override-delete", args=[schedule.pk, override.pk]), {"window": "2026-03-23"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "Carol Petit" not in "".join(final_titles(response.content.decode()))
    assert list(Override.objects.values_list("pk", flat=True)) == [elsewhere.pk]
    assert "Override removed: Carol Petit" in json.loads(response["HX-Trigger"])["toast"]["message"]


def update_url(schedule, override) -> str:
    return reverse("oncall:override-update", args=[schedule.pk, override.pk])


def test_a_responder_changes_an_override_from_the_schedule_page(clock, schedule, people, responder_page):
    override = make_override(
        schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18), note="dentist"
    )
    page = responder_page.get(detail_url(schedule, start="2026-03-25")).content.decode()
    edit_link = detail_url(schedule, start="2026-03-25") + f"&amp;edit={override.pk}"
    assert edit_link in page  # each row's Change link

    # The form comes back filled with the override's values, in the schedule's local time.
    html = responder_page.get(detail_url(schedule, start="2026-03-25", edit=override.pk), headers=HTMX).content.decode()
    form = html.split('id="add-override"', 1)[1].split("</form>", 1)[0]
    assert f'action="{update_url(schedule, override)}"' in form
    assert "Change the override of Carol Petit" in form and "Save changes" in form
    assert 'value="2026-03-26T10:00"' in form and 'value="2026-03-26T18:00"' in form and 'value="dentist"' in form
    assert f'<option value="{people["carol"].pk}" selected>' in form

    data = {
        "user": people["alice"].pk,
        "start": "2026-03-26T12:00",
        "end": "2026-03-27T08:00",
        "note": "swapped with Alice",
        "window": "2026-03-25",
    }
    response = responder_page.post(update_url(schedule, override), data, headers=HTMX)
    assert response.status_code == 200
    override.refresh_from_db()
    assert (override.user, override.note) == (people["alice"], "swapped with Alice")
    assert (override.start, override.end) == (
        datetime(2026, 3, 26, 11, tzinfo=UTC),
        datetime(2026, 3, 27, 7, tzinfo=UTC),
    )
    titles = final_titles(response.content.decode())
    assert "Alice Martin: Thu 26 Mar 12:00 to Fri 27 Mar 08:00 (override)" in titles
    assert not any("Carol Petit" in title for title in titles)
    assert json.loads(response["HX-Trigger"])["toast"]["message"].startswith("Override changed: Alice Martin covers")
    assert "Add an override" in response.content.decode()  # the form is back to adding


def test_a_bad_change_keeps_the_override_and_shows_the_error(clock, schedule, people, responder_page):
    override = make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    data = {"user": people["carol"].pk, "start": "2026-03-26T18:00", "end": "2026-03-26T10:00"}
    response = responder_page.post(update_url(schedule, override), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "The override must end after it starts." in html and "Change the override of Carol Petit" in html
    assert 'value="2026-03-26T18:00"' in html  # what was typed is kept
    override.refresh_from_db()
    assert (override.start, override.end) == (wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))


def test_htmx_change_errors_come_back_in_the_fragment_and_another_schedules_override_is_not_offered(
    clock, schedule, people, responder_page
):
    override = make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    data = {"user": people["carol"].pk, "start": "2026-03-26T18:00", "end": "2026-03-26T10:00"}
    response = responder_page.post(update_url(schedule, override), data, headers=HTMX)
    assert response.status_code == 200  # htmx swaps only 2xx answers
    html = response.content.decode()
    assert "<html" not in html and "The override must end after it starts." in html
    assert "Change the override of Carol Petit" in html and 'value="2026-03-26T18:00"' in html

    other = make_schedule(schedule.team, name="Secondary")
    elsewhere = make_override(other, people["alice"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    html = responder_page.get(detail_url(schedule, edit=elsewhere.pk)).content.decode()
    assert "<h3>Change the override" not in html and "<h3>Add an override</h3>" in html


def test_only_responders_change_overrides_and_only_on_their_schedule(
    clock, schedule, people, viewer_page, responder_page
):
    override = make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18))
    data = {"user": people["alice"].pk, "start": "2026-03-26T10:00", "end": "2026-03-26T18:00"}
    assert viewer_page.post(update_url(schedule, override), data).status_code == 403
    # A viewer asking for the edit form gets the page without any form.
    html = viewer_page.get(detail_url(schedule, edit=override.pk)).content.decode()
    assert 'id="add-override"' not in html and "Change the override" not in html
    other = make_schedule(schedule.team, name="Secondary")
    wrong = reverse("oncall:override-update", args=[other.pk, override.pk])
    assert responder_page.post(wrong, data).status_code == 404
    assert responder_page.get(update_url(schedule, override)).status_code == 405
    override.refresh_from_db()
    assert override.user == people["carol"]


def test_override_urls_take_only_posts(clock, schedule, responder_page):
    assert responder_page.get(create_url(schedule)).status_code == 405
    assert responder_page.post(detail_url(schedule)).status_code == 405


def test_the_override_list_shows_current_and_future_ones_only(clock, schedule, people, responder_page):
    make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 20, 10), wall(PARIS, 2026, 3, 21, 10), note="past")
    make_override(schedule, people["carol"], wall(PARIS, 2026, 3, 25, 10), wall(PARIS, 2026, 3, 25, 20), note="now")
    make_override(schedule, people["alice"], wall(PARIS, 2026, 4, 1, 10), wall(PARIS, 2026, 4, 1, 20), note="later")

    html = responder_page.get(detail_url(schedule)).content.decode()
    notes = re.findall(r'<td class="override-note">([^<]*)</td>', html)
    assert notes == ["now", "later"]
    assert html.count(">Delete</button>") == 2


def test_cover_the_current_shift_fills_in_me_from_now_until_the_shift_ends(clock, schedule, responder_page):
    html = responder_page.get(detail_url(schedule)).content.decode()
    assert "Cover the current shift" in html and "until Bob Durand goes off call" in html

    html = responder_page.get(detail_url(schedule, cover=1)).content.decode()
    form = html.split('id="add-override"', 1)[1]
    assert re.search(r'<option value="\d+" selected>Rita Roy \(rita\)</option>', form)
    assert 'value="2026-03-25T13:00"' in form and 'value="2026-03-30T09:00"' in form
    assert 'value="Covering for Bob Durand"' in form


def test_user_supplied_text_is_escaped(clock, people, responder_page):
    mallory = make_user(username="mallory", first_name="<script>alert(1)</script>", last_name="")
    team = make_team("<b>Team</b>", services=["web"], members=[mallory])
    schedule = make_schedule(team, name="<i>Primary</i>", description="<img src=x onerror=alert(2)>")
    make_layer(schedule, [mallory], name="<u>Weekly</u>")
    make_override(
        schedule, mallory, wall(PARIS, 2026, 3, 26, 10), wall(PARIS, 2026, 3, 26, 18), note="<svg onload=alert(3)>"
    )

    for url in (INDEX, detail_url(schedule)):
        html = responder_page.get(url).content.decode()
        for raw in ("<script>alert(1)", "<b>Team</b>", "<i>Primary</i>", "<img src=x", "<u>Weekly", "<svg onload"):
            assert raw not in html, (url, raw)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;svg onload=alert(3)&gt;" in html and "&lt;u&gt;Weekly&lt;/u&gt;" in html


def test_the_form_needs_a_zone_and_prints_instants_in_it():
    assert OverrideForm.local_initial(datetime(2026, 3, 30, 7, tzinfo=UTC), PARIS) == "2026-03-30T09:00"
    form = OverrideForm(zone=PARIS)
    assert "Europe/Paris" in form.fields["start"].help_text
