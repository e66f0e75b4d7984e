import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")

app = Celery("tracepoint")
# Read lazily through celery_config so that a bad setting stops the worker
# and beat with one clear line instead of a traceback.
app.config_from_object("tracepoint.celery_config:settings", namespace="CELERY")
app.autodiscover_tasks()
