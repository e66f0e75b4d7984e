"""Digestion: grouping stored events into issues, in batches.

``digest_pending`` (the task ``events.ingest.wake_digester`` queues) and ``sweep_undigested`` (beat)
claim Sentry events as they were received (``ReceivedEvent``) and map them to Event rows
(``events.sentry_event``: normalised, trimmed, scrubbed), then claim undigested Event rows with
``SKIP LOCKED`` (those and the native API's), fingerprint them (``events.grouping``), find or create each
fingerprint's issue exactly once, add the batch to the issues' counters in two set-based statements,
mark the events digested, hand regressions to ``events.lifecycle``, refresh impact, queue alert
evaluation and publish one live-stream message per project. Also here: which deploy an error follows
(``suspected_cause``), as a new issue records it.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, Value, When
from django.db.models.functions import Length
from django.utils import timezone

from events import alerts, grouping, impact, ingest, lifecycle, sentry_protocol, stream
from events.models import (
    Event,
    EventType,
    Issue,
    IssueActivity,
    IssueGrouping,
    IssueStatus,
    Project,
    ReceivedEvent,
)
from events.sentry_event import to_new_event
from tracepoint import stream as live_streams
from tracepoint.rows import rows_with_keys, server_cursor
from tracepoint.write_gate import write_gate

logger = logging.getLogger("tracepoint.events")


def _claim(queryset, limit: int) -> list[Event]:
    """Lock up to ``limit`` undigested rows that no other worker holds (SKIP LOCKED)."""
    return list(
        queryset.filter(digested_at__isnull=True)
        .select_for_update(skip_locked=True)
        .order_by("timestamp", "id")[:limit]
    )


def batch_size() -> int:
    """Events per batch: 250 where workers skip each other's rows; on SQLite, whose one writer makes every
    ingest insert wait for a batch's write, 200: about 65 ms of writing on the embedded default, the most
    that keeps ingest's p99 under 100 ms (100 kept it lower but cost a tenth of the throughput).

    On PostgreSQL a batch's COPY and updates are a burst of the server's CPU and of WAL that every ingest
    commit meanwhile has to flush behind: ingest's p99 went to 52-87 ms in two of three bench runs with
    batches of 500, and stayed at 29-39 ms with 250. The price: 9 % more of digestion's instructions per
    event (a batch's fixed cost is mostly per issue it touches, and the bench's batches touch all 50)."""
    return 250 if connection.features.has_select_for_update_skip_locked else 200


def digest_pending(*, limit: int | None = None, now: datetime | None = None) -> int:
    """Digest one batch of whatever is waiting (oldest first). Returns how many events it took."""
    now = now or timezone.now()
    return _digest_waiting(ReceivedEvent.objects.all(), Event.objects.all(), limit=limit or batch_size(), now=now)


def sweep_undigested(*, older_than_seconds: int = 5, limit: int = 1000, now: datetime | None = None) -> int:
    """Digest events the queue missed (broker down, worker crash). Safe to run anywhere, any time."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    total = 0
    while total < limit:
        done = _digest_waiting(
            ReceivedEvent.objects.filter(received_at__lte=cutoff),
            Event.objects.filter(received_at__lte=cutoff),
            limit=min(batch_size(), limit - total),
            now=now,
        )
        if not done:
            break
        total += done
    return total


# Under a flood of SDK events, the native API's undigested events (few, often deploys) still get this
# share of every batch.
NATIVE_SHARE = 10


def _digest_waiting(received_rows, stored_events, *, limit: int, now: datetime) -> int:
    """One batch: received SDK events (mapped to new Event rows) and stored undigested events, grouped.

    Where workers can skip each other's rows (PostgreSQL), each claims its received rows first and maps
    them while it holds them. SQLite has one writer at a time, and a transaction there holds the write
    lock from its first statement (IMMEDIATE): the rows are mapped before it, so ingest's inserts wait
    only for the writing."""
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            received = _first_received(received_rows.select_for_update(skip_locked=True), limit)
            return _digest_received(received, _map(received), stored_events, limit=limit, now=now)
    received = _first_received(received_rows, limit)
    mapped = _map(received)
    with write_gate(), transaction.atomic():
        present = set(ReceivedEvent.objects.filter(pk__in=[row.pk for row in received]).values_list("pk", flat=True))
        received = [row for row in received if row.pk in present]  # another worker took the rest meanwhile
        return _digest_received(received, mapped, stored_events, limit=limit, now=now)


