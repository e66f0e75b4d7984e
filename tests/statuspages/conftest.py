import pytest


@pytest.fixture
def eager_tasks():
    """Celery tasks queued by the code under test run at once, in this process (the real task code)."""
    from tracepoint.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before
