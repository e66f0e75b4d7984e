"""The paging panel of the incident page: its escalation, the pages sent, escalate now, reassign."""

from __future__ import annotations

from django import template
from django.contrib.auth import get_user_model
from django.utils import timezone

from incidents.models import Status
from incidents.oncall.escalation import policy_for_service
from incidents.oncall.models import Escalation, EscalationPolicy, Page

register = template.Library()


@register.inclusion_tag("oncall/_incident_panel.html", takes_context=True)
def incident_paging(context, incident):
    escalations = list(Escalation.objects.filter(incident=incident).select_related("policy").order_by("-started_at"))
    current = escalations[0] if escalations else None
    pages = list(
        Page.objects.filter(incident=incident)
        .select_related("user", "schedule")
        .prefetch_related("contacts")
        .order_by("-created_at", "-id")[:50]
    )
    can_write = context.get("can_write", False)
    is_open = incident.status == Status.OPEN
    return {
        "incident": incident,
        "current": current,
        "earlier": escalations[1:6],
        "pages": pages,
        "now": timezone.now(),
        "policy": policy_for_service(incident.service) if current is None else None,
        "can_write": can_write,
        "is_open": is_open,
        "people": (
            list(get_user_model().objects.filter(is_active=True).order_by("username")[:500])
            if can_write and is_open
            else []
        ),
        "policies": list(EscalationPolicy.objects.select_related("team").order_by("team__name", "name"))
        if can_write and is_open
        else [],
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
