"""Escalations: the run of a policy for one incident, step by step, until someone acknowledges.

- An incident that opens (created or reopened, whatever opened it) starts its service's policy:
  ``start_for_incident`` runs inside the incident's own transaction (``incident_opened``), so an
  incident never commits without its escalation. The first step is due at once and a task runs it
  right after the commit; the beat tick (``run_due``) runs anything due that no task ran.
- A step is run by whoever holds the escalation's row lock (``SELECT … FOR UPDATE SKIP LOCKED``): the
  pages it creates and the move of the pointer (``round``, ``step_index``, ``next_step_at``) commit
  together, so a worker killed mid-step leaves nothing half done and the next claim runs it again,
  and a committed step is never run twice. A unique (escalation, round, step, user) constraint
  backs this: one page per person per step.
- The next step is due ``delay_minutes`` after the previous one was *due* (not after it ran), so a
  busy worker does not make every later step late as well.
- A step that reaches nobody (its schedules are in a gap, its people have no way to be reached)
  falls through to the next step at once, and the timeline says why. After the last step the policy
  starts over ``repeat`` times; then the escalation ends, on the timeline, with the incident open.
- Acknowledging or resolving the incident ends it (``stop_for_incident``, from ``incident_changed``;
  the tick also checks the incident's status before every step, so a missed signal costs at most
  one tick). Reopening starts it again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Incident, Status, TimelineEntry
from incidents.notifications import incident_message
from incidents.oncall import paging, routing
from incidents.oncall import schedule as engine
from incidents.oncall.models import Escalation, EscalationPolicy, Page, Schedule
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.notifications.models import NotificationChannel
from tracepoint.notifications.services import notify

logger = logging.getLogger("tracepoint.oncall")

ACTOR = incident_services.Actor(label="on-call")
CHANNEL_TOPIC = "oncall.escalation"
RUN_BATCH = 50
RUN_BUDGET_SECONDS = 20.0
KICK_KEY = "oncall:run-escalations-queued"
KICK_TTL_SECONDS = 60  # a task that died holding the key only delays to the tick for this long
ON_TIME_SECONDS = 0.5  # steps due between two ticks run in slots this long


# --- which policy ------------------------------------------------------------------------------


def policy_for_service(service: str) -> EscalationPolicy | None:
    """The policy naming ``service``, else the default policy of the team owning it, else None
    (from the cached routing table, which every change of policies and teams drops)."""
    found = routing.route(service)
    return EscalationPolicy.objects.select_related("team").filter(pk=found[0]).first() if found else None


def _note(incident: Incident, text: str, *, now: datetime, by=ACTOR, refresh: bool = True) -> None:
    incident_services.add_note(
        incident, kind=TimelineEntry.Kind.ESCALATION, body=text[:2000], by=by, now=now, refresh=refresh
    )


def _describe_run(steps: list[dict], repeat: int) -> str:
    count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
    return count + (f", repeated {repeat} time{'s' if repeat != 1 else ''}" if repeat else "")


# --- starting and stopping ---------------------------------------------------------------------


def _queue_run(escalation_id: int | None = None) -> None:
    """Have a worker run the due steps right after the commit, rather than on the next tick."""
    transaction.on_commit(kick, robust=True)


def kick() -> None:
    """Queue ``run_escalations`` unless one is queued or running already (``KICK_KEY``): a storm of
    incidents queues a handful of tasks, not one per incident. The task drops the key before its
    last pass, so an escalation committed after that pass started queues a task of its own, and one
    committed before it is seen by it. If the cache is down, the beat tick still runs everything."""
    from incidents.oncall.tasks import run_escalations  # lazy: tasks imports this module

    if cache.add(KICK_KEY, "1", timeout=KICK_TTL_SECONDS):
        run_escalations.delay()


def _start(
    incident: Incident,
    *,
    policy: EscalationPolicy | None,
    name: str,
    steps: list[dict],
    repeat: int,
    now: datetime,
    text: str,
    by=ACTOR,
    refresh: bool = True,
) -> Escalation | None:
    """Cancel the incident's active escalation, if any, and start this one (due now)."""
    fields = {"incident": incident, "policy": policy, "name": name[:150], "steps": steps, "repeat": repeat}
    if not refresh:
        # An incident opening: nothing to replace, and the receiver's savepoint already guards this.
        escalation = Escalation.objects.create(**fields, started_at=now, next_step_at=now)
    else:
        _end_active(incident.pk, state=Escalation.State.CANCELLED, now=now, reason="replaced by a new escalation")
        try:
            with transaction.atomic():  # a concurrent start of the same incident loses on the unique index
                escalation = Escalation.objects.create(**fields, started_at=now, next_step_at=now)
        except IntegrityError:
            logger.info("incident %s: escalation not started (another one started meanwhile)", incident.pk)
            return None
    _note(incident, text, now=now, by=by, refresh=refresh)
    _queue_run(escalation.pk)
    return escalation


