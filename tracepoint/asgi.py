import os

from django.core.asgi import get_asgi_application

from tracepoint.lib.startup import exit_on_setting_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")

application = exit_on_setting_error(get_asgi_application)
