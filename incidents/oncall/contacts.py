"""Contact methods and notification rules, per user, and "send me a test page".

Each function validates with ``full_clean()`` and raises ``DomainError`` with the field errors in
``details``; a method or rule of another user is a ``NotFoundError`` (nobody learns it exists).

A test page is a real delivery through the notifications machinery: one direct ``Delivery`` row
(kind and recipient, no channel), attempted at once by ``delivery.deliver`` like the channels' "Send
test", so its attempt, response code and error are recorded the same way. A direct delivery keeps
its URL in ``recipient`` while it is sent; once it is finished the row keeps only the redacted form,
so an apprise token or a webhook's secret path does not stay in the delivery records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.oncall.models import ContactKind, ContactMethod, NotificationRule, describe_delay
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.notifications import apprise_channel
from tracepoint.notifications import delivery as sending
from tracepoint.notifications.models import Delivery, NotificationChannel

TEST_PAGE_TOPIC = "oncall.test"
MAX_CONTACT_METHODS = 20
MAX_NOTIFICATION_RULES = 20

# A contact method is sent through the delivery kind of the same name.
DELIVERY_KINDS = {
    ContactKind.EMAIL: NotificationChannel.Kind.EMAIL,
    ContactKind.APPRISE: NotificationChannel.Kind.APPRISE,
    ContactKind.WEBHOOK: NotificationChannel.Kind.WEBHOOK,
}
_SECRET_KINDS = {ContactKind.APPRISE, ContactKind.WEBHOOK}
_UNSET: Any = object()


def _validate(instance, what: str) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        details = exc.message_dict
        first = next(iter(details.values()))[0] if details else str(exc)
        raise DomainError(f"The {what} is not valid: {first}", details=details) from None


def _lock_user(user) -> None:
    """Serialise one user's additions, so two at once cannot both pass the limit."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


def delivery_source(method: ContactMethod) -> str:
    """The ``Delivery.source`` of the deliveries sent to ``method``."""
    return f"oncall.contact:{method.pk}"


# --- lookups -----------------------------------------------------------------------------------


def get_contact_method(user, pk: int) -> ContactMethod:
    """The user's own contact method ``pk``; ``NotFoundError`` for anyone else's."""
    found = ContactMethod.objects.filter(user=user, pk=pk).first()
    if found is None:
        raise NotFoundError("No such contact method.")
    return found


def get_notification_rule(user, pk: int) -> NotificationRule:
    found = NotificationRule.objects.select_related("contact_method").filter(user=user, pk=pk).first()
    if found is None:
        raise NotFoundError("No such notification rule.")
    return found


def rules_of(user) -> list[NotificationRule]:
    """The user's rules in the order they fire: by delay, then as added."""
    return list(
        NotificationRule.objects.filter(user=user).select_related("contact_method").order_by("delay_minutes", "id")
    )


@dataclass(frozen=True)
class PlannedContact:
    delay_minutes: int
    method: ContactMethod

    @property
    def delay_text(self) -> str:
        return describe_delay(self.delay_minutes)


def notification_plan(user) -> list[PlannedContact]:
    """Who-gets-what-when for a page to ``user``: their enabled rules by delay.

    A user who set no rule at all is not left unreachable: they get their account email at once
    (an unsaved method), as long as they have one. Rules whose methods are all disabled give an
    empty plan: the user chose that, and the page records it.
    """
    return _plan(user, rules_of(user))


def notification_plans(users: list) -> dict[int, list[PlannedContact]]:
    """``notification_plan`` for many users, in one query (an escalation step paging many people)."""
    rules: dict[int, list[NotificationRule]] = {user.pk: [] for user in users}
    for rule in (
        NotificationRule.objects.filter(user__in=[u.pk for u in users])
        .select_related("contact_method")
        .order_by("delay_minutes", "id")
    ):
        rules[rule.user_id].append(rule)
    return {user.pk: _plan(user, rules[user.pk]) for user in users}


