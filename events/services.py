"""Events domain layer: durable ingest, exact and idempotent grouping, issue lifecycle, retention.

The hot path stores each event row (``digested_at`` NULL) and commits before
it answers, so an accepted event survives a worker crash, a restart or a Redis
outage. Grouping runs in ``digest_pending`` (a Celery task that ``wake_digester``
queues after commit, debounced, and that digests everything waiting in batches);
the ``sweep_undigested`` beat task digests whatever the queue missed.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, Value, When
from django.db.models.constants import OnConflict
from django.utils import timezone

from events import alerts, grouping, impact, lifecycle, stream

# The issue lifecycle (every status change) is events/lifecycle.py; the views, the API and the admin
# reach it here, as they reach the rest of the domain layer.
from events.lifecycle import IssueNotFound, resolve_quiet_issues_after_deploys, set_issue_status  # noqa: F401
from events.models import (
    Event,
    EventType,
    Issue,
    IssueActivity,
    IssueGrouping,
    IssueStatus,
    Project,
    ProjectKey,
)
from tracepoint import redis
from tracepoint import stream as live_streams
from tracepoint.errors import DomainError, NotFoundError  # noqa: F401 - callers catch both through here


class InvalidProjectKey(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


class WrongProjectKey(DomainError):
    code = "PERMISSION_DENIED"
    status_code = 403


logger = logging.getLogger("tracepoint.events")


# --- keys -----------------------------------------------------------------------------


# Valid keys this process has seen: public key -> (expires at, key with its project).
# Every ingest request starts with this lookup; a query each time would cost
# as much as storing the event. Bounded in time (INGEST_KEY_CACHE_SECONDS) and size.
_key_cache: dict[str, tuple[float, ProjectKey]] = {}
KEY_CACHE_MAX_ENTRIES = 10_000


def forget_keys() -> None:
    """Drop this process's remembered keys (after a key or project changed here)."""
    _key_cache.clear()


def authenticate_key(public_key: str, *, project_id: int | None = None) -> ProjectKey:
    """The active key, or a DomainError (401 unknown/revoked key, 403 key of another project)."""
    public_key = str(public_key).strip()
    now = time.monotonic()
    cached = _key_cache.get(public_key)
    if cached is not None and cached[0] > now:
        key = cached[1]
    else:
        key = ProjectKey.objects.select_related("project").filter(public_key=public_key).first()
        ttl = settings.TRACEPOINT["INGEST_KEY_CACHE_SECONDS"]
        if key is not None and key.is_active and ttl:
            if len(_key_cache) >= KEY_CACHE_MAX_ENTRIES:
                _key_cache.clear()
            _key_cache[public_key] = (now + ttl, key)
    if key is None or not key.is_active:
        raise InvalidProjectKey("Unknown or revoked project key.")
    if project_id is not None and key.project_id != project_id:
        raise WrongProjectKey("This key does not belong to that project.")
    return key


def rotate_key(project: Project, *, label: str = "Rotated") -> ProjectKey:
    """A new active key; old keys keep working until revoked (so clients can move over)."""
    forget_keys()
    return ProjectKey.objects.create(project=project, label=label)


def revoke_key(key: ProjectKey, *, now: datetime | None = None) -> None:
    """Other web processes refuse the key within INGEST_KEY_CACHE_SECONDS; this one at once."""
    ProjectKey.objects.filter(pk=key.pk).update(is_active=False, revoked_at=now or timezone.now())
    forget_keys()


def create_project(*, name: str, slug: str, services: list[str] | None = None) -> Project:
    with transaction.atomic():
        project = Project.objects.create(name=name, slug=slug, services=services or [])
        ProjectKey.objects.create(project=project, label="Default")
    return project


def reset() -> None:
    """Forget this process's remembered keys and any paused digester wake-ups (tests call it between tests)."""
    global _wake_paused_until
    forget_keys()
    _wake_paused_until = 0.0


# --- ingest ---------------------------------------------------------------------------


