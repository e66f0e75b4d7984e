"""What on-call does when incidents and deliveries change (connected in ``OncallConfig.ready``)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from incidents.models import Incident
from incidents.oncall import contacts, escalation, paging, routing
from incidents.oncall.models import EscalationPolicy, EscalationStep, Team
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


def _routing_changed(sender, **kwargs) -> None:
    routing.invalidate()


# Whatever changes a policy, its steps or a team's services (services, admin, shell) drops the cached
# routing table (``routing``); the services that write with ``update()`` call ``invalidate()`` too.
for _model in (EscalationPolicy, EscalationStep, Team):
    post_save.connect(_routing_changed, sender=_model, dispatch_uid=f"oncall.routing.save.{_model.__name__}")
    post_delete.connect(_routing_changed, sender=_model, dispatch_uid=f"oncall.routing.delete.{_model.__name__}")
for _field in ("users", "schedules", "channels"):
    m2m_changed.connect(
        _routing_changed,
        sender=getattr(EscalationStep, _field).through,
        dispatch_uid=f"oncall.routing.m2m.{_field}",
    )
