"""The real sentry-sdk, pointed at a project's DSN on a live server, gets its events grouped."""

from __future__ import annotations

import threading
import uuid
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import sentry_sdk
from django.db import connections

from events import sentry, services
from events.models import Event, Issue
from tests.net import free_port
from tracepoint.wsgi import application


def _find_user(user_id: int) -> None:
    raise ValueError(f"user {user_id} not found")


@pytest.fixture
def sentry_client():
    """Initialises the SDK for one test and leaves no client behind for the others."""
    clients = []

    def init(dsn: str, **options):
        sentry_sdk.init(dsn=dsn, default_integrations=False, auto_enabling_integrations=False, **options)
        clients.append(sentry_sdk.get_client())

    yield init
    for client in clients:
        transport = client.transport
        client.close(timeout=5)
        # close() leaves urllib3's keep-alive sockets open: each one pins a live-server thread
        # and its database connection, and PostgreSQL then refuses to drop the test database.
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool.clear()
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the app logs each request itself
        pass


@pytest.fixture
def production_server():
    """``tracepoint.wsgi.application`` (what gunicorn serves, ingest fast path included) on a real socket."""
    server = make_server("127.0.0.1", free_port(), application, handler_class=_QuietHandler)

    def serve():
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()  # this thread's connection, or PostgreSQL keeps the test database busy

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_the_sdk_reaches_the_production_application(production_server, sentry_client):
    project = services.create_project(name="Shop", slug="shop", services=["checkout"])
    sentry_client(project.active_key().dsn(production_server), release="shop@1.0.0")
    try:
        _find_user(7)
    except ValueError:
        event_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)

    event = Event.objects.get(project=project)
    assert event.event_id == uuid.UUID(event_id)
    assert services.sweep_undigested(older_than_seconds=0) == 1
    assert Issue.objects.get(project=project).title == "ValueError: user 7 not found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", ["br", "gzip", "none"])
def test_sdk_events_are_stored_and_grouped(live_server, sentry_client, compression, monkeypatch):
    encodings = []
    decode_content = sentry.decode_content

    def spy(data, content_encoding, *, limit):
        encodings.append(content_encoding)
        return decode_content(data, content_encoding, limit=limit)

    monkeypatch.setattr(sentry, "decode_content", spy)
    project = services.create_project(name="Shop", slug="shop", services=["checkout"])
    key = project.active_key()
    host = live_server.url.split("://", 1)[1]
    experiments = {"none": {"transport_compression_level": 0}, "gzip": {"transport_compression_algo": "gzip"}}
    sentry_client(
        key.dsn(live_server.url),
        release="shop@1.0.0",
        environment="test",
        _experiments=experiments.get(compression, {"transport_compression_algo": "br"}),
    )
    assert key.dsn(live_server.url) == f"http://{key.public_key}@{host}/{project.id}"

    exception_ids = []
    for user_id in (1, 2):
        try:
            _find_user(user_id)
        except ValueError:
            exception_ids.append(sentry_sdk.capture_exception())
    message_id = sentry_sdk.capture_message("Payment provider timed out after 30 seconds", level="warning")
    sentry_sdk.flush(timeout=10)

    assert encodings[:3] == [{"none": ""}.get(compression, compression)] * 3
    stored = set(Event.objects.filter(project=project).values_list("event_id", flat=True))
    assert stored == {uuid.UUID(i) for i in [*exception_ids, message_id]}

    assert services.sweep_undigested(older_than_seconds=0) == 3

    error_issue = Issue.objects.get(project=project, title__startswith="ValueError")
    assert error_issue.event_count == 2
    assert error_issue.title == "ValueError: user 1 not found"
    assert error_issue.culprit == f"{__name__} in _find_user"
    assert error_issue.service == "checkout"
    assert error_issue.level == "error"
    assert error_issue.first_release == "shop@1.0.0"
    assert set(error_issue.events.values_list("event_id", flat=True)) == {uuid.UUID(i) for i in exception_ids}

    message_issue = Issue.objects.exclude(pk=error_issue.pk).get(project=project)
    assert message_issue.title == "Payment provider timed out after 30 seconds"
    assert message_issue.event_count == 1
    assert message_issue.level == "warning"
    assert Issue.objects.filter(project=project).count() == 2

    event = Event.objects.get(event_id=uuid.UUID(message_id))
    assert (event.platform, event.environment, event.release) == ("python", "test", "shop@1.0.0")
    assert event.data["sdk"]["name"] == "sentry.python"
