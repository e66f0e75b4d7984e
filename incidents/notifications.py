"""What an incident notification says (email text/HTML and webhook payload)."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from incidents.models import Incident
from tracepoint.links import absolute_url


def incident_payload(incident: Incident) -> dict[str, Any]:
    return {
        "id": str(incident.pk),
        "title": incident.title,
        "service": incident.service,
        "severity": incident.severity,
        "status": incident.status,
        "owner": incident.owner.get_username() if incident.owner else None,
        "summary": incident.summary,
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
        "mitigated_at": incident.mitigated_at.isoformat() if incident.mitigated_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "url": absolute_url("incidents:detail", incident.pk),
    }


def render_incident_notification(
    incident: Incident, *, subject: str, change: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    payload = {"incident": incident_payload(incident), "change": change}
    context = {"subject": subject, "incident": payload["incident"], "change": change}
    text = render_to_string("incidents/email/incident.txt", context)
    html = render_to_string("incidents/email/incident.html", context)
    return text, html, payload
