"""Attempting one delivery: claim it, send the email, signed webhook or apprise message, record the outcome.

``deliver`` makes at most one attempt per call, outside any transaction; the
task (``tasks.deliver_notification``) re-queues itself with exponential
backoff (``requeue_countdown``) until the delivery succeeds or fails for good.
Who gets a delivery, and queueing it, is ``services``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone

from tracepoint import outbound
from tracepoint.notifications import apprise_channel, topics
from tracepoint.notifications.models import Delivery, NotificationChannel
from tracepoint.notifications.signals import delivery_attempted
from tracepoint.severity import Severity

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tracepoint-Signature"
USER_AGENT = "Tracepoint-Webhook/1"
LAST_ERROR_MAX_CHARS = 1000
_RESPONSE_SNIPPET_BYTES = 512
# How long a claimed attempt keeps other workers away. Longer than any send can
# take (timeouts are seconds), short enough that a worker killed mid-attempt
# only delays the delivery a little: the next task run takes it over.
CLAIM_LEASE = timedelta(minutes=5)
# A retry task may start a moment before next_attempt_at (timer rounding).
_DUE_SLACK = timedelta(seconds=2)


# --- limits and backoff ------------------------------------------------------
def _limit(name: str) -> int:
    return settings.TRACEPOINT[name]


def retry_delay_seconds(attempt: int, *, base: int, cap: int) -> int:
    """Seconds to wait after failed attempt ``attempt`` (1-based): base, 2·base, 4·base … at most ``cap``."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    return min(base * 2 ** (attempt - 1), cap)


def requeue_countdown(delivery: Delivery, *, now: datetime) -> int | None:
    """Seconds until the task should run again for this delivery, or None when it should not.

    After an attempt of ours that will be retried: until ``next_attempt_at``.
    When another worker holds the delivery: until its claim expires, so a
    worker that died mid-attempt is taken over (if it finishes, the re-run
    finds nothing due and stops). Otherwise another task already owns the
    next step.
    """
    if delivery.is_finished:
        return None
    if delivery.attempted and delivery.status == Delivery.Status.RETRYING and delivery.next_attempt_at:
        return max(0, math.ceil((delivery.next_attempt_at - now).total_seconds()))
    if not delivery.attempted and delivery.is_claimed(now):
        return math.ceil((delivery.claimed_until - now).total_seconds()) + 1
    return None


# --- signing -----------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    """The ``X-Tracepoint-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check an ``X-Tracepoint-Signature`` header against the exact bytes received."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def webhook_body(delivery: Delivery, *, sent_at: datetime) -> bytes:
    document = {
        "topic": delivery.topic,
        "subject": delivery.subject,
        "payload": delivery.payload,
        "delivery_id": delivery.pk,
        "sent_at": sent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


# --- delivering --------------------------------------------------------------
@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    response_code: int | None = None
    error: str = ""
    # No later attempt can succeed (a refused address): fail now instead of retrying.
    permanent: bool = False


def _truncate(text: str, limit: int = LAST_ERROR_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _send_email(delivery: Delivery, channel: NotificationChannel | None) -> AttemptResult:
    recipients = channel.recipients if channel is not None else [delivery.recipient]
    if not recipients:
        return AttemptResult(ok=False, error="the channel has no email recipients")
    message = EmailMultiAlternatives(
        subject=delivery.subject, body=delivery.body_text, to=recipients, headers=delivery.headers or None
    )
    if delivery.body_html:
        message.attach_alternative(delivery.body_html, "text/html")
    try:
        message.send()
    except Exception as exc:  # SMTP, socket and backend errors alike: record and retry
        return AttemptResult(ok=False, error=_error_text(exc))
    return AttemptResult(ok=True)


def _response_snippet(response: requests.Response) -> str:
    try:
        data = response.raw.read(_RESPONSE_SNIPPET_BYTES, decode_content=True)
    except Exception:  # a body that times out or is malformed adds nothing to the error
        return ""
    return data.decode("utf-8", errors="replace").strip() if data else ""


def _send_webhook(delivery: Delivery, channel: NotificationChannel | None, *, sent_at: datetime) -> AttemptResult:
    if channel is None:
        url = delivery.recipient
        body = json.dumps(delivery.payload, cls=DjangoJSONEncoder).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT} | (delivery.headers or {})
        headers["X-Tracepoint-Delivery"] = str(delivery.pk)
    else:
        url = channel.webhook_url
        body = webhook_body(delivery, sent_at=sent_at)  # serialised once: the signature covers these bytes
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(channel.webhook_secret, body),
            "X-Tracepoint-Topic": delivery.topic,
            "X-Tracepoint-Delivery": str(delivery.pk),
        }
    if not url:
        return AttemptResult(ok=False, error="the channel has no webhook URL")
    try:
        # Through the SSRF guard; redirects are not followed (a signed POST is meant for this URL).
        with outbound.request(
            "POST",
            url,
            data=body,
            headers=headers,
            timeout=_limit("WEBHOOK_TIMEOUT_SECONDS"),
            follow_redirects=False,
            stream=True,  # the body is only read (a little) to explain a failure
        ) as response:
            code = response.status_code
            if 200 <= code < 300:
                return AttemptResult(ok=True, response_code=code)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                return AttemptResult(
                    ok=False, response_code=code, error=f"HTTP {code}: redirect to {location!r} not followed"
                )
            snippet = _response_snippet(response)
            return AttemptResult(
                ok=False, response_code=code, error=f"HTTP {code}" + (f": {snippet}" if snippet else "")
            )
    except outbound.TargetRefused as exc:
        return AttemptResult(ok=False, error=f"refused: {exc} (not retried)", permanent=True)
    except requests.RequestException as exc:
        return AttemptResult(ok=False, error=_error_text(exc))


