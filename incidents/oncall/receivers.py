"""What on-call does when incidents and deliveries change (connected in ``OncallConfig.ready``)."""

from __future__ import annotations

import logging

from django.db import transaction

from incidents.models import Incident
from incidents.oncall import contacts, escalation, paging, routing
from tracepoint.notifications.models import Delivery

logger = logging.getLogger("tracepoint.oncall")


def start_escalation(sender, incident: Incident, reopened: bool, now, **kwargs) -> None:
    """incidents.signals.incident_opened (inside the incident's transaction): its policy starts."""
    # Inside the incident's transaction: a savepoint keeps a failure here from undoing the incident
    # (an incident nobody is paged for is bad; one that cannot be opened at all is worse).
    try:
        with transaction.atomic():
            escalation.start_for_incident(incident, now=now, reopened=reopened)
    except Exception:
        logger.exception("could not start the escalation of incident %s", incident.pk)


def stop_escalation(sender, incident_id, created: bool = False, **kwargs) -> None:
    """incidents.signals.incident_changed (after the commit): an incident no longer OPEN ends its escalation
    (a new one is OPEN: its escalation just started)."""
    if created:
        return
    escalation.stop_for_incident(incident_id)


def settle_page_delivery(sender, delivery: Delivery, **kwargs) -> None:
    """tracepoint.notifications.signals.delivery_attempted: a page delivered, or falling through."""
    paging.settle_delivery(delivery)
    contacts.forget_finished_target(delivery)


def routing_changed(sender, **kwargs) -> None:
    """post_save/post_delete of policies, steps and teams, m2m changes of steps: the cached routing
    table is dropped (``routing``); the services that write with ``update()`` call it themselves."""
    routing.invalidate()
