"""What on-call does when incidents and deliveries change (connected in ``OncallConfig.ready``)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from incidents.models import Incident
from incidents.oncall import contacts, escalation, paging
from incidents.signals import incident_changed, incident_opened
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.signals import delivery_attempted

logger = logging.getLogger("tracepoint.oncall")


@receiver(incident_opened, sender=Incident, dispatch_uid="oncall.start_escalation")
def start_escalation(sender, incident: Incident, reopened: bool, now, **kwargs) -> None:
    # Inside the incident's transaction: a savepoint keeps a failure here from undoing the incident
    # (an incident nobody is paged for is bad; one that cannot be opened at all is worse).
    try:
        with transaction.atomic():
            escalation.start_for_incident(incident, now=now, reopened=reopened)
    except Exception:
        logger.exception("could not start the escalation of incident %s", incident.pk)


@receiver(incident_changed, sender=Incident, dispatch_uid="oncall.stop_escalation")
def stop_escalation(sender, incident_id, **kwargs) -> None:
    escalation.stop_for_incident(incident_id)


@receiver(delivery_attempted, sender=Delivery, dispatch_uid="oncall.settle_page_delivery")
def settle_page_delivery(sender, delivery: Delivery, **kwargs) -> None:
    paging.settle_delivery(delivery)
    contacts.forget_finished_target(delivery)
