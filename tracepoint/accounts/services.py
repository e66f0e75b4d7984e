from __future__ import annotations

from django.db import transaction

from tracepoint.accounts.models import ApiToken
from tracepoint.errors import NotFoundError


def issue_token(user, *, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the plain key is returned once and never stored."""
    name = name.strip() or "API token"
    return ApiToken.issue(user, name)


def regenerate_token(user, token_id: int) -> tuple[ApiToken, str]:
    """Revoke one of the user's tokens and issue a replacement with the same name."""
    with transaction.atomic():
        old = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if old is None:
            raise NotFoundError("No such token.")
        name = old.name
        old.delete()
        return ApiToken.issue(user, name)


def revoke_token(user, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)
