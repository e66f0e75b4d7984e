import os

from django.core.wsgi import get_wsgi_application

from tracepoint.lib.startup import exit_on_setting_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")


def _application():
    django_app = get_wsgi_application()  # sets Django up before the import below
    from events.fastpath import IngestFastPath

    return IngestFastPath(django_app)


application = exit_on_setting_error(_application)