def start_for_incident(incident: Incident, *, now: datetime, reopened: bool = False) -> Escalation | None:
    """Start the policy of the incident's service (inside the caller's transaction, which refreshes
    the incident's pages on commit itself), if it has one. Reads the cached routing table."""
    found = routing.route(incident.service)
    if found is None:
        return None
    policy_id, policy = found
    name, steps, repeat = policy["name"], policy["steps"], policy["repeat"]
    if not steps:
        _note(incident, f"Escalation policy {name} has no steps: nobody is paged.", now=now, refresh=False)
        return None
    verb = "started again (the incident reopened)" if reopened else "started"
    return _start(
        incident,
        policy=EscalationPolicy(pk=policy_id),
        name=name,
        steps=steps,
        repeat=repeat,
        now=now,
        text=f"Escalation policy {name} {verb}: {_describe_run(steps, repeat)}.",
        refresh=False,
    )


def _end_active(incident_id, *, state: str, now: datetime, reason: str, acknowledged_via: str = "") -> list[int]:
    ids = list(
        Escalation.objects.select_for_update()
        .filter(incident_id=incident_id, state=Escalation.State.ACTIVE)
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    Escalation.objects.filter(pk__in=ids).update(
        state=state, ended_at=now, ended_reason=reason[:300], next_step_at=None
    )
    page_status = Page.Status.ACKNOWLEDGED if state != Escalation.State.CANCELLED else Page.Status.CANCELLED
    paging.close_pages(ids, status=page_status, now=now, acknowledged_via=acknowledged_via, reason=reason)
    return ids


def _acknowledger(incident: Incident) -> str:
    """Who moved the incident out of OPEN, and how: "Ann via Phone (ntfy) page link", or "ann"."""
    entry = (
        incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGED, from_value=Status.OPEN)
        .select_related("actor")
        .order_by("-created_at", "-id")
        .first()
    )
    if entry is None:
        return ""
    if entry.actor_label:
        return entry.actor_label
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.get_username()
    return "system"


def stop_for_incident(incident_id, *, now: datetime | None = None) -> int:
    """End the incident's active escalation when the incident is no longer OPEN (or is gone)."""
    now = now or timezone.now()
    if not _ending().filter(incident_id=incident_id).exists():
        return 0  # the common case (every change of every incident): one query, no transaction
    return _stop_if_not_open(incident_id, now=now)


def _ending():
    """Active escalations whose incident left OPEN or was deleted."""
    return Escalation.objects.active().filter(~Q(incident__status=Status.OPEN) | Q(incident__deleted_at__isnull=False))


def _stop_if_not_open(incident_id, *, now: datetime) -> int:
    with transaction.atomic():
        incident = Incident.objects.filter(pk=incident_id).first()
        if incident is not None and incident.deleted_at is None and incident.status == Status.OPEN:
            return 0
        return _stop(incident, incident_id, now=now)


