"""Subscribers: email with double opt-in and an unsubscribe link in every mail, optionally only some
components; webhooks (set up by admins). Told through Celery, after the commit, when an incident is
published or updated and when a maintenance starts or ends."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from statuspages.models import Component, Maintenance, PageIncident, StatusPage, Subscriber
from tracepoint.errors import DomainError

logger = logging.getLogger("tracepoint.statuspages")

WEBHOOK_TIMEOUT_SECONDS = 5
MAX_SUBSCRIBERS_PER_PAGE = 100_000


class SubscriptionError(DomainError):
    pass


def _base_url() -> str:
    return settings.TRACEPOINT["BASE_URL"].rstrip("/")


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
        if created and page.subscribers.count() > MAX_SUBSCRIBERS_PER_PAGE:
            raise SubscriptionError("This page has reached its subscriber limit.")
        if subscriber.confirmed_at is None:
            subscriber.components.set(components)
            transaction.on_commit(lambda: send_confirmation(subscriber.pk), robust=True)
    return subscriber


def subscribe_webhook(page: StatusPage, url: str, *, components: Iterable[Component] = ()) -> Subscriber:
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
    deleted, _ = Subscriber.objects.filter(token=token).delete()
    return bool(deleted)


def links(subscriber: Subscriber) -> dict[str, str]:
    slug, token = subscriber.page.slug, subscriber.token
    return {
        "confirm": _base_url() + reverse("statuspages-public:confirm", args=[slug, token]),
        "unsubscribe": _base_url() + reverse("statuspages-public:unsubscribe", args=[slug, token]),
        "page": _base_url() + reverse("statuspages-public:page", args=[slug]),
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


def queue(page_id: int, *, incident_id: int | None = None, maintenance_id: int | None = None, event: str) -> None:
    """After the commit, one task tells every confirmed subscriber who wants this news."""
    from statuspages.tasks import notify_subscribers

    transaction.on_commit(
        lambda: notify_subscribers.delay(page_id, incident_id=incident_id, maintenance_id=maintenance_id, event=event),
        robust=True,
    )


def notify(page_id: int, *, incident_id: int | None = None, maintenance_id: int | None = None, event: str) -> int:
    """Mail and POST the news about one incident or maintenance. Returns how many were told."""
    from statuspages import statuspage_json

    page = StatusPage.objects.get(pk=page_id)
    if incident_id is not None:
        item = (
            PageIncident.objects.select_related("incident")
            .prefetch_related("updates", "components")
            .get(pk=incident_id)
        )
        kind, name = "incident", item.public_name
        item_json = statuspage_json.incident_json(item, page, _base_url())
        permalink = _base_url() + reverse("statuspages-public:incident", args=[page.slug, item.public_id])
    else:
        item = Maintenance.objects.prefetch_related("updates", "components").get(pk=maintenance_id)
        kind, name = "maintenance", item.title
        item_json = statuspage_json.maintenance_json(item, page, _base_url())
        permalink = _base_url() + reverse("statuspages-public:maintenance", args=[page.slug, item.public_id])
    affected = {c.pk for c in item.components.all()}
    latest = next(iter(item.updates.all()), None)
    told = 0
    connection = get_connection()
    subscribers = Subscriber.objects.filter(page=page, confirmed_at__isnull=False).prefetch_related("components")
    for subscriber in subscribers.iterator(chunk_size=500):
        wanted = {c.pk for c in subscriber.components.all()}
        if wanted and affected and not wanted & affected:
            continue
        try:
            if subscriber.kind == Subscriber.Kind.EMAIL:
                _mail(subscriber, page, kind, name, event, latest, permalink, connection)
            else:
                _post(subscriber, page, kind, event, item_json, statuspage_json.page_json(page, _base_url()))
            told += 1
        except Exception as exc:  # one bad address or endpoint must not stop the rest
            logger.warning("could not notify subscriber %s of %s: %s", subscriber.pk, page.slug, exc)
    return told


def _mail(subscriber, page, kind, name, event, latest, permalink, connection) -> None:
    context = {
        "page": page,
        "kind": kind,
        "name": name,
        "event": event,
        "update": latest,
        "permalink": permalink,
        "links": links(subscriber),
    }
    subject = f"[{page.title}] {name}: {event}"
    message = EmailMultiAlternatives(
        subject=subject[:200],
        body=render_to_string("statuspages/email/news.txt", context),
        to=[subscriber.email],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{context['links']['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("statuspages/email/news.html", context), "text/html")
    message.send()


def _post(subscriber, page, kind, event, item_json, page_json) -> None:
    body = {"page": page_json, "event": event, kind if kind == "incident" else "scheduled_maintenance": item_json}
    with requests.post(
        subscriber.url,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "User-Agent": "Tracepoint status page"},
        timeout=WEBHOOK_TIMEOUT_SECONDS,
        allow_redirects=False,
        stream=True,
    ) as response:
        response.raise_for_status()
