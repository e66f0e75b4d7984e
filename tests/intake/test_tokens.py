"""Integration tokens: shown once, stored hashed, rotated, refused when wrong or disabled."""

from __future__ import annotations

import hashlib

import pytest

from incidents.intake import services
from incidents.intake.models import Integration
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db


def test_the_token_is_returned_once_and_only_its_hash_is_stored(integration, token):
    stored = Integration.objects.filter(pk=integration.pk).values().get()
    assert token.startswith("tpi_") and len(token) > 40
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in stored.values()}
    assert token.startswith(f"tpi_{stored['token_prefix']}_")


def test_the_token_authenticates_its_integration(integration, token):
    assert services.authenticate(token) == integration
    assert services.authenticate(f"  {token}\n") == integration


@pytest.mark.parametrize("wrong", [None, "", "tpi_", "garbage", "tpi_000000000000_nope"])
def test_a_wrong_token_is_refused(integration, wrong):
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(wrong)


def test_a_right_prefix_with_a_wrong_secret_is_refused(integration, token):
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_rotation_invalidates_the_old_token(integration, token):
    new = services.rotate_token(integration)
    assert new != token
    assert services.authenticate(new) == integration
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(token)
    integration.refresh_from_db()
    assert integration.token_rotated_at is not None


def test_a_disabled_integration_is_refused(integration, token):
    Integration.objects.filter(pk=integration.pk).update(is_active=False)
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(token)


def test_an_integration_must_name_its_service_or_a_label_for_it():
    with pytest.raises(DomainError) as refused:
        services.create_integration(kind="alertmanager", name="Nameless", service="", service_label="")
    assert refused.value.status_code == 400


def test_an_unknown_kind_is_refused():
    with pytest.raises(DomainError):
        services.create_integration(kind="nagios", name="Old")


def test_the_default_severity_mapping_and_its_fallback():
    integration, _ = services.create_integration(kind="alertmanager", name="Prom", service="checkout")
    assert [integration.severity_for(s) for s in ("critical", "Warning", "info", "page", None)] == [
        "SEV2",
        "SEV3",
        "SEV4",
        "SEV3",
        "SEV3",
    ]
    assert integration.service_for({"service": "other"}) == "checkout"
