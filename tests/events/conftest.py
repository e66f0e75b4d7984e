"""Fixtures of the events tests: a project with its key, the real sentry-sdk against a live server, and each
quota store in turn."""

import threading
import types
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import sentry_sdk
from django.conf import settings
from django.db import connections

from events import keys, quota
from tests.net import free_port
from tracepoint.wsgi import application


@pytest.fixture
def project(db):
    return keys.create_project(name="Shop", slug="shop", services=["checkout", "api"])


@pytest.fixture
def project_key(project):
    return project.active_key().public_key


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


@pytest.fixture(params=["redis", "database"])
def store(request, monkeypatch):
    """Each quota counting store in turn: Redis (skipped without REDIS_URL) and the database fallback."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("REDIS_URL is not set")
    else:
        monkeypatch.setattr(quota, "redis", types.SimpleNamespace(client=lambda: None))
    quota.reset()
    yield request.param
    quota.reset()
