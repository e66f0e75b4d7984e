from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tracepoint.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from tracepoint.accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
