"""One-click Acknowledge/Resolve links: signed, expiring, single-use, no login; GET never acts."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from incidents import services
from incidents.models import Incident, TimelineEntry
from incidents.notifications import action_url
from tests.factories import make_incident, make_user
from tests.helpers import race
from tests.notifications.conftest import WebhookReceiver
from tests.notifications.factories import make_email_channel, make_webhook_channel
from tracepoint.notifications.models import Delivery, NotificationChannel, UsedActionLink
from tracepoint.notifications.tasks import deliver_notification

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def incident(responder):
    return make_incident(by=responder, title="Checkout is down", service="checkout", severity="SEV3")


def link(incident: Incident, action: str, via: str = "Ops Slack") -> str:
    return urlsplit(action_url(incident, action, via=via)).path


def status_changes(incident: Incident) -> list[TimelineEntry]:
    return list(incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGED))


def _deliver_all() -> None:
    for delivery_id in Delivery.objects.order_by("id").values_list("id", flat=True):
        deliver_notification(delivery_id)


# --- the links in messages --------------------------------------------------------------------


def test_the_email_of_a_new_incident_carries_acknowledge_and_resolve_links(
    responder, django_capture_on_commit_callbacks
):
    make_email_channel(name="Ops mail", email_recipients="oncall@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=responder, title="Checkout is down", severity="SEV1")
    _deliver_all()

    (message,) = mail.outbox
    links = re.findall(r"(Acknowledge|Resolve): (\S+)", message.body)
    assert [label for label, _ in links] == ["Acknowledge", "Resolve"]
    assert links[0][1].startswith("http://127.0.0.1:8000/incidents/act/acknowledge/")
    html, _ = message.alternatives[0]
    assert f'href="{links[1][1]}"' in html and ">Resolve</a>" in html
    # The link works, and says which channel it came through.
    response = Client().post(urlsplit(links[0][1]).path, {"name": "Ann"})
    assert response.status_code == 200
    assert status_changes(incident)[0].actor_label == "Ann via Ops mail link"


def test_the_apprise_message_of_a_new_incident_carries_title_severity_and_links(
    responder, receiver, django_capture_on_commit_callbacks
):
    port = receiver.server.server_address[1]
    NotificationChannel.objects.create(name="Slack", kind="APPRISE", apprise_url=f"json://127.0.0.1:{port}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(
            by=responder, title="Checkout is down", service="checkout", severity="SEV2", summary="Card *payments* fail"
        )
    _deliver_all()

    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["title"] == "[SEV2] New incident: Checkout is down"
    assert body["type"] == "failure"
    message = body["message"]
    assert message.startswith("**SEV2** · OPEN · service checkout")
    assert "Card \\*payments\\* fail" in message  # user text cannot format the message
    assert f"[Open the incident](http://127.0.0.1:8000/incidents/{incident.pk}/)" in message
    acknowledge = re.search(r"\[Acknowledge\]\((\S+?)\)", message).group(1)
    assert re.search(r"\[Resolve\]\(http://127\.0\.0\.1:8000/incidents/act/resolve/\S+\)", message)

    Client().post(urlsplit(acknowledge).path, {"name": "Ann"})
    assert status_changes(incident)[0].actor_label == "Ann via Slack link"


def test_the_webhook_payload_carries_the_action_urls_and_each_channel_has_its_own(
    responder, receiver, django_capture_on_commit_callbacks
):
    make_webhook_channel(url=receiver.url, name="Hook A")
    make_webhook_channel(url=receiver.url, name="Hook B")
    with django_capture_on_commit_callbacks(execute=True):
        make_incident(by=responder, severity="SEV1")
    _deliver_all()

    actions = [json.loads(request.body)["payload"]["actions"] for request in receiver.requests]
    assert [sorted(found) for found in actions] == [["acknowledge", "resolve"], ["acknowledge", "resolve"]]
    assert actions[0]["acknowledge"] != actions[1]["acknowledge"]  # one single-use link per message


def test_an_acknowledged_incident_offers_only_resolve(responder, receiver, django_capture_on_commit_callbacks):
    make_webhook_channel(url=receiver.url)
    incident = make_incident(by=responder, severity="SEV4")
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=responder)
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_incident(incident.pk, to="RESOLVED", by=responder)
    _deliver_all()
    acknowledged, resolved = (json.loads(request.body)["payload"]["actions"] for request in receiver.requests)
    assert list(acknowledged) == ["resolve"] and resolved == {}


# --- GET shows, POST acts -----------------------------------------------------------------------


def test_opening_a_link_shows_what_it_would_do_and_changes_nothing(incident):
    response = Client().get(link(incident, "acknowledge"))
    assert response.status_code == 200
    page = response.text
    assert "Acknowledge incident?" in page and "Checkout is down" in page and "Open" in page
    assert 'name="csrfmiddlewaretoken"' in page and 'name="name"' in page
    assert response["Referrer-Policy"] == "same-origin" and "no-store" in response["Cache-Control"]
    incident.refresh_from_db()
    assert incident.status == "OPEN" and not UsedActionLink.objects.exists()


def test_the_name_is_prefilled_for_a_logged_in_user(incident):
    user = make_user("viewer", username="ann", first_name="Ann", last_name="Lee")
    client = Client()
    client.force_login(user)
    page = client.get(link(incident, "acknowledge")).text
    assert 'value="Ann Lee"' in page and "You are logged in as ann" in page


def test_acknowledge_without_login_records_the_typed_name_and_the_channel(incident):
    response = Client().post(link(incident, "acknowledge"), {"name": "  Ann  "})

    assert response.status_code == 200 and "Incident acknowledged" in response.text
    incident.refresh_from_db()
    assert incident.status == "ACKNOWLEDGED" and incident.acknowledged_by is None
    (entry,) = status_changes(incident)
    assert (entry.actor_label, entry.actor, entry.to_value) == ("Ann via Ops Slack link", None, "ACKNOWLEDGED")
    assert entry.actor_name == "Ann via Ops Slack link"


def test_a_logged_in_user_acts_as_themselves(incident):
    user = make_user("viewer", username="ann", first_name="Ann")
    client = Client()
    client.force_login(user)
    client.post(link(incident, "resolve", via="Email"), {"name": "Bob"})  # a typed name does not change who
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by, incident.acknowledged_by) == ("RESOLVED", user, user)
    (entry,) = status_changes(incident)
    assert (entry.actor, entry.actor_label) == (user, "Ann via Email link")


def test_the_link_is_not_written_to_the_request_log(incident, caplog):
    path = link(incident, "acknowledge")
    token = path.rstrip("/").rsplit("/", 1)[-1]
    with caplog.at_level("INFO", logger="tracepoint.request"):
        Client().get(path)
    logged = " ".join(str(getattr(record, "path", "")) + record.getMessage() for record in caplog.records)
    assert "/incidents/act/acknowledge/<token>/" in logged and token not in logged


def test_resolve_resolves(incident):
    response = Client().post(link(incident, "resolve"), {"name": "Bob"})
    assert "Incident resolved" in response.text
    incident.refresh_from_db()
    assert incident.status == "RESOLVED"
    assert status_changes(incident)[0].actor_label == "Bob via Ops Slack link"


def test_without_login_a_name_is_required(incident):
    response = Client().post(link(incident, "acknowledge"), {"name": " "})
    assert response.status_code == 400 and "This field is required." in response.text
    incident.refresh_from_db()
    assert incident.status == "OPEN" and not UsedActionLink.objects.exists()


def test_the_confirmation_form_is_csrf_protected(incident):
    client = Client(enforce_csrf_checks=True)
    url = link(incident, "acknowledge")
    assert client.post(url, {"name": "Ann"}).status_code == 403
    page = client.get(url).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(url, {"name": "Ann", "csrfmiddlewaretoken": token}).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "ACKNOWLEDGED"


# --- links that cannot be used ------------------------------------------------------------------


def test_a_used_link_does_nothing_the_second_time(incident, responder):
    url = link(incident, "resolve")
    Client().post(url, {"name": "Ann"})
    services.reopen_incident(incident.pk, by=responder, reason="not fixed")

    for response in (Client().get(url), Client().post(url, {"name": "Mallory"})):
        assert response.status_code == 410
        assert "This link was already used" in response.text and "used by Ann via Ops Slack link" in response.text
    incident.refresh_from_db()
    assert incident.status == "OPEN"
    assert len(status_changes(incident)) == 1


def test_an_expired_link_does_nothing(incident, time_machine, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "ACTION_LINK_MAX_AGE_HOURS": 24}
    time_machine.move_to(timezone.now(), tick=False)
    url = link(incident, "acknowledge")
    time_machine.move_to(timezone.now() + timedelta(hours=24, minutes=1), tick=False)

    response = Client().post(url, {"name": "Ann"})

    assert response.status_code == 410 and "This link has expired" in response.text
    incident.refresh_from_db()
    assert incident.status == "OPEN" and not UsedActionLink.objects.exists()


def test_a_link_just_inside_its_age_still_works(incident, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    url = link(incident, "acknowledge")
    time_machine.move_to(timezone.now() + timedelta(hours=23, minutes=59), tick=False)
    assert Client().post(url, {"name": "Ann"}).status_code == 200


@pytest.mark.parametrize("change", ["flip_a_character", "cut_the_end", "swap_the_payload"])
def test_a_tampered_link_does_nothing(incident, change):
    url = link(incident, "acknowledge")
    token = url.rstrip("/").rsplit("/", 1)[1]
    if change == "flip_a_character":
        index = len(token) // 2
        token = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    elif change == "cut_the_end":
        token = token[:-5]
    else:  # another incident's payload with this token's signature
        other = make_incident(title="Other")
        other_token = link(other, "acknowledge").rstrip("/").rsplit("/", 1)[1]
        token = other_token.split(":", 1)[0] + ":" + token.split(":", 1)[1]

    response = Client().post(f"/incidents/act/acknowledge/{token}/", {"name": "Ann"})

    assert response.status_code == 400 and "This link does not work" in response.text
    assert "Traceback" not in response.text
    assert Incident.objects.filter(status="ACKNOWLEDGED").count() == 0


def test_a_link_used_for_another_action_does_nothing(incident):
    acknowledge_token = link(incident, "acknowledge").rstrip("/").rsplit("/", 1)[1]
    response = Client().post(f"/incidents/act/resolve/{acknowledge_token}/", {"name": "Ann"})
    assert response.status_code == 400 and "not valid for this action" in response.text
    unknown = Client().get(f"/incidents/act/delete/{acknowledge_token}/")
    assert unknown.status_code == 404 and "does not name an action" in unknown.text
    incident.refresh_from_db()
    assert incident.status == "OPEN"


def test_an_already_resolved_incident_says_so_and_keeps_the_link_unused(incident, responder):
    url = link(incident, "resolve")
    services.transition_incident(incident.pk, to="RESOLVED", by=responder)

    response = Client().post(url, {"name": "Ann"})

    assert response.status_code == 200 and "Already resolved" in response.text
    assert "nothing was changed" in response.text
    assert not UsedActionLink.objects.exists()
    assert len(status_changes(incident)) == 1


def test_acknowledging_an_incident_past_acknowledgement_says_so(incident, responder):
    services.transition_incident(incident.pk, to="MITIGATED", by=responder)
    response = Client().get(link(incident, "acknowledge"))
    assert "Already acknowledged" in response.text and "already mitigated" in response.text


def test_a_link_to_a_deleted_incident_says_it_is_gone(incident, admin_user):
    url = link(incident, "acknowledge")
    services.delete_incident(incident.pk, by=admin_user)
    response = Client().post(url, {"name": "Ann"})
    assert response.status_code == 404 and "no longer exists" in response.text


def test_posts_are_rate_limited_per_address(incident, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "action_link": "2/min"},
    }
    client = Client()
    for _ in range(2):
        assert client.post(link(incident, "acknowledge"), {"name": ""}).status_code == 400
    response = client.post(link(incident, "acknowledge"), {"name": "Ann"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    incident.refresh_from_db()
    assert incident.status == "OPEN"


@pytest.mark.django_db(transaction=True)
def test_two_clicks_at_once_act_once():
    incident = make_incident(title="Race", severity="SEV3")
    url = link(incident, "acknowledge")

    responses = race(4, lambda index: Client().post(url, {"name": f"clicker {index}"}))

    codes = sorted(response.status_code for response in responses)
    assert codes.count(200) >= 1
    assert sum("Incident acknowledged" in response.text for response in responses) == 1
    assert len(status_changes(incident)) == 1 and UsedActionLink.objects.count() == 1


def test_the_daily_cleanup_forgets_used_links_older_than_any_token(incident):
    from tracepoint.notifications.tasks import delete_old_deliveries

    Client().post(link(incident, "acknowledge"), {"name": "Ann"})
    recent = UsedActionLink.objects.get()
    UsedActionLink.objects.create(
        nonce="old", subject="incident:x", action="resolve", used_by="Bob", used_at=timezone.now() - timedelta(days=3)
    )
    delete_old_deliveries()
    assert list(UsedActionLink.objects.all()) == [recent]


@pytest.mark.django_db(transaction=True)
def test_a_link_claimed_by_two_requests_at_once_is_recorded_once():
    # The incident lock usually decides a race of clicks first; the unique nonce is the last guard.
    from django.db import connection

    from tracepoint.notifications import action_links

    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL (SQLite writers wait on one lock, and may time out)")

    claim = action_links.read_token(
        action_links.make_token(subject="incident:x", action="resolve", via="Email"), action="resolve"
    )
    results = race(4, lambda index: action_links.use(claim, used_by=f"clicker {index}"))
    assert sorted(results) == [False, False, False, True]
    assert UsedActionLink.objects.get().used_by.startswith("clicker ")
