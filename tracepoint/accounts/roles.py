"""Roles are Django groups: viewer < responder < admin (see DESIGN.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse

VIEWER = "viewer"
RESPONDER = "responder"
ADMIN = "admin"
ROLES = (VIEWER, RESPONDER, ADMIN)
_RANK = {name: rank for rank, name in enumerate(ROLES, start=1)}

# Which model permissions each role's group holds. Apps that add models later
# get their permissions assigned by sync_role_permissions after migrate.
# Responders run incidents, issues, monitors and status updates; project,
# status page set-up and users stay with admins.
RESPONDER_APPS = {"incidents", "events", "monitors", "statuspages"}
ADMIN_ONLY_MODELS = {"project", "projectkey", "statuspage", "componentgroup", "component"}


def user_role(user) -> str | None:
    """The highest role of a user, or None (anonymous, inactive, or no group)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_tracepoint_role", False)
    if cached is not False:
        return cached
    if user.is_superuser:
        role = ADMIN
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = max((name for name in names if name in _RANK), key=_RANK.__getitem__, default=None)
    user._tracepoint_role = role
    return role


def group_role(user) -> str | None:
    """The role of the user's group, whatever their flags (an inactive user still shows the role they had)."""
    names = set(user.groups.values_list("name", flat=True))
    for role in (ADMIN, RESPONDER, VIEWER):
        if role in names:
            return role
    return None


def has_role(user, role: str) -> bool:
    actual = user_role(user)
    return actual is not None and _RANK[actual] >= _RANK[role]


def set_role(user, role: str | None) -> None:
    """Put a user in exactly one role group (admins also get Django admin access)."""
    if role is not None and role not in _RANK:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    user.is_staff = role == ADMIN or user.is_superuser
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_tracepoint_role", None)


def role_required(role: str) -> Callable:
    """Decorator for HTML views: login redirect for anonymous users, 403 below ``role``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def sync_role_permissions(sender=None, **kwargs) -> None:
    """Give each role group the model permissions it should hold (idempotent)."""
    if not _auth_tables_exist():
        return
    # The accounts migration creates the groups; recreate them after a flush.
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    permissions = list(Permission.objects.select_related("content_type"))
    viewer = [p for p in permissions if p.codename.startswith("view_")]
    responder = viewer + [
        p
        for p in permissions
        if p.content_type.app_label in RESPONDER_APPS
        and p.content_type.model not in ADMIN_ONLY_MODELS
        and not p.codename.startswith("view_")
    ]
    groups[VIEWER].permissions.set(viewer)
    groups[RESPONDER].permissions.set(responder)
    groups[ADMIN].permissions.set(permissions)


def _auth_tables_exist() -> bool:
    return {"auth_group", "auth_permission"} <= set(connection.introspection.table_names())
