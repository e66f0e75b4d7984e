"""Waking the digester: one queued task covers a process's events until shortly before it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from events import ingest, tasks
from tracepoint import redis

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def queued(monkeypatch, db):
    calls = []
    monkeypatch.setattr(tasks.digest_pending, "apply_async", lambda **options: calls.append(options))
    ingest.reset()
    ingest.clear_wakeup()
    yield calls
    ingest.reset()
    ingest.clear_wakeup()


@pytest.fixture
def store_calls(monkeypatch):
    """How often the wake-up asks its store (Redis, or the cache without it)."""
    counter = {"n": 0}
    client = redis.client()
    if client is not None:
        real = ingest._get_or_set

        def counting(client):
            script = real(client)

            def call(**kwargs):
                counter["n"] += 1
                return script(**kwargs)

            return call

        counting.cache_clear = real.cache_clear
        monkeypatch.setattr(ingest, "_get_or_set", counting)
    else:
        real_add = ingest.cache.add

        def add(*args, **kwargs):
            counter["n"] += 1
            return real_add(*args, **kwargs)

        monkeypatch.setattr(ingest.cache, "add", add)
    return counter


def test_one_task_is_queued_and_the_next_events_do_not_ask_again(queued, store_calls, time_machine):
    time_machine.move_to(T0, tick=False)
    for _ in range(20):
        ingest.wake_digester()

    assert len(queued) == 1 and queued[0]["countdown"] == ingest.DIGEST_DELAY_SECONDS
    assert store_calls["n"] == 1


def test_shortly_before_the_task_starts_events_ask_again_and_find_it_queued(queued, store_calls, time_machine):
    time_machine.move_to(T0, tick=False)
    ingest.wake_digester()
    time_machine.move_to(T0 + timedelta(seconds=ingest.DIGEST_DELAY_SECONDS - ingest.WAKE_MARGIN_SECONDS / 2))

    ingest.wake_digester()

    assert store_calls["n"] == 2  # not covered any more: asked
    assert len(queued) == 1  # and the key says a task is still waiting to start


def test_once_the_task_started_the_next_event_queues_another(queued, time_machine):
    time_machine.move_to(T0, tick=False)
    ingest.wake_digester()
    time_machine.move_to(T0 + timedelta(seconds=ingest.DIGEST_DELAY_SECONDS), tick=False)
    ingest.clear_wakeup()  # what a starting digest_pending does first

    ingest.wake_digester()

    assert len(queued) == 2


def test_another_process_s_queued_task_covers_this_one_until_it_starts(queued, store_calls, time_machine):
    time_machine.move_to(T0, tick=False)
    ingest.wake_digester()  # "the other process"
    ingest.reset()  # this process knows nothing yet
    time_machine.move_to(T0 + timedelta(seconds=0.2), tick=False)

    for _ in range(10):
        ingest.wake_digester()

    assert len(queued) == 1
    assert store_calls["n"] == 2  # the other process's claim, and this one's single look
    if settings.REDIS_URL:
        assert float(redis.client().get(ingest._wake_key())) == pytest.approx(
            T0.timestamp() + ingest.DIGEST_DELAY_SECONDS
        )
