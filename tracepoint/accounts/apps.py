from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tracepoint.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Here, not at the top: apps.py is imported before the app registry is ready.
        from tracepoint.accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
