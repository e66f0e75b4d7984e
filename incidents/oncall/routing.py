"""Which policy pages for which service, with its steps: read on every incident that opens, so it is
kept in the cache (Redis in production) instead of costing five queries per incident.

The entry is dropped after every change through the services and the admin (model signals, and
``invalidate()`` from the services that write with ``update()``), and lives at most ``TTL_SECONDS``
anyway: a rebuild that raced a change (read before the change committed, written after it was
dropped) is stale for that long at most.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction

CACHE_KEY = "oncall:routing:v1"
TTL_SECONDS = 30


def routes() -> dict[str, Any]:
    """``{"services": {service: policy id}, "policies": {id: {"name", "repeat", "steps"}}}``."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = build()
        cache.set(CACHE_KEY, found, TTL_SECONDS)
    return found


def route(service: str) -> tuple[int, dict[str, Any]] | None:
    """The policy id and its snapshot (name, repeat, steps) for ``service``, or None."""
    table = routes()
    policy_id = table["services"].get(service)
    if policy_id is None:
        return None
    return policy_id, table["policies"][policy_id]


def snapshot(policy) -> dict[str, Any]:
    """What an escalation runs on: the policy's name, repeat and steps as they are now."""
    return {
        "name": policy.name,
        "repeat": policy.repeat,
        "steps": [
            {
                "delay_minutes": step.delay_minutes,
                "users": sorted(u.pk for u in step.users.all()),
                "schedules": sorted(s.pk for s in step.schedules.all()),
                "channels": sorted(c.pk for c in step.channels.all()),
            }
            for step in sorted(policy.steps.all(), key=lambda s: s.position)
        ],
    }


def fresh_snapshot(policy) -> dict[str, Any]:
    """``snapshot`` read from the database, not the cache (a person's action: escalate, reassign)."""
    from incidents.oncall.models import EscalationPolicy

    loaded = EscalationPolicy.objects.prefetch_related("steps__users", "steps__schedules", "steps__channels")
    return snapshot(loaded.get(pk=policy.pk))


def build() -> dict[str, Any]:
    from incidents.oncall.models import EscalationPolicy, Team

    policies = list(EscalationPolicy.objects.prefetch_related("steps__users", "steps__schedules", "steps__channels"))
    services: dict[str, int] = {}
    for policy in policies:
        for service in policy.services or ():
            services[service] = policy.pk
    for team in Team.objects.filter(default_policy__isnull=False).only("services", "default_policy_id"):
        for service in team.services or ():
            services.setdefault(service, team.default_policy_id)
    return {"services": services, "policies": {policy.pk: snapshot(policy) for policy in policies}}


def invalidate() -> None:
    """Drop the cached table now, and again once the current transaction commits (a rebuild in
    between would have read the rows from before the change)."""
    cache.delete(CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY), robust=True)