# The bodies one batch loads at most (a body is at most SENTRY_MAX_EVENT_BYTES and its header): events of
# a megabyte each, compressed badly on purpose, must not take a worker's memory 500 at a time.
RECEIVED_BATCH_MAX_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class _Received:
    """A received row as digestion reads it: no model instance (a deferred one per row cost more than its
    query)."""

    pk: int
    project_id: int
    event_id: uuid.UUID
    received_at: datetime
    encoding: str
    envelope: bool
    size: int
    body: bytes | None = None


_RECEIVED_COLUMNS = ("pk", "project_id", "event_id", "received_at", "encoding", "envelope", "size")


def _first_received(rows, limit: int) -> list[_Received]:
    """The oldest received rows, up to ``limit`` rows and RECEIVED_BATCH_MAX_BYTES of bodies (at least one)."""
    found = rows.order_by("id").annotate(size=Length("body")).values_list(*_RECEIVED_COLUMNS)[:limit]
    taken, total = [], 0
    for values in found:
        row = _Received(*values)
        if taken and total + row.size > RECEIVED_BATCH_MAX_BYTES:
            break
        taken.append(row)
        total += row.size
    bodies = _bodies([row.pk for row in taken])
    for row in taken:
        row.body = bodies.get(row.pk)
    # Unlocked on SQLite: another worker may have digested (and deleted) some since the first query.
    return [row for row in taken if row.body is not None]


def _bodies(ids: list[int]) -> dict[int, bytes]:
    """The bodies of these received rows, by id. On PostgreSQL in binary: as text, each body would travel
    hex-encoded (twice its size), encoded by the server and decoded here."""
    if connection.vendor != "postgresql":
        return dict(ReceivedEvent.objects.filter(pk__in=ids).values_list("pk", "body"))
    with server_cursor() as cursor:
        cursor.execute("SELECT id, body FROM events_receivedevent WHERE id = ANY(%s)", [ids], binary=True)
        return dict(cursor.fetchall())


def _digest_received(received, mapped, stored_events, *, limit: int, now: datetime) -> int:
    fresh = _take(received, mapped)
    stored = _claim(stored_events, max(limit - len(received), limit // NATIVE_SHARE))
    _digest_batch(fresh + stored, now=now)
    return len(received) + len(stored)


def _map(received: list[_Received]) -> dict[int, Event]:
    """The unsaved Event row (normalised and scrubbed) of each received row, by the row's id. One that cannot
    be read any more (the view checked it, so only a change of these rules would do it) is left out and
    said loudly; its row is deleted with the others."""
    projects = Project.objects.in_bulk({row.project_id for row in received})
    mapped = {}
    for row in received:
        project = projects.get(row.project_id)
        if project is None:
            continue  # deleted since: its received rows go with it
        try:
            event, unclean = _decode(row)
            new_event = to_new_event(event, project=project, event_id=row.event_id, now=row.received_at)
            mapped[row.pk] = ingest.event_row(project, new_event, received_at=row.received_at, clean=unclean)
        except Exception:
            logger.exception("could not read received event %s; dropped", row.event_id)
            continue
        # Here rather than in the batch: on SQLite, before the write lock is taken. An event whose
        # fingerprint fails is kept: the batch stores it without an issue, and says so.
        with contextlib.suppress(Exception):
            _grouping_key(mapped[row.pk])
    return mapped


def _take(received: list[_Received], mapped: dict[int, Event]) -> list[Event]:
    """Delete the received rows (held by this transaction) and return their new events, but for those already
    stored (an SDK's resend after the first was digested): not stored or counted again."""
    if not received:
        return []
    pairs = [(row.project_id, row.event_id) for row in received]
    stored = set(rows_with_keys(Event, ["project", "event_id"], pairs, columns=["project", "event_id"]))
    ids = [row.pk for row in received]
    if connection.vendor == "postgresql":
        with server_cursor() as cursor:
            cursor.execute("DELETE FROM events_receivedevent WHERE id = ANY(%s)", [ids])
    else:
        ReceivedEvent.objects.filter(pk__in=ids)._raw_delete(ReceivedEvent.objects.db)
    return [mapped[row.pk] for row in received if row.pk in mapped and (row.project_id, row.event_id) not in stored]


_EVENT_FIELDS = [field for field in Event._meta.concrete_fields if not field.primary_key]
_COPY_EVENTS = "COPY events_event (id, {}) FROM STDIN".format(", ".join(f.column for f in _EVENT_FIELDS))


def _insert(events: list[Event]) -> None:
    """Insert new events and set their ids.

    On PostgreSQL: ids from the sequence, then one COPY. Django's bulk INSERT binds its values on the
    client, which escapes every character of every payload in Python: most of digestion's CPU."""
    if not events:
        return
    if connection.vendor == "sqlite":
        _insert_sqlite(events)
        return
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(events, batch_size=500)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('events_event', 'id')) FROM generate_series(1, %s)", [len(events)]
        )
        ids = [row[0] for row in cursor.fetchall()]
    with server_cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
        for pk, event in zip(ids, events, strict=True):
            copy.write_row([pk, *_values(event)])
    for pk, event in zip(ids, events, strict=True):
        event.pk = pk
        event._state.adding = False