@dataclass
class NewEvent:
    """A validated, normalised event ready to store (from the native API or the Sentry protocol)."""

    event_id: uuid.UUID
    event_type: str
    service: str
    timestamp: datetime
    level: str = "error"
    message: str = ""
    release: str = ""
    environment: str = ""
    route: str = ""
    user_id: str = ""
    platform: str = ""
    data: dict[str, Any] = field(default_factory=dict)


_SURROGATES = re.compile(r"[\ud800-\udfff]")
MAX_DATA_DEPTH = 20


def clean_text(value: str) -> str:
    """Text PostgreSQL and SQLite can store: no NUL, no lone surrogates."""
    return _SURROGATES.sub("\ufffd", value.replace("\x00", ""))


def clean_data(value: Any, depth: int = 0) -> Any:
    """JSON both databases accept: clean text, no NaN/Infinity, bounded depth."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DATA_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_data(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(item, depth + 1) for item in value]
    return clean_text(str(value))


def store_events(project: Project, events: list[NewEvent], *, now: datetime | None = None) -> list[uuid.UUID]:
    """Store events durably (the same ``event_id`` twice is stored once) and queue their grouping.

    Returns the event ids. The caller answers 2xx only after this returned:
    the rows are committed by then.
    """
    now = now or timezone.now()
    # Older than retention would be deleted before it is counted: treat it as received now.
    oldest = now - timedelta(days=settings.TRACEPOINT["EVENTS_RETENTION_DAYS"])
    rows = []
    for item in events:
        data = clean_data(item.data)
        timestamp = item.timestamp
        if timestamp < oldest:
            data["original_timestamp"] = timestamp.isoformat()
            timestamp = now
        rows.append(
            Event(
                project=project,
                event_id=item.event_id,
                event_type=item.event_type,
                service=clean_text(item.service),
                timestamp=timestamp,
                received_at=now,
                level=item.level,
                message=clean_text(item.message[:10_000]),
                release=clean_text(item.release[:200]),
                environment=clean_text(item.environment[:64]),
                route=clean_text(item.route[:500]),
                user_id=clean_text(item.user_id[:200]),
                platform=clean_text(item.platform[:32]),
                data=data,
            )
        )
    ids = [item.event_id for item in events]
    if len(rows) == 1 and not transaction.get_connection().in_atomic_block:
        # One SDK event per request: a single autocommit INSERT is one round
        # trip; bulk_create would add BEGIN and COMMIT around it.
        try:
            Event.objects._insert(rows, fields=_INSERT_FIELDS, on_conflict=OnConflict.IGNORE)
        except IntegrityError:
            # The project is gone: its key was remembered from before another process deleted it.
            forget_keys()
            raise InvalidProjectKey("Unknown or revoked project key.") from None
        wake_digester()
        return ids
    with transaction.atomic():
        Event.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        transaction.on_commit(wake_digester, robust=True)
    return ids


_INSERT_FIELDS = [field for field in Event._meta.concrete_fields if not field.primary_key]


WAKE_KEY = "events:digester-wakeup"
DIGEST_DELAY_SECONDS = 0.5
# After a failed wake-up this process leaves the events to the sweeper for a while.
WAKE_PAUSE_SECONDS = 5.0
_wake_paused_until = 0.0


def _wake_key() -> str:
    return f"{settings.CACHE_KEY_PREFIX}:{WAKE_KEY}"


def wake_digester() -> None:
    """Queue one ``digest_pending`` task unless one is already waiting to start.

    A publish per event would cost more than the insert; one task digests
    everything waiting, in batches. The key exists while a queued task has not
    started (the task clears it first, and it expires after a second in any
    case), so an event that finds it set will be seen by that task. If the
    broker (or Redis) is away, the beat sweeper digests the rows later:
    nothing accepted is lost.
    """
    global _wake_paused_until
    from events.tasks import digest_pending

    if time.monotonic() < _wake_paused_until:
        return  # Redis or the broker failed a moment ago: don't make every request wait for it again
    try:
        client = redis.client()
        if client is not None:
            claimed = client.set(_wake_key(), 1, nx=True, ex=1)
        else:
            from django.core.cache import cache

            claimed = cache.add(_wake_key(), 1, timeout=1)
        if claimed:
            # Run a moment later: what arrives meanwhile joins the same batch, so under
            # load the digester works in hundreds, not in ones (its cost is per group).
            digest_pending.apply_async(countdown=DIGEST_DELAY_SECONDS, retry=False)
    except Exception as exc:
        _wake_paused_until = time.monotonic() + WAKE_PAUSE_SECONDS
        logger.warning("could not queue digestion (the sweeper will pick the events up): %s", exc)


def clear_wakeup() -> None:
    """Called by a starting digester: events stored from now on queue another run."""
    client = redis.client()
    if client is not None:
        client.delete(_wake_key())
    else:
        from django.core.cache import cache

        cache.delete(_wake_key())


# --- digestion ------------------------------------------------------------------------


def _claim(queryset, limit: int) -> list[Event]:
    """Lock up to ``limit`` undigested rows that no other worker holds (SKIP LOCKED)."""
    return list(
        queryset.filter(digested_at__isnull=True)
        .select_for_update(skip_locked=True)
        .order_by("timestamp", "id")[:limit]
    )


def digest_pending(*, limit: int = 500, now: datetime | None = None) -> int:
    """Digest one batch of whatever is waiting (oldest first). Returns how many."""
    with transaction.atomic():
        events = _claim(Event.objects.all(), limit)
        return _digest_batch(events, now=now or timezone.now())


def sweep_undigested(*, older_than_seconds: int = 5, limit: int = 1000, now: datetime | None = None) -> int:
    """Digest events the queue missed (broker down, worker crash). Safe to run anywhere, any time."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    total = 0
    while total < limit:
        with transaction.atomic():
            events = _claim(Event.objects.filter(received_at__lte=cutoff), min(500, limit - total))
            done = _digest_batch(events, now=now)
        if not done:
            break
        total += done
    return total


