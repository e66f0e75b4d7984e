"""Deployment checks (``manage.py check --deploy``, also run by migrate)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def email_is_delivered(app_configs, **kwargs) -> list:
    if not settings.DEBUG and settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
        return [
            Warning(
                "Email goes to the console: notifications, invitations and daily summaries reach only the logs.",
                hint="Set EMAIL_URL (e.g. submission://user:password@smtp.example.com:587) or EMAIL_HOST.",
                id="tracepoint.W001",
            )
        ]
    return []