# Good news (a recovery) whatever the severity; otherwise the severity decides (SEV1/2 failure, SEV3 warning).
_RECOVERED_STATUSES = {"RESOLVED", "UP"}


def apprise_notify_type(delivery: Delivery) -> str:
    """apprise's notify_type (its colour, icon, and for Opsgenie/PagerDuty the alert action)."""
    payload = delivery.payload if isinstance(delivery.payload, dict) else {}
    change = payload.get("change") if isinstance(payload.get("change"), dict) else {}
    if str(change.get("to", "")).upper() in _RECOVERED_STATUSES or str(payload.get("to", "")).upper() == "UP":
        return "success"
    if delivery.severity in (Severity.SEV1, Severity.SEV2):
        return "failure"
    if delivery.severity == Severity.SEV3:
        return "warning"
    return "info"


def _subject_link(payload: Any) -> str:
    """The link to what a message is about (its incident, issue or monitor), from its payload."""
    if not isinstance(payload, dict):
        return ""
    for key in ("incident", "issue", "monitor"):
        found = payload.get(key)
        if isinstance(found, dict) and isinstance(found.get("url"), str):
            return found["url"]
    return ""


def _chat_text(delivery: Delivery) -> str:
    """A chat message for senders that gave none: the text, with the link to its subject if it lacks one."""
    text = (delivery.body_text or delivery.subject).strip()
    link = _subject_link(delivery.payload)
    return f"{text}\n\nOpen: {link}" if link and link not in text else text


def _send_apprise(delivery: Delivery, channel: NotificationChannel | None) -> AttemptResult:
    url = channel.apprise_url if channel is not None else delivery.recipient
    if not url:
        return AttemptResult(ok=False, error="the channel has no apprise URL", permanent=True)
    title = delivery.subject
    if delivery.severity and delivery.severity not in title:
        title = f"[{delivery.severity}] {title}"
    markdown = bool(delivery.body_markdown)
    result = apprise_channel.send(
        url,
        title=title,
        body=delivery.body_markdown or _chat_text(delivery),
        markdown=markdown,
        notify_type=apprise_notify_type(delivery),
        timeout_seconds=_limit("WEBHOOK_TIMEOUT_SECONDS"),
    )
    if result.ok:
        return AttemptResult(ok=True)
    error = result.error + (" (not retried)" if result.refused else "")
    return AttemptResult(ok=False, error=error, permanent=result.refused)


def _attempt(delivery: Delivery, *, now: datetime) -> AttemptResult:
    channel = delivery.channel
    kind = delivery.delivery_kind
    try:
        if kind == NotificationChannel.Kind.EMAIL:
            return _send_email(delivery, channel)
        if kind == NotificationChannel.Kind.WEBHOOK:
            return _send_webhook(delivery, channel, sent_at=now)
        if kind == NotificationChannel.Kind.APPRISE:
            return _send_apprise(delivery, channel)
        return AttemptResult(ok=False, error=f"unknown channel kind {kind!r}", permanent=True)
    except Exception as exc:
        # A bug must not leave the delivery claimed and silent: record it like any failure.
        logger.exception("notification delivery %s crashed", delivery.pk)
        return AttemptResult(ok=False, error=_error_text(exc))


