"""Shift notices: "your shift starts in N minutes" and "you are on call now", each sent once (even by
two beats at once), only at a real change of person, through the methods used immediately."""

from __future__ import annotations

import json
import threading
from datetime import date, time, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.oncall import contacts, notices
from incidents.oncall.models import ShiftNotice
from tests.factories import make_layer, make_override, make_schedule, make_team, make_user
from tests.notifications.conftest import WebhookReceiver
from tests.oncall.conftest import PARIS, utc, wall
from tracepoint.notifications import services as notification_services
from tracepoint.notifications.models import Delivery

# Ann and Bob take turns daily at 09:00 Paris time (08:00 UTC in March before the 29th):
# Ann has 2026-03-25 09:00 → 03-26 09:00, Bob 03-26 09:00 → 03-27 09:00.
HANDOFF = utc(2026, 3, 26, 8)


@pytest.fixture
def ann(db):
    return make_user("viewer", username="ann", first_name="Ann", last_name="Lee", email="ann@example.com")


@pytest.fixture
def bob(db):
    return make_user("viewer", username="bob", email="bob@example.com")


@pytest.fixture
def schedule(ann, bob):
    primary = make_schedule(make_team("Payments"), name="Primary", time_zone="Europe/Paris")
    make_layer(primary, [ann, bob], name="Daily", start_date=date(2026, 3, 1), shift_unit="days", handoff_time=time(9))
    return primary


@pytest.fixture
def eager_tasks():
    """Deliveries queued by the code under test are attempted at once, in this process (the real task)."""
    from tracepoint.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def receiver(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = WebhookReceiver()
    yield server
    server.close()


def recorded() -> list[tuple[str, str, object]]:
    return [(n.kind, n.user.get_username(), n.shift_start) for n in ShiftNotice.objects.order_by("id")]


# --- which notices ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_upcoming_shift_is_announced_once_even_when_called_every_minute(schedule):
    now = HANDOFF - timedelta(minutes=30)

    assert notices.send_shift_notices(now=now) == 1
    assert notices.send_shift_notices(now=now) == 0
    assert notices.send_shift_notices(now=now + timedelta(minutes=1)) == 0

    assert recorded() == [("upcoming", "bob", HANDOFF)]
    assert Delivery.objects.count() == 1  # Bob's account email, once


@pytest.mark.django_db
def test_nothing_is_due_more_than_an_hour_ahead(schedule):
    assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=61)) == 0
    assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=60)) == 1  # exactly an hour: due
    assert recorded() == [("upcoming", "bob", HANDOFF)]


@pytest.mark.django_db
def test_the_incoming_person_is_told_at_the_handoff_and_who_handed_over(schedule, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        assert notices.send_shift_notices(now=HANDOFF + timedelta(minutes=3)) == 1

    assert recorded() == [("started", "bob", HANDOFF)]
    delivery = Delivery.objects.get()
    assert delivery.subject == "You are on call now: Primary"
    assert "You are on call now for Primary until Fri 27 Mar 09:00 CET; Ann Lee handed over." in delivery.body_text


@pytest.mark.django_db
def test_a_shift_that_started_over_ten_minutes_ago_is_not_announced_late(schedule):
    assert notices.send_shift_notices(now=HANDOFF + timedelta(minutes=10)) == 0
    assert recorded() == []


@pytest.mark.django_db
def test_the_upcoming_and_the_started_notice_are_two_notices(schedule):
    notices.send_shift_notices(now=HANDOFF - timedelta(minutes=45))
    notices.send_shift_notices(now=HANDOFF + timedelta(minutes=1))
    assert recorded() == [("upcoming", "bob", HANDOFF), ("started", "bob", HANDOFF)]


@pytest.mark.django_db
def test_a_person_continuing_gets_nothing(schedule, ann, bob):
    # Ann covers Bob's first three hours: she stays on call past 09:00, across two sources.
    make_override(schedule, ann, HANDOFF, HANDOFF + timedelta(hours=3))

    assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30)) == 0
    assert notices.send_shift_notices(now=HANDOFF + timedelta(minutes=2)) == 0
    # Bob is told before his (shorter) shift, which now starts at noon, Ann handing over.
    assert notices.send_shift_notices(now=HANDOFF + timedelta(hours=2, minutes=20)) == 1
    assert recorded() == [("upcoming", "bob", HANDOFF + timedelta(hours=3))]
    assert "You take over from Ann Lee." in Delivery.objects.get().body_text


