"""Django settings as Celery's config source, loaded on first use."""

from django.conf import settings

from tracepoint.lib.startup import exit_on_setting_error

exit_on_setting_error(lambda: settings.INSTALLED_APPS)

__all__ = ["settings"]
