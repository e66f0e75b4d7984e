"""What an event page shows, read from a stored event's ``data``: the stack with context lines and locals,
breadcrumbs, the request, the user, contexts, tags and extra data. Pure reading: stored data is lenient
(SDKs differ, old events lack newer parts), so every helper accepts any shape and skips what it cannot
read. Values go through events.scrubbing once more, for events stored before it existed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from events.models import Event
from events.scrubbing import scrub, scrub_query_string, scrub_url

MAX_VALUE_CHARS = 2000


def display(value: Any) -> str:
    """One value as text: strings as they are (the SDKs send locals as reprs), the rest as indented JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=isinstance(value, dict))
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _pairs(value: Any) -> list[tuple[str, str]]:
    """An object or ``[[key, value], …]`` as (key, text) pairs, scrubbed."""
    value = scrub(value)
    if isinstance(value, dict):
        return [(str(k), display(v)) for k, v in value.items() if v is not None]
    if isinstance(value, list):
        return [(str(p[0]), display(p[1])) for p in value if isinstance(p, list | tuple) and len(p) == 2]
    return []


def tag_pairs(tags: Any) -> list[tuple[str, str]]:
    """Sentry sends tags as an object or as ``[[key, value], …]``; values are scrubbed (a ``url`` tag
    carries its query string)."""
    tags = scrub(tags)
    if isinstance(tags, dict):
        return [(str(k), str(v)) for k, v in tags.items() if v is not None]
    if isinstance(tags, list):
        return [(str(t[0]), str(t[1])) for t in tags if isinstance(t, list | tuple) and len(t) == 2]
    return []


def _lines(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The frame's source around the crash line: pre-context, the line itself (current), post-context."""
    context_line = frame.get("context_line")
    if not isinstance(context_line, str) or not context_line.strip():
        return []
    lineno = frame.get("lineno") if isinstance(frame.get("lineno"), int) else None
    pre = [line for line in frame.get("pre_context") or [] if isinstance(line, str)]
    post = [line for line in frame.get("post_context") or [] if isinstance(line, str)]

    def number(offset: int) -> int | None:
        return lineno + offset if lineno is not None and lineno + offset > 0 else None

    lines = [{"lineno": number(i - len(pre)), "text": text.rstrip(), "current": False} for i, text in enumerate(pre)]
    lines.append({"lineno": lineno, "text": context_line.rstrip(), "current": True})
    lines += [{"lineno": number(i + 1), "text": text.rstrip(), "current": False} for i, text in enumerate(post)]
    return lines


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stacktrace = exception.get("stacktrace") or {}
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    # Sentry sends frames oldest first; people read the crash site first.
    result = []
    for frame in reversed(frames or []):
        if not isinstance(frame, dict):
            continue
        local_vars = frame.get("vars")
        result.append(
            {
                "module": str(frame.get("module") or ""),
                "function": str(frame.get("function") or ""),
                "filename": str(frame.get("filename") or frame.get("abs_path") or ""),
                "lineno": frame.get("lineno") if isinstance(frame.get("lineno"), int) else None,
                "colno": frame.get("colno") if isinstance(frame.get("colno"), int) else None,
                "context_line": str(frame.get("context_line") or "").rstrip(),
                "lines": _lines(frame),
                "vars": _pairs(local_vars) if isinstance(local_vars, dict) else [],
                "in_app": frame.get("in_app") is True,
            }
        )
    return result


def stack_trace(event: Event | None) -> list[dict[str, Any]]:
    """The event's exceptions, outermost first, each with its frames newest first."""
    if event is None:
        return []
    exceptions = (event.data or {}).get("exception") if isinstance(event.data, dict) else None
    values = [value for value in exceptions or [] if isinstance(value, dict)]
    result = []
    for value in reversed(values):
        mechanism = value.get("mechanism") if isinstance(value.get("mechanism"), dict) else {}
        result.append(
            {
                "type": str(value.get("type") or ""),
                "value": str(value.get("value") or ""),
                "handled": mechanism.get("handled") if isinstance(mechanism.get("handled"), bool) else None,
                "mechanism": str(mechanism.get("type") or ""),
                "frames": _frames(value),
            }
        )
    return result


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str) and value:
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            pass
        try:
            parsed = parse_datetime(value.replace("z", "Z"))
        except ValueError:
            return None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return None


