"""Subscribers: email with double opt-in and an unsubscribe link in every mail, optionally only some
components; webhooks (set up by admins). Told through Celery, after the commit, when an incident is
published or updated and when a maintenance starts or ends."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from statuspages.models import Component, Maintenance, PageIncident, PublicUpdate, StatusPage, Subscriber
from tracepoint.errors import DomainError
from tracepoint.links import absolute_url, base_url
from tracepoint.notifications import services as notification_services
from tracepoint.notifications.models import NotificationChannel

logger = logging.getLogger("tracepoint.statuspages")

WEBHOOK_USER_AGENT = "Tracepoint status page"


class SubscriptionError(DomainError):
    pass


def subscribe_email(page: StatusPage, email: str, *, components: Iterable[Component] = ()) -> Subscriber:
    """Start (or restart) a subscription: a confirmation mail goes out; nothing is sent before it is
    confirmed. Says nothing about whether the address was already subscribed."""
    email = email.strip().lower()
    components = list(components)
    if any(component.page_id != page.pk for component in components):
        raise SubscriptionError("Components must be on this page.", details={"components": ["Not on this page."]})
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(
            page=page, kind=Subscriber.Kind.EMAIL, email=email, defaults={"created_at": timezone.now()}
        )
        if created and page.subscribers.count() > settings.TRACEPOINT["STATUSPAGE_MAX_SUBSCRIBERS"]:
            raise SubscriptionError("This page has reached its subscriber limit.")
        if subscriber.confirmed_at is None:
            subscriber.components.set(components)
            transaction.on_commit(lambda: send_confirmation(subscriber.pk), robust=True)
    return subscriber


def subscribe_webhook(page: StatusPage, url: str, *, components: Iterable[Component] = ()) -> Subscriber:
    """An admin adds a webhook; a URL whose host is (or resolves to) a refused address is refused now,
    and every POST is vetted again when it is sent."""
    try:
        Subscriber.validate_webhook_url(url)
    except ValidationError as exc:
        raise SubscriptionError(exc.messages[0], details={"url": exc.messages}) from None
    subscriber, _ = Subscriber.objects.get_or_create(
        page=page, kind=Subscriber.Kind.WEBHOOK, url=url, defaults={"confirmed_at": timezone.now()}
    )
    subscriber.components.set(list(components))
    return subscriber


def confirm(token: str) -> Subscriber | None:
    subscriber = Subscriber.objects.filter(token=token).first()
    if subscriber is not None and subscriber.confirmed_at is None:
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["confirmed_at"])
    return subscriber


def unsubscribe(token: str) -> bool:
    """Forget the subscriber; news queued for them and not yet sent is withdrawn."""
    with transaction.atomic():
        subscriber_id = Subscriber.objects.filter(token=token).values_list("pk", flat=True).first()
        if subscriber_id is None:
            return False
        remove_subscribers(Subscriber.objects.filter(pk=subscriber_id))
    return True


def remove_subscribers(subscribers_to_remove) -> int:
    """Delete subscribers (a queryset) and withdraw their unsent news: the one-click link, the API and
    admin all come here. Two statements whatever the number (no per-row signal)."""
    with transaction.atomic():
        rows = list(subscribers_to_remove.values_list("pk", "page_id"))
        if not rows:
            return 0
        Subscriber.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        notification_services.withdraw_deliveries(
            [_source(page_id, pk) for pk, page_id in rows], reason="the subscriber was removed"
        )
    return len(rows)


def page_deleting(sender, instance, **kwargs) -> None:
    """A page that goes takes its subscribers with it (cascade): its unsent news is withdrawn first."""
    notification_services.withdraw_deliveries(
        _source(instance.pk, None), reason="the status page was deleted", prefix=True
    )


def links(subscriber: Subscriber) -> dict[str, str]:
    slug, token = subscriber.page.slug, subscriber.token
    return {
        "confirm": absolute_url("statuspages-public:confirm", slug, token),
        "unsubscribe": absolute_url("statuspages-public:unsubscribe", slug, token),
        "page": absolute_url("statuspages-public:page", slug),
    }


def send_confirmation(subscriber_id: int) -> None:
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None:
        return
    context = {"page": subscriber.page, "links": links(subscriber)}
    message = EmailMultiAlternatives(
        subject=f"Confirm your subscription to {subscriber.page.title} status",
        body=render_to_string("statuspages/email/confirm.txt", context),
        to=[subscriber.email],
        headers={"List-Unsubscribe": f"<{context['links']['unsubscribe']}>"},
    )
    message.attach_alternative(render_to_string("statuspages/email/confirm.html", context), "text/html")
    message.send()


# --- telling them -----------------------------------------------------------------------------
#
# Each piece of news is fanned out to one notification delivery per subscriber (retries, backoff and a
# record in admin come with it), each sent by its own task. Every delivery has a key naming the
# subscriber and the news, so a fan-out that runs again (a worker killed half-way, a redelivered
# task) creates none twice and queues only the ones that never started.


def _source(page_id: int, subscriber_id: int | None) -> str:
    """The deliveries' ``source``: by page first, so a page's can be withdrawn by prefix."""
    return f"statuspages.page:{page_id}:subscriber:{'' if subscriber_id is None else subscriber_id}"


def queue(page_id: int, *, incident_id: int | None = None, maintenance_id: int | None = None, event: str) -> None:
    """After the commit, one task fans the news out to every confirmed subscriber who wants it.

    Called inside the caller's transaction, right after the update it announces was written: the
    news is pinned to that update and to the subscribers confirmed by now.
    """
    from statuspages.tasks import notify_subscribers  # late: a service queueing its own task (tasks imports us)

    update_id = None
    if incident_id is not None:
        update_id = (
            PublicUpdate.objects.filter(page_incident_id=incident_id).order_by("-pk").values_list("pk", flat=True)
        ).first()
    as_of = timezone.now().isoformat()
    transaction.on_commit(
        lambda: notify_subscribers.delay(
            page_id,
            incident_id=incident_id,
            maintenance_id=maintenance_id,
            event=event,
            update_id=update_id,
            as_of=as_of,
        ),
        robust=True,
    )


def notify(
    page_id: int,
    *,
    incident_id: int | None = None,
    maintenance_id: int | None = None,
    event: str,
    update_id: int | None = None,
    as_of: datetime | None = None,
    chunk_size: int = 500,
) -> int:
    """Queue one delivery (mail or POST) per subscriber who wants this news; returns how many.

    Idempotent: run again, it creates no second delivery for anyone. Subscribers confirmed after
    ``as_of`` (when the news was made) do not get it.
    """
    from statuspages import statuspage_json  # late: statuspage_json -> snapshot -> services -> subscribers

    page = StatusPage.objects.filter(pk=page_id).first()
    if page is None:
        return 0
    if incident_id is not None:
        item = (
            PageIncident.objects.select_related("incident")
            .prefetch_related("updates", "components")
            .filter(pk=incident_id)
            .first()
        )
        if item is None:
            return 0
        kind, name = "incident", item.public_name
        item_json = statuspage_json.incident_json(item, page, base_url())
        permalink = absolute_url("statuspages-public:incident", page.slug, item.public_id)
    else:
        item = Maintenance.objects.prefetch_related("updates", "components").filter(pk=maintenance_id).first()
        if item is None:
            return 0
        kind, name = "maintenance", item.title
        item_json = statuspage_json.maintenance_json(item, page, base_url())
        permalink = absolute_url("statuspages-public:maintenance", page.slug, item.public_id)
    updates = list(item.updates.all())
    latest = next((u for u in updates if u.pk == update_id), None) or next(iter(updates), None)
    news = _News(
        page=page,
        kind=kind,
        name=name,
        event=event,
        update=latest,
        permalink=permalink,
        webhook_body={
            "page": statuspage_json.page_json(page, base_url()),
            "event": event,
            kind if kind == "incident" else "scheduled_maintenance": item_json,
        },
        key=f"{kind}:{item.pk}:{update_id or '-'}:{event}",
    )
    topic = f"statuspage.{kind}.{event}"
    affected = {c.pk for c in item.components.all()}

    subscribers = Subscriber.objects.filter(page=page, confirmed_at__isnull=False)
    if as_of is not None:
        subscribers = subscribers.filter(confirmed_at__lte=as_of)
    subscribers = subscribers.prefetch_related("components").order_by("pk")
    told = 0
    batch: list[notification_services.DirectMessage] = []
    for subscriber in subscribers.iterator(chunk_size=chunk_size):
        wanted = {c.pk for c in subscriber.components.all()}
        if wanted and affected and not wanted & affected:
            continue
        batch.append(_message(subscriber, news))
        if len(batch) >= chunk_size:
            told += _queue_batch(batch, topic=topic)
            batch = []
    if batch:
        told += _queue_batch(batch, topic=topic)
    return told


def _queue_batch(batch: list[notification_services.DirectMessage], *, topic: str) -> int:
    # Its own transaction: a crash later in the fan-out keeps (and sends) what was queued so far.
    notification_services.queue_direct(batch, topic=topic)
    return len(batch)


@dataclass(frozen=True)
class _News:
    page: StatusPage
    kind: str
    name: str
    event: str
    update: PublicUpdate | None
    permalink: str
    webhook_body: dict
    key: str


def _message(subscriber: Subscriber, news: _News) -> notification_services.DirectMessage:
    common = {
        "dedupe_key": f"statuspages:{subscriber.pk}:{news.key}",
        "source": _source(subscriber.page_id, subscriber.pk),
        "subject": f"[{news.page.title}] {news.name}: {news.event}"[:200],
    }
    if subscriber.kind == Subscriber.Kind.WEBHOOK:
        return notification_services.DirectMessage(
            kind=NotificationChannel.Kind.WEBHOOK,
            recipient=subscriber.url,
            payload=news.webhook_body,
            headers={"User-Agent": WEBHOOK_USER_AGENT},
            **common,
        )
    context = {
        "page": news.page,
        "kind": news.kind,
        "name": news.name,
        "event": news.event,
        "update": news.update,
        "permalink": news.permalink,
        "links": links(subscriber),
    }
    return notification_services.DirectMessage(
        kind=NotificationChannel.Kind.EMAIL,
        recipient=subscriber.email,
        text=render_to_string("statuspages/email/news.txt", context),
        html=render_to_string("statuspages/email/news.html", context),
        headers={
            "List-Unsubscribe": f"<{context['links']['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        **common,
    )
