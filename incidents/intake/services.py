"""Integrations and their tokens: create one (the token is returned once), rotate it, and find the
integration a presented token belongs to.

A token is ``tpi_<12 hex prefix>_<secret>``. The prefix is stored in clear to find the row with one
indexed lookup; only the sha256 of the whole token is stored. The token carries 256 bits of
randomness, so a fast hash is enough (no password stretching needed) and keeps intake cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.intake.models import Integration, IntegrationKind, default_severity_mapping
from tracepoint.errors import DomainError

TOKEN_SCHEME = "tpi_"  # noqa: S105 (a public marker, not a secret)
PREFIX_LENGTH = 12


class InvalidIntegrationToken(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return prefix, f"{TOKEN_SCHEME}{prefix}_{secrets.token_urlsafe(32)}"


def _prefix_of(token: str) -> str | None:
    if not token.startswith(TOKEN_SCHEME):
        return None
    prefix = token[len(TOKEN_SCHEME) : len(TOKEN_SCHEME) + PREFIX_LENGTH]
    return prefix if len(prefix) == PREFIX_LENGTH else None


def create_integration(
    *,
    kind: str,
    name: str,
    service: str = "",
    service_label: str = "service",
    severity_mapping: dict[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[Integration, str]:
    """The new integration and its token, which is never available again."""
    if kind not in IntegrationKind.values:
        raise DomainError(f"Unknown integration kind {kind!r}.", details={"allowed": IntegrationKind.values})
    prefix, token = _new_token()
    integration = Integration(
        kind=kind,
        name=name,
        service=service,
        service_label=service_label,
        severity_mapping=severity_mapping if severity_mapping is not None else default_severity_mapping(),
        token_prefix=prefix,
        token_hash=_hash(token),
        created_at=now or timezone.now(),
    )
    try:
        integration.full_clean()
    except ValidationError as exc:
        raise DomainError("The integration is not valid.", details=exc.message_dict) from None
    integration.save()
    return integration, token


def rotate_token(integration: Integration, *, now: datetime | None = None) -> str:
    """A new token; the old one stops working at once (senders must be updated)."""
    prefix, token = _new_token()
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            token_prefix=prefix, token_hash=_hash(token), token_rotated_at=now or timezone.now()
        )
    integration.refresh_from_db(fields=["token_prefix", "token_hash", "token_rotated_at"])
    return token


def authenticate(token: str | None) -> Integration:
    """The active integration of ``token``, or InvalidIntegrationToken (401)."""
    token = (token or "").strip()
    prefix = _prefix_of(token)
    integration = Integration.objects.filter(token_prefix=prefix).first() if prefix else None
    # Compare hashes in constant time even when nothing was found, so timing tells nothing.
    expected = integration.token_hash if integration is not None else _hash(secrets.token_hex(16))
    if not hmac.compare_digest(expected, _hash(token)) or integration is None or not integration.is_active:
        raise InvalidIntegrationToken("Unknown, rotated or disabled integration token.")
    return integration
