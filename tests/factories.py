"""Plain factory functions with keyword defaults."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

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