def _stop(incident: Incident | None, incident_id, *, now: datetime) -> int:
    if incident is None or incident.deleted_at is not None:
        return len(_end_active(incident_id, state=Escalation.State.CANCELLED, now=now, reason="incident deleted"))
    who = _acknowledger(incident)
    resolved = incident.status == Status.RESOLVED
    state = Escalation.State.RESOLVED if resolved else Escalation.State.ACKNOWLEDGED
    word = "resolved" if resolved else "acknowledged"
    reason = f"{word} by {who}" if who else word
    ended = _end_active(incident.pk, state=state, now=now, reason=reason, acknowledged_via=who)
    if ended:
        _note(incident, f"Escalation stopped: the incident was {reason}.", now=now)
    return len(ended)


# --- running steps -----------------------------------------------------------------------------


def run_due_steps(*, now: datetime | None = None, batch: int = RUN_BATCH, budget: float = RUN_BUDGET_SECONDS) -> int:
    """Run every due step: batches of escalations claimed with SKIP LOCKED (so tasks on several
    workers share the work), each batch in one transaction with set-based writes. Returns the number
    of escalations advanced."""
    fixed_now = now
    started = time.monotonic()
    advanced = 0
    while True:
        now = fixed_now or timezone.now()
        with transaction.atomic():
            rows = list(
                Escalation.objects.due(now).select_for_update(skip_locked=True).order_by("next_step_at")[:batch]
            )
            if rows:
                _advance_many(rows, now=now)
        advanced += len(rows)
        if len(rows) < batch or time.monotonic() - started > budget:
            return advanced


def run_due(*, now: datetime | None = None, batch: int = RUN_BATCH, budget: float = RUN_BUDGET_SECONDS) -> int:
    """The beat tick: the due steps, then what only the tick looks for: escalations of incidents
    acknowledged without the signal reaching us, page contacts whose delay passed, and deliveries
    the delivery signal missed. Returns the number of escalations advanced."""
    advanced = run_due_steps(now=now, batch=batch, budget=budget)
    now = now or timezone.now()
    stop_acknowledged(now=now)
    paging.send_due_contacts(now=now)
    paging.settle_stragglers(now=now)
    return advanced


def next_run_before_tick(*, now: datetime | None = None) -> datetime | None:
    """When the next step is due, if that is before the next tick (and no run is booked for that
    moment already): the caller books a run then. Moments are rounded up to ``ON_TIME_SECONDS``, so a
    storm of due times books one run per slot, not one per step."""
    now = now or timezone.now()
    tick = timedelta(seconds=settings.ESCALATION_TICK_SECONDS)
    upcoming = (
        Escalation.objects.active()
        .filter(next_step_at__gt=now, next_step_at__lt=now + tick)
        .order_by("next_step_at")
        .values_list("next_step_at", flat=True)
        .first()
    )
    if upcoming is None:
        return None
    slot = math.ceil(upcoming.timestamp() / ON_TIME_SECONDS) * ON_TIME_SECONDS
    if not cache.add(f"oncall:run-booked:{slot}", "1", timeout=int(tick.total_seconds()) * 2 + 1):
        return None
    return datetime.fromtimestamp(slot, tz=UTC)


def stop_acknowledged(*, now: datetime) -> int:
    """End the active escalations of incidents that left OPEN (or were deleted) whose
    ``incident_changed`` was missed, before any of their waiting contacts is sent."""
    stale = list(_ending().values_list("incident_id", flat=True)[:500])
    return sum(_stop_if_not_open(incident_id, now=now) for incident_id in stale)


