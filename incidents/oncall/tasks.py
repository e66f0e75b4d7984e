"""On-call's Celery tasks: thin wrappers that call the domain layer."""

from __future__ import annotations

from celery import shared_task

from incidents.oncall import escalation
from tracepoint.notifications.services import delivered_here


@shared_task(name="oncall.run_escalation", acks_late=True, ignore_result=True)
def run_escalation(escalation_id: int) -> bool:
    """Run an escalation's due step now (queued when it starts or is escalated by hand). Its first
    messages go out from this worker right after the commit instead of queueing behind others."""
    with delivered_here():
        return escalation.run_escalation(escalation_id)


@shared_task(name="oncall.run_due_escalations", acks_late=True, ignore_result=True)
def run_due_escalations() -> int:
    """Beat, every ESCALATION_TICK_SECONDS: due steps, due page contacts, missed delivery outcomes."""
    return escalation.run_due()


@shared_task(name="oncall.send_shift_notices", ignore_result=True)
def send_shift_notices() -> int:
    """Beat, every minute: "your shift starts in 1 hour" and "you are on call now"."""
    from incidents.oncall import notices

    return notices.send_shift_notices()
