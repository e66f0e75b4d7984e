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
def clock(monkeypatch, time_machine):
    """The wall clock (time-machine) and the process's monotonic clock, moved together."""
    now = {"at": T0}
    time_machine.move_to(T0, tick=False)
    monkeypatch.setattr(ingest, "_clock", lambda: (now["at"] - T0).total_seconds() + 1000.0)

    def move(seconds: float) -> None:
        now["at"] += timedelta(seconds=seconds)
        time_machine.move_to(now["at"], tick=False)

    return move


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


def test_one_task_is_queued_and_the_next_events_do_not_ask_again(queued, store_calls, clock):
    for _ in range(20):
        ingest.wake_digester()

    assert len(queued) == 1 and queued[0]["countdown"] == ingest.DIGEST_DELAY_SECONDS
    assert store_calls["n"] == 1


def test_shortly_before_the_task_starts_events_ask_again_and_find_it_queued(queued, store_calls, clock):
    ingest.wake_digester()
    clock(ingest.DIGEST_DELAY_SECONDS - ingest.WAKE_MARGIN_SECONDS / 2)

    ingest.wake_digester()

    assert store_calls["n"] == 2  # not covered any more: asked
    assert len(queued) == 1  # and the key says a task is still waiting to start


def test_once_the_task_started_the_next_event_queues_another(queued, clock):
    ingest.wake_digester()
    clock(ingest.DIGEST_DELAY_SECONDS)
    ingest.clear_wakeup()  # what a starting digest_pending does first

    ingest.wake_digester()

    assert len(queued) == 2


def test_another_process_s_queued_task_covers_this_one_until_it_starts(queued, store_calls, clock):
    ingest.wake_digester()  # "the other process"
    ingest.reset()  # this process knows nothing yet
    clock(0.2)

    for _ in range(10):
        ingest.wake_digester()

    assert len(queued) == 1
    assert store_calls["n"] == 2  # the other process's claim, and this one's single look
    if settings.REDIS_URL:
        assert float(redis.client().get(ingest._wake_key())) == pytest.approx(
            T0.timestamp() + ingest.DIGEST_DELAY_SECONDS
        )


def test_a_wall_clock_that_steps_back_does_not_silence_the_wake_ups(queued, clock, time_machine):
    ingest.wake_digester()
    ingest.clear_wakeup()  # the task started

    clock(ingest.DIGEST_DELAY_SECONDS)  # the monotonic clock goes on
    time_machine.move_to(T0 - timedelta(seconds=30), tick=False)  # NTP steps the wall clock back
    ingest.wake_digester()

    assert len(queued) == 2


def test_another_machine_s_clock_far_ahead_covers_no_longer_than_a_task_waits(queued, clock):
    if settings.REDIS_URL:
        redis.client().set(ingest._wake_key(), repr(T0.timestamp() + 3600), ex=1)
    else:
        ingest.cache.set(ingest._wake_key(), repr(T0.timestamp() + 3600), timeout=1)
    ingest.wake_digester()  # covered by "that task", for at most the delay
    ingest.clear_wakeup()

    clock(ingest.DIGEST_DELAY_SECONDS)
    ingest.wake_digester()

    assert len(queued) == 1


def test_a_task_late_to_start_covers_this_process_for_a_moment_not_for_every_event(queued, store_calls, clock):
    """Busy workers start a queued task after its time: its key still says events will be seen. The process
    trusts it for WAKE_LATE_SECONDS (the task looks again no sooner after clearing it), then asks again."""
    ingest.wake_digester()
    clock(ingest.DIGEST_DELAY_SECONDS + 0.2)  # the task should have started, and has not

    for _ in range(10):
        ingest.wake_digester()
    assert store_calls["n"] == 2  # one look at the late task's key, then trusted

    clock(ingest.WAKE_LATE_SECONDS + 0.01)
    ingest.wake_digester()
    assert store_calls["n"] == 3
    assert len(queued) == 1  # still the same task: its key lives until it starts (or for a second)
