"""The base class of every Celery task of Tracepoint (tracepoint.celery)."""

from __future__ import annotations

from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError


class DatabaseRetryingTask(DjangoTask):
    """A lost database connection is retried: 1, 2, 4 … seconds apart (at most 60), eight times.
    DjangoTask (Celery's default with Django) adds ``delay_on_commit``."""

    autoretry_for = (OperationalError, InterfaceError)
    retry_backoff = True
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 8
