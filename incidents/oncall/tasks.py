"""On-call's Celery tasks: thin wrappers that call the domain layer."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from incidents.oncall import escalation
from tracepoint.notifications.services import delivered_here


@shared_task(name="oncall.run_escalations", acks_late=True, ignore_result=True)
def run_escalations() -> int:
    """Queued (once at a time, ``escalation.kick``) when an escalation starts or is escalated by
    hand: run the due steps now instead of on the next tick. Under a storm one task drains every
    due escalation in batches while the other worker processes send the pages."""
    with delivered_here():  # sent from here after each batch's commit: no task per page
        advanced = escalation.run_due_steps()
        cache.delete(escalation.KICK_KEY)
        advanced += escalation.run_due_steps()
    _run_next_step_on_time()
    return advanced


@shared_task(name="oncall.run_escalations_at", acks_late=True, ignore_result=True)
def run_escalations_at() -> int:
    """Queued with an ETA: the next step falls between two ticks, so it runs when due, not up to a
    tick later (the tick still runs it if this task is lost)."""
    with delivered_here():
        advanced = escalation.run_due_steps()
    _run_next_step_on_time()
    return advanced


def _run_next_step_on_time() -> None:
    when = escalation.next_run_before_tick()
    if when is not None:
        run_escalations_at.apply_async(eta=when)


@shared_task(name="oncall.run_due_escalations", acks_late=True, ignore_result=True)
def run_due_escalations() -> int:
    """Beat, every ESCALATION_TICK_SECONDS: due steps, due page contacts, missed delivery outcomes."""
    with delivered_here():
        advanced = escalation.run_due()
    _run_next_step_on_time()
    return advanced


@shared_task(name="oncall.send_shift_notices", ignore_result=True)
def send_shift_notices() -> int:
    """Beat, every minute: "your shift starts in 1 hour" and "you are on call now"."""
    from incidents.oncall import notices

    return notices.send_shift_notices()
