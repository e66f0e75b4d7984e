"""A status page with a group, components driven by monitors, and helpers to publish."""

from __future__ import annotations

from monitors.models import Monitor, MonitorKind
from statuspages.models import Component, ComponentGroup, StatusPage


def make_page(**overrides) -> StatusPage:
    fields = {"slug": "acme", "title": "Acme", "description": "Acme's services"} | overrides
    password = fields.pop("raw_password", "")
    page = StatusPage(**fields)
    if password:
        page.set_password(password)
    page.save()
    return page


def make_monitor(name: str = "api health", **overrides) -> Monitor:
    fields = {"name": name, "kind": MonitorKind.HTTP, "url": "https://api.example/health", "down_after": 1}
    return Monitor.objects.create(**(fields | overrides))


def make_layout(page: StatusPage) -> dict:
    """API (a group: REST, GraphQL) and Website, each driven by its own monitor."""
    api = ComponentGroup.objects.create(page=page, name="API", position=1)
    monitors = {name: make_monitor(name) for name in ("rest", "graphql", "web")}
    rest = Component.objects.create(page=page, group=api, name="REST API", position=1, description="Public REST")
    graphql = Component.objects.create(page=page, group=api, name="GraphQL", position=2)
    website = Component.objects.create(page=page, name="Website", position=2)
    rest.monitors.add(monitors["rest"])
    graphql.monitors.add(monitors["graphql"])
    website.monitors.add(monitors["web"])
    return {"group": api, "rest": rest, "graphql": graphql, "website": website, "monitors": monitors}