# From the model's own column names; every value is a parameter.
_INSERT_EVENT = "INSERT INTO events_event ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(f.column for f in _EVENT_FIELDS), ", ".join(["%s"] * len(_EVENT_FIELDS))
)


def _insert_sqlite(events: list[Event]) -> None:
    """One prepared INSERT for every row (bulk_create's statement building was a third of the write lock a
    batch holds). This transaction holds SQLite's only write lock: the rows get consecutive ids."""
    rows = [_values(event, prepared=True) for event in events]
    with connection.cursor() as cursor:
        cursor.executemany(_INSERT_EVENT, rows)
        cursor.execute("SELECT last_insert_rowid()")
        last = cursor.fetchone()[0]
    for pk, event in zip(range(last - len(events) + 1, last + 1), events, strict=True):
        event.pk = pk
        event._state.adding = False


def _values(event: Event, *, prepared: bool = False) -> list:
    """The event's values in ``_EVENT_FIELDS`` order, its payload as JSON text (orjson); ``prepared``: as the
    database takes them as parameters, else as Python values (COPY adapts those itself)."""
    if prepared:
        return [
            ingest.dump_json(event.data)
            if field.attname == "data"
            else field.get_db_prep_save(getattr(event, field.attname), connection)
            for field in _EVENT_FIELDS
        ]
    values = list(_event_values(event))
    values[_DATA_INDEX] = ingest.dump_json(event.data)
    return values


_event_values = operator.attrgetter(*(field.attname for field in _EVENT_FIELDS))
_DATA_INDEX = [field.attname for field in _EVENT_FIELDS].index("data")


def _decode(row: _Received) -> tuple[dict, bool]:
    """The event's JSON object, and whether its text or numbers may need cleaning before they are stored."""
    limit = settings.TRACEPOINT["SENTRY_MAX_DECOMPRESSED_BYTES"]
    body = sentry_protocol.decode_content(bytes(row.body), row.encoding, limit=limit)
    if row.envelope:
        ((_, body),) = sentry_protocol.parse_envelope(body).items
    if not _has_long_number(body):  # orjson reads integers beyond 64 bits as floats; the stdlib keeps them
        try:
            # What orjson reads has no lone surrogate, NaN or infinity; a NUL can only come as an escape.
            event = orjson.loads(body)
            if isinstance(event, dict):
                return event, b"\\u0000" in body
        except orjson.JSONDecodeError:
            pass
    return sentry_protocol.json_object(body, "event", exact=True), True


# 19 digits: -9999999999999999999 is already below the 64-bit range (and rarer than a needless slow read).
_LONG_DIGITS = b"0" * 19
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


