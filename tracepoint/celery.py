import os
from logging.config import dictConfig

from celery import Celery, signals
from django.conf import settings

from tracepoint.lib import heap

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


@signals.worker_init.connect
@signals.worker_process_init.connect
def settle_heap(**kwargs) -> None:
    """Start-up's objects out of the garbage collector's walks (tracepoint.lib.heap): in the worker before
    its pool forks, and in each pool process once it is ready."""
    heap.settle()
