"""Pages: one notification to one person, for one incident, at one step of its escalation.

A page follows the person's notification rules (``contacts.notification_plan``): each rule becomes a
``PageContact`` due ``delay_minutes`` after the page. A contact is sent by creating a direct
``Delivery`` (one per contact, with a dedupe key, so sending twice creates it once) and queueing it.
When its first attempt fails, the page falls through: the person's next contact is due at once
(the failed delivery keeps retrying on its own, and a late success still counts). Every message
carries the incident's signed, single-use Acknowledge/Resolve links, signed "via" the method, so the
timeline says e.g. "Ann via Phone (ntfy) page link".

Everything here runs inside the caller's transaction (the escalation step, or the beat tick that
claimed the rows with ``SELECT … FOR UPDATE SKIP LOCKED``); deliveries are queued on commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import Incident, Status
from incidents.notifications import ACTIONS, action_url, incident_payload, open_actions
from incidents.oncall import contacts
from incidents.oncall.models import ContactKind, Escalation, Page, PageContact, Schedule
from tracepoint.notifications import apprise_channel
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.services import DirectMessage, create_direct, queue_direct, withdraw_deliveries

logger = logging.getLogger("tracepoint.oncall")

PAGE_TOPIC = "oncall.page"
SUMMARY_CHARS = 300
# A contact whose delivery was queued but never attempted this long (its task lost with a worker
# between the commit and the publish) is queued again by the tick.
REQUEUE_AFTER = timedelta(seconds=30)


def page_source(page_id: int) -> str:
    return f"oncall.page:{page_id}"


def page_id_of(source: str) -> int | None:
    kind, _, rest = (source or "").partition(":")
    if kind != "oncall.page" or not rest.isdigit():
        return None
    return int(rest)


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


# --- creating pages ----------------------------------------------------------------------------


@dataclass
class PageRequest:
    """The people one escalation's current step pages: user id → the schedule they are on call on
    (None when the step names them)."""

    escalation: Escalation
    incident: Incident
    targets: dict[int, Schedule | None]


def create_pages_many(requests: list[PageRequest], *, now: datetime) -> dict[int, list[Page]]:
    """One page per person of each request, with their contacts, and the deliveries of the
    contacts due now; a handful of queries for any number of requests. Returns the pages by
    escalation id.

    The unique (escalation, round, step, user) constraint backs the caller's row lock: a second run
    of the same step would fail (and roll back) rather than page anyone twice."""
    user_ids = {user_id for request in requests for user_id in request.targets}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=user_ids, is_active=True)}
    plans = contacts.notification_plans(list(users.values()))
    pages: list[Page] = []
    for request in requests:
        escalation = request.escalation
        for user_id, schedule in request.targets.items():
            if user_id not in users:
                continue
            reachable = bool(plans[user_id])
            pages.append(
                Page(
                    escalation=escalation,
                    incident=request.incident,
                    user=users[user_id],
                    round=escalation.round,
                    step_index=escalation.step_index,
                    schedule=schedule,
                    status=Page.Status.PENDING if reachable else Page.Status.FAILED,
                    last_error="" if reachable else "No contact method: add one on the My on-call page.",
                    created_at=now,
                    closed_at=None if reachable else now,
                )
            )
    if not pages:
        return {}
    Page.objects.bulk_create(pages)  # sets the ids (PostgreSQL; SQLite ≥ 3.35)
    rows: list[PageContact] = []
    outgoing: list[tuple[PageContact, DirectMessage]] = []
    failed: list[PageContact] = []
    for page in pages:
        for position, planned in enumerate(plans[page.user_id]):
            method = planned.method
            contact = PageContact(
                page=page,
                position=position,
                contact_method=method if method.pk else None,
                kind=method.kind,
                label=method.title,
                delay_minutes=planned.delay_minutes,
                due_at=now + timedelta(minutes=planned.delay_minutes),
            )
            rows.append(contact)
            if contact.due_at > now:
                continue
            if not method.target:
                contact.status, contact.error, contact.finished_at = PageContact.Status.FAILED, "no address", now
                failed.append(contact)
                continue
            outgoing.append((contact, _direct_message(contact, method.target, now=now)))
    # The deliveries first, so each contact is written once, already pointing at its delivery.
    deliveries = create_direct([m for _, m in outgoing], topic=PAGE_TOPIC, now=now)
    for (contact, _), delivery in zip(outgoing, deliveries, strict=True):
        contact.delivery, contact.status, contact.sent_at = delivery, PageContact.Status.SENDING, now
    PageContact.objects.bulk_create(rows)
    sent = {contact.page_id for contact, _ in outgoing}
    if sent:
        Page.objects.filter(pk__in=sent).update(status=Page.Status.SENT)
        for page in pages:
            if page.pk in sent:
                page.status = Page.Status.SENT
    for contact in failed:
        _fall_through(contact.page_id, now=now)
    by_escalation: dict[int, list[Page]] = {}
    for page in pages:
        by_escalation.setdefault(page.escalation_id, []).append(page)
    return by_escalation


# --- sending -----------------------------------------------------------------------------------


def _message(page: Page, contact: PageContact, incident: Incident, *, now: datetime) -> dict[str, Any]:
    name = _name(page.user)
    via = f"{contact.label} page"
    actions = {action: action_url(incident, action, via=via) for action in open_actions(incident)}
    payload = incident_payload(incident)
    where = f"on call on {page.schedule.name}" if page.schedule is not None else "named in the policy"
    subject = f"[{incident.severity}] Page: {incident.title}"
    summary = " ".join((incident.summary or "").split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1] + "…"
    context = {
        "subject": subject,
        "name": name,
        "incident": payload,
        "summary": summary,
        "where": where,
        "step": page.step_index + 1,
        "round": page.round + 1,
        "escalation_name": page.escalation.name,
        "actions": [(ACTIONS[a][1], url) for a, url in actions.items()],
    }
    md = apprise_channel.escape_markdown
    markdown = [
        f"**{incident.severity}** page for **{md(name)}** · service {md(incident.service)} · {md(where)}",
    ]
    if summary:
        markdown.append(md(summary))
    links = [f"[Open the incident]({payload['url']})"] + [f"[{ACTIONS[a][1]}]({u})" for a, u in actions.items()]
    markdown.append(" · ".join(links))
    return {
        "subject": subject,
        "text": render_to_string("oncall/email/page.txt", context),
        "html": render_to_string("oncall/email/page.html", context),
        "markdown": "\n\n".join(markdown),
        "payload": {
            "type": "page",
            "topic": PAGE_TOPIC,
            "page": {
                "id": page.pk,
                "user": {"id": page.user_id, "username": page.user.get_username()},
                "step": page.step_index + 1,
                "round": page.round + 1,
                "schedule": page.schedule.name if page.schedule is not None else None,
                "contact_method": contact.label,
                "sent_at": now,
            },
            "incident": payload,
            "actions": actions,
        },
    }


def _target(contact: PageContact) -> str:
    if contact.contact_method is not None:
        return contact.contact_method.target
    return contact.page.user.email if contact.kind == ContactKind.EMAIL else ""


def _direct_message(contact: PageContact, target: str, *, now: datetime) -> DirectMessage:
    page = contact.page
    message = _message(page, contact, page.incident, now=now)
    return DirectMessage(
        kind=contacts.DELIVERY_KINDS[contact.kind],
        recipient=target,
        dedupe_key=f"oncall.page:{page.pk}:{contact.position}",
        subject=message["subject"],
        text=message["text"],
        html=message["html"],
        payload=message["payload"],
        source=page_source(page.pk),
        markdown=message["markdown"],
    )


def send_contacts(contact_ids: Iterable[int], *, now: datetime) -> int:
    """Send these contacts (still WAITING; locked by the caller) now."""
    rows = list(
        PageContact.objects.filter(pk__in=list(contact_ids), status=PageContact.Status.WAITING).select_related(
            "contact_method", "page__user", "page__schedule", "page__escalation", "page__incident"
        )
    )
    return _send(rows, now=now)


def _send(rows: list[PageContact], *, now: datetime) -> int:
    """Create and queue the deliveries of these contacts (each with its page, the page's user,
    schedule, escalation and incident at hand); one delivery per contact, by its dedupe key."""
    if not rows:
        return 0
    messages, sending, failed = [], [], []
    for contact in rows:
        target = _target(contact)
        if not target:
            contact.status, contact.error, contact.finished_at = PageContact.Status.FAILED, "no address", now
            failed.append(contact)
            continue
        messages.append((contact, _direct_message(contact, target, now=now)))
    if messages:
        queue_direct([m for _, m in messages], topic=PAGE_TOPIC, now=now)
        keys = {m.dedupe_key: c for c, m in messages}
        for key, delivery_id in Delivery.objects.filter(dedupe_key__in=list(keys)).values_list("dedupe_key", "pk"):
            contact = keys[key]
            contact.delivery_id = delivery_id
            contact.status, contact.sent_at = PageContact.Status.SENDING, now
            sending.append(contact)
    PageContact.objects.bulk_update(sending + failed, ["delivery", "status", "sent_at", "error", "finished_at"])
    touched = {c.page_id for c in sending}
    if touched:
        Page.objects.filter(pk__in=touched, status=Page.Status.PENDING).update(status=Page.Status.SENT)
        for contact in sending:
            if contact.page.status == Page.Status.PENDING:
                contact.page.status = Page.Status.SENT
    for contact in failed:
        _fall_through(contact.page_id, now=now)
    return len(sending)


# --- outcomes ----------------------------------------------------------------------------------


def settle_delivery(delivery: Delivery, *, now: datetime | None = None) -> None:
    """React to an attempt of a page's delivery (``delivery_attempted``): delivered, or fall through.
    Conditional updates rather than a lock: whoever moves the contact out of SENDING settles it."""
    if page_id_of(delivery.source) is None:
        return
    now = now or timezone.now()
    if delivery.status == Delivery.Status.SUCCEEDED and not delivery.last_error and connection.vendor == "postgresql":
        # The common case in one statement (a storm settles thousands of these).
        with connection.cursor() as cursor:
            cursor.execute(_DELIVERED_SQL, {"delivery": delivery.pk, "at": delivery.delivered_at or now})
        return
    contact = (
        PageContact.objects.filter(delivery_id=delivery.pk, status=PageContact.Status.SENDING)
        .select_related("contact_method")
        .order_by()[:1]
    )
    if contact:
        _settle(contact[0], delivery, now=now)


# What ``_settle`` does for a delivered contact, as one statement: the contact is delivered, its page
# delivered (if nothing reached the person before; an acknowledged or closed page keeps its status),
# and the delivery keeps only the redacted address of an apprise URL or a webhook.
_DELIVERED_SQL = """
WITH contact AS (
    UPDATE oncall_pagecontact SET status = 'delivered', finished_at = %(at)s
    WHERE delivery_id = %(delivery)s AND status = 'sending'
    RETURNING page_id, label, kind, contact_method_id
), page AS (
    UPDATE oncall_page
    SET delivered_at = %(at)s, delivered_via = contact.label,
        status = CASE WHEN oncall_page.status IN ('pending', 'sent') THEN 'delivered' ELSE oncall_page.status END
    FROM contact
    WHERE oncall_page.id = contact.page_id AND oncall_page.delivered_at IS NULL
)
UPDATE notifications_delivery
SET recipient = COALESCE(NULLIF(method.target_redacted, ''), '…')
FROM contact JOIN oncall_contactmethod method ON method.id = contact.contact_method_id
WHERE notifications_delivery.id = %(delivery)s AND contact.kind <> 'email'
    AND notifications_delivery.status IN ('SUCCEEDED', 'FAILED')
