"""A service's timeline: its events oldest first, deploy/config markers, incident transitions.

Each ERROR that happened within ``DEPLOY_CORRELATION_MINUTES`` after a DEPLOY or
CONFIG_CHANGE of the same project and service carries that marker as its
``suspected_cause``; issues first seen in such a window are listed as
introduced by it. One rule, explainable in a sentence, as in the seed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from events.digestion import correlation_window
from events.models import Event, EventType, Issue, Project
from incidents.models import Incident, TimelineEntry

MARKER_TYPES = (EventType.DEPLOY, EventType.CONFIG_CHANGE)
MAX_RANGE = timedelta(days=7)
DEFAULT_RANGE = timedelta(hours=24)


def max_events() -> int:
    return settings.TRACEPOINT["TIMELINE_MAX_EVENTS"]


@dataclass
class ServiceTimeline:
    service: str
    since: datetime
    until: datetime
    window: timedelta
    events: list[Event]
    causes: dict[int, Event]  # error event pk -> marker
    incident_entries: list[TimelineEntry]
    incidents: list[Incident]
    introduced: list[Issue]
    truncated: bool
    next_since: datetime | None
    buckets: list[tuple[datetime, int]] = field(default_factory=list)
    bucket_size: timedelta = timedelta(minutes=1)

    @property
    def markers(self) -> list[Event]:
        return [event for event in self.events if event.event_type in MARKER_TYPES]

    def items(self) -> list[dict[str, Any]]:
        """Events and incident transitions merged, oldest first (events first on a tie)."""
        merged: list[tuple[datetime, int, int, dict[str, Any]]] = []
        for event in self.events:
            merged.append((event.timestamp, 0, event.pk, {"kind": "event", "event": event}))
        for entry in self.incident_entries:
            merged.append((entry.created_at, 1, entry.pk, {"kind": "incident", "entry": entry}))
        merged.sort(key=lambda row: row[:3])
        return [row[3] for row in merged]


def bucket_size_for(span: timedelta) -> timedelta:
    """The smallest bar width that keeps the chart at 180 bars or fewer."""
    for minutes in (1, 5, 15, 60, 180):
        if span / timedelta(minutes=minutes) <= 180:
            return timedelta(minutes=minutes)
    return timedelta(hours=6)


def service_timeline(user, service: str, *, since: datetime, until: datetime) -> ServiceTimeline:
    window = correlation_window()
    projects = Project.objects.visible_to(user)
    base = Event.objects.filter(project__in=projects, service=service)
    limit = max_events()
    events = list(
        base.filter(timestamp__gte=since, timestamp__lte=until).defer("data").order_by("timestamp", "id")[: limit + 1]
    )
    truncated = len(events) > limit
    next_since = None
    if truncated:
        events = events[:limit]
        next_since = events[-1].timestamp
    shown_until = events[-1].timestamp if truncated else until
    # Markers up to one window before the range can explain its first errors.
    markers = list(
        base.defer("data")
        .filter(event_type__in=MARKER_TYPES, timestamp__gte=since - window, timestamp__lte=shown_until)
        .order_by("timestamp", "id")
    )
    causes = _causes(events, markers, window)

    incidents = list(
        Incident.objects.alive()
        .filter(service=service, created_at__lte=shown_until)
        .exclude(resolved_at__lt=since)
        .order_by("created_at")
    )
    entries = list(
        TimelineEntry.objects.filter(
            incident__in=[incident.pk for incident in incidents],
            kind__in=[TimelineEntry.Kind.CREATED, TimelineEntry.Kind.STATUS_CHANGED, TimelineEntry.Kind.REOPENED],
            created_at__gte=since,
            created_at__lte=shown_until,
        )
        .select_related("incident", "actor")
        .order_by("created_at", "id")
    )
    introduced = list(
        Issue.objects.filter(
            project__in=projects,
            service=service,
            introduced_by__isnull=False,
            first_seen__gte=since,
            first_seen__lte=shown_until,
        )
        .select_related("introduced_by")
        .order_by("first_seen", "id")
    )
    timeline = ServiceTimeline(
        service=service,
        since=since,
        until=until,
        window=window,
        events=events,
        causes=causes,
        incident_entries=entries,
        incidents=incidents,
        introduced=introduced,
        truncated=truncated,
        next_since=next_since,
    )
    _fill_buckets(timeline)
    return timeline


def _causes(events: list[Event], markers: list[Event], window: timedelta) -> dict[int, Event]:
    """For each ERROR, the latest marker of its project at or before it and within the window."""
    by_project: dict[int, tuple[list[datetime], list[Event]]] = {}
    for marker in markers:
        times, rows = by_project.setdefault(marker.project_id, ([], []))
        times.append(marker.timestamp)
        rows.append(marker)
    causes = {}
    for event in events:
        if event.event_type != EventType.ERROR or event.project_id not in by_project:
            continue
        times, rows = by_project[event.project_id]
        index = bisect.bisect_right(times, event.timestamp) - 1
        if index >= 0 and event.timestamp - times[index] <= window:
            causes[event.pk] = rows[index]
    return causes


def _fill_buckets(timeline: ServiceTimeline) -> None:
    size = bucket_size_for(timeline.until - timeline.since)
    timeline.bucket_size = size
    count = max(1, int((timeline.until - timeline.since) / size) + 1)
    counts = [0] * count
    for event in timeline.events:
        if event.event_type == EventType.ERROR:
            index = int((event.timestamp - timeline.since) / size)
            if 0 <= index < count:
                counts[index] += 1
    timeline.buckets = [(timeline.since + size * i, n) for i, n in enumerate(counts)]
