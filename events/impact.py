"""Issue impact kept current cheaply: per-minute and per-hour buckets, distinct routes, priority.

Digestion adds each batch's events to their issues' buckets and routes (one
upsert statement each, under the issue row locks it already holds) and then
refreshes those issues' impact columns; a beat task refreshes every recently
active issue each minute, so rates and recency decay without new events, and
trims old buckets. Pages and the API read the columns; nothing counts events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q, Sum

from events import grouping, priority
from events.models import Issue, IssueBucket
from tracepoint.rows import update_columns

MINUTE_BUCKETS_KEPT = timedelta(hours=2)
HOUR_BUCKETS_KEPT = timedelta(hours=48)
RATE_WINDOW = timedelta(minutes=60)
ACTIVE_WINDOW = timedelta(hours=26)  # recency and the 24 hourly bars still change for this long
REFRESH_CHUNK = 500


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record(members_by_issue: dict[int, list], *, now: datetime) -> dict[int, int]:
    """Add events to their issues' buckets and routes; returns the new routes per issue.

    The caller holds the issues' row locks, so no two workers touch the same rows here.
    """
    counts: dict[tuple[int, str, datetime], int] = {}
    routes: set[tuple[int, str]] = set()
    for issue_id, events in members_by_issue.items():
        for event in events:
            # An event from the future (clock skew) counts in the current minute.
            at = min(event.timestamp, now)
            for size, start in ((IssueBucket.Size.MINUTE, minute_of(at)), (IssueBucket.Size.HOUR, hour_of(at))):
                counts[(issue_id, size, start)] = counts.get((issue_id, size, start), 0) + 1
            if event.route:
                routes.add((issue_id, grouping.normalize_route(event.route)[:500]))
    _add_buckets(counts, now=now)
    return _add_routes(routes)


def _add_buckets(counts: dict[tuple[int, str, datetime], int], *, now: datetime) -> None:
    oldest = {IssueBucket.Size.MINUTE: now - MINUTE_BUCKETS_KEPT, IssueBucket.Size.HOUR: now - HOUR_BUCKETS_KEPT}
    rows = sorted((key, n) for key, n in counts.items() if key[2] >= oldest[key[1]])
    if not rows:
        return
    params: list = []
    for (issue_id, size, start), n in rows:
        params += [issue_id, size, connection.ops.adapt_datetimefield_value(start), n]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_issuebucket (issue_id, size, start, count) VALUES "  # noqa: S608 - placeholders only
            + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
            + " ON CONFLICT (issue_id, size, start) DO UPDATE SET count = events_issuebucket.count + excluded.count",
            params,
        )


def _add_routes(routes: set[tuple[int, str]]) -> dict[int, int]:
    return insert_new_pairs("events_issueroute", "route", {(issue_id, route) for issue_id, route in routes})


def insert_new_pairs(table: str, column: str, pairs: set[tuple[int, str]]) -> dict[int, int]:
    """Insert each (issue, value) once into ``table``; how many were new per issue. Safe under concurrency."""
    if not pairs:
        return {}
    params: list = []
    for issue_id, value in sorted(pairs):
        params += [issue_id, value]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (issue_id, {column}) VALUES "  # noqa: S608 - fixed names, placeholders only
            + ", ".join(["(%s, %s)"] * len(pairs))
            + f" ON CONFLICT (issue_id, {column}) DO NOTHING RETURNING issue_id",
            params,
        )
        added: dict[int, int] = {}
        for (issue_id,) in cursor.fetchall():
            added[issue_id] = added.get(issue_id, 0) + 1
        return added


def hourly_window(now: datetime) -> list[datetime]:
    """The starts of the 24 hourly bars ending with the current hour, oldest first."""
    current = hour_of(now)
    return [current - timedelta(hours=23 - i) for i in range(24)]


def refresh(issue_ids: Iterable[int], *, now: datetime) -> int:
    """Recompute rate, hourly counts, severity and priority of these issues from their buckets."""
    ids = sorted(set(issue_ids))
    if not ids:
        return 0
    rates = dict(
        IssueBucket.objects.filter(
            issue_id__in=ids, size=IssueBucket.Size.MINUTE, start__gt=now - RATE_WINDOW, start__lte=now
        )
        .values_list("issue_id")
        .annotate(total=Sum("count"))
        .values_list("issue_id", "total")
    )
    hours = hourly_window(now)
    hourly: dict[int, dict[datetime, int]] = {}
    for issue_id, start, count in IssueBucket.objects.filter(
        issue_id__in=ids, size=IssueBucket.Size.HOUR, start__gte=hours[0]
    ).values_list("issue_id", "start", "count"):
        hourly.setdefault(issue_id, {})[start] = count
    config = priority.rules()
    with transaction.atomic():
        # Locked in id order, skipping rows another transaction holds (it refreshes them itself),
        # so the minute task never overwrites fresher values nor deadlocks with digestion.
        issues = list(Issue.objects.filter(pk__in=ids).select_for_update(skip_locked=True).order_by("pk"))
        _assess(issues, rates=rates, hourly=hourly, hours=hours, config=config, now=now)
        update_columns(
            Issue,
            issues,
            ["error_rate", "hourly_counts", "severity", "priority", "priority_reason", "impact_updated_at"],
        )
    return len(issues)


def _assess(issues, *, rates, hourly, hours, config, now) -> None:
    for issue in issues:
        issue.error_rate = round(rates.get(issue.pk, 0) / (RATE_WINDOW.total_seconds() / 60), 3)
        by_hour = hourly.get(issue.pk, {})
        issue.hourly_counts = [by_hour.get(start, 0) for start in hours]
        result = priority.assess(
            priority.Impact(
                title=issue.title,
                level=issue.level,
                status=issue.status,
                event_count=issue.event_count,
                user_count=issue.user_count,
                route_count=issue.route_count,
                regression_count=issue.regression_count,
                error_rate=issue.error_rate,
                last_seen=issue.last_seen,
            ),
            now=now,
            config=config,
        )
        issue.severity, issue.priority, issue.priority_reason = result.severity, result.priority, result.reason[:500]
        issue.impact_updated_at = now


def refresh_active(*, now: datetime) -> int:
    """Refresh every issue whose rate, recency or hourly bars can still change; trim old buckets."""
    IssueBucket.objects.filter(size=IssueBucket.Size.MINUTE, start__lt=now - MINUTE_BUCKETS_KEPT).delete()
    IssueBucket.objects.filter(size=IssueBucket.Size.HOUR, start__lt=now - HOUR_BUCKETS_KEPT).delete()
    # Recently seen, or last refreshed while its bars could still change (one final pass), or never.
    active = Issue.objects.filter(
        Q(last_seen__gte=now - ACTIVE_WINDOW)
        | Q(impact_updated_at__isnull=True)
        | Q(impact_updated_at__lt=F("last_seen") + ACTIVE_WINDOW)
    ).values_list("pk", flat=True)
    ids = list(active.order_by("pk"))
    done = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        done += refresh(ids[start : start + REFRESH_CHUNK], now=now)
    return done
