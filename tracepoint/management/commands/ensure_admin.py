import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tracepoint.accounts.roles import ADMIN, set_role
from tracepoint.lib.env import env_secret, env_str


class Command(BaseCommand):
    help = (
        "Create the admin user if it does not exist (name from TRACEPOINT_ADMIN_USER, default 'admin'; "
        "password from TRACEPOINT_ADMIN_PASSWORD, else generated and printed once)."
    )

    def handle(self, *args, **options):
        username = env_str("TRACEPOINT_ADMIN_USER", "admin")
        given_password = env_secret("TRACEPOINT_ADMIN_PASSWORD")
        User = get_user_model()
        with transaction.atomic():
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"Admin user '{username}' already exists.")
                return
            password = given_password or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            set_role(user, ADMIN)
        if given_password:
            self.stdout.write(f"Created admin user '{username}' with the password from TRACEPOINT_ADMIN_PASSWORD.")
        else:
            banner = "=" * 60
            self.stdout.write(
                f"{banner}\n  Admin login created (shown only this once):\n"
                f"    username: {username}\n    password: {password}\n{banner}"
            )
