from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tracepoint.accounts"
    label = "accounts"
    verbose_name = "Accounts"
