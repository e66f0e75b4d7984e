"""Reusable DRF permissions built on the roles of DESIGN.md."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from tracepoint.accounts.roles import ADMIN, RESPONDER, VIEWER, has_role


class _RolePermission(BasePermission):
    read_role = VIEWER
    write_role = VIEWER

    def has_permission(self, request, view) -> bool:
        needed = self.read_role if request.method in SAFE_METHODS else self.write_role
        return has_role(request.user, needed)


class IsViewer(_RolePermission):
    """Any role may read and write (e.g. one's own profile)."""


class IsResponderOrReadOnly(_RolePermission):
    """Viewers read; responders and admins write. The API default."""

    write_role = RESPONDER


class IsAdminOrReadOnly(_RolePermission):
    write_role = ADMIN


class IsAdmin(_RolePermission):
    read_role = ADMIN
    write_role = ADMIN
