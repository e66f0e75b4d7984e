import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import make_user
from tracepoint.accounts.roles import ADMIN, RESPONDER, VIEWER, has_role, set_role, sync_role_permissions, user_role

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_three_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "responder", "admin"}


def test_role_groups_hold_their_permissions():
    sync_role_permissions()
    viewer = set(Group.objects.get(name="viewer").permissions.values_list("codename", flat=True))
    admin = set(Group.objects.get(name="admin").permissions.values_list("codename", flat=True))
    assert "view_user" in viewer
    assert "add_user" not in viewer
    assert admin == set(Permission.objects.values_list("codename", flat=True))


def test_roles_rank_viewer_below_responder_below_admin():
    user = make_user(RESPONDER)
    assert user_role(user) == RESPONDER
    assert has_role(user, VIEWER) and has_role(user, RESPONDER) and not has_role(user, ADMIN)


def test_superusers_are_admins_and_admins_get_django_admin_access():
    assert user_role(make_user(is_superuser=True)) == ADMIN
    admin = make_user(ADMIN)
    assert admin.is_staff
    set_role(admin, VIEWER)
    assert not admin.is_staff
    assert user_role(admin) == VIEWER


def test_set_role_refuses_unknown_roles():
    with pytest.raises(ValueError, match="unknown role"):
        set_role(make_user(), "owner")


def test_the_admin_group_alone_opens_django_admin():
    from django.contrib.auth.models import Group
    from django.test import Client

    user = make_user()
    user.groups.add(Group.objects.get(name="admin"))  # as an admin would in Django admin
    assert not user.is_staff
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