def _advance_many(escalations: list[Escalation], *, now: datetime) -> None:
    """Run the due step of each escalation (locked by the caller). Steps that reach nobody fall
    through to the next one at once, in another pass over the ones concerned."""
    incidents = Incident.objects.in_bulk([e.incident_id for e in escalations])
    pending: list[tuple[Escalation, Incident]] = []
    for escalation in escalations:
        incident = incidents.get(escalation.incident_id)
        if incident is None or incident.deleted_at is not None or incident.status != Status.OPEN:
            _stop(incident, escalation.incident_id, now=now)
        else:
            pending.append((escalation, incident))
    fell_through: set[int] = set()
    # What each advanced escalation becomes, grouped so that a batch is written with a few UPDATEs:
    # (step_index, round, delay) → ids whose next step is due ``delay`` after their stored due time,
    # (step_index, round, moment) → ids whose next step is due at that moment.
    shifted: dict[tuple[int, int, timedelta], list[int]] = defaultdict(list)
    fixed: dict[tuple[int, int, datetime], list[int]] = defaultdict(list)
    while pending:
        to_run = []
        for escalation, incident in pending:
            steps = escalation.steps
            index, round_ = escalation.step_index + 1, escalation.round
            if index >= len(steps):
                index, round_ = 0, round_ + 1
            if round_ > escalation.repeat or not steps:
                _exhaust(escalation, incident, now=now)
            elif escalation.pk in fell_through and index == 0:
                # A whole round reached nobody: the next round waits out the last step's delay
                # rather than running again at once (it would reach nobody again, now).
                moment = now + timedelta(minutes=steps[-1]["delay_minutes"])
                fixed[escalation.step_index, escalation.round, moment].append(escalation.pk)
            else:
                escalation.step_index, escalation.round = index, round_
                to_run.append((escalation, incident))
        reached = _run_steps(to_run, now=now)
        pending = []
        for escalation, incident in to_run:
            delay = timedelta(minutes=escalation.steps[escalation.step_index]["delay_minutes"])
            if escalation.pk in reached:
                due = escalation.next_step_at  # as read under the caller's lock, and still stored
                if escalation.pk not in fell_through and due is not None and due + delay > now:
                    shifted[escalation.step_index, escalation.round, delay].append(escalation.pk)
                else:  # late by more than the delay, or fell through to here: the delay counts from now
                    fixed[escalation.step_index, escalation.round, now + delay].append(escalation.pk)
            else:  # nobody reached: the next step is due at once
                fell_through.add(escalation.pk)
                pending.append((escalation, incident))
    for (index, round_, delay), ids in shifted.items():
        Escalation.objects.filter(pk__in=ids).update(
            step_index=index, round=round_, next_step_at=F("next_step_at") + delay
        )
    for (index, round_, moment), ids in fixed.items():
        Escalation.objects.filter(pk__in=ids).update(step_index=index, round=round_, next_step_at=moment)


def _exhaust(escalation: Escalation, incident: Incident, *, now: datetime) -> None:
    rounds = escalation.repeat + 1
    Escalation.objects.filter(pk=escalation.pk).update(
        state=Escalation.State.EXHAUSTED,
        ended_at=now,
        ended_reason="nobody acknowledged",
        next_step_at=None,
        round=escalation.round,
        step_index=escalation.step_index,
    )
    escalation.state = Escalation.State.EXHAUSTED
    _note(
        incident,
        f"Escalation {escalation.name} finished without an acknowledgement after {rounds} "
        f"round{'s' if rounds != 1 else ''} of {len(escalation.steps)} step{'s' if len(escalation.steps) != 1 else ''}"
        ". The incident stays open: escalate it again from its page.",
        now=now,
    )


def _step_title(escalation: Escalation) -> str:
    title = f"Step {escalation.step_index + 1} of {len(escalation.steps)}"
    if escalation.round:
        title += f" (round {escalation.round + 1} of {escalation.repeat + 1})"
    return title


