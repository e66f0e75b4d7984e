"""The integrations pages: everyone with a role reads them, admins set integrations up; the token is shown once."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from incidents.intake import pages, services
from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.models import Integration
from tests.intake.conftest import am_alert, am_payload, raw

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN_RE = re.compile(r'<code class="token" id="integration-token">([^<]+)</code>')


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_integration(**fields) -> dict:
    form = {
        "kind": "alertmanager",
        "name": "Prometheus prod",
        "service_from": "label",
        "service_label": "job",
        "service": "",
        "mapping_source": ["critical", "warning", ""],
        "mapping_severity": ["SEV1", "SEV3", "SEV3"],
        "default_severity": "SEV4",
        "is_active": "on",
    }
    return form | fields


def shown_token(response) -> str | None:
    found = TOKEN_RE.search(response.content.decode())
    return found[1] if found else None


@pytest.fixture
def admin(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def existing(db):
    return services.create_integration(kind="alertmanager", name="Prometheus", service_label="team")


# --- access ----------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(existing):
    integration, _ = existing
    client = Client()
    for url in ("/integrations/", "/integrations/new/", f"/integrations/{integration.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_viewers_and_responders_read_but_cannot_change_integrations(viewer, responder, existing):
    integration, token = existing
    for user in (viewer, responder):
        client = logged_in(user)
        assert "Prometheus" in client.get("/integrations/").content.decode()
        detail = client.get(f"/integrations/{integration.pk}/").content.decode()
        assert integration.token_prefix in detail and token not in detail
        assert "Rotate the token" not in detail and "New integration" not in detail
        assert client.get("/integrations/new/").status_code == 403
        assert client.post("/integrations/new/", new_integration()).status_code == 403
        assert client.post(f"/integrations/{integration.pk}/rotate/", {"confirm": "on"}).status_code == 403
        assert client.post(f"/integrations/{integration.pk}/active/", {"active": "false"}).status_code == 403
        assert client.post(f"/integrations/{integration.pk}/edit/", new_integration(name="x")).status_code == 403
    integration.refresh_from_db()
    assert integration.is_active and integration.name == "Prometheus" and services.authenticate(token) == integration


def test_wrong_methods_are_405(admin, existing):
    integration, _ = existing
    assert admin.post("/integrations/").status_code == 405
    assert admin.get(f"/integrations/{integration.pk}/active/").status_code == 405
    assert admin.put("/integrations/new/").status_code == 405
    assert admin.post(f"/integrations/{integration.pk}/token/").status_code == 405


# --- the list --------------------------------------------------------------------------------------


def test_the_list_shows_kind_service_last_payload_alert_counts_and_state(viewer, existing):
    integration, _ = existing
    quiet, _ = services.create_integration(kind="grafana", name="<b>Grafana</b>", service="checkout")
    Integration.objects.filter(pk=quiet.pk).update(is_active=False)
    payload = am_payload(am_alert("a1"), am_alert("a2", instance="db-2"), am_alert("a3", status="resolved"))
    payload["alerts"][2]["endsAt"] = "2026-05-16T21:58:00Z"
    receive_alertmanager(integration, payload, raw=raw(payload))
    html = logged_in(viewer).get("/integrations/").content.decode()
    assert "Prometheus Alertmanager" in html and "Grafana</td>" in html
    assert "from label</span> <code>team</code>" in html and "checkout" in html
    assert f'?status=open&amp;integration={integration.pk}">2</a>' in html
    assert f'?status=all&amp;integration={integration.pk}">3</a>' in html
    assert "ago</time>" in html and "never" in html
    assert "Inactive" in html and "Active" in html
    assert "<b>Grafana</b>" not in html and "&lt;b&gt;Grafana&lt;/b&gt;" in html


# --- creating: the token is shown once -------------------------------------------------------------


def test_an_admin_creates_an_integration_and_sees_its_token_exactly_once(admin):
    form = admin.get("/integrations/new/").content.decode()
    assert 'name="kind" value="grafana"' in form and 'name="mapping_source"' in form
    response = admin.post("/integrations/new/", new_integration())
    integration = Integration.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/integrations/{integration.pk}/token/"
    assert integration.service == "" and integration.service_label == "job" and integration.is_active
    assert integration.severity_mapping == {"critical": "SEV1", "warning": "SEV3", "default": "SEV4"}

    page = admin.get(response["Location"])
    token = shown_token(page)
    html = page.content.decode()
    assert token and services.authenticate(token) == integration
    assert token not in (integration.token_hash, integration.token_prefix)
    assert page["Cache-Control"] == "no-store"
    assert "http://testserver/api/v1/intake/alertmanager" in html or "/api/v1/intake/alertmanager" in html
    assert "webhook_configs:" in html and f"credentials: &quot;{token}&quot;" in html

    again = admin.get(response["Location"])
    assert shown_token(again) is None and token not in again.content.decode()
    assert "shown already" in again.content.decode()
    for url in (f"/integrations/{integration.pk}/", "/integrations/", f"/integrations/{integration.pk}/edit/"):
        assert token not in admin.get(url).content.decode(), url


def test_the_token_page_of_another_integration_shows_no_token(admin, existing):
    other, _ = existing
    response = admin.post("/integrations/new/", new_integration(name="Second"))
    created = Integration.objects.get(name="Second")
    assert shown_token(admin.get(f"/integrations/{other.pk}/token/")) is None
    assert shown_token(admin.get(response["Location"])) is not None  # still waiting for its own page
    assert created.pk != other.pk


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("alertmanager", ["/api/v1/intake/alertmanager", "send_resolved: true", "type: Bearer"]),
        ("grafana", ["/api/v1/intake/grafana", "authorization_scheme: Bearer", "authorization_credentials:"]),
        ("events_v2", ["/api/v1/intake/events", "Routing key:", "pagerduty_configs:", "/v2/enqueue"]),
        ("generic", ["/api/v1/intake/generic", "Authorization: Bearer", "dedup_key"]),
    ],
)
def test_the_token_page_has_the_endpoint_and_a_config_snippet_for_the_kind(admin, kind, expected):
    response = admin.post("/integrations/new/", new_integration(kind=kind, name=f"{kind} one"))
    page = admin.get(response["Location"])
    html = page.content.decode()
    token = shown_token(page)
    assert token
    for text in expected:
        assert text in html, text
    assert html.count(token) >= 2  # in the token box and inside the snippet


def test_an_integration_for_one_service_and_an_inactive_one(admin):
    admin.post(
        "/integrations/new/",
        new_integration(name="Checkout", service_from="fixed", service="Checkout", service_label="ignored")
        | {"is_active": ""},
    )
    integration = Integration.objects.get()
    assert integration.service == "checkout" and integration.service_label == ""
    assert not integration.is_active


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"kind": "nagios"}, "Select a valid choice."),
        ({"service_from": "fixed", "service": ""}, "Name the service"),
        ({"service_from": "fixed", "service": "not valid!"}, "Use lowercase letters"),
        ({"service_from": "label", "service_label": ""}, "Name the label"),
        ({"service_from": "label", "service_label": "1job"}, "A label name starts with a letter"),
        ({"mapping_source": ["critical", "Critical"], "mapping_severity": ["SEV1", "SEV2"]}, "listed twice"),
        ({"mapping_source": ["default"], "mapping_severity": ["SEV1"]}, "is the last row"),
        ({"mapping_source": ["critical"], "mapping_severity": ["SEV9"]}, "Pick SEV1 to SEV4"),
        ({"default_severity": "SEV0"}, "Select a valid choice."),
    ],
)
def test_an_invalid_form_shows_the_error_and_creates_nothing(admin, fields, error):
    response = admin.post("/integrations/new/", new_integration(**fields))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Integration.objects.exists()


def test_a_hostile_name_is_escaped_when_the_form_comes_back(admin):
    response = admin.post("/integrations/new/", new_integration(name="<script>x()</script>", service_label=""))
    html = response.content.decode()
    assert "<script>x()" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html


def test_adding_a_mapping_row_keeps_the_rows_and_saves_nothing(admin):
    fields = new_integration(mapping_source=["critical", "page"], mapping_severity=["SEV1", "SEV2"]) | {"add_row": "1"}
    response = admin.post("/integrations/new/", fields)
    html = response.content.decode()
    assert response.status_code == 200 and not Integration.objects.exists()
    assert html.count('name="mapping_source"') == 2 + 3  # the filled rows, two blank ones and the new one
    assert 'value="page"' in html and "This field is required" not in html


def test_with_htmx_errors_come_back_as_the_form_fragment_and_success_as_a_redirect(admin):
    response = admin.post("/integrations/new/", new_integration(name=""), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<form id="integration-form"')
    assert "<html" not in html and "This field is required." in html
    response = admin.post("/integrations/new/", new_integration(), **HTMX)
    integration = Integration.objects.get()
    assert response["HX-Redirect"] == f"/integrations/{integration.pk}/token/"


# --- editing, rotating, (de)activating -------------------------------------------------------------


def test_editing_changes_name_service_and_mapping_but_neither_kind_nor_token(admin, existing):
    integration, token = existing
    form = admin.get(f"/integrations/{integration.pk}/edit/").content.decode()
    assert 'value="Prometheus"' in form and 'value="team"' in form and 'name="kind"' not in form
    response = admin.post(
        f"/integrations/{integration.pk}/edit/",
        new_integration(
            kind="grafana",
            name="Prometheus EU",
            service_from="fixed",
            service="db",
            mapping_source=["page"],
            mapping_severity=["SEV1"],
            default_severity="SEV2",
        ),
    )
    assert response.status_code == 302 and response["Location"] == f"/integrations/{integration.pk}/"
    integration.refresh_from_db()
    assert integration.name == "Prometheus EU" and integration.kind == "alertmanager"
    assert integration.service == "db" and integration.service_label == ""
    assert integration.severity_mapping == {"page": "SEV1", "default": "SEV2"}
    assert services.authenticate(token) == integration


def test_rotating_asks_for_confirmation_then_shows_the_new_token_once(admin, existing):
    integration, old = existing
    confirm = admin.get(f"/integrations/{integration.pk}/rotate/")
    assert confirm.status_code == 200 and "stops working at once" in confirm.content.decode()
    refused = admin.post(f"/integrations/{integration.pk}/rotate/", {})
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert services.authenticate(old) == integration
    response = admin.post(f"/integrations/{integration.pk}/rotate/", {"confirm": "on"})
    new = shown_token(admin.get(response["Location"]))
    assert new and new != old and services.authenticate(new) == integration
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(old)
    assert shown_token(admin.get(response["Location"])) is None


def test_deactivating_refuses_the_sender_and_activating_accepts_it_again(admin, existing):
    integration, token = existing
    response = admin.post(f"/integrations/{integration.pk}/active/", {"active": "false"})
    assert response.status_code == 302
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(token)
    assert "Inactive" in admin.get(f"/integrations/{integration.pk}/").content.decode()
    admin.post(f"/integrations/{integration.pk}/active/", {"active": "true"})
    assert services.authenticate(token) == integration
    bad = admin.post(f"/integrations/{integration.pk}/active/", {"active": "maybe"}, follow=True)
    assert "Say whether to activate" in bad.content.decode()


def test_unknown_integrations_are_not_found(admin):
    for url in ("/integrations/999999/", "/integrations/999999/edit/", "/integrations/999999/rotate/"):
        assert admin.get(url).status_code == 404, url


# --- the set-up text -------------------------------------------------------------------------------


def test_endpoint_urls_come_from_the_url_names_with_a_fallback(existing, monkeypatch):
    integration, _ = existing
    assert pages.endpoint_urls(integration)["url"].endswith("/api/v1/intake/alertmanager")
    events = Integration(kind="events_v2", name="PD", service="db")
    urls = pages.endpoint_urls(events)
    assert urls["url"] == urls["base_url"] + "/v2/enqueue"
    assert urls["change_url"] == urls["base_url"] + "/v2/change/enqueue"
    assert urls["base_url"].endswith("/api/v1/intake/events")
    assert pages._reverse_or("intake:no-such-endpoint", "/fallback") == "/fallback"
    snippet = pages.setup_snippets(Integration(kind="generic", name="G", service_label="job"))[0]["text"]
    assert '"job": "checkout"' in snippet and "Bearer <token>" in snippet
