"""One-click action links in notifications (Acknowledge, Resolve): signed, expiring, single-use.

A token is ``django.core.signing.dumps`` of what the link does (its subject such as
``incident:<id>``, the action, the channel it was sent through) plus a random nonce, signed
with SECRET_KEY under a salt of its own and timestamped, so it expires after
``ACTION_LINK_MAX_AGE_HOURS``. Using a link inserts its nonce into ``UsedActionLink`` (unique):
of two clicks at once exactly one wins, in whatever process. The app that owns the subject
checks the token, asks ``was_used`` and calls ``use`` in the transaction that acts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from tracepoint.notifications.models import UsedActionLink

SALT = "tracepoint.notifications.action-link"
NONCE_BYTES = 12
VIA_MAX_CHARS = 100


class LinkError(Exception):
    """A link that cannot be used; ``reason`` is ``invalid`` or ``expired``."""

    reason = "invalid"


class LinkInvalid(LinkError):
    reason = "invalid"


class LinkExpired(LinkError):
    reason = "expired"


@dataclass(frozen=True)
class ActionClaim:
    subject: str
    action: str
    via: str
    nonce: str


def max_age() -> timedelta:
    return timedelta(hours=settings.TRACEPOINT["ACTION_LINK_MAX_AGE_HOURS"])


def make_token(*, subject: str, action: str, via: str) -> str:
    """A new token (each call another nonce) for ``action`` on ``subject``, sent through ``via``."""
    document = {"s": subject, "a": action, "v": via[:VIA_MAX_CHARS], "n": secrets.token_urlsafe(NONCE_BYTES)}
    return signing.dumps(document, salt=SALT, compress=True)


def read_token(token: str, *, action: str) -> ActionClaim:
    """The claim of a genuine, unexpired token for ``action``; ``LinkInvalid`` / ``LinkExpired`` otherwise."""
    try:
        document = signing.loads(token, salt=SALT, max_age=max_age())
    except signing.SignatureExpired:
        raise LinkExpired("This link has expired.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkInvalid("This link is not valid.") from None
    if not isinstance(document, dict) or not all(isinstance(document.get(key), str) for key in "savn"):
        raise LinkInvalid("This link is not valid.")
    if document["a"] != action:
        raise LinkInvalid("This link is not valid for this action.")
    return ActionClaim(subject=document["s"], action=document["a"], via=document["v"], nonce=document["n"])


def was_used(claim: ActionClaim) -> UsedActionLink | None:
    return UsedActionLink.objects.filter(nonce=claim.nonce).first()


def use(claim: ActionClaim, *, used_by: str, now: datetime | None = None) -> bool:
    """Record the link as used; False when it already was (also by a concurrent request).

    Call it inside the transaction that performs the action, so a rolled-back action leaves the
    link unused; the insert runs in a savepoint, so a refusal does not break that transaction.
    """
    try:
        with transaction.atomic():
            UsedActionLink.objects.create(
                nonce=claim.nonce,
                subject=claim.subject[:100],
                action=claim.action,
                used_by=used_by[:150],
                used_at=now or timezone.now(),
            )
    except IntegrityError:
        return False
    return True


def purge_used_links(*, now: datetime | None = None) -> int:
    """Forget used links older than any token can be (an expired token is refused anyway)."""
    cutoff = (now or timezone.now()) - max_age() - timedelta(days=1)
    deleted, _ = UsedActionLink.objects.filter(used_at__lt=cutoff).delete()
    return deleted