@pytest.mark.django_db
def test_nothing_is_sent_for_gaps_and_a_shift_after_one_says_so(ann):
    office = make_schedule(name="Office hours", time_zone="Europe/Paris")
    make_layer(
        office, [ann], start_date=date(2026, 3, 2), restrictions=[{"start": "09:00", "end": "17:00"}], name="Days"
    )
    # 17:00 Paris on 03-26: Ann goes off call and nobody comes on.
    assert notices.send_shift_notices(now=wall(PARIS, 2026, 3, 26, 16, 30)) == 0
    assert notices.send_shift_notices(now=wall(PARIS, 2026, 3, 26, 17, 5)) == 0
    assert recorded() == []

    assert notices.send_shift_notices(now=wall(PARIS, 2026, 3, 27, 8, 30)) == 1
    text = Delivery.objects.get().body_text
    assert "starts in 30 minutes, at Fri 27 Mar 09:00 CET, until Fri 27 Mar 17:00 CET." in text
    assert "Nobody is on call right before you." in text


@pytest.mark.django_db
def test_a_deactivated_person_is_not_told(schedule, bob):
    bob.is_active = False
    bob.save()
    assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30)) == 0
    assert recorded() == [] and not Delivery.objects.exists()


@pytest.mark.django_db
def test_the_end_of_a_long_shift_is_found_beyond_the_read_span():
    solo = make_user("viewer", username="sol", email="sol@example.com")
    weekly = make_schedule(name="Weekly", time_zone="America/New_York")
    make_layer(weekly, [solo, make_user("viewer", username="tim")], start_date=date(2026, 3, 2))
    # Sol's second turn starts Mon 03-16 09:00 New York (EDT since 03-08) = 13:00 UTC, for a week.
    notices.send_shift_notices(now=utc(2026, 3, 16, 12, 15))
    assert "at Mon 16 Mar 09:00 EDT, until Mon 23 Mar 09:00 EDT." in Delivery.objects.get().body_text


# --- once, whoever runs it -------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_workers_past_the_check_record_and_send_once(schedule):
    """Both read "not sent yet"; the unique row lets one of them through."""
    due = notices.due_notices([schedule], now=HANDOFF - timedelta(minutes=30))
    assert len(due) == 1
    person = due[0].shift.user_id
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=person)
    now = HANDOFF - timedelta(minutes=30)

    first = notices._record_and_send(due[0], user, None, now=now)
    second = notices._record_and_send(due[0], user, None, now=now)

    assert (first, second) == (True, False)
    assert ShiftNotice.objects.count() == 1 and Delivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL")
def test_concurrent_beats_send_each_notice_once(schedule, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(notification_services, "_queue_id", queued.append)  # no broker needed
    start = threading.Barrier(4)
    results: list[int] = []

    def beat() -> None:
        try:
            start.wait()
            results.append(notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30)))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [0, 0, 0, 1]
    assert ShiftNotice.objects.count() == 1 and Delivery.objects.count() == 1 and len(queued) == 1


@pytest.mark.django_db
def test_the_work_is_a_fixed_number_of_queries_whatever_the_number_of_schedules(ann, bob):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert notices.send_shift_notices(now=HANDOFF - timedelta(hours=3)) == 0
        return len(captured.captured_queries)

    for index in range(2):
        make_layer(make_schedule(name=f"S{index}"), [ann, bob], start_date=date(2026, 3, 1), shift_unit="days")
    few = queries()
    for index in range(2, 8):
        make_layer(make_schedule(name=f"S{index}"), [ann, bob], start_date=date(2026, 3, 1), shift_unit="days")
        make_override(make_schedule(name=f"O{index}"), ann, utc(2026, 3, 26, 1), utc(2026, 3, 26, 6))
    assert queries() == few <= 5


