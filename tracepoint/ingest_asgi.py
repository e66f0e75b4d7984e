"""The ingest service's ASGI application (``events.ingest_service``): Sentry ingest with group commit,
everything else by Django's ASGI application. Served by gunicorn with uvicorn workers (compose's and
Kubernetes' ``ingest``); SDKs reach it at the DSN's address (``TRACEPOINT_INGEST_URL``)."""

import os

from django.core.asgi import get_asgi_application

from tracepoint.lib.startup import exit_on_setting_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")


def _application():
    django_app = get_asgi_application()  # sets Django up before the imports below
    # Late: the URLconf and the service import models, which need Django set up.
    from events.ingest_service import IngestService
    from tracepoint.urls import INGEST_ROUTES

    return IngestService(django_app, INGEST_ROUTES)


application = exit_on_setting_error(_application)
