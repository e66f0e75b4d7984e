"""Notification channels: who gets told, and queueing their deliveries.

Callers decide *when* to notify; ``notify`` only writes one ``Delivery`` per
matching channel (``queue_direct`` one per address that is not a channel) and
queues the task on commit, so it is safe inside the caller's transaction.
Sending happens later, one attempt per task run: see ``delivery.deliver``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from tracepoint.notifications import topics
from tracepoint.notifications.apprise_channel import escape_markdown
from tracepoint.notifications.models import Delivery, NotificationChannel, severity_rank


@dataclass(frozen=True)
class Message:
    """What one channel receives: email text (and HTML), the webhook payload, the chat message.

    ``markdown`` is the short message of chat and push channels (apprise); empty sends ``text``.
    ``html`` None: an HTML email is made from ``text``.
    """

    text: str
    payload: dict[str, Any]
    html: str | None = None
    markdown: str = ""


# --- creating deliveries -----------------------------------------------------
def _clean_subject(subject: str) -> str:
    # Mail headers cannot hold new lines; the column holds 255 characters.
    return " ".join(str(subject).split())[:255]


def _queue(delivery: Delivery) -> None:
    _queue_id(delivery.pk)


_deliver_here: ContextVar[bool] = ContextVar("deliver_here", default=False)


@contextmanager
def delivered_here() -> Iterator[None]:
    """Deliveries created inside are attempted by this process right after the commit, not queued.

    For a worker task whose messages are urgent (one that has just opened an incident): they go out at
    once instead of waiting behind the rest of a busy queue. A failed attempt is retried by the task
    with backoff, as always.
    """
    token = _deliver_here.set(True)
    try:
        yield
    finally:
        _deliver_here.reset(token)


def _queue_id(delivery_id: int, *, row: Delivery | None = None) -> None:
    """Queue the delivery's task once committed, or, inside ``delivered_here``, attempt it then (with
    ``row``, the row just created, it is not read back)."""
    from tracepoint.notifications.tasks import deliver_and_requeue, deliver_notification  # lazy: tasks imports us

    if _deliver_here.get():
        transaction.on_commit(lambda: deliver_and_requeue(delivery_id, row=row), robust=True)
        return
    deliver_notification.delay_on_commit(delivery_id)


def _create_delivery(
    channel: NotificationChannel,
    *,
    topic: str,
    subject: str,
    message: Message,
    severity: str | None,
    now: datetime,
    queue: bool = True,
) -> Delivery:
    html = message.html
    if html is None:
        html = render_to_string("notifications/email_fallback.html", {"subject": subject, "text": message.text})
    delivery = Delivery.objects.create(
        channel=channel,
        topic=topic,
        severity=severity or "",
        subject=subject,
        body_text=message.text,
        body_html=html,
        body_markdown=message.markdown,
        payload=message.payload,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    if queue:
        _queue(delivery)
    return delivery


def notify(
    *,
    topic: str,
    subject: str,
    text: str = "",
    html: str | None = None,
    payload: dict[str, Any] | None = None,
    markdown: str = "",
    severity: str | None = None,
    channels: Iterable[NotificationChannel] | None = None,
    render: Callable[[NotificationChannel], Message] | None = None,
) -> list[Delivery]:
    """Queue one delivery per enabled channel that wants this topic and severity.

    ``channels``: the caller chose them (an alert rule naming its channels):
    each enabled one gets it, whatever its topic and severity filters.

    No network I/O here: deliveries are sent by a task queued on commit, so
    calling this inside the caller's transaction is safe (a rollback sends
    nothing). ``html`` is a complete HTML email; without it one is made from
    ``text``. ``payload`` may hold anything DjangoJSONEncoder handles.
    ``markdown``: the short message of chat channels; without it they get ``text``.
    ``render``: the message differs per channel (incident messages carry action
    links signed for the channel they go through): called once per channel,
    it replaces ``text``, ``html``, ``payload`` and ``markdown``.
    """
    if render is None and not text:
        raise ValueError("notify() needs a text, or a render function")
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
    if render is None:
        if html is None:
            html = render_to_string("notifications/email_fallback.html", {"subject": subject, "text": text})
        message = Message(text=text, html=html, payload=payload or {}, markdown=markdown)
    now = timezone.now()
    with transaction.atomic():
        return [
            _create_delivery(
                channel,
                topic=topic,
                subject=subject,
                message=render(channel) if render is not None else message,
                severity=severity,
                now=now,
            )
            for channel in channels
        ]


def send_test_notification(channel: NotificationChannel, *, by=None, queue: bool = True) -> Delivery:
    """Create a delivery with topic ``test`` to one channel, whatever its topics, severity or enabled flag.

    ``queue=False``: the caller sends it at once (``delivery.deliver(…, retry=False)``, the dashboard's
    "Send test"), so no task is queued for it.
    """
    now = timezone.now()
    context = {
        "channel": channel,
        "by": by.get_username() if by is not None else None,
        "now": now,
        "subject": _clean_subject(f"Tracepoint test notification for {channel.name}"),
    }
    payload = {"channel": {"id": channel.pk, "name": channel.name}, "requested_by": context["by"]}
    sent_by = f" by {escape_markdown(context['by'])}" if context["by"] else ""
    markdown = (
        f"This is a test notification from Tracepoint to the channel **{escape_markdown(channel.name)}**, "
        f"sent{sent_by} at {now:%Y-%m-%d %H:%M:%S} UTC.\n\nIf you received it, the channel works."
    )
    message = Message(
        text=render_to_string("notifications/test_notification.txt", context),
        html=render_to_string("notifications/test_notification.html", context),
        payload=payload,
        markdown=markdown,
    )
    with transaction.atomic():
        return _create_delivery(
            channel,
            topic=topics.TEST,
            subject=context["subject"],
            message=message,
            severity=None,
            now=now,
            queue=queue,
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
    markdown: str = ""  # the short text of chat and push (apprise) deliveries; empty: ``text`` is sent


def _direct_row(m: DirectMessage, *, topic: str, now: datetime) -> Delivery:
    return Delivery(
        kind=m.kind,
        recipient=m.recipient,
        dedupe_key=m.dedupe_key,
        source=m.source,
        topic=topic,
        subject=_clean_subject(m.subject),
        body_text=m.text,
        body_html=m.html,
        body_markdown=m.markdown,
        payload=m.payload,
        headers=m.headers,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )


def queue_direct(messages: Iterable[DirectMessage], *, topic: str, now: datetime | None = None) -> list[int]:
    """Create the deliveries of these messages once each, and queue every one not yet attempted.

    Returns the ids queued: the new deliveries, and earlier ones with the same
    keys that never started (their task may have been lost with a worker).
    A queued delivery another task already holds is left to that task by ``delivery.deliver``.
    """
    if not topics.is_valid_topic(topic):
        raise ValueError(f"invalid topic {topic!r}")
    now = now or timezone.now()
    messages = list(messages)
    if any(not m.dedupe_key or m.kind not in NotificationChannel.Kind.values or not m.recipient for m in messages):
        raise ValueError("a direct message needs a dedupe_key, a kind and a recipient")
    if not messages:
        return []
    rows = [_direct_row(m, topic=topic, now=now) for m in messages]
    with transaction.atomic():
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        unstarted = Delivery.objects.filter(
            dedupe_key__in=[m.dedupe_key for m in messages], status=Delivery.Status.PENDING, attempts=0
        )
        ids = list(unstarted.order_by("pk").values_list("pk", flat=True))
        for delivery_id in ids:
            _queue_id(delivery_id)
    return ids


def create_direct(messages: Iterable[DirectMessage], *, topic: str, now: datetime | None = None) -> list[Delivery]:
    """Create the deliveries of these messages in one insert and queue them on commit; returns the rows
    (with their ids). Unlike ``queue_direct``, a key that exists already is an IntegrityError: for a
    caller that holds the lock making its messages new (an escalation step), where a second copy
    would be a bug to roll back, not a retry to absorb."""
    if not topics.is_valid_topic(topic):
        raise ValueError(f"invalid topic {topic!r}")
    now = now or timezone.now()
    rows = [_direct_row(m, topic=topic, now=now) for m in messages]
    if any(not r.dedupe_key or r.kind not in NotificationChannel.Kind.values or not r.recipient for r in rows):
        raise ValueError("a direct message needs a dedupe_key, a kind and a recipient")
    if not rows:
        return []
    with transaction.atomic():
        Delivery.objects.bulk_create(rows)  # sets the ids (PostgreSQL; SQLite >= 3.35)
        for row in rows:
            _queue_id(row.pk, row=row)
    return rows


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
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACEPOINT["DELIVERY_RETENTION_DAYS"])
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