def _plan(user, rules: list[NotificationRule]) -> list[PlannedContact]:
    if rules:
        return [PlannedContact(r.delay_minutes, r.contact_method) for r in rules if r.contact_method.enabled]
    if user.email:
        fallback = ContactMethod(user=user, kind=ContactKind.EMAIL, label="Account email", target=user.email)
        fallback.target_redacted, fallback.service = fallback.describe_target()
        return [PlannedContact(0, fallback)]
    return []


# --- contact methods ---------------------------------------------------------------------------


def add_contact_method(user, *, kind: str, label: str, target: str, enabled: bool = True) -> ContactMethod:
    if kind not in ContactKind.values:
        raise DomainError(
            f"Unknown kind {kind!r}; expected one of {', '.join(ContactKind.values)}.",
            details={"kind": [f"expected one of {', '.join(ContactKind.values)}"]},
        )
    method = ContactMethod(user=user, kind=kind, label=label or "", target=target or "", enabled=enabled)
    # Outside the transaction: checking an apprise or webhook target may resolve its host name.
    _validate(method, "contact method")
    with transaction.atomic():
        _lock_user(user)
        if ContactMethod.objects.filter(user=user).count() >= MAX_CONTACT_METHODS:
            raise DomainError(f"You can have at most {MAX_CONTACT_METHODS} contact methods; remove one first.")
        method.save()
    return method


def update_contact_method(
    method: ContactMethod, *, label: str = _UNSET, target: str = _UNSET, enabled: bool = _UNSET
) -> ContactMethod:
    """Change a method. An empty ``target`` keeps the current one (forms never show a secret back);
    a new target clears ``verified_at`` until a test page reaches it."""
    method = ContactMethod.objects.get(pk=method.pk)
    if label is not _UNSET:
        method.label = label or ""
    if target is not _UNSET and (target or "").strip() and target.strip() != method.target:
        method.target = target
        method.verified_at = None
    if enabled is not _UNSET:
        method.enabled = bool(enabled)
    _validate(method, "contact method")
    method.save()
    return method


def remove_contact_method(method: ContactMethod) -> None:
    """Delete a method with its rules. Deliveries already sent stay on record (redacted)."""
    method.delete()


def use_account_email(user) -> tuple[ContactMethod, NotificationRule]:
    """One click: the account's email address as a method, used immediately. Idempotent."""
    if not user.email:
        raise DomainError("Your account has no email address; add one, or add a contact method by hand.")
    method = ContactMethod.objects.filter(user=user, kind=ContactKind.EMAIL, target__iexact=user.email).first()
    if method is None:
        label = "Account email"
        if ContactMethod.objects.filter(user=user, label=label).exists():
            label = f"Account email ({user.email})"[:100]
        method = add_contact_method(user, kind=ContactKind.EMAIL, label=label, target=user.email)
    rule = NotificationRule.objects.filter(contact_method=method, delay_minutes=0).first()
    if rule is None:
        rule = add_notification_rule(user, contact_method=method, delay_minutes=0)
    return method, rule


# --- notification rules ------------------------------------------------------------------------


def _check_owner(user, method: ContactMethod) -> None:
    if method.user_id != user.pk:
        raise NotFoundError("No such contact method.", details={"contact_method": ["not one of yours"]})


def add_notification_rule(user, *, contact_method: ContactMethod, delay_minutes: int = 0) -> NotificationRule:
    _check_owner(user, contact_method)
    rule = NotificationRule(user=user, contact_method=contact_method, delay_minutes=delay_minutes)
    _validate(rule, "notification rule")
    with transaction.atomic():
        _lock_user(user)
        if NotificationRule.objects.filter(user=user).count() >= MAX_NOTIFICATION_RULES:
            raise DomainError(f"You can have at most {MAX_NOTIFICATION_RULES} notification rules; remove one first.")
        rule.save()
    return rule


def update_notification_rule(
    rule: NotificationRule, *, contact_method: ContactMethod = _UNSET, delay_minutes: int = _UNSET
) -> NotificationRule:
    rule = NotificationRule.objects.get(pk=rule.pk)
    if contact_method is not _UNSET:
        _check_owner(rule.user, contact_method)
        rule.contact_method = contact_method
    if delay_minutes is not _UNSET:
        rule.delay_minutes = delay_minutes
    _validate(rule, "notification rule")
    rule.save()
    return rule


