import os
from logging.config import dictConfig

from celery import Celery, signals
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")

# Every task retries, with exponential backoff, when the database connection is lost (tasks are
# idempotent and acknowledged late, so a retry or a redelivery never does anything twice).
app = Celery("tracepoint", task_cls="tracepoint.celery_tasks:DatabaseRetryingTask")
# Read lazily through celery_config so that a bad setting stops the worker
# and beat with one clear line instead of a traceback.
app.config_from_object("tracepoint.celery_config:settings", namespace="CELERY")
app.autodiscover_tasks()

# Probe locations (monitors.locations): the monitors app writes here, every probe ping round, each location
# in use and whether it answers; /ready shows it (the project core reads no app's models).
PROBE_LOCATIONS_CACHE_KEY = "tracepoint:probe-locations"


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Worker and beat log through Django's LOGGING: one JSON object per line."""
    dictConfig(settings.LOGGING)