"""


def _settle(contact: PageContact, delivery: Delivery, *, now: datetime) -> None:
    if delivery.status == Delivery.Status.SUCCEEDED:
        finished = delivery.delivered_at or now
        if not PageContact.objects.filter(pk=contact.pk, status=PageContact.Status.SENDING).update(
            status=PageContact.Status.DELIVERED, finished_at=finished
        ):
            return  # settled by another worker (the tick's sweep)
        # The first delivery to reach the person is the page's "delivered"; a page acknowledged or
        # closed meanwhile keeps its status.
        Page.objects.filter(pk=contact.page_id, delivered_at__isnull=True).update(
            delivered_at=finished,
            delivered_via=contact.label,
            status=Case(
                When(status__in=(Page.Status.PENDING, Page.Status.SENT), then=Value(Page.Status.DELIVERED)),
                default=F("status"),
            ),
        )
        _forget_target(delivery, contact)
        return
    if delivery.attempts == 0:  # not attempted yet
        return
    error = delivery.last_error[:1000] if delivery.last_error else "delivery failed"
    if contact.contact_method is not None:
        error = apprise_channel.scrub(error, contact.contact_method.target)
    if not PageContact.objects.filter(pk=contact.pk, status=PageContact.Status.SENDING).update(
        status=PageContact.Status.FAILED, finished_at=now, error=error
    ):
        return
    if delivery.status == Delivery.Status.FAILED:
        _forget_target(delivery, contact)
    with transaction.atomic():
        _fall_through(contact.page_id, now=now, error=f"{contact.label}: {error}")


def _fall_through(page_id: int, *, now: datetime, error: str = "") -> None:
    """The page's next waiting contact is due now; a page with none left (and none delivered) failed."""
    nxt = PageContact.objects.filter(page_id=page_id, status=PageContact.Status.WAITING).order_by("position").first()
    if nxt is not None:
        if nxt.due_at > now:
            PageContact.objects.filter(pk=nxt.pk).update(due_at=now)
            nxt.due_at = now
        send_contacts([nxt.pk], now=now)
        if error:
            Page.objects.filter(pk=page_id).update(last_error=error[:1000])
        return
    in_flight = PageContact.objects.filter(
        page_id=page_id, status__in=(PageContact.Status.SENDING, PageContact.Status.DELIVERED)
    ).exists()
    fields = {"last_error": error[:1000]} if error else {}
    if not in_flight:
        fields |= {"status": Page.Status.FAILED, "closed_at": now}
        failed = Page.objects.filter(pk=page_id, status__in=(Page.Status.PENDING, Page.Status.SENT)).update(**fields)
        if failed:
            from incidents.oncall.escalation import advance_early_if_unreachable  # lazy: it imports this module

            advance_early_if_unreachable(Page.objects.get(pk=page_id), now=now)
    elif fields:
        Page.objects.filter(pk=page_id).update(**fields)