def breadcrumbs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened before the error, oldest first (as sent)."""
    raw = data.get("breadcrumbs")
    crumbs = raw.get("values") if isinstance(raw, dict) else raw
    result = []
    for crumb in crumbs if isinstance(crumbs, list) else []:
        if not isinstance(crumb, dict):
            continue
        result.append(
            {
                "timestamp": _moment(crumb.get("timestamp")),
                "type": str(crumb.get("type") or "default"),
                "category": str(crumb.get("category") or ""),
                "level": str(crumb.get("level") or "info"),
                "message": display(scrub(crumb.get("message"))) if crumb.get("message") is not None else "",
                "data": _pairs(crumb.get("data")) if isinstance(crumb.get("data"), dict) else [],
            }
        )
    return result


def request_info(data: dict[str, Any]) -> dict[str, Any] | None:
    raw = data.get("request")
    if not isinstance(raw, dict):
        return None
    query = raw.get("query_string")
    query_pairs = _pairs(query) if not isinstance(query, str) else [("", scrub_query_string(query))] if query else []
    info = {
        "method": str(raw.get("method") or ""),
        "url": scrub_url(str(raw.get("url") or "")),
        "query": query_pairs,
        "headers": _pairs(raw.get("headers")),
    }
    return info if any(info.values()) else None


def user_info(data: dict[str, Any]) -> list[tuple[str, str]]:
    labels = {"id": "ID", "username": "Username", "email": "Email", "ip_address": "IP address"}
    user = data.get("user")
    if not isinstance(user, dict):
        return []
    return [(labels[key], str(user[key])) for key in labels if user.get(key)]


def contexts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Runtime, OS, browser, device… each as a titled list of facts (Sentry's ``contexts``)."""
    raw = data.get("contexts")
    if not isinstance(raw, dict):
        return []
    names = {"os": "Operating system", "runtime": "Runtime", "browser": "Browser", "device": "Device", "app": "App"}
    result = []
    for key, value in raw.items():
        if not isinstance(value, dict):
            continue
        facts = [(k, v) for k, v in _pairs(value) if k != "type"]
        if facts:
            result.append(
                {"key": str(key), "title": names.get(str(key), str(key).replace("_", " ").capitalize()), "facts": facts}
            )
    return result


def extra_data(data: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = _pairs(data.get("extra")) if isinstance(data.get("extra"), dict) else []
    metadata = data.get("metadata")  # native events' free-form metadata
    if isinstance(metadata, dict):
        pairs += _pairs(metadata)
    return pairs


def facts(event: Event) -> list[tuple[str, str]]:
    """The event's own fields and the small parts of its data, for the page's Details list."""
    data = event.data if isinstance(event.data, dict) else {}
    sdk = data.get("sdk") if isinstance(data.get("sdk"), dict) else {}
    rows = [
        ("Level", event.get_level_display()),
        ("Release", event.release),
        ("Environment", event.environment),
        ("Route", event.route),
        ("Platform", event.platform),
        ("Server", str(data.get("server_name") or "")),
        ("Logger", str(data.get("logger") or "")),
        ("SDK", " ".join(str(sdk.get(k) or "") for k in ("name", "version")).strip()),
        ("Fingerprint", ", ".join(str(p) for p in data.get("fingerprint") or [] if isinstance(p, str | int | float))),
    ]
    return [(label, value) for label, value in rows if value]


def neighbours(event: Event) -> tuple[Event | None, Event | None]:
    """The issue's event just before this one and just after it, in the issue page's order (time, then id)."""
    if event.issue_id is None:
        return None, None
    same_issue = Event.objects.filter(issue_id=event.issue_id).only("pk", "timestamp", "issue_id")
    older = (
        same_issue.filter(Q(timestamp__lt=event.timestamp) | Q(timestamp=event.timestamp, pk__lt=event.pk))
        .order_by("-timestamp", "-id")
        .first()
    )
    newer = (
        same_issue.filter(Q(timestamp__gt=event.timestamp) | Q(timestamp=event.timestamp, pk__gt=event.pk))
        .order_by("timestamp", "id")
        .first()
    )
    return older, newer
