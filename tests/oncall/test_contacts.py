"""Contact methods and notification rules (incidents.oncall.contacts): validation, redaction, the
order rules fire in, and test pages delivered for real (a local HTTP server, locmem mail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core import mail

from incidents.oncall import contacts
from incidents.oncall.forms import APPRISE_EXAMPLES
from incidents.oncall.models import ContactKind, ContactMethod, NotificationRule
from tests.factories import make_user
from tests.notifications.conftest import WebhookReceiver
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.notifications.models import Delivery

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/@ann"


def _private_targets(settings, allowed: bool) -> None:
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": allowed,
        "OUTBOUND_ALLOWED_NETWORKS": [],
    }


@pytest.fixture
def receiver(settings):
    _private_targets(settings, True)  # the receiver listens on 127.0.0.1
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def ann(db):
    return make_user(username="ann", email="ann@example.com", first_name="Ann", last_name="Lee")


def _errors(excinfo) -> str:
    return " ".join(str(m) for messages in excinfo.value.details.values() for m in messages)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["ann", "ann@", "ann@@example.com", "ann example@example.com"])
def test_an_email_method_needs_a_valid_address(ann, address):
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="email", label="Mail", target=address)
    assert "is not a valid email address" in _errors(error)
    assert not ContactMethod.objects.exists()


def test_an_unknown_apprise_scheme_is_refused_with_a_clear_error(ann):
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="apprise", label="Push", target="bogus://example.com/x")
    assert "bogus:// is not a service apprise knows" in _errors(error)
    assert set(error.value.details) == {"target"}


def test_an_unknown_kind_is_refused(ann):
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="pigeon", label="Bird", target="roof")
    assert "Unknown kind 'pigeon'" in error.value.message


def test_a_webhook_to_a_private_address_is_refused_unless_private_targets_are_allowed(ann, settings):
    _private_targets(settings, False)
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="webhook", label="Hook", target="http://169.254.169.254/latest")
    assert "link-local (cloud metadata)" in _errors(error) and "ALLOW_PRIVATE_TARGETS" in _errors(error)

    _private_targets(settings, True)
    method = contacts.add_contact_method(ann, kind="webhook", label="Hook", target="http://169.254.169.254/latest")
    assert method.pk is not None


def test_an_apprise_url_naming_a_private_host_is_refused_when_private_targets_are_not_allowed(ann, settings):
    _private_targets(settings, False)
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="apprise", label="Hook", target="json://127.0.0.1:9/hook")
    assert "loopback" in _errors(error)


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "https://"])
def test_a_webhook_is_an_http_or_https_url(ann, url):
    with pytest.raises(DomainError) as error:
        contacts.add_contact_method(ann, kind="webhook", label="Hook", target=url)
    assert "A webhook is an http(s) URL" in _errors(error)


def test_a_label_and_a_target_are_each_used_once_per_user(ann):
    contacts.add_contact_method(ann, kind="email", label="Work", target="ann@example.com")
    with pytest.raises(DomainError) as same_label:
        contacts.add_contact_method(ann, kind="email", label="Work", target="ann@home.example")
    assert "already have a contact method with this label" in _errors(same_label)
    with pytest.raises(DomainError) as same_target:
        contacts.add_contact_method(ann, kind="email", label="Again", target="ann@example.com")
    assert "already have a contact method with this target" in _errors(same_target)
    # Another user may use the same label and address.
    contacts.add_contact_method(make_user(), kind="email", label="Work", target="ann@example.com")


def test_the_apprise_examples_offered_in_the_form_are_all_accepted(ann):
    for number, (_, url) in enumerate(APPRISE_EXAMPLES):
        contacts.add_contact_method(ann, kind="apprise", label=f"Example {number}", target=url)
    assert ContactMethod.objects.filter(user=ann).count() == len(APPRISE_EXAMPLES)


def test_a_user_has_at_most_twenty_methods(ann):
    for number in range(contacts.MAX_CONTACT_METHODS):
        contacts.add_contact_method(ann, kind="email", label=f"m{number}", target=f"a{number}@example.com")
    with pytest.raises(DomainError, match="at most 20 contact methods"):
        contacts.add_contact_method(ann, kind="email", label="one more", target="more@example.com")


# --- redaction ---------------------------------------------------------------------------------


def test_an_apprise_target_is_kept_but_only_shown_redacted(ann):
    method = contacts.add_contact_method(ann, kind="apprise", label="Slack DM", target=SLACK_URL)
    assert method.target == SLACK_URL
    assert method.service == "Slack"
    for shown in (method.target_redacted, str(method)):
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in shown
    assert method.target_redacted.startswith("slack://T...2/A...D/T...Q")


def test_a_webhook_target_is_shown_as_its_scheme_and_host_only(ann):
    method = contacts.add_contact_method(
        ann, kind="webhook", label="Hook", target="https://hooks.example.com:8443/page/s3cr3t-token?key=abc"
    )
    assert method.target_redacted == "https://hooks.example.com:8443/…"
    assert "s3cr3t" not in str(method)


def test_an_email_target_is_shown_as_it_is(ann):
    method = contacts.add_contact_method(ann, kind="email", label="Work", target=" ann@example.com ")
    assert (method.target, method.target_redacted, method.service) == ("ann@example.com", "ann@example.com", "Email")


def test_changing_the_target_clears_verification_and_an_empty_target_keeps_it(ann):
    method = contacts.add_contact_method(ann, kind="apprise", label="Slack DM", target=SLACK_URL)
    ContactMethod.objects.filter(pk=method.pk).update(verified_at=T0)

    kept = contacts.update_contact_method(method, label="Slack", target="", enabled=False)
    assert (kept.label, kept.target, kept.enabled, kept.verified_at) == ("Slack", SLACK_URL, False, T0)

    changed = contacts.update_contact_method(method, target="ntfys://ntfy.sh/ann-pages")
    assert (changed.target, changed.service, changed.verified_at) == ("ntfys://ntfy.sh/ann-pages", "ntfy", None)


# --- rules -------------------------------------------------------------------------------------


def test_rules_fire_in_order_of_delay_and_skip_disabled_methods(ann):
    email = contacts.add_contact_method(ann, kind="email", label="Mail", target="ann@example.com")
    push = contacts.add_contact_method(ann, kind="apprise", label="Phone", target="ntfys://ntfy.sh/ann-pages")
    hook = contacts.add_contact_method(ann, kind="webhook", label="Hook", target="https://hooks.example.com/x")
    contacts.add_notification_rule(ann, contact_method=email, delay_minutes=5)
    contacts.add_notification_rule(ann, contact_method=hook, delay_minutes=15)
    contacts.add_notification_rule(ann, contact_method=push, delay_minutes=0)
    contacts.add_notification_rule(ann, contact_method=push, delay_minutes=10)

    assert [(r.delay_minutes, r.contact_method.label) for r in contacts.rules_of(ann)] == [
        (0, "Phone"),
        (5, "Mail"),
        (10, "Phone"),
        (15, "Hook"),
    ]
    assert [r.delay_text for r in contacts.rules_of(ann)] == [
        "Immediately",
        "After 5 minutes",
        "After 10 minutes",
        "After 15 minutes",
    ]

    contacts.update_contact_method(push, enabled=False)
    assert [(p.delay_minutes, p.method.label) for p in contacts.notification_plan(ann)] == [(5, "Mail"), (15, "Hook")]


def test_a_user_without_rules_is_paged_at_their_account_email_at_once(ann):
    [planned] = contacts.notification_plan(ann)
    assert (planned.delay_minutes, planned.method.kind, planned.method.target) == (0, "email", "ann@example.com")
    assert planned.method.pk is None  # nothing was written
    assert contacts.notification_plan(make_user(email="")) == []


def test_a_rule_cannot_use_another_users_method(ann):
    bob_method = contacts.add_contact_method(make_user(), kind="email", label="Bob", target="bob@example.com")
    with pytest.raises(NotFoundError):
        contacts.add_notification_rule(ann, contact_method=bob_method, delay_minutes=0)
    assert not NotificationRule.objects.exists()


def test_the_same_delay_twice_on_one_method_is_refused_and_a_delay_is_at_most_a_day(ann):
    email = contacts.add_contact_method(ann, kind="email", label="Mail", target="ann@example.com")
    contacts.add_notification_rule(ann, contact_method=email, delay_minutes=5)
    with pytest.raises(DomainError) as twice:
        contacts.add_notification_rule(ann, contact_method=email, delay_minutes=5)
    assert "already has a rule with this delay" in _errors(twice)
    with pytest.raises(DomainError) as too_late:
        contacts.add_notification_rule(ann, contact_method=email, delay_minutes=24 * 60 + 1)
    assert "delay_minutes" in too_late.value.details


def test_a_rule_can_be_moved_to_another_delay_and_removed_with_its_method(ann):
    email = contacts.add_contact_method(ann, kind="email", label="Mail", target="ann@example.com")
    rule = contacts.add_notification_rule(ann, contact_method=email, delay_minutes=0)
    assert contacts.update_notification_rule(rule, delay_minutes=90).delay_text == "After 1 hour 30 minutes"
    contacts.remove_contact_method(email)
    assert not NotificationRule.objects.filter(pk=rule.pk).exists()


def test_use_account_email_makes_an_immediate_email_rule_once(ann):
    method, rule = contacts.use_account_email(ann)
    again_method, again_rule = contacts.use_account_email(ann)
    assert (method.pk, rule.pk) == (again_method.pk, again_rule.pk)
    assert (method.kind, method.target, method.label, rule.delay_minutes) == (
        ContactKind.EMAIL,
        "ann@example.com",
        "Account email",
        0,
    )
    with pytest.raises(DomainError, match="no email address"):
        contacts.use_account_email(make_user(email=""))


# --- test pages --------------------------------------------------------------------------------


def test_a_test_page_by_webhook_posts_json_to_the_endpoint_and_marks_the_method_verified(ann, receiver):
    method = contacts.add_contact_method(ann, kind="webhook", label="Hook", target=f"{receiver.url}/s3cr3t-path")

    delivery = contacts.send_test_page(ann, method, by=ann, now=T0)

    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.SUCCEEDED, 1, 200)
    (request,) = receiver.requests
    assert request.path == "/hook/s3cr3t-path"
    body = json.loads(request.body)
    assert body["type"] == "test_page" and body["topic"] == "oncall.test"
    assert body["user"] == {"id": ann.pk, "username": "ann"}
    assert body["contact_method"] == {"id": method.pk, "label": "Hook", "kind": "webhook"}
    assert body["subject"] == "Tracepoint test page for Ann Lee"
    stored = Delivery.objects.get(pk=delivery.pk)
    assert stored.source == f"oncall.contact:{method.pk}"
    assert "s3cr3t" not in stored.recipient  # only the redacted form stays on record
    method.refresh_from_db()
    assert method.verified_at == T0


def test_a_test_page_by_apprise_json_reaches_a_local_server_and_keeps_no_secret_on_record(ann, receiver):
    port = receiver.server.server_address[1]
    method = contacts.add_contact_method(
        ann, kind="apprise", label="JSON", target=f"json://bot:hunter22pw@127.0.0.1:{port}/hook"
    )

    delivery = contacts.send_test_page(ann, method, by=ann)

    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 1
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["title"] == "Tracepoint test page for Ann Lee"
    assert "This is a test page from Tracepoint to **Ann Lee** through **JSON**" in body["message"]
    stored = Delivery.objects.get(pk=delivery.pk)
    assert "hunter22pw" not in stored.recipient and stored.recipient == method.target_redacted


def test_a_test_page_by_email_lands_in_the_outbox(ann):
    method = contacts.add_contact_method(ann, kind="email", label="Work", target="ann.pager@example.com")
    admin = make_user(username="root")

    delivery = contacts.send_test_page(ann, method, by=admin)

    assert delivery.status == Delivery.Status.SUCCEEDED
    (message,) = mail.outbox
    assert message.to == ["ann.pager@example.com"]
    assert message.subject == "Tracepoint test page for Ann Lee"
    assert 'through the contact method "Work"' in message.body and "sent by root" in message.body
    assert Delivery.objects.get(pk=delivery.pk).recipient == "ann.pager@example.com"


def test_a_failed_test_page_records_its_error_once_without_retrying(ann, receiver):
    method = contacts.add_contact_method(ann, kind="webhook", label="Hook", target=receiver.url)
    receiver.respond(503, body=b"down for maintenance")

    delivery = contacts.send_test_page(ann, method, by=ann)

    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.FAILED, 1, 503)
    assert delivery.last_error.startswith("HTTP 503") and delivery.next_attempt_at is None
    assert len(receiver.requests) == 1
    method.refresh_from_db()
    assert method.verified_at is None


def test_a_test_page_to_a_target_that_became_private_is_refused_at_send_time(ann, receiver, settings):
    method = contacts.add_contact_method(ann, kind="webhook", label="Hook", target=receiver.url)
    _private_targets(settings, False)

    delivery = contacts.send_test_page(ann, method, by=ann)

    assert delivery.status == Delivery.Status.FAILED and "loopback" in delivery.last_error
    assert receiver.requests == []


def test_nobody_can_test_page_another_users_method(ann):
    bob = make_user()
    method = contacts.add_contact_method(bob, kind="email", label="Bob", target="bob@example.com")
    with pytest.raises(NotFoundError):
        contacts.send_test_page(ann, method, by=ann)
    assert mail.outbox == [] and not Delivery.objects.exists()


def test_other_direct_deliveries_to_a_secret_method_keep_only_the_redacted_address_once_sent(receiver):
    from tracepoint.notifications.delivery import deliver
    from tracepoint.notifications.services import DirectMessage, queue_direct

    user = make_user()
    method = contacts.add_contact_method(user, kind="webhook", label="Hook", target=f"{receiver.url}/s3cret")
    [delivery_id] = queue_direct(
        [
            DirectMessage(
                kind=contacts.DELIVERY_KINDS[method.kind],
                recipient=method.target,
                dedupe_key="notice-1",
                subject="Your shift starts in 1 hour",
                payload={"type": "shift"},
                source=contacts.delivery_source(method),
            )
        ],
        topic="oncall.shift",
    )
    delivery = deliver(delivery_id)
    assert delivery.status == Delivery.Status.SUCCEEDED and len(receiver.requests) == 1
    assert Delivery.objects.get(pk=delivery_id).recipient == method.target_redacted
    assert "s3cret" not in method.target_redacted
