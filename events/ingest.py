"""Ingest: storing accepted events durably and waking the digester.

Nothing is answered 2xx before it is committed, so an accepted event survives a worker crash, a restart
or a Redis outage. The two protocols store differently:
- a Sentry SDK's event is stored as it arrived (``receive``: a ``ReceivedEvent`` with the body still
  compressed); the digester maps it to an Event (``events.sentry_event``), so the request does the least;
- the native API's events (``events.native``) are few and often deploys that must show at once: stored
  as Event rows (``store_events``, ``digested_at`` NULL) from a ``NewEvent``.
Grouping runs later in ``events.digestion``: ``wake_digester`` queues one ``digest_pending`` task after
commit, debounced, and the ``sweep_undigested`` beat task digests whatever the queue missed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections, router, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from events.keys import InvalidProjectKey, forget_keys
from events.models import Event, Project, ReceivedEvent
from tracepoint import redis
from tracepoint.write_gate import write_gate

logger = logging.getLogger("tracepoint.events")


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
    if value.isascii():  # most text: no surrogate can be in it, and the NUL test is one C scan
        return value.replace("\x00", "") if "\x00" in value else value
    return _SURROGATES.sub("\ufffd", value.replace("\x00", ""))


def dump_json(value: Any) -> str:
    """JSON text of a cleaned value (orjson; the stdlib for what it refuses, such as integers over 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def clean_data(value: Any, depth: int = 0) -> Any:
    """JSON both databases accept: clean text, no NaN/Infinity, bounded depth.

    It walks every value of every event on the ingest path, so the common types are told apart by ``type()``
    identity first (the subclasses of str, int and float, rare, take the ``isinstance`` way)."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if depth >= MAX_DATA_DEPTH:
        return "<nested too deeply>" if kind is dict or kind is list else _clean_other(value, depth)
    if kind is dict:
        deeper = depth + 1
        return {
            (key if type(key) is str and key.isascii() and "\x00" not in key else clean_text(str(key))): clean_data(
                item, deeper
            )
            for key, item in value.items()
        }
    if kind is list:
        deeper = depth + 1
        return [clean_data(item, deeper) for item in value]
    return _clean_other(value, depth)


def _clean_other(value: Any, depth: int) -> Any:
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


def event_row(project: Project, item: NewEvent, *, received_at: datetime, clean: bool = True) -> Event:
    """The Event row of a NewEvent received at ``received_at``: clean text and JSON, lengths within the columns.

    ``clean=False``: the caller knows ``item.data`` is clean already (no NUL, lone surrogate, NaN or infinity,
    depth bounded), and the walk over every value is skipped."""
    data = clean_data(item.data) if clean else item.data
    timestamp = item.timestamp
    # Older than retention would be deleted before it is counted: treat it as received now.
    if timestamp < received_at - timedelta(days=settings.TRACEPOINT["EVENTS_RETENTION_DAYS"]):
        data["original_timestamp"] = timestamp.isoformat()
        timestamp = received_at
    # Positional, in _EVENT_COLUMNS order: Model.__init__ with keywords costs twice as much, per event digested.
    event = Event(
        None,
        project.pk,
        item.event_id,
        item.event_type,
        clean_text(item.service),
        timestamp,
        received_at,
        item.level,
        clean_text(item.message[:10_000]),
        clean_text(item.release[:200]),
        clean_text(item.environment[:64]),
        clean_text(item.route[:500]),
        clean_text(item.user_id[:200]),
        clean_text(item.platform[:32]),
        data,
        None,
        None,
    )
    _EVENT_PROJECT.set_cached_value(event, project)
    return event


_EVENT_COLUMNS = [
    "id", "project_id", "event_id", "event_type", "service", "timestamp", "received_at", "level", "message",
    "release", "environment", "route", "user_id", "platform", "data", "issue_id", "digested_at",
]  # fmt: skip
if [field.attname for field in Event._meta.concrete_fields] != _EVENT_COLUMNS:
    raise ImproperlyConfigured("events.ingest.event_row: Event's fields changed; update _EVENT_COLUMNS")
_EVENT_PROJECT = Event._meta.get_field("project")


def store_events(project: Project, events: list[NewEvent], *, now: datetime | None = None) -> list[uuid.UUID]:
    """Store events durably (the same ``event_id`` twice is stored once) and queue their grouping.

    Returns the event ids. The caller answers 2xx only after this returned:
    the rows are committed by then.
    """
    now = now or timezone.now()
    rows = [event_row(project, item, received_at=now) for item in events]
    ids = [item.event_id for item in events]
    if len(rows) == 1 and not transaction.get_connection().in_atomic_block:
        # One event per request: a single autocommit INSERT is one round
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


@dataclass(frozen=True)
class Received:
    """An accepted Sentry event, to store as it arrived (``receive``'s arguments)."""

    project: Project
    event_id: uuid.UUID
    body: bytes
    encoding: str
    envelope: bool


def receive(
    project: Project, event_id: uuid.UUID, *, body: bytes, encoding: str, envelope: bool, now: datetime | None = None
) -> None:
    """Store a Sentry event as it arrived (a ``ReceivedEvent``; the same ``event_id`` again is a no-op) and
    wake the digester. Committed when this returns, so the caller may answer 2xx.

    One INSERT of a narrow row with two indexes, no ORM: this runs for every event an SDK sends.
    """
    now = now or timezone.now()
    connection = connections[router.db_for_write(ReceivedEvent)]
    try:
        _insert_received(connection, [Received(project, event_id, body, encoding, envelope)], now)
    except IntegrityError:
        # The project is gone: its key was remembered from before another process deleted it.
        forget_keys()
        raise InvalidProjectKey("Unknown or revoked project key.") from None
    _wake_after_commit(connection)


def _wake_after_commit(connection) -> None:
    if connection.in_atomic_block:
        transaction.on_commit(wake_digester, robust=True)
    else:
        wake_digester()


_uuid_field = ReceivedEvent._meta.get_field("event_id")
_RECEIVE_INSERT = (
    "INSERT INTO events_receivedevent (project_id, event_id, received_at, encoding, envelope, body) VALUES "
)
_RECEIVE_ROW = "(%s, %s, %s, %s, %s, %s)"


def receive_many(items: list[Received], *, now: datetime | None = None) -> list[InvalidProjectKey | None]:
    """Store several Sentry events as they arrived in one INSERT (group commit: the ingest service gathers
    the events of concurrent requests), and wake the digester once. Committed when this returns.

    Returns, per item, None (stored, or already there) or the ``InvalidProjectKey`` to answer for it: a
    project deleted meanwhile fails the whole statement, and the rows are then stored one by one so that
    only its events are refused. A lost database raises, as ``receive`` does (nothing was stored)."""
    if not items:
        return []
    now = now or timezone.now()
    connection = connections[router.db_for_write(ReceivedEvent)]
    try:
        _insert_received(connection, items, now)
        outcomes: list[InvalidProjectKey | None] = [None] * len(items)
    except IntegrityError:
        forget_keys()  # a project is gone: its key was remembered from before another process deleted it
        outcomes = []
        for item in items:
            try:
                _insert_received(connection, [item], now)
                outcomes.append(None)
            except IntegrityError:
                outcomes.append(InvalidProjectKey("Unknown or revoked project key."))
    _wake_after_commit(connection)
    return outcomes


def _insert_received(connection, items: list[Received], now: datetime) -> None:
    # No ORM: a narrow row with two indexes, on every event an SDK sends. On PostgreSQL psycopg's own
    # cursor binds on the server: the bodies travel as bytes, where Django's client-side binding would
    # escape them into the SQL text (a third of the insert's CPU).
    sql = f"{_RECEIVE_INSERT}{', '.join([_RECEIVE_ROW] * len(items))} ON CONFLICT DO NOTHING"
    if connection.vendor == "postgresql":
        params = []
        for item in items:
            params += [item.project.pk, item.event_id, now, item.encoding, item.envelope, item.body]
        with connection.wrap_database_errors:
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=False)
        return
    at = connection.ops.adapt_datetimefield_value(now)
    params = []
    for item in items:
        event_id = _uuid_field.get_db_prep_value(item.event_id, connection)
        params += [item.project.pk, event_id, at, item.encoding, item.envelope, item.body]
    with write_gate(), connection.cursor() as cursor:
        cursor.execute(sql, params)


_INSERT_FIELDS = [field for field in Event._meta.concrete_fields if not field.primary_key]


# --- waking the digester --------------------------------------------------------------

WAKE_KEY = "events:digester-wakeup"
DIGEST_DELAY_SECONDS = 0.5
# After a failed wake-up this process leaves the events to the sweeper for a while.
WAKE_PAUSE_SECONDS = 5.0
# A queued digester starts no earlier than its start time (stored in the key); events this process commits
# until this long before it need no wake-up of their own. Covers clock differences between machines.
WAKE_MARGIN_SECONDS = 0.1
# A task that should have started but has not (the workers are busy) still covers events until it starts:
# a process that finds its key trusts it this long before asking again, and a starting digester looks at
# the table once more no sooner than this after it cleared the key. Without it, under a backlog every
# commit of every process asked Redis (one EVALSHA per 7 events in the ingest bench).
WAKE_LATE_SECONDS = 0.1
_wake_paused_until = 0.0
_wake_covered_until = 0.0
_clock = time.monotonic  # tests move it

# The key's value, or set it (expiring) and answer nil: one round trip, on Redis 6 as well as 7.
_GET_OR_SET = """
local old = redis.call('GET', KEYS[1])
if old then return old end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


def reset() -> None:
    """Forget any paused or covered digester wake-up of this process (tests call it between tests)."""
    global _wake_paused_until, _wake_covered_until
    _wake_paused_until = _wake_covered_until = 0.0
    _get_or_set.cache_clear()


@lru_cache(maxsize=4)
def _get_or_set(client):
    return client.register_script(_GET_OR_SET)


def _wake_key() -> str:
    return f"{settings.CACHE_KEY_PREFIX}:{WAKE_KEY}"


def wake_digester() -> None:
    """Queue one ``digest_pending`` task unless one is already waiting to start.

    A publish per event would cost more than the insert; one task digests
    everything waiting, in batches. The key exists while a queued task has not
    started (the task clears it first, and it expires after a second in any
    case), so an event that finds it set will be seen by that task. Its value is
    the task's start time: until shortly before it, this process's next events
    are covered by that task without asking Redis again (a few calls a second
    per process instead of one per event). If the broker (or Redis) is away,
    the beat sweeper digests the rows later: nothing accepted is lost.
    """
    global _wake_paused_until, _wake_covered_until
    from events import tasks  # cycle: events.tasks runs the digester, which clears this module's wake-up key

    clock = _clock()
    if clock < _wake_paused_until:
        return  # Redis or the broker failed a moment ago: don't make every request wait for it again
    if clock < _wake_covered_until:
        return
    now = time.time()
    starts_at = now + DIGEST_DELAY_SECONDS
    try:
        client = redis.client()
        if client is not None:
            queued = _get_or_set(client)(keys=[_wake_key()], args=[repr(starts_at), 1])
        else:
            queued = None if cache.add(_wake_key(), repr(starts_at), timeout=1) else cache.get(_wake_key())
        if queued is None:
            # Run a moment later: what arrives meanwhile joins the same batch, so under
            # load the digester works in hundreds, not in ones (its cost is per group).
            tasks.digest_pending.apply_async(countdown=DIGEST_DELAY_SECONDS, retry=False)
            covered = DIGEST_DELAY_SECONDS - WAKE_MARGIN_SECONDS
        else:
            # Counted on this process's monotonic clock, and never longer than a task waits: a wall clock
            # that steps back, or another machine's that runs ahead, cannot keep this process from asking
            # again. A task late to start covers WAKE_LATE_SECONDS (see digest_pending).
            covered = max(min(float(queued) - now, DIGEST_DELAY_SECONDS) - WAKE_MARGIN_SECONDS, WAKE_LATE_SECONDS)
        _wake_covered_until = clock + covered
    except Exception as exc:
        _wake_paused_until = _clock() + WAKE_PAUSE_SECONDS
        logger.warning("could not queue digestion (the sweeper will pick the events up): %s", exc)


def clear_wakeup() -> None:
    """Called by a starting digester: events stored from now on queue another run."""
    client = redis.client()
    if client is not None:
        client.delete(_wake_key())
    else:
        cache.delete(_wake_key())
