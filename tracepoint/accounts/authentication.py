from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tracepoint.accounts.models import ApiToken, hash_token

KEYWORDS = (b"token", b"bearer")
# Record use at most this often, so reads do not turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>`` or ``Authorization: Bearer <key>``."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header: expected '<Token|Bearer> <key>'."))
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        return self.authenticate_key(key)

    def authenticate_key(self, key: str):
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
