"""The events app's live stream: one Redis stream per project carrying its new events and issue changes
(published by digestion, per batch after commit, and by events/lifecycle.py for every status change).
The stream machinery is the project's (tracepoint/stream.py); the doors are events/live.py."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from tracepoint import stream


def channel(project_id: int) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:stream:project:{project_id}"


def publish(project_id: int, kind: str, data: dict[str, Any]) -> str | None:
    """Send one message to the project's stream; returns its id (None without Redis or on failure)."""
    return stream.publish_to(channel(project_id), {"type": kind, "project": project_id, **data})


def publish_on_commit(project_id: int, kind: str, data: dict[str, Any]) -> None:
    if stream.available():
        transaction.on_commit(partial(publish, project_id, kind, data))


def issue_data(issue) -> dict[str, Any]:
    return {
        "id": issue.pk,
        "title": issue.title,
        "status": issue.status,
        "event_count": issue.event_count,
        "last_seen": issue.last_seen,
        "severity": issue.severity,
        "priority": issue.priority,
        "regression_count": issue.regression_count,
    }
