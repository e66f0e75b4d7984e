"""The PagerDuty-compatible Events API v2 (shared/specs/incoming-alerts.md §2): alert events
(``trigger``, ``acknowledge``, ``resolve``) and change events, and the receiver of keyed events that
the generic JSON format shares.

A keyed event changes one alert, named by its dedup key. Each key is an AlertGroup of its own (the
key is the group key), and the group's open alert (firing or acknowledged) is the one the key
names: a ``trigger`` updates it or, when there is none, starts a new episode; ``acknowledge`` and
``resolve`` act on it, and do nothing for a key that is unknown or already resolved (as PagerDuty
does). A trigger without a key gets a generated one, returned to the sender.

Episodes start at the event's ``payload.timestamp`` when it is plausible (not in the future, not
before the key's previous episode ended), else at the time we received it: the sender's clock
decides nothing about ordering.

A change event becomes a DEPLOY or CONFIG_CHANGE event of the integration's service through the
``change_event_received`` signal (the events app records it); ``change_type`` decides which.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from incidents.intake import signals
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, Integration
from incidents.intake.receiving import (
    SUMMARY_MAX,
    Received,
    create_alert,
    existing_locked_group,
    finish,
    locked_group,
    settle_group,
    store_payload,
)
from incidents.models import service_validator
from tracepoint.errors import DomainError

TRIGGER, ACKNOWLEDGE, RESOLVE = "trigger", "acknowledge", "resolve"
ACTIONS = (TRIGGER, ACKNOWLEDGE, RESOLVE)
SEVERITIES = ("critical", "error", "warning", "info")
DEDUP_KEY_MAX = 255
SUMMARY_LIMIT = 1024  # PagerDuty's; a longer summary is cut, not refused (a refused alert is lost)
MAX_LINKS = 50
FUTURE_TOLERANCE = timedelta(days=1)
# What the change was, when custom_details says so outright (change_type, type or kind).
CONFIG_WORDS = {"config", "config_change", "configuration", "config-change", "configchange", "settings", "flag"}
DEPLOY_WORDS = {"deploy", "deployment", "release", "rollout", "build"}
_DEPLOY_TEXT = re.compile(r"\b(deploy\w*|releas\w*|roll(?:ed|ing)?[- ]?(?:out|back)s?|upgrad\w*)\b", re.I)
_CONFIG_TEXT = re.compile(
    r"\b(config\w*|feature[- ]?flags?|flags?|settings?|toggl\w*|secrets?|terraform|parameters?"
    r"|env(?:ironment)? vars?)\b",
    re.I,
)
RELEASE_KEYS = ("release", "version", "revision", "commit", "commit_sha", "sha", "build_number", "build")
ENVIRONMENT_KEYS = ("environment", "env")


class InvalidEvent(DomainError):
    """An event PagerDuty would call invalid: 400 with ``errors``, one sentence per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("Event object is invalid", details={"errors": errors})
        self.errors = errors


@dataclass(frozen=True)
class KeyedEvent:
    """One event about one alert, whatever format it came in."""

    action: str  # trigger | acknowledge | resolve
    dedup_key: str  # "" on a trigger: one is generated
    summary: str = ""
    source_severity: str = ""
    service: str = ""  # named by the event itself (generic); else the integration decides
    service_lookup: dict[str, Any] = field(default_factory=dict)  # where service_label is looked up
    labels: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
    timestamp: datetime | None = None
    message: str = ""  # the group's longer text (the generic format's description)


@dataclass(frozen=True)
class ChangeEvent:
    summary: str
    source: str
    timestamp: datetime | None
    custom_details: dict[str, Any]
    links: list[dict[str, str]]
    change_type: str  # DEPLOY | CONFIG_CHANGE
    release: str
    environment: str


@dataclass
class ChangeReceived:
    payload: AlertPayload
    service: str
    change_type: str
    events: int  # events recorded (one per project that reports for the service)


# --- parsing --------------------------------------------------------------------------------------


class _Errors(list):
    def text(self, container: dict[str, Any], name: str, where: str, *, required: bool = False) -> str:
        value = container.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.append(f"'{where}' is missing or blank")
            return ""
        if not isinstance(value, str):
            self.append(f"'{where}' must be a string")
            return ""
        return value