def _run_steps(items: list[tuple[Escalation, Incident]], *, now: datetime) -> set[int]:
    """Page the people of each escalation's current step and notify its channels, all escalations
    at once (one query per kind of row, whatever their number). Returns the escalations that
    reached anyone."""
    if not items:
        return set()
    schedule_ids = {sid for e, _ in items for sid in e.steps[e.step_index].get("schedules", ())}
    schedules = Schedule.objects.in_bulk(list(schedule_ids)) if schedule_ids else {}
    snaps = engine.snapshots(list(schedules.values()), now, now + engine.TICK) if schedules else {}
    on_call = {sid: engine.on_call_at(snaps[sid], now) for sid in schedules}

    plans: list[paging.PageRequest] = []
    gaps: dict[int, list[str]] = {}
    for escalation, incident in items:
        step = escalation.steps[escalation.step_index]
        targets: dict[int, Schedule | None] = {user_id: None for user_id in step.get("users", ())}
        missing = gaps.setdefault(escalation.pk, [])
        for schedule_id in step.get("schedules", ()):
            if schedule_id not in schedules:
                missing.append("a schedule that was deleted")
                continue
            if not on_call[schedule_id]:
                missing.append(f"nobody is on call on {schedules[schedule_id].name}")
            for user_id in on_call[schedule_id]:
                targets.setdefault(user_id, schedules[schedule_id])
        plans.append(paging.PageRequest(escalation, incident, targets))
    pages = paging.create_pages_many(plans, now=now)

    reached: set[int] = set()
    notes: list[tuple[Incident, str]] = []
    for escalation, incident in items:
        step = escalation.steps[escalation.step_index]
        own = pages.get(escalation.pk, [])
        channels = _notify_channels(escalation, incident, step) if step.get("channels") else []
        parts = []
        if own:
            names = []
            for page in sorted(own, key=lambda p: p.user.get_username()):
                name = page.user.get_full_name() or page.user.get_username()
                where = f" (on call on {schedules[page.schedule_id].name})" if page.schedule_id in schedules else ""
                failed = f" — not reachable: {page.last_error}" if page.status == Page.Status.FAILED else ""
                names.append(f"{name}{where}{failed}")
            parts.append("paged " + "; ".join(names))
        if channels:
            parts.append("notified " + ", ".join(c.name for c in channels))
        paged = {p.user_id for p in own}
        missing_users = len([u for u in step.get("users", ()) if u not in paged])
        if missing_users:
            gaps[escalation.pk].append(
                f"{missing_users} named user{'s are' if missing_users != 1 else ' is'} no longer active"
            )
        text = f"{_step_title(escalation)}: " + ("; ".join(parts) if parts else "nobody to page")
        if gaps[escalation.pk]:
            text += ". Gap: " + "; ".join(gaps[escalation.pk])
        if any(p.status != Page.Status.FAILED for p in own) or channels:
            reached.add(escalation.pk)
            text += "."
        else:
            last = escalation.step_index + 1 >= len(escalation.steps) and escalation.round >= escalation.repeat
            text += ". Nobody was reached: " + (
                "the policy has no step left." if last else "going on to the next step now."
            )
        notes.append((incident, text[:2000]))
    incident_services.add_notes(notes, kind=TimelineEntry.Kind.ESCALATION, by=ACTOR, now=now)
    return reached


def _notify_channels(escalation: Escalation, incident: Incident, step: dict) -> list[NotificationChannel]:
    channels = list(NotificationChannel.objects.filter(pk__in=step["channels"], enabled=True))
    if channels:
        subject = f"[{incident.severity}] Escalation: {incident.title}"
        render = incident_message(
            incident, subject=subject, change={"event": "escalation", "step": escalation.step_index + 1}
        )
        notify(topic=CHANNEL_TOPIC, subject=subject, render=render, severity=incident.severity, channels=channels)
    return channels


def advance_early_if_unreachable(page: Page, *, now: datetime) -> bool:
    """Every page of a step failed (no channel was notified): run the next step now instead of
    waiting out the delay. Called when a page fails after its step ran."""
    escalation = Escalation.objects.filter(
        pk=page.escalation_id, state=Escalation.State.ACTIVE, round=page.round, step_index=page.step_index
    ).first()
    if escalation is None or escalation.next_step_at is None or escalation.next_step_at <= now:
        return False
    step = escalation.steps[page.step_index] if page.step_index < len(escalation.steps) else {}
    if step.get("channels"):
        return False
    siblings = Page.objects.filter(escalation_id=page.escalation_id, round=page.round, step_index=page.step_index)
    if siblings.exclude(status=Page.Status.FAILED).exists():
        return False
    moved = Escalation.objects.filter(pk=escalation.pk, state=Escalation.State.ACTIVE, next_step_at__gt=now).update(
        next_step_at=now
    )
    if moved:
        _note(
            escalation.incident,
            f"{_step_title(escalation)}: every page failed; going on to the next step now.",
            now=now,
        )
        _queue_run(escalation.pk)
    return bool(moved)


