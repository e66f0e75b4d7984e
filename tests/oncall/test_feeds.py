"""iCal feeds at secret addresses: a schedule's final shifts and one person's shifts across schedules,
valid iCalendar in UTC (DST-correct), 404 for unknown or rotated tokens, rotation by the right people."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import icalendar
import pytest
from django.test import Client
from django.urls import reverse

from incidents.oncall import feeds
from incidents.oncall import schedule as engine
from incidents.oncall.models import Schedule, UserFeed
from tests.factories import make_layer, make_override, make_schedule, make_team, make_user
from tests.oncall.conftest import PARIS, utc, wall

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 25, 12, 0)  # the window [03-18, 05-25) holds Paris's spring-forward night (03-29)
HTMX = {"HX-Request": "true"}


@pytest.fixture
def ann(db):
    return make_user("viewer", username="ann", first_name="Ann", last_name="Lee")


@pytest.fixture
def bob(db):
    return make_user("viewer", username="bob")


@pytest.fixture
def schedule(ann, bob):
    """Ann and Bob take turns daily, handing off at 09:00 Paris time."""
    primary = make_schedule(make_team("Payments"), name="Primary", time_zone="Europe/Paris")
    make_layer(primary, [ann, bob], name="Daily", start_date=date(2026, 3, 1), shift_unit="days", handoff_time=time(9))
    return primary


@pytest.fixture
def at_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def feed_of(schedule: Schedule) -> str:
    return reverse("oncall:schedule-feed", args=[schedule.ical_token])


def parse(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.content[:300]
    return icalendar.Calendar.from_ical(response.content)


def events(calendar: icalendar.Calendar) -> list[tuple[datetime, datetime, str]]:
    return [(e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"])) for e in calendar.walk("VEVENT")]


# --- the schedule feed -----------------------------------------------------------------------------


def test_the_schedule_feed_is_valid_icalendar_with_the_final_schedule(schedule, ann, at_now):
    response = Client().get(feed_of(schedule))

    calendar = parse(response)
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert str(calendar["version"]) == "2.0" and "Tracepoint" in str(calendar["prodid"])
    assert str(calendar["x-wr-calname"]) == "On call: Primary (Payments)"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.content
    start, end = feeds.feed_window(NOW)
    assert (start, end) == (utc(2026, 3, 18), utc(2026, 5, 25))
    expected = engine.final_schedule(schedule, start, end)
    found = events(calendar)
    assert len(found) == len(expected) > 60
    # Each event is a final shift; the first began before the window and keeps its real start.
    assert found[0][0] == wall(PARIS, 2026, 3, 17, 9) and expected[0].start == start
    assert [(s, e) for s, e, _ in found[1:]] == [(s.start, s.end) for s in expected[1:]]
    assert [e for _, e, _ in found][:-1] == [s.end for s in expected][:-1]
    who = {ann.pk: "Ann Lee"}
    assert [summary for _, _, summary in found[1:]] == [
        f"On call: {who.get(s.user_id, 'bob')} (Primary)" for s in expected[1:]
    ]


def test_times_are_utc_and_follow_the_local_handoff_across_dst(schedule, at_now):
    calendar = parse(Client().get(feed_of(schedule)))

    spans = [(e.decoded("dtstart"), e.decoded("dtend")) for e in calendar.walk("VEVENT")]
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC from 2026-03-29 on: the DST day is 23 h long.
    assert (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)) in spans
    assert (utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)) in spans
    assert all(start.utcoffset() == timedelta(0) for start, _ in spans)
    assert b"DTSTART:20260328T080000Z" in Client().get(feed_of(schedule)).content


def test_events_carry_stable_uids_team_and_a_link(schedule, at_now, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "BASE_URL": "https://tp.example.com/"}
    first = parse(Client().get(feed_of(schedule)))
    again = parse(Client().get(feed_of(schedule)))

    uids = [str(e["uid"]) for e in first.walk("VEVENT")]
    assert uids == [str(e["uid"]) for e in again.walk("VEVENT")] and len(set(uids)) == len(uids)
    event = first.walk("VEVENT")[1]
    description = str(event["description"])
    assert "Payments" in description and "Primary" in description
    link = f"https://tp.example.com/oncall/schedules/{schedule.pk}/"
    assert f"Schedule: {link}" in description and str(event["url"]) == link


def test_a_layer_shift_followed_by_the_same_persons_override_is_one_event(schedule, ann, bob, at_now):
    # Ann's turn is 03-25 09:00 → 03-26 09:00 (Paris); she also covers Bob's next morning.
    shifts = engine.final_schedule(schedule, utc(2026, 3, 25, 12), utc(2026, 3, 25, 13))
    assert shifts[0].user_id == ann.pk
    make_override(schedule, ann, wall(PARIS, 2026, 3, 26, 9), wall(PARIS, 2026, 3, 26, 12))

    found = events(parse(Client().get(feed_of(schedule))))

    assert (wall(PARIS, 2026, 3, 25, 9), wall(PARIS, 2026, 3, 26, 12), "On call: Ann Lee (Primary)") in found
    assert (wall(PARIS, 2026, 3, 26, 12), wall(PARIS, 2026, 3, 27, 9), "On call: bob (Primary)") in found


def test_the_feed_needs_no_login_sets_no_cookie_and_may_be_cached_privately(schedule):
    response = Client().get(feed_of(schedule))

    assert response.status_code == 200 and not response.cookies
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "max-age=300"}
    assert response["ETag"] and Client().get(feed_of(schedule), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_an_unknown_token_is_a_404(schedule):
    assert Client().get(reverse("oncall:schedule-feed", args=["not-a-real-token"])).status_code == 404
    assert Client().get(reverse("oncall:user-feed", args=["not-a-real-token"])).status_code == 404


def test_feeds_are_read_only(schedule):
    assert Client().post(feed_of(schedule)).status_code == 405


def test_the_token_is_not_written_to_the_request_log(schedule, caplog):
    with caplog.at_level("INFO", logger="tracepoint.request"):
        Client().get(feed_of(schedule))
        Client().get(reverse("oncall:user-feed", args=["guessed-token-123"]))
    logged = " ".join(str(getattr(record, "path", "")) + record.getMessage() for record in caplog.records)
    assert "/oncall/feeds/schedules/<token>.ics" in logged and "<token>" in logged
    assert schedule.ical_token not in logged and "guessed-token-123" not in logged


def test_an_empty_schedule_gives_an_empty_calendar(at_now):
    empty = make_schedule(name="Nobody yet")
    calendar = parse(Client().get(feed_of(empty)))
    assert calendar.walk("VEVENT") == [] and "Nobody yet" in str(calendar["x-wr-calname"])


# --- the user feed ---------------------------------------------------------------------------------


def test_the_user_feed_holds_one_persons_shifts_across_every_schedule(schedule, ann, bob, at_now):
    other = make_schedule(make_team("Search"), name="Search primary", time_zone="America/New_York")
    make_layer(other, [bob], name="Weekly")  # Ann is not in it...
    make_override(other, ann, utc(2026, 4, 2, 14), utc(2026, 4, 2, 18))  # ...but covers an afternoon
    url = feeds.feed_url(None, user=ann)

    calendar = parse(Client().get(url.removeprefix(feeds.links.base_url())))

    found = events(calendar)
    assert (utc(2026, 4, 2, 14), utc(2026, 4, 2, 18), "On call: Ann Lee (Search primary)") in found
    primary = [f for f in found if f[2] == "On call: Ann Lee (Primary)"]
    start, end = feeds.feed_window(NOW)
    mine = [s for s in engine.final_schedule(schedule, start, end) if s.user_id == ann.pk]
    assert [(s, e) for s, e, _ in primary if s >= start] == [(s.start, s.end) for s in mine if s.start > start]
    assert all("bob" not in summary for _, _, summary in found)
    assert str(calendar["x-wr-calname"]) == "On call: Ann Lee"


def test_the_user_feed_is_created_once_on_first_use(ann):
    first, second = feeds.user_feed(ann), feeds.user_feed(ann)
    assert first.pk == second.pk and UserFeed.objects.filter(user=ann).count() == 1
    assert feeds.feed_url(None, user=ann).endswith(f"/oncall/feeds/users/{first.token}.ics")


def test_a_deactivated_users_feed_is_gone(ann):
    token = feeds.user_feed(ann).token
    ann.is_active = False
    ann.save()
    assert Client().get(reverse("oncall:user-feed", args=[token])).status_code == 404


def test_feed_url_uses_the_request_host_when_there_is_one(schedule, rf, settings):
    settings.ALLOWED_HOSTS = ["oncall.example.org"]
    request = rf.get("/", HTTP_HOST="oncall.example.org")
    assert feeds.feed_url(request, schedule=schedule) == f"http://oncall.example.org{feed_of(schedule)}"
    assert feeds.webcal_url("https://x.example/a.ics") == "webcal://x.example/a.ics"
    with pytest.raises(TypeError):
        feeds.feed_url(None)


# --- rotation --------------------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_rotates_a_schedule_feed_and_the_old_address_is_gone(schedule, admin_user, at_now):
    old = feed_of(schedule)

    response = _client(admin_user).post(reverse("oncall:schedule-feed-rotate", args=[schedule.pk]))

    assert response.status_code == 302 and response["Location"] == reverse("oncall:schedule-detail", args=[schedule.pk])
    schedule.refresh_from_db()
    assert feed_of(schedule) != old
    assert Client().get(old).status_code == 404 and Client().get(feed_of(schedule)).status_code == 200


def test_only_admins_may_rotate_a_schedule_feed(schedule, viewer, responder, admin_user):
    url = reverse("oncall:schedule-feed-rotate", args=[schedule.pk])
    token = schedule.ical_token
    for user in (viewer, responder):
        assert _client(user).post(url).status_code == 403
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert _client(admin_user).get(url).status_code == 405
    assert _client(admin_user).post(reverse("oncall:schedule-feed-rotate", args=[999999])).status_code == 404
    schedule.refresh_from_db()
    assert schedule.ical_token == token


def test_anyone_logged_in_rotates_their_own_feed(ann):
    old = feeds.user_feed(ann).token
    client = _client(ann)

    response = client.post(reverse("oncall:user-feed-rotate"))

    assert response.status_code == 302 and response["Location"] == reverse("oncall:me")
    new = UserFeed.objects.get(user=ann).token
    assert new != old
    assert Client().get(reverse("oncall:user-feed", args=[old])).status_code == 404
    assert Client().get(reverse("oncall:user-feed", args=[new])).status_code == 200


def test_rotating_with_htmx_returns_the_feed_fragment_with_the_new_address(ann, bob):
    bobs = feeds.user_feed(bob).token

    response = _client(ann).post(reverse("oncall:user-feed-rotate"), headers=HTMX)

    html = response.content.decode()
    new = UserFeed.objects.get(user=ann).token
    assert response.status_code == 200 and new in html and 'id="me-feed"' in html
    assert "<html" not in html and "toast" in response["HX-Trigger"]
    assert UserFeed.objects.get(user=bob).token == bobs  # only one's own


def test_rotating_ones_feed_needs_a_login_and_a_post(ann):
    response = Client().post(reverse("oncall:user-feed-rotate"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert _client(ann).get(reverse("oncall:user-feed-rotate")).status_code == 405
