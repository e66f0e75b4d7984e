"""Escalations driven through time with time-machine: pages go out step by step, an
acknowledgement (through the page's own link) stops them, a resolve during a repeat stops them,
reopening starts them again; gaps and unreachable people fall through to the next step."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client

from incidents import services as incident_services
from incidents.models import Incident, Status
from incidents.oncall import escalation
from incidents.oncall.models import ContactKind, ContactMethod, Escalation, NotificationRule, Page, PageContact
from tests.factories import make_incident, make_layer, make_schedule, make_team, make_user
from tests.notifications.conftest import local_targets_allowed, receiver  # noqa: F401  (fixtures)
from tests.oncall.escalation_helpers import deliver_all, link_in, mails_to, make_policy, notes
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Paris: the weekly layer has Ann


@pytest.fixture
def people(db):
    ann = make_user("responder", username="ann", first_name="Ann", email="ann@example.com")
    bob = make_user("responder", username="bob", first_name="Bob", email="bob@example.com")
    carol = make_user("responder", username="carol", first_name="Carol", email="carol@example.com")
    return ann, bob, carol


@pytest.fixture
def setup(people):
    ann, _, carol = people
    team = make_team("Payments", members=people, services=["checkout"])
    schedule = make_schedule(team, name="Primary")
    make_layer(schedule, [ann, carol], start_date=date(2026, 1, 5))  # weekly, ann first: ann this week
    return team, schedule


def _at(time_machine, moment: datetime) -> datetime:
    time_machine.move_to(moment, tick=False)
    return moment


def test_an_opened_incident_starts_its_services_policy_and_pages_step_by_step(setup, people, time_machine):
    team, schedule = setup
    ann, bob, carol = people
    make_policy(team, [(5, [], [schedule], []), (10, [bob], [], []), (15, [carol], [], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(title="Checkout down", service="checkout", severity="SEV1")
    run = Escalation.objects.get(incident=incident)
    assert run.state == Escalation.State.ACTIVE and run.next_step_at == T0

    escalation.run_due()
    deliver_all()
    assert [p.user for p in Page.objects.filter(incident=incident)] == [ann]
    page = Page.objects.get(user=ann)
    assert page.status == Page.Status.DELIVERED and page.delivered_via == "Account email"
    assert page.schedule == schedule and page.step_index == 0
    [message] = mails_to("ann@example.com")
    assert "Checkout down" in message.subject and "/incidents/act/acknowledge/" in message.body

    _at(time_machine, T0 + timedelta(minutes=4, seconds=59))
    escalation.run_due()
    assert Page.objects.count() == 1  # not yet

    _at(time_machine, T0 + timedelta(minutes=5))
    escalation.run_due()
    deliver_all()
    assert list(Page.objects.order_by("created_at").values_list("user__username", "step_index")) == [
        ("ann", 0),
        ("bob", 1),
    ]
    assert len(mails_to("bob@example.com")) == 1
    timeline = notes(incident)
    assert timeline[0] == "Escalation policy Checkout primary started: 3 steps."
    assert timeline[1] == "Step 1 of 3: paged Ann (on call on Primary)."
    assert timeline[2] == "Step 2 of 3: paged Bob."


def test_acknowledging_through_the_page_link_mid_step_stops_the_escalation(
    setup, people, time_machine, django_capture_on_commit_callbacks
):
    team, schedule = setup
    ann, bob, _ = people
    make_policy(team, [(5, [], [schedule], []), (10, [bob], [], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout", severity="SEV2")
    escalation.run_due()
    deliver_all()
    [message] = mails_to("ann@example.com")

    _at(time_machine, T0 + timedelta(minutes=3))  # mid-step: bob is due at +5
    browser = Client()
    link = link_in(message)
    assert browser.get(link).status_code == 200  # the confirmation page
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(link, {"name": "Ann on her phone"})
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED

    run = Escalation.objects.get(incident=incident)
    assert run.state == Escalation.State.ACKNOWLEDGED
    assert run.ended_reason == "acknowledged by Ann on her phone via Account email page link"
    page = Page.objects.get(user=ann)
    assert page.status == Page.Status.ACKNOWLEDGED
    assert page.acknowledged_via == "Ann on her phone via Account email page link"

    _at(time_machine, T0 + timedelta(minutes=30))
    escalation.run_due()
    deliver_all()
    assert not Page.objects.filter(user=bob).exists()
    assert mails_to("bob@example.com") == []
    assert notes(incident)[-1] == (
        "Escalation stopped: the incident was acknowledged by Ann on her phone via Account email page link."
    )


def test_an_acknowledgement_whose_signal_was_missed_stops_the_escalation_within_one_tick(setup, people, time_machine):
    team, schedule = setup
    ann, bob, _ = people
    rule_method = ContactMethod.objects.create(user=ann, kind=ContactKind.EMAIL, label="Work", target="ann@work.test")
    NotificationRule.objects.create(user=ann, contact_method=rule_method, delay_minutes=0)
    late = ContactMethod.objects.create(user=ann, kind=ContactKind.EMAIL, label="Home", target="ann@home.test")
    NotificationRule.objects.create(user=ann, contact_method=late, delay_minutes=2)
    make_policy(team, [(5, [], [schedule], []), (10, [bob], [], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout")
    escalation.run_due()
    deliver_all()
    # No on-commit callbacks run here: the receiver never hears of the acknowledgement.
    incident_services.transition_incident(incident.pk, to=Status.ACKNOWLEDGED, by=bob)
    assert Escalation.objects.get(incident=incident).state == Escalation.State.ACTIVE

    _at(time_machine, T0 + timedelta(minutes=2))  # ann's second contact would be due now
    escalation.run_due()
    deliver_all()
    assert Escalation.objects.get(incident=incident).state == Escalation.State.ACKNOWLEDGED
    assert mails_to("ann@home.test") == []
    assert PageContact.objects.get(label__startswith="Home").status == PageContact.Status.SKIPPED


def test_resolving_during_a_repeat_stops_it_and_reopening_starts_it_again(
    setup, people, time_machine, django_capture_on_commit_callbacks
):
    team, _ = setup
    ann, bob, _ = people
    make_policy(team, [(5, [ann], [], []), (5, [bob], [], [])], repeat=1, default=True)
    _at(time_machine, T0)
    incident = make_incident(service="checkout")
    for minutes in (0, 5, 10):  # ann, bob, then ann again in the second round
        _at(time_machine, T0 + timedelta(minutes=minutes))
        escalation.run_due()
    deliver_all()
    pages = list(Page.objects.order_by("created_at").values_list("user__username", "round", "step_index"))
    assert pages == [("ann", 0, 0), ("bob", 0, 1), ("ann", 1, 0)]
    assert notes(incident)[-1] == "Step 1 of 2 (round 2 of 2): paged Ann."

    _at(time_machine, T0 + timedelta(minutes=12))
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(incident.pk, to=Status.RESOLVED, by=bob)
    run = Escalation.objects.get(incident=incident)
    assert run.state == Escalation.State.RESOLVED and run.ended_reason == "resolved by Bob"
    _at(time_machine, T0 + timedelta(minutes=20))
    escalation.run_due()
    assert Page.objects.count() == 3  # bob's second-round page never went out

    _at(time_machine, T0 + timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.reopen_incident(incident.pk, by=bob, reason="back again")
    again = Escalation.objects.get(incident=incident, state=Escalation.State.ACTIVE)
    assert again.pk != run.pk and again.next_step_at == T0 + timedelta(minutes=30)
    escalation.run_due()
    assert Page.objects.filter(escalation=again).get().user == ann
    assert "Escalation policy Checkout primary started again (the incident reopened): 2 steps, repeated 1 time." in (
        notes(incident)
    )


def test_nobody_acknowledging_ends_the_escalation_on_the_timeline(setup, people, time_machine):
    team, _ = setup
    ann, _, _ = people
    make_policy(team, [(5, [ann], [], [])], repeat=1, services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout")
    for minutes in (0, 5, 10):
        _at(time_machine, T0 + timedelta(minutes=minutes))
        escalation.run_due()
    run = Escalation.objects.get(incident=incident)
    assert run.state == Escalation.State.EXHAUSTED
    assert Page.objects.count() == 2
    assert notes(incident)[-1].startswith("Escalation Checkout primary finished without an acknowledgement after 2")
    assert Incident.objects.get(pk=incident.pk).status == Status.OPEN


def test_a_schedule_in_a_gap_falls_through_to_the_next_step_and_the_timeline_says_so(people, time_machine):
    ann, bob, _ = people
    team = make_team("Nights", services=["batch"])
    nights = make_schedule(team, name="Nights")
    # On call 22:00-06:00 only: nobody at 11:00 Paris.
    make_layer(nights, [ann], restrictions=[{"start": "22:00", "end": "06:00"}])
    make_policy(team, [(30, [], [nights], []), (30, [bob], [], [])], services=["batch"])
    _at(time_machine, T0)
    incident = make_incident(service="batch")
    escalation.run_due()
    assert list(Page.objects.values_list("user__username", "step_index")) == [("bob", 1)]
    timeline = notes(incident)
    assert timeline[1] == (
        "Step 1 of 2: nobody to page. Gap: nobody is on call on Nights. "
        "Nobody was reached: going on to the next step now."
    )
    assert timeline[2] == "Step 2 of 2: paged Bob."
    run = Escalation.objects.get(incident=incident)
    assert run.step_index == 1 and run.next_step_at == T0 + timedelta(minutes=30)


def test_a_failed_delivery_falls_through_to_the_next_contact_method_at_once(
    setup,
    people,
    time_machine,
    receiver,  # noqa: F811 (the fixture)
    local_targets_allowed,  # noqa: F811 (the fixture)
):
    team, _ = setup
    ann, _, _ = people
    hook = ContactMethod.objects.create(user=ann, kind=ContactKind.WEBHOOK, label="Pager hook", target=receiver.url)
    NotificationRule.objects.create(user=ann, contact_method=hook, delay_minutes=0)
    email = ContactMethod.objects.create(user=ann, kind=ContactKind.EMAIL, label="Mail", target="ann@mail.test")
    NotificationRule.objects.create(user=ann, contact_method=email, delay_minutes=10)
    receiver.respond(500)
    make_policy(team, [(30, [ann], [], [])], services=["checkout"])
    _at(time_machine, T0)
    make_incident(service="checkout")
    escalation.run_due()
    deliver_all()  # the webhook answers 500: the email (due at +10 min) goes now
    deliver_all()
    assert len(receiver.requests) == 1
    assert len(mails_to("ann@mail.test")) == 1
    page = Page.objects.get()
    assert page.status == Page.Status.DELIVERED and page.delivered_via == "Mail (Email)"
    statuses = list(page.contacts.order_by("position").values_list("label", "status"))
    assert statuses == [("Pager hook (Webhook)", "failed"), ("Mail (Email)", "delivered")]
    assert "500" in page.contacts.get(position=0).error


def test_a_person_without_any_way_to_be_reached_is_a_failed_page_and_the_next_step_runs(people, time_machine):
    ann, bob, _ = people
    ann.email = ""
    ann.save()
    team = make_team("Search", services=["search"])
    make_policy(team, [(20, [ann], [], []), (20, [bob], [], [])], services=["search"])
    _at(time_machine, T0)
    incident = make_incident(service="search")
    escalation.run_due()
    pages = dict(Page.objects.values_list("user__username", "status"))
    assert pages == {"ann": "failed", "bob": "sent"}
    assert "Ann — not reachable: No contact method" in notes(incident)[1]


def test_a_step_notifies_its_channels_with_action_links(setup, people, time_machine):
    from tracepoint.notifications.models import Delivery, NotificationChannel

    team, _ = setup
    channel = NotificationChannel.objects.create(name="ops mail", kind="email", email_recipients="ops@example.com")
    make_policy(team, [(5, [], [], [channel])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout", title="Cart empty")
    escalation.run_due()
    [delivery] = Delivery.objects.filter(channel=channel)
    assert delivery.topic == "oncall.escalation" and "Cart empty" in delivery.subject
    assert "/incidents/act/acknowledge/" in delivery.body_text
    assert notes(incident)[1] == "Step 1 of 1: notified ops mail."


def test_escalate_now_runs_the_next_step_at_once(setup, people, time_machine):
    team, schedule = setup
    ann, bob, _ = people
    make_policy(team, [(30, [], [schedule], []), (30, [bob], [], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout")
    escalation.run_due()
    _at(time_machine, T0 + timedelta(minutes=2))
    escalation.escalate_now(incident.pk, by=ann)
    escalation.run_due()
    assert list(Page.objects.order_by("created_at").values_list("user__username", flat=True)) == ["ann", "bob"]
    assert "Ann escalated now: the next step runs at once." in notes(incident)


def test_reassign_to_a_person_pages_them_and_makes_them_owner(setup, people, time_machine):
    team, schedule = setup
    ann, _, carol = people
    make_policy(team, [(30, [], [schedule], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout")
    escalation.run_due()
    escalation.reassign(incident.pk, user=carol, by=ann)
    escalation.run_due()
    incident.refresh_from_db()
    assert incident.owner == carol
    runs = list(Escalation.objects.filter(incident=incident).order_by("started_at", "id").values_list("state", "name"))
    assert runs == [("cancelled", "Checkout primary"), ("active", "Reassigned to Carol")]
    assert Page.objects.get(user=ann).status == Page.Status.CANCELLED
    assert Page.objects.get(user=carol).status == Page.Status.SENT


def test_escalation_actions_refuse_an_acknowledged_incident(setup, people, time_machine):
    team, _ = setup
    ann, _, carol = people
    make_policy(team, [(30, [ann], [], [])], services=["checkout"])
    incident = make_incident(service="checkout", status="ACKNOWLEDGED")
    with pytest.raises(DomainError, match="acknowledged"):
        escalation.escalate_now(incident.pk, by=ann)
    with pytest.raises(DomainError, match="Change its owner"):
        escalation.reassign(incident.pk, user=carol, by=ann)


def test_a_service_without_a_policy_pages_nobody(people):
    incident = make_incident(service="unowned")
    assert not Escalation.objects.filter(incident=incident).exists()
    assert mail.outbox == []


def test_the_team_default_policy_covers_services_no_policy_names(setup, people):
    team, _ = setup
    ann, bob, _ = people
    make_policy(team, [(5, [bob], [], [])], name="Specific", services=["checkout"])
    fallback = make_policy(team, [(5, [ann], [], [])], name="Default", default=True)
    team.services = ["checkout", "payments-api"]
    team.save()
    assert escalation.policy_for_service("payments-api") == fallback
    assert escalation.policy_for_service("checkout").name == "Specific"
    assert escalation.policy_for_service("elsewhere") is None


def test_a_page_delivered_by_webhook_keeps_only_the_redacted_address(
    setup,
    people,
    time_machine,
    receiver,  # noqa: F811 (the fixture)
    local_targets_allowed,  # noqa: F811 (the fixture)
):
    from tracepoint.notifications.models import Delivery

    team, _ = setup
    ann, _, _ = people
    hook = ContactMethod.objects.create(
        user=ann, kind=ContactKind.WEBHOOK, label="Pager hook", target=f"{receiver.url}/s3cret-token"
    )
    NotificationRule.objects.create(user=ann, contact_method=hook, delay_minutes=0)
    make_policy(team, [(30, [ann], [], [])], services=["checkout"])
    _at(time_machine, T0)
    incident = make_incident(service="checkout", title="Cart empty")
    escalation.run_due()
    deliver_all()
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["type"] == "page" and body["incident"]["title"] == "Cart empty"
    assert body["page"]["user"]["username"] == "ann" and "/incidents/act/acknowledge/" in body["actions"]["acknowledge"]
    page = Page.objects.get()
    assert page.status == Page.Status.DELIVERED and page.delivered_via == "Pager hook (Webhook)"
    assert page.contacts.get().status == PageContact.Status.DELIVERED
    delivery = Delivery.objects.get(topic="oncall.page")
    assert "s3cret" not in delivery.recipient and delivery.recipient == hook.target_redacted
    assert str(incident.pk) in body["incident"]["id"]


def test_a_step_due_before_the_next_tick_books_one_run_at_its_moment(setup, people, time_machine, settings):
    team, _ = setup
    ann, _, _ = people
    settings.ESCALATION_TICK_SECONDS = 5
    make_policy(team, [(1, [ann], [], []), (1, [ann], [], [])], services=["checkout"])
    _at(time_machine, T0)
    make_incident(service="checkout")
    escalation.run_due()  # step 1 now; step 2 due at T0 + 60 s
    assert escalation.next_run_before_tick(now=T0 + timedelta(seconds=50)) is None  # beyond the next tick
    booked = escalation.next_run_before_tick(now=T0 + timedelta(seconds=57))
    assert booked == T0 + timedelta(seconds=60)  # on a half-second slot at or after the due time
    assert escalation.next_run_before_tick(now=T0 + timedelta(seconds=58)) is None  # booked once


def test_a_step_run_late_keeps_the_policys_cadence_unless_it_is_later_than_the_delay(setup, people, time_machine):
    team, schedule = setup
    _, bob, carol = people
    make_policy(team, [(5, [], [schedule], []), (5, [bob], [], []), (5, [carol], [], [])], services=["checkout"])
    _at(time_machine, T0)
    on_time, late = make_incident(service="checkout"), make_incident(service="checkout")
    Escalation.objects.filter(incident=late).update(next_step_at=T0 - timedelta(minutes=7))
    escalation.run_due()
    # One batch, two rules: the next step is due a delay after this one was due, unless that moment
    # has passed already (the worker was down for longer than the delay): then a delay from now.
    assert Escalation.objects.get(incident=on_time).next_step_at == T0 + timedelta(minutes=5)
    assert Escalation.objects.get(incident=late).next_step_at == T0 + timedelta(minutes=5)
    _at(time_machine, T0 + timedelta(minutes=6))  # a minute late for step 2
    escalation.run_due()
    run = Escalation.objects.get(incident=on_time)
    assert (run.step_index, run.round) == (1, 0) and run.next_step_at == T0 + timedelta(minutes=10)