# --- actions from people -----------------------------------------------------------------------


def _open_incident(incident_id) -> Incident:
    incident = Incident.objects.alive().select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise NotFoundError("No incident with this id.")
    return incident


def escalate_now(incident_id, *, by, now: datetime | None = None) -> Escalation:
    """Run the next step of the incident's escalation now; with none active, start its policy again."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = _open_incident(incident_id)
        if incident.status != Status.OPEN:
            raise DomainError(
                f"The incident is {incident.get_status_display().lower()}: someone has it, so nobody is paged. "
                "Reopen a resolved incident to page again."
            )
        active = Escalation.objects.select_for_update().filter(incident=incident, state=Escalation.State.ACTIVE).first()
        name = by.get_full_name() or by.get_username() if by is not None else "someone"
        if active is not None:
            active.next_step_at = now
            active.save(update_fields=["next_step_at"])
            _note(incident, f"{name} escalated now: the next step runs at once.", now=now, by=by)
            _queue_run(active.pk)
            return active
        policy = policy_for_service(incident.service)
        if policy is None:
            raise DomainError(
                f"No escalation policy pages for service {incident.service!r}: map it to a policy, "
                "or reassign the incident to a person."
            )
        steps = routing.fresh_snapshot(policy)["steps"]
        if not steps:
            raise DomainError(f"Escalation policy {policy.name} has no steps.")
        escalation = _start(
            incident,
            policy=policy,
            name=policy.name,
            steps=steps,
            repeat=policy.repeat,
            now=now,
            text=f"{name} escalated: escalation policy {policy.name} started ({_describe_run(steps, policy.repeat)}).",
            by=by,
        )
    return escalation


def reassign(
    incident_id, *, by, user=None, policy: EscalationPolicy | None = None, now: datetime | None = None
) -> Escalation:
    """Page someone else for an unacknowledged incident: one person (who becomes the owner) or
    another policy. The current escalation ends and the new one starts at once. (An acknowledged
    incident cannot go back to OPEN, and an escalation stops at acknowledgement: changing its owner
    is the way there.)"""
    if (user is None) == (policy is None):
        raise DomainError("Reassign to a person or to a policy.", details={"user": ["one of user or policy"]})
    now = now or timezone.now()
    with transaction.atomic():
        incident = _open_incident(incident_id)
        if incident.status != Status.OPEN:
            raise DomainError(
                f"The incident is {incident.get_status_display().lower()}: reassigning pages someone for an "
                "unacknowledged incident. Change its owner instead."
            )
        who = by.get_full_name() or by.get_username() if by is not None else "someone"
        if user is not None:
            if not user.is_active:
                raise DomainError("Inactive users cannot be paged.", details={"user": ["inactive"]})
            target = user.get_full_name() or user.get_username()
            steps = [{"delay_minutes": 15, "users": [user.pk], "schedules": [], "channels": []}]
            if incident.owner_id != user.pk:
                incident_services.update_incident(incident.pk, changes={"owner": user}, by=by, now=now)
            return _start(
                incident,
                policy=None,
                name=f"Reassigned to {target}",
                steps=steps,
                repeat=0,
                now=now,
                text=f"{who} reassigned the incident to {target}: paging them now.",
                by=by,
            )
        steps = routing.fresh_snapshot(policy)["steps"]
        if not steps:
            raise DomainError(f"Escalation policy {policy.name} has no steps.", details={"policy": ["no steps"]})
        return _start(
            incident,
            policy=policy,
            name=policy.name,
            steps=steps,
            repeat=policy.repeat,
            now=now,
            text=f"{who} reassigned the incident to escalation policy {policy.name} "
            f"({_describe_run(steps, policy.repeat)}).",
            by=by,
        )
