"""Integrations are created and rotated in the admin: the token is shown once, in the message."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from incidents.intake import services
from incidents.intake.models import Integration


@pytest.fixture
def admin_browser(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def token_in(response) -> str:
    [message] = [str(m) for m in get_messages(response.wsgi_request) if "shown this once" in str(m)]
    return re.search(r"(tpi_\S+)", message)[1]


def test_a_new_integration_shows_its_token_once_and_it_authenticates(admin_browser):
    response = admin_browser.post(
        "/admin/intake/integration/add/",
        {
            "kind": "alertmanager",
            "name": "Prometheus prod",
            "service": "",
            "service_label": "job",
            "severity_mapping": '{"critical": "SEV1", "warning": "SEV3"}',
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    token = token_in(response)
    integration = Integration.objects.get()
    assert services.authenticate(token) == integration
    assert token not in (integration.token_hash, integration.token_prefix)  # stored hashed
    assert integration.severity_mapping == {"critical": "SEV1", "warning": "SEV3"}
    shown = admin_browser.get(response["Location"])  # the page after saving shows the message
    assert token.encode() in shown.content
    page = admin_browser.get(f"/admin/intake/integration/{integration.pk}/change/")
    assert token.encode() not in page.content  # and never again


def test_rotating_in_the_admin_stops_the_old_token(admin_browser):
    integration, old = services.create_integration(kind="alertmanager", name="AM", service="checkout")
    response = admin_browser.post(
        "/admin/intake/integration/", {"action": "rotate_tokens", "_selected_action": [integration.pk]}
    )
    new = token_in(response)
    assert services.authenticate(new) == integration
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(old)
