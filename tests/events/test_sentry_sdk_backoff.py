"""The real sentry-sdk backs off from a project's quota: it holds errors back while limited, then resumes."""

from __future__ import annotations

import time

import pytest
import sentry_sdk

from events import keys, quota
from events.models import Event, Project, ReceivedEvent
from tests.helpers import digest_all


def _fail(n: int) -> None:
    raise RuntimeError(f"payment {n} failed")


def received(project: Project) -> tuple[int, int]:
    """(stored, refused): every event request the server saw was either stored or refused by the quota.

    Stored means received: nothing digests here (no worker), so the requests' rows are all ReceivedEvents."""
    project.refresh_from_db()
    return ReceivedEvent.objects.filter(project=project).count(), quota.dropped_events(project)


@pytest.mark.django_db(transaction=True)
def test_the_sdk_stops_sending_while_limited_and_resumes_after_retry_after(
    production_server,
    sentry_client,
    settings,
):
    # A rate of 12 a minute and a spike guard of 3 per 2-second window (25%): the test waits seconds, not a minute.
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_BURST_PERCENT": 25, "PROJECT_EVENTS_BURST_SECONDS": 2}
    quota.reset()
    project = quota.set_events_per_minute(keys.create_project(name="Shop", slug="shop"), 12)
    sentry_client(project.active_key().dsn(production_server))

    sent = 20
    for n in range(sent):
        try:
            _fail(n)
        except RuntimeError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    limited_at = time.monotonic()

    stored, refused = received(project)
    # Within the spike guard (3 per window; the burst may straddle two windows), then one 429, after
    # which the SDK dropped the rest itself: the server saw a few requests, not 20.
    assert 1 <= stored <= 6
    assert refused == 1
    assert stored + refused < sent
    transport = sentry_sdk.get_client().transport
    assert "error" in transport._disabled_until  # from X-Sentry-Rate-Limits: errors only, of this key

    time.sleep(max(0.0, 2.2 - (time.monotonic() - limited_at)))  # Retry-After is at most the 2-second window
    try:
        _fail(99)
    except RuntimeError:
        last_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)

    assert received(project) == (stored + 1, refused)
    assert ReceivedEvent.objects.filter(project=project, event_id=last_id).exists()
    assert digest_all() == stored + 1
    assert Event.objects.filter(project=project, event_id=last_id).exists()
