from __future__ import annotations

import hashlib
import unicodedata

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tracepoint import ratelimit
from tracepoint.accounts.models import ApiToken
from tracepoint.accounts.roles import ADMIN, set_role
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.links import absolute_url

# --- logging in: the per-account delay ------------------------------------------------------------


class LoginDelayed(DomainError):
    code = "RATE_LIMIT_EXCEEDED"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__(
            f"Too many attempts for this account, try again in {retry_after} s.",
            details={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after


def _login_backoff() -> ratelimit.Backoff:
    limits = settings.TRACEPOINT
    return ratelimit.Backoff(
        free_failures=limits["LOGIN_FAILURES_BEFORE_DELAY"],
        max_delay_seconds=limits["LOGIN_DELAY_MAX_SECONDS"],
        window_seconds=limits["LOGIN_FAILURE_WINDOW_SECONDS"],
    )


def _login_ident(username: str) -> str:
    # Django's username normalisation (NFKC), case-insensitive; hashed to bound the key's length.
    normalised = unicodedata.normalize("NFKC", username).strip().casefold()
    return hashlib.sha256(normalised.encode()).hexdigest()[:32]


def authenticate_user(request, *, username: str, password: str, known_device: bool = False, now: float | None = None):
    """The active user with these credentials, or None; raises LoginDelayed while the account waits.

    Per-IP limits do not stop guesses spread over many addresses, so attempts are also counted per
    username, whether or not it exists (the answers must not reveal which accounts do). Past
    LOGIN_FAILURES_BEFORE_DELAY failures, the next attempt for that username has to wait 2, 4, 8 …
    seconds, at most LOGIN_DELAY_MAX_SECONDS, and during the wait the password is not checked. Each
    attempt counts as a failure before its password is checked (a success then clears the count),
    so parallel guesses cannot slip in together.

    An attacker could keep a username waiting for ever; a browser that has logged in as that user
    before (``known_device``: a signed cookie, see :func:`known_device_cookie`) is therefore not
    held by it, only by the per-IP limit.
    """
    ident = _login_ident(username)
    if not known_device:
        wait = ratelimit.backoff_attempt("login", ident, _login_backoff(), now=now)
        if wait:
            raise LoginDelayed(wait)
    user = authenticate(request, username=username, password=password)
    if user is not None:
        ratelimit.backoff_reset("login", ident)
    return user


# A browser that logged in as a user carries this signed cookie; its later logins as that user are not
# held by the per-username delay (OWASP's "device cookies" against lock-outs).
KNOWN_DEVICE_COOKIE = "tp_device"
KNOWN_DEVICE_SALT = "tracepoint.accounts.known-device"


def known_device_cookie(username: str) -> str:
    return signing.dumps({"u": _login_ident(username)}, salt=KNOWN_DEVICE_SALT, compress=True)


def is_known_device(request, username: str) -> bool:
    value = request.COOKIES.get(KNOWN_DEVICE_COOKIE) if request is not None else None
    if not value or not username:
        return False
    try:
        data = signing.loads(
            value, salt=KNOWN_DEVICE_SALT, max_age=settings.TRACEPOINT["LOGIN_KNOWN_DEVICE_DAYS"] * 86400
        )
    except signing.BadSignature:
        return False
    return isinstance(data, dict) and data.get("u") == _login_ident(username)


# --- API tokens ------------------------------------------------------------------------------------


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


# --- users: invitations, role, deactivation --------------------------------------------------------


class UserError(DomainError):
    pass


def invitation_link(user) -> str:
    """A one-time link to set a password: Django's reset token, void once the password is set and after
    PASSWORD_RESET_TIMEOUT (settings.INVITATION_DAYS)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return absolute_url("accounts:invitation", uid, default_token_generator.make_token(user))


def send_invitation(user, *, by=None) -> None:
    if not user.email:
        raise UserError("The user has no email address to invite.", details={"email": ["Required for an invitation."]})
    context = {"user": user, "link": invitation_link(user), "by": by, "days": settings.PASSWORD_RESET_TIMEOUT // 86400}
    send_mail(
        "You are invited to Tracepoint",
        render_to_string("accounts/email/invitation.txt", context),
        None,
        [user.email],
    )


def create_user(
    *, username: str, email: str = "", name: str = "", role: str | None = None, invite: bool = True, by=None
):
    """A new user without a usable password; with ``invite`` they get a link to choose one."""
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise UserError("That username is taken.", details={"username": ["Already in use."]})
    if invite and not email:
        raise UserError("An invitation needs an email address.", details={"email": ["Required to invite."]})
    with transaction.atomic():
        user = User(username=username, email=email, first_name=name[:150])
        user.set_unusable_password()
        user.save()
        set_role(user, role)
        if invite:
            transaction.on_commit(lambda: send_invitation(user, by=by), robust=True)
    return user


def update_user(user, *, changes: dict, by) -> object:
    """Edit a user; deactivating one revokes their API tokens, and their sessions stop working."""
    if user.pk == getattr(by, "pk", None) and (
        changes.get("is_active") is False or changes.get("role", ADMIN) != ADMIN
    ):
        raise UserError("You cannot demote or deactivate yourself.", details={"user": ["Ask another admin."]})
    with transaction.atomic():
        for field, attr in (("username", "username"), ("email", "email"), ("name", "first_name")):
            if field in changes:
                setattr(user, attr, changes[field])
        if "is_active" in changes:
            user.is_active = changes["is_active"]
        user.save()
        if "role" in changes:
            set_role(user, changes["role"])
        if not user.is_active:
            deactivate_sessions(user)
    return user


def deactivate_sessions(user) -> int:
    """Inactive users are refused by the auth backend on every request; their tokens are deleted too."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def delete_user(user, *, by) -> None:
    if user.pk == getattr(by, "pk", None):
        raise UserError("You cannot delete yourself.", details={"user": ["Ask another admin."]})
    user.delete()
