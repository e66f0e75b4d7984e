# ruff: noqa: S314 - the XML parsed here is our own feeds
"""Feeds carry the page's sanitised HTML: raw HTML in an update or maintenance body is never live markup there."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from statuspages import services
from statuspages.models import Maintenance
from tests.factories import make_incident, make_layout, make_page

ATOM = "{http://www.w3.org/2005/Atom}"
LITERAL = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


class _Elements(HTMLParser):
    """The start tags and attribute names of an HTML fragment, as a browser's parser sees them."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.update(name for name, _ in attrs)


def _summaries(client, kind: str) -> list[str]:
    """Each item's summary (Atom) or description (RSS): the HTML a feed reader renders."""
    root = ET.fromstring(client.get(f"/status/acme/feed.{kind}").content)
    if kind == "atom":
        return [entry.find(f"{ATOM}summary").text or "" for entry in root.iter(f"{ATOM}entry")]
    return [item.find("description").text or "" for item in root.iter("item")]


@pytest.fixture
def page(db):
    page = make_page()
    make_layout(page)
    return page


@pytest.mark.parametrize("kind", ["atom", "rss"])
@pytest.mark.parametrize("evil", [LITERAL, ESCAPED], ids=["literal", "entities"])
def test_an_update_body_reaches_the_feeds_as_the_pages_sanitised_html(client, page, kind, evil):
    link = services.publish_incident(page, make_incident(title="API errors"), components=[], body="First.")
    services.post_update(link, body=f"**Fix** rolling out. {evil}", status="identified")

    [summary] = _summaries(client, kind)
    parsed = _Elements(summary)
    assert "img" not in parsed.tags and "onerror" not in parsed.attributes
    assert "strong" in parsed.tags  # the safe formatting survives, as on the page
    assert "<strong>Fix</strong>" in summary
    page_html = client.get(f"/status/acme/incidents/{link.public_id}/").content.decode()
    assert "<strong>Fix</strong>" in page_html and "<img" not in page_html


@pytest.mark.parametrize("kind", ["atom", "rss"])
@pytest.mark.parametrize("evil", [LITERAL, ESCAPED], ids=["literal", "entities"])
def test_a_maintenance_message_reaches_the_feeds_as_sanitised_html(client, page, kind, evil):
    Maintenance.objects.create(
        page=page,
        title="Database upgrade",
        message=f"Expect *short* blips. {evil}",
        scheduled_for=timezone.now() + timedelta(days=1),
        scheduled_until=timezone.now() + timedelta(days=1, hours=1),
    )

    [summary] = _summaries(client, kind)
    parsed = _Elements(summary)
    assert "img" not in parsed.tags and "onerror" not in parsed.attributes
    assert "<em>short</em>" in summary


def test_an_incident_without_updates_has_its_status_as_summary(client, page):
    services.publish_incident(page, make_incident(title="API errors"), components=[])
    assert _summaries(client, "atom") == ["Status: investigating"]