def _forget_target(delivery: Delivery, contact: PageContact) -> None:
    """A finished delivery to an apprise URL or a webhook keeps only the redacted address."""
    if contact.kind == ContactKind.EMAIL or contact.contact_method is None:
        return
    method = contact.contact_method
    fields = {"recipient": method.target_redacted or "…"}
    if delivery.last_error:
        fields["last_error"] = apprise_channel.scrub(delivery.last_error, method.target)
    Delivery.objects.filter(pk=delivery.pk, status__in=(Delivery.Status.SUCCEEDED, Delivery.Status.FAILED)).update(
        **fields
    )


# --- the tick's share --------------------------------------------------------------------------


def send_due_contacts(*, now: datetime, limit: int = 200) -> int:
    """Send the contacts whose delay has passed on pages still open (claimed with SKIP LOCKED)."""
    with transaction.atomic():
        due = list(
            PageContact.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=PageContact.Status.WAITING, due_at__lte=now, page__status__in=Page.OPEN)
            .filter(page__incident__status=Status.OPEN)
            .order_by("due_at")[:limit]
            .values_list("pk", flat=True)
        )
        return send_contacts(due, now=now)


def settle_stragglers(*, now: datetime, limit: int = 200) -> int:
    """What ``delivery_attempted`` may have missed: contacts whose delivery was attempted but not
    settled, and deliveries queued but never attempted (their task lost): queued again."""
    settled = 0
    with transaction.atomic():
        rows = list(
            PageContact.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=PageContact.Status.SENDING, sent_at__lte=now - REQUEUE_AFTER)
            .filter(Q(delivery__attempts__gt=0) | Q(delivery__isnull=True))
            .exclude(delivery__status=Delivery.Status.PENDING)
            .select_related("delivery", "contact_method")[:limit]
        )
        for contact in rows:
            if contact.delivery is None:  # deleted by retention: nothing more will happen
                contact.status, contact.finished_at = PageContact.Status.FAILED, now
                contact.save(update_fields=["status", "finished_at"])
                continue
            if contact.delivery.status == Delivery.Status.RETRYING or contact.delivery.is_finished:
                _settle(contact, contact.delivery, now=now)
                settled += 1
    lost = list(
        Delivery.objects.filter(
            source__startswith="oncall.page:",
            status=Delivery.Status.PENDING,
            attempts=0,
            created_at__lte=now - REQUEUE_AFTER,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .values_list("pk", flat=True)[:limit]
    )
    if lost:
        from tracepoint.notifications.tasks import deliver_notification

        for delivery_id in lost:
            deliver_notification.delay(delivery_id)
    return settled


# --- closing pages -----------------------------------------------------------------------------


def close_pages(
    escalation_ids: list[int], *, status: str, now: datetime, acknowledged_via: str = "", reason: str = ""
) -> int:
    """Close the open pages of these escalations (acknowledged, or cancelled): waiting contacts are
    skipped and unsent deliveries withdrawn."""
    open_pages = Page.objects.filter(escalation_id__in=escalation_ids, status__in=Page.OPEN)
    page_ids = list(open_pages.values_list("pk", flat=True))
    if not page_ids:
        return 0
    fields: dict[str, Any] = {"status": status, "closed_at": now}
    if status == Page.Status.ACKNOWLEDGED:
        fields |= {"acknowledged_at": now, "acknowledged_via": acknowledged_via[:150]}
    Page.objects.filter(pk__in=page_ids).update(**fields)
    PageContact.objects.filter(page_id__in=page_ids, status=PageContact.Status.WAITING).update(
        status=PageContact.Status.SKIPPED, finished_at=now
    )
    withdraw_deliveries([page_source(pk) for pk in page_ids], reason=reason or "no longer needed", now=now)
    return len(page_ids)
