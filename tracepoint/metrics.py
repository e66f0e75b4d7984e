"""Prometheus metrics counted as they happen (prometheus-client); ``tracepoint.scrape`` serves them at
``/metrics`` with the ones read at scrape time.

- Counted as they happen, in the web processes: requests by route, method and status with their
  latency, ingest events accepted and rejected (and those refused by a project's quota, by
  project slug and reason), heartbeat pings. gunicorn runs several processes,
  so ``tracepoint.gunicorn_conf`` turns on prometheus-client's multiprocess mode (one file per
  process under ``PROMETHEUS_MULTIPROC_DIR``) and the scrape sums them.
- Read at scrape time, from the shared state every process sees: monitors by status and the spread
  of their last check latencies, open incidents by severity, how far digestion lags behind ingest,
  and the depth of the Celery queue and of the heartbeat ping buffer.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import Counter, Histogram

logger = logging.getLogger("tracepoint.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("tracepoint_http_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "tracepoint_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
INGEST_EVENTS = Counter("tracepoint_ingest_events", "Error events offered to ingest", ["outcome"])
INGEST_DROPPED = Counter(
    "tracepoint_ingest_dropped", "Events refused by a project's ingest quota (events.quota)", ["project", "reason"]
)
PINGS = Counter("tracepoint_heartbeat_pings", "Heartbeat pings received", ["outcome"])
COUNTED = (REQUESTS, REQUEST_SECONDS, INGEST_EVENTS, INGEST_DROPPED, PINGS)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"  # labels stay a small, fixed set
    try:
        REQUESTS.labels(route, method, str(status)).inc()
        REQUEST_SECONDS.labels(route, method).observe(seconds)
    except Exception as exc:  # a full disk under the multiprocess directory must not fail requests
        logger.debug("could not record a request metric: %s", exc)


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name
    if request.path in ("/health", "/ready"):
        return request.path[1:]
    if request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"
