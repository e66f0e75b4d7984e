import os

from django.core.wsgi import get_wsgi_application

from tracepoint.lib.startup import exit_on_setting_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")


def _application():
    django_app = get_wsgi_application()  # sets Django up before the imports below
    # Late: the URLconf and the fast path import models, which need Django set up.
    from tracepoint.fastpath import FastPath
    from tracepoint.urls import FAST_ROUTES

    return FastPath(django_app, FAST_ROUTES)


application = exit_on_setting_error(_application)
