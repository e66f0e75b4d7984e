"""Integrations and their tokens: create one (the token is returned once), rotate it, and find the
integration a presented token belongs to.

A token is ``tpi_<12 hex prefix>_<secret>``. The prefix is stored in clear to find the row with one
indexed lookup; only the sha256 of the whole token is stored. The token carries 256 bits of
randomness, so a fast hash is enough (no password stretching needed) and keeps intake cheap.

An Events API v2 integration's token is its routing key, and PagerDuty's are 32 characters (some
clients check): 32 lowercase hex characters, of which the first 8 are the prefix and the other 24
(96 bits) the secret. The two forms cannot be confused (one starts with ``tpi_``), and an
integration whose kind changed keeps working with the token it has until it is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.intake.models import Integration, IntegrationKind, default_severity_mapping
from tracepoint.errors import DomainError

TOKEN_SCHEME = "tpi_"  # noqa: S105 (a public marker, not a secret)
PREFIX_LENGTH = 12
ROUTING_KEY_LENGTH = 32
ROUTING_KEY_PREFIX_LENGTH = 8
_ROUTING_KEY = re.compile(rf"[0-9a-f]{{{ROUTING_KEY_LENGTH}}}")


class InvalidIntegrationToken(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(kind: str) -> tuple[str, str]:
    # A prefix is unique; 8 hex characters may, very rarely, repeat one already in use.
    for _ in range(10):
        if kind == IntegrationKind.EVENTS_V2:
            token = secrets.token_hex(ROUTING_KEY_LENGTH // 2)
            prefix = token[:ROUTING_KEY_PREFIX_LENGTH]
        else:
            prefix = secrets.token_hex(PREFIX_LENGTH // 2)
            token = f"{TOKEN_SCHEME}{prefix}_{secrets.token_urlsafe(32)}"
        if not Integration.objects.filter(token_prefix=prefix).exists():
            return prefix, token
    raise RuntimeError("no free token prefix after 10 draws")  # pragma: no cover - practically never


def _prefix_of(token: str) -> str | None:
    if _ROUTING_KEY.fullmatch(token):
        return token[:ROUTING_KEY_PREFIX_LENGTH]
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
    prefix, token = _new_token(kind)
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
    prefix, token = _new_token(integration.kind)
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            token_prefix=prefix, token_hash=_hash(token), token_rotated_at=now or timezone.now()
        )
    integration.refresh_from_db(fields=["token_prefix", "token_hash", "token_rotated_at"])
    return token


def authenticate(token: str | None, *, kind: str | None = None) -> Integration:
    """The active integration of ``token``, or InvalidIntegrationToken (401).

    ``kind``: the endpoint's; a token of another kind of integration is refused too (its payloads
    would not parse here, and a 401 tells the sender's admin to fix the URL, where a 400 would
    suggest the payload is wrong)."""
    token = (token or "").strip()
    prefix = _prefix_of(token)
    integration = Integration.objects.filter(token_prefix=prefix).first() if prefix else None
    # Compare hashes in constant time even when nothing was found, so timing tells nothing.
    expected = integration.token_hash if integration is not None else _hash(secrets.token_hex(16))
    if not hmac.compare_digest(expected, _hash(token)) or integration is None or not integration.is_active:
        raise InvalidIntegrationToken("Unknown, rotated or disabled integration token.")
    if kind is not None and integration.kind != kind:
        raise InvalidIntegrationToken(
            f"This token belongs to a {integration.get_kind_display()} integration; "
            f"this endpoint takes {IntegrationKind(kind).label} payloads.",
            details={"integration_kind": integration.kind, "endpoint_kind": kind},
        )
    return integration
