"""Shields-style SVG badges: a grey label and a coloured message, text escaped, sized to fit."""

from __future__ import annotations

from django.template.loader import render_to_string

from statuspages.markdown import xml_safe

COLOURS = {
    "none": "#2e7d32",
    "operational": "#2e7d32",
    "minor": "#9a6700",
    "degraded_performance": "#9a6700",
    "major": "#c2410c",
    "partial_outage": "#c2410c",
    "critical": "#b91c1c",
    "major_outage": "#b91c1c",
    "maintenance": "#1d4ed8",
    "under_maintenance": "#1d4ed8",
}
WORDS = {
    "operational": "operational",
    "degraded_performance": "degraded",
    "partial_outage": "partial outage",
    "major_outage": "major outage",
    "under_maintenance": "maintenance",
}


def _width(text: str) -> int:
    # Verdana 11px averages about 7 px a character; shields.io measures, this estimates.
    return 10 + round(sum(4.5 if ch in "il.,:;|!'" else 8.5 if ch.isupper() or ch in "mwMW" else 7 for ch in text))


def _svg(label: str, message: str, colour: str) -> str:
    label, message = xml_safe(label), xml_safe(message)
    left, right = _width(label), _width(message)
    return render_to_string(
        "statuspages/public/badge.svg",
        {
            "label": label,
            "message": message,
            "colour": colour,
            "left": left,
            "right": right,
            "width": left + right,
            "label_x": left * 5,
            "message_x": (left + right / 2) * 10,
            "label_length": (left - 10) * 10,
            "message_length": (right - 10) * 10,
        },
    )


def page_badge(indicator: str, description: str) -> str:
    return _svg("status", description.lower(), COLOURS.get(indicator, "#555"))


def component_badge(name: str, status: str) -> str:
    return _svg(name, WORDS.get(status, status), COLOURS.get(status, "#555"))
