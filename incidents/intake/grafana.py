"""Grafana Alerting's webhook contact point (shared/specs/incoming-alerts.md §1, Grafana 9 and later).

Its body is an Alertmanager version-4 payload sent as version "1", plus Grafana's own fields, so
receiving is Alertmanager's (``alertmanager.receive_notification``: dedup by fingerprint and
startsAt, resolution, idempotency, HA duplicates). Kept besides: the rendered ``title`` and
``message`` on the group; ``values`` and ``valueString`` in the alert's details; the dashboard,
panel, silence and image URLs as the alert's links (Grafana sends empty strings for the ones it
does not have).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from incidents.intake import alertmanager
from incidents.intake.models import Integration
from incidents.intake.receiving import InvalidPayload, Received

GRAFANA_VERSION = "1"
# Grafana's field → the link's text, in the order they are shown.
LINK_FIELDS = (("dashboardURL", "Dashboard"), ("panelURL", "Panel"), ("silenceURL", "Silence"), ("imageURL", "Image"))
# Legacy alerting (Grafana 8 and older) posted a different body; name it instead of a puzzling "no version".
LEGACY_FIELDS = ("evalMatches", "ruleName", "ruleId")


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidPayload(f"'{name}' must be a string.", details={"field": name})
    return value


def _links(raw: dict[str, Any], where: str) -> list[dict[str, str]]:
    links = []
    for name, text in LINK_FIELDS:
        href = _text(raw.get(name), f"{where}.{name}").strip()
        if href:
            links.append({"href": href[:2000], "text": text})
    return links


def _details(raw: dict[str, Any], where: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    values = raw.get("values")
    if values is not None:
        if not isinstance(values, dict):
            raise InvalidPayload(f"'{where}.values' must be an object.", details={"field": f"{where}.values"})
        details["values"] = values
    if value_string := _text(raw.get("valueString"), f"{where}.valueString"):
        details["value_string"] = value_string[:4000]
    return details


def parse_grafana(payload: Any) -> alertmanager.PayloadIn:
    if isinstance(payload, dict) and "alerts" not in payload and any(name in payload for name in LEGACY_FIELDS):
        raise InvalidPayload(
            "This is Grafana's legacy alerting format (Grafana 8 and older); "
            "use a Grafana Alerting contact point of type webhook (Grafana 9 and later).",
            details={"field": "version", "supported": [GRAFANA_VERSION]},
        )
    data = alertmanager.parse_payload(payload, version=GRAFANA_VERSION, sender="Grafana")
    alerts = []
    for index, (parsed, raw) in enumerate(zip(data.alerts, payload["alerts"], strict=True)):
        where = f"alerts[{index}]"
        alerts.append(dataclasses.replace(parsed, links=_links(raw, where), details=_details(raw, where)))
    return dataclasses.replace(
        data,
        alerts=alerts,
        title=_text(payload.get("title"), "title")[:500],
        message=_text(payload.get("message"), "message")[:20_000],
    )


def receive_grafana(integration: Integration, payload: Any, *, raw: bytes, now: datetime | None = None) -> Received:
    """Store one Grafana notification and apply it like Alertmanager's.

    Raises InvalidPayload (400) for a payload no retry can fix, before anything is written.
    """
    return alertmanager.receive_notification(integration, parse_grafana(payload), raw=raw, now=now)
