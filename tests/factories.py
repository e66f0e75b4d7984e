"""Plain factory functions with keyword defaults."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from events.ingest import NewEvent
from monitors.models import Monitor, MonitorKind, StatusPeriod
from statuspages.models import Component, ComponentGroup, StatusPage
from tracepoint.accounts.models import ApiToken
from tracepoint.accounts.roles import set_role

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_user(role: str | None = None, **overrides):
    number = next(_counter)
    fields = {"username": f"user{number}", "email": f"user{number}@example.com"} | overrides
    password = fields.pop("password", PASSWORD)
    user = get_user_model().objects.create_user(password=password, **fields)
    if role:
        set_role(user, role)
    return user


def make_token(user, name: str = "test token") -> str:
    _, key = ApiToken.issue(user, name)
    return key


def make_incident(by=None, **overrides):
    from incidents import services

    fields = {"title": "Checkout errors", "service": "checkout", "severity": "SEV3"} | overrides
    status = fields.pop("status", None)
    incident = services.create_incident(by=by, **fields)
    if status and status != "OPEN":
        incident = services.transition_incident(incident.pk, to=status, by=by)
    return incident


def make_event(
    value: str = "Order 1 not found",
    *,
    at: datetime | None = None,
    event_type: str = "ERROR",
    kind: str = "LookupError",
    service: str = "checkout",
    frames: list[dict] | tuple = (),
    fingerprint: list[str] | None = None,
    data: dict | None = None,
    **overrides,
) -> NewEvent:
    """An event as an SDK would send it: an ERROR carries one exception ``kind: value`` with ``frames``.

    ``data`` adds to the event's data; ``overrides`` are other NewEvent fields (route, release, user_id, message…).
    """
    body = {}
    if event_type == "ERROR":
        body = {"exception": [{"type": kind, "value": value, "stacktrace": {"frames": list(frames)}}]}
    if fingerprint:
        body["fingerprint"] = fingerprint
    fields = {
        "event_id": uuid.uuid4(),
        "event_type": event_type,
        "service": service,
        "timestamp": timezone.now() if at is None else at,
        "data": body | (data or {}),
    }
    return NewEvent(**(fields | overrides))


def make_monitor(name: str = "api health", **overrides) -> Monitor:
    fields = {"name": name, "kind": MonitorKind.HTTP, "url": "https://api.example/health", "down_after": 1}
    return Monitor.objects.create(**(fields | overrides))


def make_heartbeat(name: str = "queue worker", **overrides) -> Monitor:
    fields = {"name": name, "kind": MonitorKind.HEARTBEAT, "period_seconds": 3600, "grace_seconds": 300}
    return Monitor.objects.create(**(fields | overrides))


def make_history(monitor: Monitor, spans) -> None:
    """A monitor's past as status periods: ``(status, started_at, ended_at)`` each, ``ended_at`` None if open."""
    for status, started_at, ended_at in spans:
        StatusPeriod.objects.create(monitor=monitor, status=status, started_at=started_at, ended_at=ended_at)


def make_page(**overrides) -> StatusPage:
    fields = {"slug": "acme", "title": "Acme", "description": "Acme's services"} | overrides
    password = fields.pop("raw_password", "")
    page = StatusPage(**fields)
    if password:
        page.set_password(password)
    page.save()
    return page


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


def in_app_frame(module: str = "shop.cart", function: str = "add", **fields) -> dict:
    """A stack frame of the application's own code (``frames=[in_app_frame()]`` for make_event)."""
    return {"module": module, "function": function, "in_app": True, **fields}


def make_cart_error(kind: str, value: str, function: str = "add_item", *, minutes_ago: int, **overrides) -> NewEvent:
    """A production error raised in ``shop.cart.<function>`` under Django's handler, ``minutes_ago``.

    ``overrides`` go to make_event (release, service, frames, data, user_id…).
    """
    frames = [
        {
            "module": "django.core.handlers.base",
            "function": "_get_response",
            "filename": "django/base.py",
            "lineno": 197,
        },
        in_app_frame("shop.cart", function, filename="shop/cart.py", lineno=42, context_line="qty = int(raw)"),
    ]
    fields = {"frames": frames, "message": f"{kind}: {value}", "release": "shop@1.0", "environment": "production"}
    return make_event(value, kind=kind, at=timezone.now() - timedelta(minutes=minutes_ago), **(fields | overrides))


def make_team(name: str = "Payments", *, members=(), services=(), **overrides):
    """An on-call team (through the oncall services, so its rules apply)."""
    from incidents.oncall import services as oncall

    return oncall.create_team(name=name, members=members, services=services, **overrides)


def make_schedule(team=None, name: str = "Primary", time_zone: str = "Europe/Paris", **overrides):
    from incidents.oncall import services as oncall

    return oncall.create_schedule(
        team=team or make_team(f"Team {next(_counter)}"), name=name, time_zone=time_zone, **overrides
    )


def make_layer(schedule, participants=(), *, name: str = "Weekly", **overrides):
    """A layer on ``schedule``: a weekly rotation handing off Mondays at 09:00 from 2026-01-05 unless told."""
    from datetime import date

    from incidents.oncall import services as oncall

    fields = {"start_date": date(2026, 1, 5), "shift_unit": "weeks", "shift_count": 1} | overrides
    return oncall.create_layer(schedule, name=name, participants=participants, **fields)


def make_override(schedule, user, start: datetime, end: datetime, **overrides):
    from incidents.oncall import services as oncall

    return oncall.create_override(schedule, user=user, start=start, end=end, **overrides)