def remove_notification_rule(rule: NotificationRule) -> None:
    rule.delete()


# --- test pages --------------------------------------------------------------------------------


def _test_page_message(user, method: ContactMethod, *, by, now: datetime) -> dict[str, Any]:
    name = user.get_full_name() or user.get_username()
    requested_by = by.get_username() if by is not None else None
    context = {
        "user": user,
        "name": name,
        "method": method,
        "by": requested_by if by is not None and by.pk != user.pk else None,
        "now": now,
        "subject": f"Tracepoint test page for {name}",
    }
    sent_by = f" (sent by {apprise_channel.escape_markdown(context['by'])})" if context["by"] else ""
    return {
        "subject": " ".join(context["subject"].split())[:255],
        "text": render_to_string("oncall/test_page.txt", context),
        "html": render_to_string("oncall/test_page.html", context),
        "markdown": (
            f"This is a test page from Tracepoint to **{apprise_channel.escape_markdown(name)}** through "
            f"**{apprise_channel.escape_markdown(method.label)}**{sent_by}, at {now:%Y-%m-%d %H:%M:%S} UTC.\n\n"
            "If you see it, pages reach you here. Nothing needs to be done."
        ),
        "payload": {
            "type": "test_page",
            "topic": TEST_PAGE_TOPIC,
            "subject": context["subject"],
            "user": {"id": user.pk, "username": user.get_username()},
            "contact_method": {"id": method.pk, "label": method.label, "kind": method.kind},
            "requested_by": requested_by,
            "sent_at": now,
        },
    }


def send_test_page(user, method: ContactMethod, *, by=None, now: datetime | None = None) -> Delivery:
    """Send a test page to one of ``user``'s methods now and return its finished delivery.

    One attempt, no retries (as the channels' "Send test"): the person waiting sees the outcome. A
    success marks the method verified. Works for a disabled method too: testing comes before
    enabling.
    """
    _check_owner(user, method)
    now = now or timezone.now()
    message = _test_page_message(user, method, by=by, now=now)
    delivery = Delivery.objects.create(
        kind=DELIVERY_KINDS[method.kind],
        recipient=method.target,
        source=delivery_source(method),
        topic=TEST_PAGE_TOPIC,
        subject=message["subject"],
        body_text=message["text"],
        body_html=message["html"],
        body_markdown=message["markdown"],
        payload=message["payload"],
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    delivery = sending.deliver(delivery.pk, now=now, retry=False)
    if method.kind in _SECRET_KINDS:
        _forget_target(delivery, method)
    if delivery.status == Delivery.Status.SUCCEEDED:
        ContactMethod.objects.filter(pk=method.pk, target=method.target).update(verified_at=now)
        method.verified_at = now
    return delivery


def _forget_target(delivery: Delivery, method: ContactMethod) -> None:
    """Keep only the redacted target (and an error without the URL's secrets) on a finished delivery."""
    fields = {"recipient": method.target_redacted or "…"}
    if delivery.last_error:
        fields["last_error"] = apprise_channel.scrub(delivery.last_error, method.target)
    finished = (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED)
    if Delivery.objects.filter(pk=delivery.pk, status__in=finished).update(**fields):
        for name, value in fields.items():
            setattr(delivery, name, value)


def forget_finished_target(delivery: Delivery) -> None:
    """A finished direct delivery to one of a person's methods (a shift notice, a test page) keeps
    only the redacted address of an apprise URL or a webhook (``delivery_attempted``)."""
    kind, _, pk = (delivery.source or "").partition(":")
    if kind != "oncall.contact" or not pk.isdigit() or not delivery.is_finished:
        return
    method = ContactMethod.objects.filter(pk=int(pk)).first()
    if method is not None and method.kind in _SECRET_KINDS and delivery.recipient != method.target_redacted:
        _forget_target(delivery, method)
