"""The retry of safe requests after a lost database connection, and the retrying Celery tasks."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from tracepoint import middleware
from tracepoint.middleware import DatabaseRetryMiddleware


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(middleware, "DATABASE_RETRY_DELAYS", (0.0, 0.0))


def flaky(failures: int, calls: list):
    def view(request):
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return HttpResponse("ok")

    return view


def test_a_safe_request_is_tried_again_on_a_fresh_connection(transactional_db):
    calls = []
    middleware = DatabaseRetryMiddleware(lambda request: HttpResponse())
    response = middleware.process_view(RequestFactory().get("/incidents/"), flaky(1, calls), (), {})
    assert response.content == b"ok" and len(calls) == 2


def test_when_it_stays_away_django_makes_the_last_attempt_and_its_503(transactional_db):
    calls = []
    middleware = DatabaseRetryMiddleware(lambda request: HttpResponse())
    assert middleware.process_view(RequestFactory().get("/incidents/"), flaky(10, calls), (), {}) is None
    assert len(calls) == 2  # the third and last is the normal view call, whose error becomes the 503


def test_writes_and_other_errors_are_never_retried_here(transactional_db):
    calls = []
    middleware = DatabaseRetryMiddleware(lambda request: HttpResponse())
    assert middleware.process_view(RequestFactory().post("/incidents/new/"), flaky(1, calls), (), {}) is None
    assert calls == []

    def broken(request):
        calls.append(1)
        raise ValueError("a bug")

    # Not a lost connection: answered at once (Django's 500), so the view is not run a second time.
    assert middleware.process_view(RequestFactory().get("/incidents/"), broken, (), {}).status_code == 500
    assert calls == [1]


def test_every_task_retries_a_lost_database_with_backoff():
    from django.db import InterfaceError

    from tracepoint.celery import app

    app.loader.import_default_modules()  # the apps' tasks modules register their tasks
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    for task in ours:
        for error in (OperationalError, InterfaceError):
            assert any(issubclass(error, retried) for retried in task.autoretry_for), task.name
        assert task.retry_backoff and task.max_retries >= 5, task.name


def test_any_other_error_is_answered_at_once_and_the_view_not_run_twice(db):
    calls = []

    def broken(request):
        calls.append(1)
        raise RuntimeError("a bug")

    middleware = DatabaseRetryMiddleware(lambda request: HttpResponse())
    api = middleware.process_view(RequestFactory().get("/api/v1/incidents"), broken, (), {})
    page = middleware.process_view(RequestFactory().get("/incidents/"), broken, (), {})
    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert page.status_code == 500 and len(calls) == 2  # one call per request