def _digest_batch(events: list[Event], *, now: datetime) -> int:
    """Group locked, undigested events: one issue lookup and one counter update per fingerprint.

    The batch runs in one savepoint; if anything in it fails, it is redone
    group by group, so one bad group is quarantined instead of stalling the queue.
    """
    if not events:
        return 0
    groups: dict[tuple[int, str], list[Event]] = {}
    for event in events:
        if event.event_type != EventType.ERROR:
            continue
        components = grouping.fingerprint_components(event.data, route=event.route)
        groups.setdefault((event.project_id, grouping.key_hash(components)), []).append(event)
    # A fixed order (by fingerprint) for the row locks and inserts below, so two
    # workers digesting overlapping fingerprints can never wait on each other in a cycle.
    ordered = sorted(groups.items())
    known = _known_issues([group for group, _ in ordered])
    try:
        with transaction.atomic():
            outcomes = [
                _issue_of(members, key=key, now=now, issue_id=known.get((pid, key))) for (pid, key), members in ordered
            ]
            _count(outcomes, now=now)
            _finish(outcomes, events, now=now)
        return len(events)
    except OperationalError:
        raise  # deadlock, timeout, lost connection: the rows stay queued for the next run
    except Exception:
        logger.warning("a digest batch failed; retrying it group by group", exc_info=True)
    # Group by group: issues looked up afresh (one may have been deleted), the known
    # ones first and in id order, as the batch path locks them, so this cannot
    # deadlock with another worker's batch.
    careful = sorted(ordered, key=lambda item: (item[0] not in known, known.get(item[0], 0), item[0]))
    outcomes = []
    for (_, key), members in careful:
        try:
            with transaction.atomic():
                outcome = _issue_of(members, key=key, now=now, issue_id=None)
                _count([outcome], now=now)
            outcomes.append(outcome)
        except OperationalError:
            raise
        except Exception:
            # Quarantine: marked digested without an issue, and said loudly.
            logger.exception("could not group events %s; left ungrouped", [event.event_id for event in members])
    _finish(outcomes, events, now=now, careful=True)
    return len(events)