def parse_timestamp(value: Any, where: str, errors: list[str]) -> datetime | None:
    """ISO 8601 (PagerDuty's own examples write ``+0000``); without a zone it is UTC."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors.append(f"'{where}' is not a valid ISO 8601 timestamp")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_links(
    value: Any, errors: list[str], *, where: str = "links", url_field: str = "href", optional: tuple = ("text",)
) -> list[dict]:
    """PagerDuty's ``links`` (``href``, ``text``) or, with ``url_field="src"``, its ``images``."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"'{where}' must be a list of objects")
        return []
    if len(value) > MAX_LINKS:
        errors.append(f"'{where}' has more than {MAX_LINKS} entries")
        return []
    found = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            errors.append(f"'{at}' must be an object")
            continue
        checker = _Errors()
        entry = {url_field: checker.text(item, url_field, f"{at}.{url_field}", required=True)[:2000]}
        for name in optional:
            if name in item:
                entry[name] = checker.text(item, name, f"{at}.{name}")[:500]
        errors.extend(checker)
        if not checker:
            found.append(entry)
    return found


def _alert_links(links: list[dict], images: list[dict], client: str, client_url: str) -> list[dict[str, str]]:
    """Links and images as the alert's links: every one a page can show."""
    found = [{"href": link["href"], "text": link.get("text") or link["href"]} for link in links]
    for image in images:
        found.append({"href": image.get("href") or image["src"], "text": image.get("alt") or "Image"})
    if client_url:
        found.append({"href": client_url[:2000], "text": client or "Client"})
    return found


def parse_alert_event(body: Any) -> KeyedEvent:
    """An alert event, checked as PagerDuty checks it; InvalidEvent lists every problem at once."""
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object"])
    errors = _Errors()
    action = errors.text(body, "event_action", "event_action", required=True)
    if action and action not in ACTIONS:
        errors.append(f"'event_action' is invalid (must be one of: {', '.join(ACTIONS)})")
    dedup_key = errors.text(body, "dedup_key", "dedup_key", required=action in (ACKNOWLEDGE, RESOLVE))
    if len(dedup_key) > DEDUP_KEY_MAX:
        errors.append(f"'dedup_key' is too long (at most {DEDUP_KEY_MAX} characters)")
    if action != TRIGGER:
        if errors:
            raise InvalidEvent(list(errors))
        return KeyedEvent(action=action, dedup_key=dedup_key)

    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        raise InvalidEvent(list(errors))
    summary = errors.text(payload, "summary", "payload.summary", required=True)[:SUMMARY_LIMIT]
    source = errors.text(payload, "source", "payload.source", required=True)
    severity = errors.text(payload, "severity", "payload.severity", required=True).lower()
    if severity and severity not in SEVERITIES:
        errors.append(f"'payload.severity' is invalid (must be one of: {', '.join(SEVERITIES)})")
    timestamp = parse_timestamp(payload.get("timestamp"), "payload.timestamp", errors)
    labels = {"source": source[:500]}
    for name in ("component", "group", "class"):
        if value := errors.text(payload, name, f"payload.{name}"):
            labels[name] = value[:500]
    custom_details = payload.get("custom_details")
    links = parse_links(body.get("links"), errors)
    images = parse_links(body.get("images"), errors, where="images", url_field="src", optional=("href", "alt"))
    client = errors.text(body, "client", "client")[:200]
    client_url = errors.text(body, "client_url", "client_url")
    if errors:
        raise InvalidEvent(list(errors))

    details: dict[str, Any] = {}
    if custom_details is not None:
        details["custom_details"] = custom_details
    if images:
        details["images"] = images
    if client:
        details["client"] = client
    if payload.get("timestamp"):
        details["timestamp"] = payload["timestamp"]
    lookup = _strings(custom_details) if isinstance(custom_details, dict) else {}
    return KeyedEvent(
        action=TRIGGER,
        dedup_key=dedup_key,
        summary=summary,
        source_severity=severity,
        service_lookup={**lookup, **labels},
        labels=labels,
        annotations={"summary": summary},
        details=details,
        links=_alert_links(links, images, client, client_url),
        timestamp=timestamp,
    )


def _strings(details: dict[str, Any]) -> dict[str, str]:
    """The text values of custom_details: where an integration's ``service_label`` is looked up."""
    return {str(key): value for key, value in details.items() if isinstance(value, str)}