def _has_long_number(body: bytes) -> bool:
    """Whether ``body`` holds a run of 19 ASCII digits (``re`` ``rb"\\d{19}"``): as a translation and a substring
    search, ten times faster than the regular expression, which tries every position of the event."""
    return _LONG_DIGITS in body.translate(_DIGITS_AS_ZEROS)


def _grouping_key(event: Event) -> str:
    """The fingerprint's hash, computed once (``_map`` computes it for new events, on SQLite before the
    write lock is taken)."""
    key = getattr(event, "_grouping_key", None)
    if key is None:
        key = event._grouping_key = grouping.key_hash(grouping.fingerprint_components(event.data, route=event.route))
    return key


def _digest_batch(events: list[Event], *, now: datetime) -> int:
    """Group undigested events, locked or new (unsaved: inserted here, already digested): one issue
    lookup and one counter update per fingerprint.

    The batch runs in one savepoint; if anything in it fails, it is redone
    group by group, so one bad group is quarantined instead of stalling the queue.
    """
    if not events:
        return 0
    # Decided once: a failed first attempt rolls back their insert, but not the ids it gave them.
    fresh = [event for event in events if event.pk is None]
    groups: dict[tuple[int, str], list[Event]] = {}
    for event in events:
        if event.event_type != EventType.ERROR:
            continue
        try:
            key = _grouping_key(event)
        except Exception:
            # Quarantine: stored and marked digested without an issue (below), and said loudly.
            logger.exception("could not fingerprint event %s; left ungrouped", event.event_id)
            continue
        groups.setdefault((event.project_id, key), []).append(event)
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
            _finish(outcomes, events, fresh, now=now)
        return len(events)
    except OperationalError:
        raise  # deadlock, timeout, lost connection: the rows stay queued for the next run
    except Exception:
        logger.warning("a digest batch failed; retrying it group by group", exc_info=True)
    for event in fresh:  # as before the rolled-back attempt: not stored, not grouped
        event.pk, event.issue_id, event.digested_at = None, None, None
        event._state.adding = True
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
    _finish(outcomes, events, fresh, now=now, careful=True)
    return len(events)


def _known_issues(groups: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The issues of the fingerprints that already have one, in one query."""
    if not groups:
        return {}
    version = grouping.GROUPING_VERSION
    links = rows_with_keys(
        IssueGrouping,
        ["project", "grouping_version", "key_hash"],
        [(pid, version, key) for pid, key in groups],
        columns=["project", "key_hash", "issue"],
    )
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
    members.sort(key=lambda event: (event.timestamp, event.pk is None, event.pk or 0))
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


def _finish(
    outcomes: list[_Grouped], events: list[Event], fresh: list[Event], *, now: datetime, careful: bool = False
) -> None:
    """Link and mark the batch's stored events in one statement, insert its ``fresh`` ones (received, not
    stored yet) digested, then regression handling.

    The issues read here are already locked by this transaction's counter
    updates, so their status cannot change under us before commit. ``careful``
    (the group-by-group retry) gives each issue's follow-up a savepoint of its
    own, so a failure there cannot roll back the batch and stall the queue.
    """
    issue_of = {id(event): outcome.issue_id for outcome in outcomes for event in outcome.members}
    new = {id(event) for event in fresh}
    stored = [event for event in events if id(event) not in new]
    if stored:
        link: dict[int, list[int]] = {}
        for event in stored:
            if id(event) in issue_of:
                link.setdefault(issue_of[id(event)], []).append(event.pk)
        cases = [When(pk__in=pks, then=Value(issue_id)) for issue_id, pks in link.items()]
        Event.objects.filter(pk__in=[event.pk for event in stored]).update(
            digested_at=now, issue_id=Case(*cases, default=None) if cases else None
        )
    for event in fresh:
        event.issue_id, event.digested_at = issue_of.get(id(event)), now
    _insert(fresh)  # sets their ids: the activities below point at them
    IssueActivity.objects.bulk_create(
        IssueActivity(
            issue_id=outcome.issue_id, kind=IssueActivity.Kind.CREATED, event=outcome.members[0], created_at=now
        )
        for outcome in outcomes
        if outcome.created
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