# --- how they are sent -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_methods_used_immediately_are_sent_to(
    schedule, bob, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    pager = contacts.add_contact_method(bob, kind="email", label="Pager mail", target="bob.pager@example.com")
    later = contacts.add_contact_method(bob, kind="email", label="Home", target="bob.home@example.com")
    hook = contacts.add_contact_method(bob, kind="webhook", label="Hook", target=receiver.url)
    contacts.add_notification_rule(bob, contact_method=pager, delay_minutes=0)
    contacts.add_notification_rule(bob, contact_method=hook, delay_minutes=0)
    contacts.add_notification_rule(bob, contact_method=later, delay_minutes=5)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30)) == 1

    notice = ShiftNotice.objects.get()
    rows = Delivery.objects.order_by("kind")
    assert [(d.kind, d.source, d.dedupe_key, d.topic, d.status) for d in rows] == [
        ("EMAIL", f"oncall.contact:{pager.pk}", f"oncall.shift:{notice.pk}:{pager.pk}", "oncall.shift", "SUCCEEDED"),
        ("WEBHOOK", f"oncall.contact:{hook.pk}", f"oncall.shift:{notice.pk}:{hook.pk}", "oncall.shift", "SUCCEEDED"),
    ]
    (message,) = mail.outbox
    assert message.to == ["bob.pager@example.com"] and message.subject == "On call in 30 minutes: Primary"
    assert (
        "Your on-call shift on Primary starts in 30 minutes, at Thu 26 Mar 09:00 CET, until Fri 27 Mar 09:00 CET."
        in (message.body)
    )
    assert "You take over from Ann Lee." in message.body
    html = message.alternatives[0][0]
    assert "<h1" in html and "Ann Lee" in html
    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["type"] == "shift_notice" and payload["kind"] == "upcoming"
    assert payload["schedule"]["name"] == "Primary" and payload["user"]["username"] == "bob"
    assert payload["previous"]["username"] == "ann" and payload["shift"]["start"].startswith("2026-03-26T08:00:00")
    assert "**On call in 30 minutes: Primary**" in rows[0].body_markdown


@pytest.mark.django_db
def test_a_person_without_rules_gets_their_account_email(
    schedule, bob, eager_tasks, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notices.send_shift_notices(now=HANDOFF + timedelta(minutes=1))

    notice = ShiftNotice.objects.get()
    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.recipient, delivery.source, delivery.dedupe_key) == (
        "EMAIL",
        "bob@example.com",
        f"oncall.user:{bob.pk}",
        f"oncall.shift:{notice.pk}:email",
    )
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]


@pytest.mark.django_db
def test_a_person_whose_rules_all_wait_is_recorded_but_not_sent_to(schedule, bob):
    method = contacts.add_contact_method(bob, kind="email", label="Slow", target="slow@example.com")
    contacts.add_notification_rule(bob, contact_method=method, delay_minutes=15)

    assert notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30)) == 1
    assert recorded() == [("upcoming", "bob", HANDOFF)] and not Delivery.objects.exists()


@pytest.mark.django_db
def test_user_text_is_escaped_in_the_html_email(ann, bob):
    team = make_team("Ops")
    odd = make_schedule(team, name="<b>Night</b>", time_zone="Europe/Paris")
    make_layer(odd, [ann, bob], name="Daily", start_date=date(2026, 3, 1), shift_unit="days", handoff_time=time(9))

    notices.send_shift_notices(now=HANDOFF - timedelta(minutes=30))

    delivery = Delivery.objects.get()
    assert "&lt;b&gt;Night&lt;/b&gt;" in delivery.body_html and "<b>Night</b>" not in delivery.body_html
    assert "<b>Night</b>" in delivery.body_text  # plain text stays as typed