def _scalar(value: Any) -> str:
    return str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def change_type_of(summary: str, source: str, custom_details: dict[str, Any]) -> str:
    """DEPLOY or CONFIG_CHANGE: ``custom_details.change_type`` (or ``type``, ``kind``) when it says so,
    else the words of the summary (and then the source): deploy words before config words, since
    "deployed the config service" is a deploy. A change that says neither is a DEPLOY."""
    for key in ("change_type", "type", "kind"):
        stated = _scalar(custom_details.get(key)).lower()
        if stated in CONFIG_WORDS:
            return "CONFIG_CHANGE"
        if stated in DEPLOY_WORDS:
            return "DEPLOY"
    for text in (summary, source):
        if _DEPLOY_TEXT.search(text):
            return "DEPLOY"
        if _CONFIG_TEXT.search(text):
            return "CONFIG_CHANGE"
    return "DEPLOY"


def parse_change_event(body: Any) -> ChangeEvent:
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object"])
    errors = _Errors()
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise InvalidEvent(["'payload' is missing or not an object"])
    summary = errors.text(payload, "summary", "payload.summary", required=True)[:SUMMARY_LIMIT]
    source = errors.text(payload, "source", "payload.source")[:500]
    timestamp = parse_timestamp(payload.get("timestamp"), "payload.timestamp", errors)
    custom_details = payload.get("custom_details")
    if custom_details is not None and not isinstance(custom_details, dict):
        errors.append("'payload.custom_details' must be an object")
    links = parse_links(body.get("links"), errors)
    if errors:
        raise InvalidEvent(list(errors))
    custom_details = custom_details or {}
    release = next((_scalar(custom_details.get(k)) for k in RELEASE_KEYS if _scalar(custom_details.get(k))), "")
    environment = next((_scalar(custom_details.get(k)) for k in ENVIRONMENT_KEYS if _scalar(custom_details.get(k))), "")
    return ChangeEvent(
        summary=summary,
        source=source,
        timestamp=timestamp,
        custom_details=custom_details,
        links=[{"href": link["href"], "text": link.get("text") or link["href"]} for link in links],
        change_type=change_type_of(summary, source, custom_details),
        release=release[:200],
        environment=environment[:64],
    )


# --- receiving keyed events -----------------------------------------------------------------------


def _starts_at(event: KeyedEvent, latest: Alert | None, now: datetime) -> datetime:
    starts_at = event.timestamp if event.timestamp is not None and event.timestamp <= now else now
    if latest is not None:
        floor = max(latest.starts_at, latest.ends_at or latest.starts_at)
        if starts_at <= floor:
            starts_at = now if now > floor else floor + timedelta(microseconds=1)
    return starts_at


def _alert_fields(integration: Integration, event: KeyedEvent) -> dict[str, Any]:
    return {
        "summary": event.summary[:SUMMARY_MAX],
        "source_severity": event.source_severity[:50],
        "severity": integration.severity_for(event.source_severity),
        "service": (integration.service or event.service or integration.service_for(event.service_lookup))[:100],
        "labels": event.labels,
        "annotations": event.annotations,
        "details": event.details,
        "links": event.links,
    }


def _trigger(integration, group: AlertGroup, current: Alert | None, event: KeyedEvent, now, result: Received):
    fields = _alert_fields(integration, event)
    if current is not None:
        # The same open key: the event updates its alert (an acknowledged one stays acknowledged).
        for name, value in fields.items():
            setattr(current, name, value)
        current.last_seen = max(current.last_seen, now)
        current.save(update_fields=[*fields, "last_seen"])
        result.repeats += 1
        return
    latest = group.alerts.order_by("-starts_at").first()
    record = create_alert(
        integration,
        group,
        fingerprint=group.group_key,
        starts_at=_starts_at(event, latest, now),
        first_seen=now,
        last_seen=now,
        **fields,
    )
    if record is None:  # pragma: no cover - the group's row lock serialises the key's events
        result.ignored += 1
        return
    result.new_firing.append(record)


