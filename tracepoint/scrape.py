"""``/metrics`` in the Prometheus text format: the counters of ``tracepoint.metrics`` (summed over the
processes in multiprocess mode) and gauges read at scrape time from the shared state every process
sees: monitors by status and the spread of their last check latencies, open incidents by severity,
how far digestion lags behind ingest, and the depth of the Celery queue and of the ping buffer.

Access: a request carrying ``Authorization: Bearer <METRICS_TOKEN>``, or one from
``METRICS_ALLOWED_NETWORKS`` (default: loopback only); anyone else gets a 404. Like the URLconf and
the Overview, this module sees every app: it is a composition root, not part of the project core.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

import redis
from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from events.models import Event, ReceivedEvent
from incidents.models import Incident, Severity
from monitors import pingbuffer
from monitors.models import Monitor, MonitorStatus
from tracepoint import metrics
from tracepoint.celery import app
from tracepoint.ratelimit import client_ip

logger = logging.getLogger("tracepoint.metrics")


class StateCollector(Collector):
    """Gauges read from the database and Redis at scrape time; a source that fails is left out of
    this scrape (and logged) rather than failing the whole scrape."""

    def collect(self):
        for read in (_monitors, _monitor_latency, _open_incidents, _digest_lag, _queue_depths):
            try:
                yield from list(read())
            except Exception as exc:
                logger.warning("%s could not be read this time: %s", read.__name__.strip("_"), exc)


def _monitors():
    family = GaugeMetricFamily("tracepoint_monitors", "Monitors by status", labels=["status"])
    counts = dict(Monitor.objects.values_list("status").annotate(n=Count("id")))
    for status in MonitorStatus.values:
        family.add_metric([status], counts.get(status, 0))
    yield family


def _monitor_latency():
    bounds = {f"le_{index}": Count("id", filter=Q(last_latency_ms__lte=bound * 1000))
              for index, bound in enumerate(metrics.LATENCY_BUCKETS)}  # fmt: skip
    spread = Monitor.objects.aggregate(
        total=Count("id", filter=Q(last_latency_ms__isnull=False)), total_ms=Sum("last_latency_ms"), **bounds
    )
    buckets = [(str(bound), spread[f"le_{index}"]) for index, bound in enumerate(metrics.LATENCY_BUCKETS)]
    yield GaugeHistogramMetricFamily(
        "tracepoint_monitor_check_latency_seconds",
        "Spread of the monitors' last check latencies",
        buckets=[*buckets, ("+Inf", spread["total"])],
        gsum_value=(spread["total_ms"] or 0) / 1000,
    )


def _open_incidents():
    family = GaugeMetricFamily("tracepoint_incidents_open", "Open incidents by severity", labels=["severity"])
    counts = dict(Incident.objects.alive().open().values_list("severity").annotate(n=Count("id")))
    for severity in Severity.values:
        family.add_metric([severity], counts.get(severity, 0))
    yield family


def _digest_lag():
    stored = Event.objects.filter(digested_at__isnull=True).aggregate(oldest=Min("received_at"))["oldest"]
    # Received SDK events wait in arrival order: the first by id is the oldest (its key's index, no scan).
    received = ReceivedEvent.objects.order_by("id").values_list("received_at", flat=True).first()
    oldest = min((moment for moment in (stored, received) if moment), default=None)
    yield GaugeMetricFamily(
        "tracepoint_ingest_digest_lag_seconds",
        "Age of the oldest accepted event not yet grouped into an issue (0: none waiting)",
        value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
    )


def _queue_depths():
    for name, help_text, depth in (
        ("tracepoint_celery_queue_depth", "Tasks waiting in the Celery queue", _celery_queue_depth),
        ("tracepoint_ping_buffer_depth", "Heartbeat pings waiting in Redis to be applied", _ping_buffer_depth),
    ):
        found = depth()
        if found is not None:
            yield GaugeMetricFamily(name, help_text, value=found)


def _celery_queue_depth() -> int | None:
    """LLEN of the default queue when the broker is Redis (the production layout)."""
    url = settings.CELERY_BROKER_URL or ""
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return int(client.llen(app.conf.task_default_queue or "celery"))
        finally:
            client.close()
    except Exception as exc:
        logger.warning("could not read the Celery queue depth: %s", exc)
        return None


def _ping_buffer_depth() -> int | None:
    if not settings.REDIS_URL:
        return None
    try:
        return pingbuffer.depth()
    except Exception as exc:
        logger.warning("could not read the ping buffer depth: %s", exc)
        return None


def _allowed(request: HttpRequest) -> bool:
    token = settings.TRACEPOINT["METRICS_TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in settings.TRACEPOINT["METRICS_ALLOWED_NETWORKS"])


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    else:
        collected = CollectorRegistry()
        for collector in metrics.COUNTED:
            collected.register(collector)
    collected.register(StateCollector())
    return collected


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        raise Http404("Not found.")
    started = time.perf_counter()
    body = generate_latest(registry())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    logger.debug("metrics scraped in %.1f ms", (time.perf_counter() - started) * 1000)
    return response
