from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TracepointConfig(AppConfig):
    name = "tracepoint"
    verbose_name = "Tracepoint"

    def ready(self) -> None:
        # Here, not at the top: apps.py is imported before the app registry is ready.
        from tracepoint import checks  # noqa: F401 - registers the deploy checks
        from tracepoint.accounts.roles import sync_role_permissions

        # Permissions of models added by later migrations join the role groups.
        post_migrate.connect(sync_role_permissions, dispatch_uid="tracepoint-sync-roles")
