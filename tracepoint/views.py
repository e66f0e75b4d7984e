"""Project-wide views: health, readiness, the Overview, and error pages."""

from __future__ import annotations

import logging
import sys
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from tracepoint.api.errors import error_response, is_api_request, is_database_unavailable, server_error_response
from tracepoint.celery import PROBE_LOCATIONS_CACHE_KEY
from tracepoint.tasks import HEARTBEAT_CACHE_KEY

logger = logging.getLogger("tracepoint.ready")


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, cache or broker I/O."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"ready:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)


def _check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if url.startswith("filesystem://"):
        folder = Path(options["data_folder_in"])
        probe = folder / f".ready-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
        return
    timeout = settings.TRACEPOINT["READY_CHECK_TIMEOUT_SECONDS"]
    with Connection(url, transport_options=options, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def _check_worker() -> None:
    """Beat queues a heartbeat task every HEARTBEAT_INTERVAL_SECONDS and a worker records it: a fresh
    stamp proves the whole scheduler → broker → worker path, a missing or old one that it is broken."""
    stamp = cache.get(HEARTBEAT_CACHE_KEY)
    if stamp is None:
        raise RuntimeError("no worker heartbeat recorded yet")
    age = (timezone.now() - datetime.fromisoformat(stamp)).total_seconds()
    limit = settings.TRACEPOINT["WORKER_HEARTBEAT_MAX_AGE_SECONDS"]
    if age > limit:
        raise RuntimeError(f"last worker heartbeat {age:.0f} s ago (limit {limit} s)")


READY_CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "worker": _check_worker,
}


def _probe_states() -> dict[str, str] | None:
    """Each probe location in use: "ok", or since when it has been silent. Written by the monitors app every
    probe ping round (tracepoint.celery.PROBE_LOCATIONS_CACHE_KEY); None when there is nothing to show."""
    try:
        summary = cache.get(PROBE_LOCATIONS_CACHE_KEY)
    except Exception:  # the cache check says so
        return None
    if not summary or not summary.get("locations"):
        return None
    states = {}
    for name, row in summary["locations"].items():
        if not row.get("silent"):
            states[name] = "ok"
        elif row.get("last_seen_at"):
            states[name] = f"silent since {row['last_seen_at']}"
        else:
            states[name] = "never answered"
    return states


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache, broker and a recent worker heartbeat; 503 names what failed.

    ``?checks=database,cache,broker`` runs only those: load balancer probes of web use it, so that a
    dead worker does not also take the web pages (and the public status pages) out of service.

    ``probes`` reports each probe location in use (monitors checked from several places) and flags the
    silent ones, but never makes the answer a 503: a probe on another machine going away does not make
    this one unfit for traffic, and its rounds are decided without it.
    """
    wanted = list(READY_CHECKS)
    if "checks" in request.GET:
        wanted = [name.strip() for name in request.GET["checks"].split(",") if name.strip()]
        unknown = [name for name in wanted if name not in READY_CHECKS]
        if unknown or not wanted:
            return error_response(
                400,
                "Unknown readiness check." if unknown else "Name at least one readiness check.",
                details={"checks": unknown, "allowed": list(READY_CHECKS)},
            )
    checks: dict[str, str] = {}
    for name in wanted:
        try:
            READY_CHECKS[name]()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"error: {exc}" if name == "worker" else f"error: {type(exc).__name__}"
            logger.warning("readiness check %s failed: %s", name, exc)
    try:
        heartbeat = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:  # the cache check has already said so
        heartbeat = None
    failed = [name for name, state in checks.items() if state != "ok"]
    probes = {"probes": states} if (states := _probe_states()) else {}
    if failed:
        return error_response(
            503,
            f"Not ready: {', '.join(failed)} unavailable.",
            details={"checks": checks, "failed": failed, "worker_heartbeat": heartbeat, **probes},
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ready", "checks": checks, "worker_heartbeat": heartbeat, **probes})


# --- error handlers: JSON under /api/, pages elsewhere ----------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    status = 413 if isinstance(exception, RequestDataTooBig) else 400
    if is_api_request(request):
        return error_response(status)
    return render(request, "error.html", {"status": status, "title": "Bad request"}, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return error_response(403)
    return render(request, "error.html", {"status": 403, "title": "Permission denied"}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return error_response(404, details={"path": request.path})
    return render(request, "error.html", {"status": 404, "title": "Page not found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    if is_api_request(request):
        return server_error_response(exc)
    if exc is not None and is_database_unavailable(exc):
        return unavailable_page()
    # No context processors: the database may be the reason we are here.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def unavailable_page() -> HttpResponse:
    """The 503 page of a lost database, rendered without the request: context processors would query it."""
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = "5"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_request(request):
        return error_response(
            403,
            "CSRF verification failed; send the X-CSRFToken header or use token authentication.",
            details={"reason": reason},
        )
    return render(
        request,
        "error.html",
        {
            "status": 403,
            "title": "Form expired",
            "message": "The form was open too long or cookies are blocked. Go back, reload and try again.",
        },
        status=403,
    )