def _fail_without_attempt(delivery: Delivery, *, now: datetime, error: str) -> Delivery:
    Delivery.objects.filter(
        Delivery.claimable(now, due_by=now + _DUE_SLACK), pk=delivery.pk, attempts=delivery.attempts
    ).update(
        status=Delivery.Status.FAILED,
        last_error=_truncate(error),
        next_attempt_at=None,
        claimed_until=None,
        updated_at=now,
    )
    delivery.refresh_from_db()
    if delivery.source:
        delivery_attempted.send_robust(sender=Delivery, delivery=delivery)
    return delivery


def deliver(
    delivery_id: int, *, now: datetime | None = None, retry: bool = True, row: Delivery | None = None
) -> Delivery:
    """Make at most one delivery attempt, if one is due, and record it.

    The attempt is claimed with a conditional update (status, attempt count
    and no live claim must match), so two workers running the same task never
    send the same attempt twice. A finished delivery is returned unchanged.
    The returned row's ``attempted`` is True only when this call sent.
    ``retry=False``: a failed attempt is final (a test sent while someone waits for its result).
    ``row``: the delivery as this process just created it (``services.create_direct``), which saves
    reading it back; the claim's conditions decide as always, and a lost claim reads the row.
    Raises ``Delivery.DoesNotExist`` for an unknown id.
    """
    now = now or timezone.now()
    if row is not None and row.pk == delivery_id:
        delivery = row
    else:
        delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    if delivery.is_finished or delivery.is_claimed(now) or not delivery.is_due(now + _DUE_SLACK):
        return delivery
    max_attempts = _limit("WEBHOOK_MAX_ATTEMPTS")
    if delivery.attempts >= max_attempts:
        # Only after a worker died during the last attempt, or the limit was lowered.
        return _fail_without_attempt(delivery, now=now, error=delivery.last_error or "no attempts left")
    if delivery.channel is not None and not delivery.channel.enabled and delivery.topic != topics.TEST:
        return _fail_without_attempt(delivery, now=now, error="the channel was disabled")

    claimed_until = now + CLAIM_LEASE
    claimed = Delivery.objects.filter(
        Delivery.claimable(now, due_by=now + _DUE_SLACK), pk=delivery.pk, attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1, claimed_until=claimed_until, updated_at=now)
    if not claimed:
        delivery.refresh_from_db()
        return delivery
    delivery.attempts += 1
    delivery.claimed_until = claimed_until

    result = _attempt(delivery, now=now)

    fields: dict[str, Any] = {"claimed_until": None, "updated_at": now, "response_code": result.response_code}
    if result.ok:
        fields |= {"status": Delivery.Status.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
    else:
        fields["last_error"] = _truncate(result.error or "unknown error")
        if result.permanent or not retry or delivery.attempts >= max_attempts:
            fields |= {"status": Delivery.Status.FAILED, "next_attempt_at": None}
        else:
            delay = retry_delay_seconds(
                delivery.attempts, base=_limit("WEBHOOK_RETRY_BASE_SECONDS"), cap=_limit("WEBHOOK_RETRY_MAX_SECONDS")
            )
            fields |= {"status": Delivery.Status.RETRYING, "next_attempt_at": now + timedelta(seconds=delay)}
    # Record only while the claim is still ours; after a takeover the newer attempt's record wins.
    recorded = Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts, claimed_until=claimed_until).update(
        **fields
    )
    if not recorded:
        logger.warning("notification delivery %s: claim lost before its attempt was recorded", delivery.pk)
        delivery.refresh_from_db()
        return delivery
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.attempted = True
    logger.info(
        "notification delivery %s attempt %s: %s",
        delivery.pk,
        delivery.attempts,
        delivery.status,
        extra={
            "delivery_id": delivery.pk,
            "channel_id": delivery.channel_id,
            "topic": delivery.topic,
            "attempt": delivery.attempts,
            "status": delivery.status,
            "response_code": delivery.response_code,
        },
    )
    if delivery.source:  # direct deliveries with an owner who may want to react
        delivery_attempted.send_robust(sender=Delivery, delivery=delivery)
    return delivery
