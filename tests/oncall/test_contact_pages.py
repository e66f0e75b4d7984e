"""The "Contact methods" page (/oncall/me/contact-methods/): one's own methods and rules only,
kind-first forms, secrets never shown back, and "Send me a test page" answered in place (HTMX)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from incidents.oncall import contacts
from incidents.oncall.models import ContactMethod, NotificationRule
from tests.factories import make_user
from tests.notifications.conftest import WebhookReceiver
from tracepoint.notifications.models import Delivery

pytestmark = pytest.mark.django_db

LIST = reverse("oncall:contact-methods")
CREATE = reverse("oncall:contact-method-create")
SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/@ann"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def ann(db):
    return make_user("viewer", username="ann", email="ann@example.com")


@pytest.fixture
def client(ann) -> Client:
    client = Client()
    client.force_login(ann)
    return client


@pytest.fixture
def receiver(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = WebhookReceiver()
    yield server
    server.close()


def _method(user, **fields) -> ContactMethod:
    fields = {"kind": "email", "label": "Work", "target": f"{user.get_username()}@example.com"} | fields
    return contacts.add_contact_method(user, **fields)


def test_anonymous_visitors_are_sent_to_the_login_page():
    for url in (LIST, CREATE, reverse("oncall:contact-method-test", args=[1])):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_user_without_a_role_may_set_up_their_own_contact_methods():
    nobody = make_user(None, email="")
    client = Client()
    client.force_login(nobody)
    assert client.get(LIST).status_code == 200
    response = client.post(CREATE, {"kind": "email", "label": "Mail", "target": "me@example.com"})
    assert response.status_code == 302 and ContactMethod.objects.filter(user=nobody).count() == 1


def test_the_page_lists_my_methods_and_rules_and_nobody_elses(client, ann):
    mine = _method(ann, label="My phone", kind="apprise", target=SLACK_URL)
    contacts.add_notification_rule(ann, contact_method=mine, delay_minutes=5)
    _method(make_user(username="bob"), label="Bob's pager")

    response = client.get(LIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "My phone" in html and "After 5 minutes" in html and "Slack" in html
    assert "Bob&#x27;s pager" not in html and "Bob's pager" not in html
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in html  # only the redacted URL
    assert 'href="/oncall/me/" aria-current="page">My on-call' in html  # the nav entry, still current here


def test_user_text_is_escaped(client, ann):
    _method(ann, label="<script>alert(1)</script>")
    html = client.get(LIST).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("name", ["oncall:contact-method-edit", "oncall:contact-method-delete"])
def test_another_users_method_is_not_found(client, name):
    theirs = _method(make_user(username="bob"))
    assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert (
        client.post(reverse(name, args=[theirs.pk]), {"label": "mine now", "target": "x@example.com"}).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.label == "Work"


def test_nobody_can_test_page_or_remove_the_rules_of_another_user(client):
    bob = make_user(username="bob")
    theirs = _method(bob)
    rule = contacts.add_notification_rule(bob, contact_method=theirs, delay_minutes=0)
    assert client.post(reverse("oncall:contact-method-test", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("oncall:notification-rule-delete", args=[rule.pk])).status_code == 404
    assert mail.outbox == [] and NotificationRule.objects.filter(pk=rule.pk).exists()


def test_adding_a_method_asks_for_the_kind_first_then_shows_only_its_fields(client):
    chooser = client.get(CREATE).content.decode()
    assert "?kind=email" in chooser and "?kind=apprise" in chooser and "?kind=webhook" in chooser

    form = client.get(CREATE, {"kind": "apprise"}).content.decode()
    assert "Apprise URL" in form and "ntfys://ntfy.sh/your-private-topic" in form
    assert "Email address" not in form and "Webhook URL" not in form
    assert 'name="enabled"' not in form  # a new method is enabled

    response = client.post(CREATE, {"kind": "email", "label": "Work", "target": "ann.pager@example.com"})
    assert response.status_code == 302 and response["Location"] == LIST
    assert ContactMethod.objects.get().target == "ann.pager@example.com"


def test_an_invalid_target_is_shown_on_its_field(client):
    response = client.post(CREATE, {"kind": "apprise", "label": "Push", "target": "bogus://example.com/x"})
    assert response.status_code == 400
    assert "bogus:// is not a service apprise knows" in response.content.decode()
    assert not ContactMethod.objects.exists()


def test_a_private_webhook_is_refused_on_the_form(client, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    response = client.post(CREATE, {"kind": "webhook", "label": "Hook", "target": "http://127.0.0.1:8000/x"})
    assert response.status_code == 400 and "loopback" in response.content.decode()


def test_editing_never_shows_the_stored_apprise_url_and_keeps_it_when_left_empty(client, ann):
    method = _method(ann, label="Slack DM", kind="apprise", target=SLACK_URL)
    url = reverse("oncall:contact-method-edit", args=[method.pk])

    form = client.get(url).content.decode()
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in form and "Leave empty to keep the current one" in form

    response = client.post(url, {"label": "Slack", "target": ""})  # "enabled" unticked
    assert response.status_code == 302
    method.refresh_from_db()
    assert (method.label, method.target, method.enabled) == ("Slack", SLACK_URL, False)


def test_send_me_a_test_page_over_htmx_answers_with_the_row_and_its_result(client, ann, receiver):
    method = _method(ann, label="Hook", kind="webhook", target=receiver.url)

    response = client.post(reverse("oncall:contact-method-test", args=[method.pk]), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="contact-method-{method.pk}"') and "<html" not in html
    assert "Test page sent" in html and "Reached" in html
    assert json.loads(receiver.requests[0].body)["contact_method"]["label"] == "Hook"
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_a_failed_test_page_shows_why_in_place(client, ann, receiver):
    method = _method(ann, label="Hook", kind="webhook", target=receiver.url)
    receiver.respond(500, body=b"boom")

    html = client.post(reverse("oncall:contact-method-test", args=[method.pk]), headers=HTMX).content.decode()

    assert "Test page failed: HTTP 500: boom" in html and "Reached" not in html


def test_without_htmx_a_test_page_redirects_with_a_message(client, ann):
    method = _method(ann, label="Work", target="ann.pager@example.com")

    response = client.post(reverse("oncall:contact-method-test", args=[method.pk]), follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    assert "Test page sent to “Work”." in response.content.decode()
    assert [m.to for m in mail.outbox] == [["ann.pager@example.com"]]


def test_a_test_page_is_a_post(client, ann):
    method = _method(ann)
    assert client.get(reverse("oncall:contact-method-test", args=[method.pk])).status_code == 405
    assert mail.outbox == []


def test_rules_are_added_with_a_method_and_a_delay_and_removed(client, ann):
    method = _method(ann)
    response = client.post(
        reverse("oncall:notification-rule-create"), {"contact_method": method.pk, "delay_minutes": "5"}
    )
    assert response.status_code == 302
    rule = NotificationRule.objects.get()
    assert (rule.user, rule.contact_method, rule.delay_minutes) == (ann, method, 5)

    again = client.post(reverse("oncall:notification-rule-create"), {"contact_method": method.pk, "delay_minutes": "5"})
    assert again.status_code == 400 and "already has a rule with this delay" in again.content.decode()

    client.post(reverse("oncall:notification-rule-delete", args=[rule.pk]))
    assert not NotificationRule.objects.exists()


def test_a_rule_cannot_name_another_users_method(client):
    theirs = _method(make_user(username="bob"))
    response = client.post(
        reverse("oncall:notification-rule-create"), {"contact_method": theirs.pk, "delay_minutes": "0"}
    )
    assert response.status_code == 400 and not NotificationRule.objects.exists()


def test_one_click_makes_the_account_email_an_immediate_method(client, ann):
    html = client.get(LIST).content.decode()
    assert "Use ann@example.com" in html

    client.post(reverse("oncall:contact-method-use-email"))

    [rule] = contacts.rules_of(ann)
    assert (rule.delay_minutes, rule.contact_method.target) == (0, "ann@example.com")
    assert "Use ann@example.com" not in client.get(LIST).content.decode()


def test_deleting_a_method_asks_first_and_takes_its_rules(client, ann):
    method = _method(ann)
    contacts.add_notification_rule(ann, contact_method=method, delay_minutes=0)
    url = reverse("oncall:contact-method-delete", args=[method.pk])

    assert "Delete “Work”?" in client.get(url).content.decode()
    assert ContactMethod.objects.exists()

    assert client.post(url).status_code == 302
    assert not ContactMethod.objects.exists() and not NotificationRule.objects.exists()


def test_forms_need_a_csrf_token(ann):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    response = client.post(CREATE, {"kind": "email", "label": "Work", "target": "ann@example.com"})
    assert response.status_code == 403 and not ContactMethod.objects.exists()


def test_the_admin_shows_contact_methods_and_rules_with_redacted_targets_only(ann):
    method = _method(ann, label="Slack DM", kind="apprise", target=SLACK_URL)
    contacts.add_notification_rule(ann, contact_method=method, delay_minutes=5)
    admin = Client()
    admin.force_login(make_user(username="root", is_superuser=True, is_staff=True))

    pages = [
        admin.get(reverse("admin:oncall_contactmethod_changelist")),
        admin.get(reverse("admin:oncall_contactmethod_change", args=[method.pk])),
        admin.get(reverse("admin:oncall_notificationrule_changelist")),
    ]

    assert [response.status_code for response in pages] == [200, 200, 200]
    for response in pages:
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in response.content.decode()
    assert "slack://T...2/A...D/T...Q" in pages[0].content.decode()
    assert "After 5 minutes" in pages[2].content.decode()
    assert admin.get(reverse("admin:oncall_contactmethod_add")).status_code == 403  # owners type targets
