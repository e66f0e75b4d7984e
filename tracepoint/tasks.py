from importlib import import_module

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from tracepoint import ratelimit

HEARTBEAT_CACHE_KEY = "tracepoint:worker-heartbeat"


@shared_task(name="tracepoint.record_heartbeat", ignore_result=True)
def record_heartbeat() -> str:
    """Queued by beat, run by a worker: proves the scheduler → broker → worker path works."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now


@shared_task(name="tracepoint.purge_expired_sessions", ignore_result=True)
def purge_expired_sessions() -> None:
    """Expired login sessions stay in the session table until deleted (what `clearsessions` does)."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


@shared_task(name="tracepoint.purge_rate_limit_counters", ignore_result=True)
def purge_rate_limit_counters() -> int:
    return ratelimit.purge_expired_counters()
