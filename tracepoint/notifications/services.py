"""Notification channels: who gets told (``notify``) and how a delivery is attempted (``deliver``).

Callers decide *when* to notify; ``notify`` only writes one ``Delivery`` per
matching channel and queues the task on commit, so it is safe inside the
caller's transaction. Each task run makes at most one attempt (``deliver``),
outside any transaction, and re-queues itself with exponential backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from tracepoint import outbound
from tracepoint.notifications import topics
from tracepoint.notifications.models import Delivery, NotificationChannel, severity_rank

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


# --- creating deliveries -----------------------------------------------------
def _clean_subject(subject: str) -> str:
    # Mail headers cannot hold new lines; the column holds 255 characters.
    return " ".join(str(subject).split())[:255]


def _queue(delivery: Delivery) -> None:
    _queue_id(delivery.pk)


def _queue_id(delivery_id: int) -> None:
    from tracepoint.notifications.tasks import deliver_notification

    deliver_notification.delay_on_commit(delivery_id)


def _create_delivery(
    channel: NotificationChannel,
    *,
    topic: str,
    subject: str,
    text: str,
    html: str,
    payload: dict,
    severity: str | None,
    now: datetime,
) -> Delivery:
    delivery = Delivery.objects.create(
        channel=channel,
        topic=topic,
        severity=severity or "",
        subject=subject,
        body_text=text,
        body_html=html,
        payload=payload,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    _queue(delivery)
    return delivery


def notify(
    *,
    topic: str,
    subject: str,
    text: str,
    html: str | None = None,
    payload: dict[str, Any],
    severity: str | None = None,
    channels: Iterable[NotificationChannel] | None = None,
) -> list[Delivery]:
    """Queue one delivery per enabled channel that wants this topic and severity.

    ``channels``: the caller chose them (an alert rule naming its channels):
    each enabled one gets it, whatever its topic and severity filters.

    No network I/O here: deliveries are sent by a task queued on commit, so
    calling this inside the caller's transaction is safe (a rollback sends
    nothing). ``html`` is a complete HTML email; without it one is made from
    ``text``. ``payload`` may hold anything DjangoJSONEncoder handles.
    """
    if not topics.is_valid_topic(topic):
        raise ValueError(f"invalid topic {topic!r}; expected dotted lowercase words such as 'incident.created'")
    severity = severity or None
    if severity is not None:
        severity_rank(severity)  # raises ValueError for unknown severities
    if channels:
        channels = [c for c in channels if c.enabled]
    else:
        channels = [c for c in NotificationChannel.objects.filter(enabled=True) if c.accepts(topic, severity)]
    if not channels:
        return []
    subject = _clean_subject(subject)
    if html is None:
        html = render_to_string("notifications/email_fallback.html", {"subject": subject, "text": text})
    now = timezone.now()
    with transaction.atomic():
        return [
            _create_delivery(
                channel,
                topic=topic,
                subject=subject,
                text=text,
                html=html,
                payload=payload,
                severity=severity,
                now=now,
            )
            for channel in channels
        ]


def send_test_notification(channel: NotificationChannel, *, by=None) -> Delivery:
    """Queue a delivery with topic ``test`` to one channel, whatever its topics, severity or enabled flag."""
    now = timezone.now()
    context = {
        "channel": channel,
        "by": by.get_username() if by is not None else None,
        "now": now,
        "subject": _clean_subject(f"Tracepoint test notification for {channel.name}"),
    }
    payload = {"channel": {"id": channel.pk, "name": channel.name}, "requested_by": context["by"]}
    with transaction.atomic():
        return _create_delivery(
            channel,
            topic=topics.TEST,
            subject=context["subject"],
            text=render_to_string("notifications/test_notification.txt", context),
            html=render_to_string("notifications/test_notification.html", context),
            payload=payload,
            severity=None,
            now=now,
        )


def retry_deliveries(deliveries: Iterable[Delivery], *, now: datetime | None = None) -> int:
    """Give FAILED deliveries a fresh set of attempts and queue them; others are left alone."""
    now = now or timezone.now()
    retried = 0
    with transaction.atomic():
        for delivery in deliveries:
            updated = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).update(
                status=Delivery.Status.PENDING,
                attempts=0,
                next_attempt_at=now,
                claimed_until=None,
                delivered_at=None,
                updated_at=now,
            )
            if updated:
                retried += 1
                _queue(delivery)
    return retried


# --- direct deliveries -------------------------------------------------------
@dataclass(frozen=True)
class DirectMessage:
    """One message to one address or URL that is not a channel (a status page subscriber, say).

    ``dedupe_key`` names the message for good: queueing the same key again
    creates nothing, so a fan-out that is run again after a crash is safe.
    A webhook POSTs ``payload`` as it is; ``headers`` are HTTP or mail headers.
    ``source`` lets the owner withdraw what is still unsent (``withdraw_deliveries``).
    """

    kind: str
    recipient: str
    dedupe_key: str
    subject: str
    text: str = ""
    html: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""


def queue_direct(messages: Iterable[DirectMessage], *, topic: str, now: datetime | None = None) -> list[int]:
    """Create the deliveries of these messages once each, and queue every one not yet attempted.

    Returns the ids queued: the new deliveries, and earlier ones with the same
    keys that never started (their task may have been lost with a worker).
    A queued delivery another task already holds is left to that task by ``deliver``.
    """
    if not topics.is_valid_topic(topic):
        raise ValueError(f"invalid topic {topic!r}")
    now = now or timezone.now()
    messages = list(messages)
    if any(not m.dedupe_key or m.kind not in NotificationChannel.Kind.values or not m.recipient for m in messages):
        raise ValueError("a direct message needs a dedupe_key, a kind and a recipient")
    if not messages:
        return []
    rows = [
        Delivery(
            kind=m.kind,
            recipient=m.recipient,
            dedupe_key=m.dedupe_key,
            source=m.source,
            topic=topic,
            subject=_clean_subject(m.subject),
            body_text=m.text,
            body_html=m.html,
            payload=m.payload,
            headers=m.headers,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        for m in messages
    ]
    with transaction.atomic():
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        unstarted = Delivery.objects.filter(
            dedupe_key__in=[m.dedupe_key for m in messages], status=Delivery.Status.PENDING, attempts=0
        )
        ids = list(unstarted.order_by("pk").values_list("pk", flat=True))
        for delivery_id in ids:
            _queue_id(delivery_id)
    return ids


def withdraw_deliveries(
    source: str | list[str], *, reason: str, prefix: bool = False, now: datetime | None = None
) -> int:
    """Fail the unsent deliveries of ``source`` (e.g. a subscriber who left): one source, a list of them,
    or with ``prefix`` every source starting with it. An attempt under way finishes."""
    now = now or timezone.now()
    if prefix:
        sources = Q(source__startswith=source)
    elif isinstance(source, str):
        sources = Q(source=source)
    else:
        sources = Q(source__in=source)
    return (
        Delivery.objects.filter(sources, status__in=Delivery.UNFINISHED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(status=Delivery.Status.FAILED, last_error=reason, next_attempt_at=None, updated_at=now)
    )


# --- retention ---------------------------------------------------------------
def delete_old_deliveries(*, now: datetime | None = None, batch_size: int = 1000, max_batches: int = 1000) -> int:
    """Delete finished deliveries whose last change is past DELIVERY_RETENTION_DAYS, in short batches."""
    cutoff = (now or timezone.now()) - timedelta(days=_limit("DELIVERY_RETENTION_DAYS"))
    finished = (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED)
    deleted = 0
    for _ in range(max_batches):
        # created_at narrows by the (status, created_at) index; updated_at keeps a delivery retried lately.
        old = Delivery.objects.filter(status__in=finished, created_at__lt=cutoff, updated_at__lt=cutoff)
        batch = list(old.order_by("created_at").values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        count, _ = Delivery.objects.filter(pk__in=batch, status__in=finished).delete()
        deleted += count
    return deleted


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


def _attempt(delivery: Delivery, *, now: datetime) -> AttemptResult:
    channel = delivery.channel
    kind = delivery.delivery_kind
    try:
        if kind == NotificationChannel.Kind.EMAIL:
            return _send_email(delivery, channel)
        if kind == NotificationChannel.Kind.WEBHOOK:
            return _send_webhook(delivery, channel, sent_at=now)
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
    return delivery


def deliver(delivery_id: int, *, now: datetime | None = None) -> Delivery:
    """Make at most one delivery attempt, if one is due, and record it.

    The attempt is claimed with a conditional update (status, attempt count
    and no live claim must match), so two workers running the same task never
    send the same attempt twice. A finished delivery is returned unchanged.
    The returned row's ``attempted`` is True only when this call sent.
    Raises ``Delivery.DoesNotExist`` for an unknown id.
    """
    now = now or timezone.now()
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
        if result.permanent or delivery.attempts >= max_attempts:
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
    return delivery
