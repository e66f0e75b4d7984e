"""Projects and their ingest keys: creating a project with its first key, authenticating a key on every
ingest request (remembered per process for INGEST_KEY_CACHE_SECONDS), rotating and revoking keys."""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.models import Project, ProjectKey
from tracepoint.errors import DomainError
from tracepoint.lib.blocking import may_block


class InvalidProjectKey(DomainError):
    code = "AUTHENTICATION_REQUIRED"
    status_code = 401


class WrongProjectKey(DomainError):
    code = "PERMISSION_DENIED"
    status_code = 403


# Valid keys this process has seen: public key -> (expires at, key with its project).
# Every ingest request starts with this lookup; a query each time would cost
# as much as storing the event. Bounded in time (INGEST_KEY_CACHE_SECONDS) and size.
_key_cache: dict[str, tuple[float, ProjectKey]] = {}
KEY_CACHE_MAX_ENTRIES = 10_000


def forget_keys() -> None:
    """Drop this process's remembered keys (after a key or project changed here)."""
    _key_cache.clear()


def reset() -> None:
    """Forget this process's remembered keys (tests call it between tests)."""
    forget_keys()


def authenticate_key(public_key: str, *, project_id: int | None = None) -> ProjectKey:
    """The active key, or a DomainError (401 unknown/revoked key, 403 key of another project)."""
    public_key = str(public_key).strip()
    now = time.monotonic()
    cached = _key_cache.get(public_key)
    if cached is not None and cached[0] > now:
        key = cached[1]
    else:
        may_block()  # on the ingest service's event loop: look it up in a thread instead
        key = ProjectKey.objects.select_related("project").filter(public_key=public_key).first()
        ttl = settings.TRACEPOINT["INGEST_KEY_CACHE_SECONDS"]
        if key is not None and key.is_active and ttl:
            if len(_key_cache) >= KEY_CACHE_MAX_ENTRIES:
                _key_cache.clear()
            _key_cache[public_key] = (now + ttl, key)
    if key is None or not key.is_active:
        raise InvalidProjectKey("Unknown or revoked project key.")
    if project_id is not None and key.project_id != project_id:
        raise WrongProjectKey("This key does not belong to that project.")
    return key


def rotate_key(project: Project, *, label: str = "Rotated") -> ProjectKey:
    """A new active key; old keys keep working until revoked (so clients can move over)."""
    forget_keys()
    return ProjectKey.objects.create(project=project, label=label)


def revoke_key(key: ProjectKey, *, now: datetime | None = None) -> None:
    """Other web processes refuse the key within INGEST_KEY_CACHE_SECONDS; this one at once."""
    ProjectKey.objects.filter(pk=key.pk).update(is_active=False, revoked_at=now or timezone.now())
    forget_keys()


def create_project(*, name: str, slug: str, services: list[str] | None = None) -> Project:
    with transaction.atomic():
        project = Project.objects.create(name=name, slug=slug, services=services or [])
        ProjectKey.objects.create(project=project, label="Default")
    return project