def _known_issues(groups: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The issues of the fingerprints that already have one, in one query."""
    if not groups:
        return {}
    links = IssueGrouping.objects.filter(
        grouping_version=grouping.GROUPING_VERSION,
        project_id__in={pid for pid, _ in groups},
        key_hash__in={key for _, key in groups},
    ).values_list("project_id", "key_hash", "issue_id")
    return {(pid, key): issue_id for pid, key, issue_id in links}


def _issue_for(first: Event, *, key: str, now: datetime) -> tuple[int, bool]:
    """The issue of this fingerprint, created exactly once even when workers race."""
    version = grouping.GROUPING_VERSION
    link = IssueGrouping.objects.filter(project_id=first.project_id, grouping_version=version, key_hash=key).first()
    if link is not None:
        return link.issue_id, False
    title, culprit = grouping.title_and_culprit(first.data, route=first.route)
    try:
        with transaction.atomic():  # a savepoint: losing the race below must not undo the batch
            issue = Issue.objects.create(
                project_id=first.project_id,
                service=first.service,
                introduced_by=suspected_cause(first),
                title=title,
                culprit=culprit,
                level=first.level,
                first_seen=first.timestamp,
                last_seen=first.timestamp,
                first_release=first.release,
                last_release=first.release,
            )
            IssueGrouping.objects.create(
                project_id=first.project_id, grouping_version=version, key_hash=key, issue=issue
            )
            IssueActivity.objects.create(issue=issue, kind=IssueActivity.Kind.CREATED, event=first, created_at=now)
        return issue.pk, True
    except IntegrityError:
        # Another worker created the issue for this fingerprint first (on PostgreSQL the
        # unique index made us wait for its commit): use that one.
        link = IssueGrouping.objects.get(project_id=first.project_id, grouping_version=version, key_hash=key)
        return link.issue_id, False


def correlation_window() -> timedelta:
    return timedelta(minutes=settings.TRACEPOINT["DEPLOY_CORRELATION_MINUTES"])


def suspected_cause(error: Event) -> Event | None:
    """The latest DEPLOY/CONFIG_CHANGE of the error's project and service shortly before it, if any."""
    return (
        Event.objects.filter(
            project_id=error.project_id,
            service=error.service,
            event_type__in=[EventType.DEPLOY, EventType.CONFIG_CHANGE],
            timestamp__lte=error.timestamp,
            timestamp__gte=error.timestamp - correlation_window(),
        )
        .order_by("-timestamp", "-id")
        .first()
    )


@dataclass
class _Grouped:
    issue_id: int
    created: bool
    members: list[Event]


def _issue_of(members: list[Event], *, key: str, now: datetime, issue_id: int | None) -> _Grouped:
    members.sort(key=lambda event: (event.timestamp, event.pk))
    if issue_id is not None:
        return _Grouped(issue_id, False, members)
    issue_id, created = _issue_for(members[0], key=key, now=now)
    return _Grouped(issue_id, created, members)


def _count(outcomes: list[_Grouped], *, now: datetime) -> None:
    """Add each group's events to its issue: counts, users, first/last seen, last release.

    Set-based, two statements for the whole batch whatever the number of
    issues, after locking the issues in id order (so two workers sharing
    issues queue instead of deadlocking). An UPDATE's expressions all read
    the row as it was, so a late event cannot overwrite the release of a newer one.
    """
    if not outcomes:
        return
    ids = sorted(outcome.issue_id for outcome in outcomes)
    locked = list(Issue.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    if len(locked) != len(ids):
        raise Issue.DoesNotExist(
            f"issues {sorted(set(ids) - set(locked))} were deleted while their events were digested"
        )
    new_users = _add_issue_users({(o.issue_id, e.user_id) for o in outcomes for e in o.members if e.user_id})
    new_routes = impact.record({o.issue_id: o.members for o in outcomes}, now=now)
    ops = connection.ops
    rows, params = [], []
    for outcome in outcomes:
        first, latest = outcome.members[0], outcome.members[-1]
        released = [event for event in outcome.members if event.release]
        newest = released[-1] if released else None
        rows.append(_COUNT_ROW)
        params += [
            outcome.issue_id,
            len(outcome.members),
            new_users.get(outcome.issue_id, 0),
            new_routes.get(outcome.issue_id, 0),
            ops.adapt_datetimefield_value(first.timestamp),
            ops.adapt_datetimefield_value(latest.timestamp),
            newest.release if newest else "",
            ops.adapt_datetimefield_value(newest.timestamp) if newest else None,
        ]
    width = len(params) // len(rows)
    with connection.cursor() as cursor:
        # SQLite allows at most 500 SELECTs in one compound statement.
        for start in range(0, len(rows), COUNT_CHUNK):
            chunk = rows[start : start + COUNT_CHUNK]
            values = " UNION ALL ".join(chunk)
            if connection.vendor == "postgresql":  # typed parameters (SQLite would read these casts as NUMERIC)
                values = _COUNT_ROW_PG + values[len(_COUNT_ROW) :]
            cursor.execute(_COUNT_SQL.format(values=values), params[start * width : (start + len(chunk)) * width])


COUNT_CHUNK = 400


_COUNT_ROW = (
    "SELECT %s AS id, %s AS n, %s AS new_users, %s AS new_routes, %s AS first_seen, %s AS last_seen, "
    "%s AS rel, %s AS rel_at"
)
_COUNT_ROW_PG = (
    "SELECT CAST(%s AS bigint) AS id, CAST(%s AS integer) AS n, CAST(%s AS integer) AS new_users, "
    "CAST(%s AS integer) AS new_routes, "
    "CAST(%s AS timestamptz) AS first_seen, CAST(%s AS timestamptz) AS last_seen, CAST(%s AS varchar) AS rel, "
    "CAST(%s AS timestamptz) AS rel_at"
)
_COUNT_SQL = """
UPDATE events_issue SET
    event_count = events_issue.event_count + v.n,
    user_count = events_issue.user_count + v.new_users,
    route_count = events_issue.route_count + v.new_routes,
    first_seen = CASE WHEN v.first_seen < events_issue.first_seen THEN v.first_seen ELSE events_issue.first_seen END,
    last_seen = CASE WHEN v.last_seen > events_issue.last_seen THEN v.last_seen ELSE events_issue.last_seen END,
    last_release = CASE WHEN v.rel_at IS NOT NULL AND events_issue.last_seen <= v.rel_at
        THEN v.rel ELSE events_issue.last_release END
FROM ({values}) AS v
WHERE events_issue.id = v.id
"""


def _finish(outcomes: list[_Grouped], events: list[Event], *, now: datetime, careful: bool = False) -> None:
    """Link and mark the batch's events in one statement, then regression handling.

    The issues read here are already locked by this transaction's counter
    updates, so their status cannot change under us before commit. ``careful``
    (the group-by-group retry) gives each issue's follow-up a savepoint of its
    own, so a failure there cannot roll back the batch and stall the queue.
    """
    link = [When(pk__in=[event.pk for event in outcome.members], then=Value(outcome.issue_id)) for outcome in outcomes]
    Event.objects.filter(pk__in=[event.pk for event in events]).update(
        digested_at=now, issue_id=Case(*link, default=None) if link else None
    )
    issues = Issue.objects.in_bulk([outcome.issue_id for outcome in outcomes])
    regressed = []
    for outcome in outcomes:
        issue, latest = issues[outcome.issue_id], outcome.members[-1]
        with _guarded(careful, f"follow-up of issue {issue.pk}"):
            if (
                not outcome.created
                and issue.status == IssueStatus.RESOLVED
                and issue.resolved_at
                and latest.timestamp > issue.resolved_at
            ):
                # Only an error that happened after the resolution is a regression; a late
                # arrival from before it is just counted.
                lifecycle.regress(issue, latest, now=now)
                regressed.append(issue.pk)
    with _guarded(careful, "impact refresh (the minute task redoes it)"):
        impact.refresh(issues, now=now)
    alerts.queue_evaluation(
        issues, created=[outcome.issue_id for outcome in outcomes if outcome.created], regressed=regressed
    )
    _publish_batch(events, issues, created={o.issue_id for o in outcomes if o.created}, regressed=set(regressed))


def _publish_batch(events: list[Event], issues: dict, *, created: set[int], regressed: set[int]) -> None:
    """One live-stream message per project and batch (after commit): counts and the issues touched."""
    if not live_streams.available():
        return
    counts: dict[int, int] = {}
    for event in events:
        counts[event.project_id] = counts.get(event.project_id, 0) + 1
    for project_id, count in counts.items():
        touched = [issue for issue in issues.values() if issue.project_id == project_id]
        stream.publish_on_commit(
            project_id,
            "events",
            {
                "count": count,
                "issues": [
                    {**stream.issue_data(issue), "new": issue.pk in created, "regressed": issue.pk in regressed}
                    for issue in touched
                ],
            },
        )


@contextmanager
def _guarded(careful: bool, what: str):
    if not careful:
        yield
        return
    try:
        with transaction.atomic():
            yield
    except OperationalError:
        raise
    except Exception:
        logger.exception("digest: %s failed; skipped", what)


def _add_issue_users(pairs: set[tuple[int, str]]) -> dict[int, int]:
    """Insert each (issue, user) once; returns how many were new per issue."""
    return impact.insert_new_pairs("events_issueuser", "user_id", {(i, user[:200]) for i, user in pairs})


# --- retention ------------------------------------------------------------------------


def delete_old_events(*, now: datetime | None = None, batch_size: int = 1000, max_batches: int = 1000) -> int:
    """Delete events past retention in small batches (short transactions); issues keep their counters."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACEPOINT["EVENTS_RETENTION_DAYS"])
    deleted = 0
    for _ in range(max_batches):
        # Undigested rows wait for their counters first.
        old = Event.objects.filter(timestamp__lt=cutoff, digested_at__isnull=False).order_by("timestamp")
        batch = list(old.values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        # Deploy markers that resolved issues are referenced with SET NULL; nothing else points here.
        count, _ = Event.objects.filter(pk__in=batch).delete()
        deleted += count
    return deleted


def delete_old_activity(*, now: datetime | None = None, batch_size: int = 5000, max_batches: int = 1000) -> int:
    """Delete issue history rows past ISSUE_ACTIVITY_RETENTION_DAYS in batches (short transactions)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACEPOINT["ISSUE_ACTIVITY_RETENTION_DAYS"])
    deleted = 0
    for _ in range(max_batches):
        batch = list(IssueActivity.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        count, _ = IssueActivity.objects.filter(pk__in=batch).delete()
        deleted += count
    return deleted


# --- wiping a project's events ---------------------------------------------------------------------

WIPE_BATCH = 2000


def request_wipe(project: Project, *, now: datetime | None = None) -> datetime:
    """Queue the deletion of the project's events (and of the issues left without events) received up to
    now; events arriving meanwhile are kept. The project, its keys, members and rules stay."""
    from events.tasks import wipe_events

    cutoff = now or timezone.now()
    transaction.on_commit(lambda: wipe_events.delay(project.pk, cutoff.isoformat()), robust=True)
    return cutoff


def wipe_events_batch(project_id: int, cutoff: datetime) -> int:
    """One batch: events first, then issues that have none left. Returns rows deleted (0: finished)."""
    ids = list(
        Event.objects.filter(project_id=project_id, received_at__lte=cutoff).values_list("pk", flat=True)[:WIPE_BATCH]
    )
    if ids:
        with transaction.atomic():
            deleted, _ = Event.objects.filter(pk__in=ids).delete()
        return deleted
    issues = list(
        Issue.objects.filter(project_id=project_id, first_seen__lte=cutoff)
        .exclude(events__isnull=False)
        .values_list("pk", flat=True)[: WIPE_BATCH // 4]
    )
    if not issues:
        return 0
    with transaction.atomic():
        deleted, _ = Issue.objects.filter(pk__in=issues).delete()
    return deleted
