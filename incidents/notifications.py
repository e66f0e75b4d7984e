"""What an incident notification says: email text/HTML, webhook payload, chat message, action links.

Each channel gets its own one-click Acknowledge/Resolve links (signed for that channel, each
usable once; ``tracepoint.notifications.action_links``): ``incident_message`` returns the
function ``notify(render=…)`` calls once per channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.template.loader import render_to_string

from incidents.models import Incident, Status
from tracepoint.links import absolute_url
from tracepoint.notifications import action_links
from tracepoint.notifications.apprise_channel import escape_markdown
from tracepoint.notifications.models import NotificationChannel
from tracepoint.notifications.services import Message

SUMMARY_CHAT_CHARS = 300

# action name in links → (target status, button label, past tense for pages and the timeline)
ACTIONS: dict[str, tuple[str, str, str]] = {
    "acknowledge": (Status.ACKNOWLEDGED, "Acknowledge", "acknowledged"),
    "resolve": (Status.RESOLVED, "Resolve", "resolved"),
}


def subject_of(incident: Incident) -> str:
    return f"incident:{incident.pk}"


def action_is_done(action: str, status: str) -> bool:
    """Whether ``action`` has nothing left to do: acknowledging is done once the incident left OPEN."""
    if action == "acknowledge":
        return status != Status.OPEN
    return status == Status.RESOLVED


def open_actions(incident: Incident) -> list[str]:
    return [action for action in ACTIONS if not action_is_done(action, incident.status)]


def action_url(incident: Incident, action: str, *, via: str) -> str:
    """A new signed, single-use link for ``action`` on ``incident``, sent through ``via`` (a channel name)."""
    token = action_links.make_token(subject=subject_of(incident), action=action, via=via)
    return absolute_url("incidents:action-link", action=action, token=token)


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


def _chat_markdown(payload: dict[str, Any], change: dict[str, Any], actions: dict[str, str]) -> str:
    """The short chat message: severity and status, service, summary, then its links."""
    status = payload["status"] + (f" (was {change['from']})" if change.get("from") else "")
    lines = [f"**{payload['severity']}** · {escape_markdown(status)} · service {escape_markdown(payload['service'])}"]
    if payload["owner"]:
        lines[0] += f" · owner {escape_markdown(payload['owner'])}"
    summary = " ".join((payload["summary"] or "").split())
    if summary:
        if len(summary) > SUMMARY_CHAT_CHARS:
            summary = summary[: SUMMARY_CHAT_CHARS - 1] + "…"
        lines.append(escape_markdown(summary))
    links = [f"[Open the incident]({payload['url']})"]
    links += [f"[{ACTIONS[name][1]}]({url})" for name, url in actions.items()]
    lines.append(" · ".join(links))
    return "\n\n".join(lines)


def render_incident_notification(
    incident: Incident, *, subject: str, change: dict[str, Any], channel: NotificationChannel | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Email text, email HTML and webhook payload; with ``channel``, its own Acknowledge/Resolve links."""
    message = _message(incident, subject=subject, change=change, channel=channel)
    return message.text, message.html or "", message.payload


def _message(
    incident: Incident, *, subject: str, change: dict[str, Any], channel: NotificationChannel | None
) -> Message:
    payload: dict[str, Any] = {"incident": incident_payload(incident), "change": change}
    actions = (
        {name: action_url(incident, name, via=channel.name) for name in open_actions(incident)}
        if channel is not None
        else {}
    )
    if channel is not None:
        payload["actions"] = actions
    context = {
        "subject": subject,
        "incident": payload["incident"],
        "change": change,
        "actions": [(ACTIONS[name][1], url) for name, url in actions.items()],
    }
    return Message(
        text=render_to_string("incidents/email/incident.txt", context),
        html=render_to_string("incidents/email/incident.html", context),
        payload=payload,
        markdown=_chat_markdown(payload["incident"], change, actions),
    )


def incident_message(
    incident: Incident, *, subject: str, change: dict[str, Any]
) -> Callable[[NotificationChannel], Message]:
    """For ``notify(render=…)``: the message for one channel, with action links signed for it."""
    return lambda channel: _message(incident, subject=subject, change=change, channel=channel)
