"""Atom and RSS feeds of a page's incidents and maintenance (Django's feed generator writes valid XML).

An item's summary (Atom ``<summary type="html">``, RSS ``<description>``) is HTML
that feed readers render, so it carries the same sanitised HTML as the public
page (``markdown.render``), never text that was un-escaped back into markup.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import feedgenerator
from django.utils.html import escape

from statuspages import markdown
from statuspages import snapshot as snapshots
from statuspages.models import StatusPage

ITEMS = 50


def _html(text: str) -> str:
    """Operator Markdown as the page shows it: rendered, then sanitised with the allow-list."""
    return str(markdown.render(text)).strip()


def render(page: StatusPage, kind: str, *, base_url: str) -> tuple[bytes, str]:
    generator = feedgenerator.Atom1Feed if kind == "atom" else feedgenerator.Rss201rev2Feed
    page_url = base_url + reverse("statuspages-public:page", args=[page.slug])
    feed = generator(
        title=markdown.xml_safe(f"{page.title} status"),
        link=page_url,
        description=markdown.xml_safe(f"Incidents and maintenance of {page.title}"),
        language="en",
        feed_url=base_url + reverse(f"statuspages-public:feed-{kind}", args=[page.slug]),
        feed_guid=page_url,
    )
    items = []
    for link in snapshots.published_incidents(page)[:ITEMS]:
        updates = list(link.updates.all())
        latest = updates[0] if updates else None
        status = snapshots.incident_status(link)
        items.append(
            (
                max(link.updated_at, link.incident.updated_at),
                {
                    "title": f"{link.public_name} ({status})",
                    "link": base_url + reverse("statuspages-public:incident", args=[page.slug, link.public_id]),
                    "description": _html(latest.body) if latest else escape(f"Status: {status}"),
                    "unique_id": f"{page_url}#incident-{link.public_id}",
                    "pubdate": link.incident.created_at,
                    "updateddate": max(link.updated_at, link.incident.updated_at),
                },
            )
        )
    for window in snapshots.maintenances(page).order_by("-scheduled_for", "-id")[:ITEMS]:
        updates = list(window.updates.all())
        when = f"Scheduled {window.scheduled_for:%Y-%m-%d %H:%M} to {window.scheduled_until:%Y-%m-%d %H:%M} UTC"
        items.append(
            (
                window.updated_at,
                {
                    "title": f"Maintenance: {window.title} ({window.get_status_display().lower()})",
                    "link": base_url + reverse("statuspages-public:maintenance", args=[page.slug, window.public_id]),
                    "description": _html(updates[0].body if updates else window.message) or escape(when),
                    "unique_id": f"{page_url}#maintenance-{window.public_id}",
                    "pubdate": window.created_at,
                    "updateddate": window.updated_at,
                },
            )
        )
    for _, item in sorted(items, key=lambda pair: pair[0], reverse=True)[:ITEMS]:
        feed.add_item(
            **{name: markdown.xml_safe(value) if isinstance(value, str) else value for name, value in item.items()}
        )
    content_type = "application/atom+xml; charset=utf-8" if kind == "atom" else "application/rss+xml; charset=utf-8"
    return feed.writeString("utf-8").encode(), content_type