def receive_keyed(
    integration: Integration,
    event: KeyedEvent,
    *,
    raw: bytes,
    now: datetime | None = None,
    payload_status: str | None = None,
) -> Received:
    """Apply one keyed event and keep it for audit; see the module docstring. Idempotent per key while
    the alert is open: a retried trigger refreshes, a retried acknowledge or resolve does nothing."""
    now = now or timezone.now()
    key = event.dedup_key or uuid.uuid4().hex
    with transaction.atomic():
        if event.action == TRIGGER:
            group, created = locked_group(integration, key, now)
        else:
            group, created = existing_locked_group(integration, key), False
        payload = store_payload(integration, group, raw, now, status=payload_status or event.action, alert_count=1)
        result = Received(payload=payload, group=group, dedup_key=key)
        if group is None:
            result.ignored += 1  # acknowledge or resolve of a key never triggered here: accepted, nothing done
            return result
        current = group.alerts.select_for_update().open().order_by("-starts_at").first()
        if event.action == TRIGGER:
            _trigger(integration, group, current, event, now, result)
            group.title = event.summary[:SUMMARY_MAX]
            group.message = event.message
            group.common_labels = event.labels
        elif current is None:
            result.ignored += 1  # already resolved: nothing to do
        elif event.action == ACKNOWLEDGE:
            if current.status == AlertStatus.FIRING:
                current.status, current.last_seen = AlertStatus.ACKNOWLEDGED, max(current.last_seen, now)
                current.save(update_fields=["status", "last_seen"])
                result.acknowledged.append(current)
            else:
                result.repeats += 1
        else:
            current.status, current.ends_at = AlertStatus.RESOLVED, max(now, current.starts_at)
            current.last_seen = max(current.last_seen, now)
            current.save(update_fields=["status", "ends_at", "last_seen"])
            result.resolved.append(current)
        settle_group(group, now, result, created=created)
        finish(result, now=now)
    return result


def receive_alert_event(integration: Integration, body: Any, *, raw: bytes, now: datetime | None = None) -> Received:
    """``POST …/v2/enqueue``. Raises InvalidEvent (400) before anything is written."""
    return receive_keyed(integration, parse_alert_event(body), raw=raw, now=now)


# --- change events --------------------------------------------------------------------------------


def _change_event_id(integration: Integration, change: ChangeEvent, raw: bytes) -> uuid.UUID:
    """A retried delivery of one change is stored once: with the sender's timestamp, the same body is the
    same change. Without one, two identical bodies may be two deploys, so each gets its own id."""
    if change.timestamp is None:
        return uuid.uuid4()
    digest = hashlib.sha256(raw).hexdigest()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tracepoint:intake:{integration.pk}:change:{digest}")


def _change_service(integration: Integration, change: ChangeEvent) -> str:
    lookup = {"source": change.source, **_strings(change.custom_details)}
    service = integration.service or integration.service_for(lookup)
    try:
        service_validator(service)
    except ValidationError:
        label = integration.service_label or "service"
        raise InvalidEvent(
            [
                f"No valid service for this change event ({service!r}): give the integration a service, or send "
                f"'payload.custom_details.{label}' with a service name (lowercase letters, digits, '.', '_', '-')"
            ]
        ) from None
    return service


def receive_change_event(
    integration: Integration, body: Any, *, raw: bytes, now: datetime | None = None
) -> ChangeReceived:
    """``POST …/v2/change/enqueue``: keep the payload and record the change as an event of the service.

    Raises InvalidEvent (400) for an invalid event, a service that cannot be named, a timestamp more
    than a day ahead, or when no project reports for the service (nothing would show it)."""
    change = parse_change_event(body)
    now = now or timezone.now()
    if change.timestamp is not None and change.timestamp > now + FUTURE_TOLERANCE:
        raise InvalidEvent(["'payload.timestamp' is more than a day in the future"])
    service = _change_service(integration, change)
    with transaction.atomic():
        payload = store_payload(integration, None, raw, now, status="change")
        responses = signals.change_event_received.send(
            sender=Integration,
            integration_id=integration.pk,
            service=service,
            change_type=change.change_type,
            summary=change.summary,
            source=change.source,
            timestamp=change.timestamp or now,
            release=change.release,
            environment=change.environment,
            custom_details=change.custom_details,
            links=change.links,
            event_id=_change_event_id(integration, change, raw),
        )
        recorded = sum(response for _, response in responses if isinstance(response, int))
        if not recorded:
            # Rolls the payload back too: the sender sees why, where a 202 would hide a lost deploy.
            raise InvalidEvent(
                [
                    f"No project reports for service {service!r}: add it to a project's services "
                    "so that its deploys and configuration changes have a timeline"
                ]
            )
    return ChangeReceived(payload=payload, service=service, change_type=change.change_type, events=recorded)
