"""A Celery worker survives losing Redis while it holds unacknowledged tasks (tracepoint/broker.py)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from kombu import Connection

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs a real Redis")


def _collect_then_close(transport: str | None) -> None:
    """What Celery 5.7's consumer does on a lost broker: collect the connection (whose last step,
    kept here, drops the transport's reference to it: with Redis down the earlier steps fail
    quietly), then close it, with a message delivered and not yet acknowledged (we acknowledge late)."""
    connection = Connection(settings.REDIS_URL, transport=transport)
    queue = connection.SimpleQueue(f"tp-broker-test-{uuid.uuid4().hex}")
    try:
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        assert queue.channel.qos._delivered  # held, not acknowledged
        connection._do_close_transport()
        connection.close()
    finally:
        with Connection(settings.REDIS_URL) as cleanup:
            cleanup.default_channel.queue_delete(queue.queue.name)


def test_the_stock_transport_dies_on_close_after_collect():
    """The bug this module works around: if kombu fixes it, this fails and the module can go."""
    with pytest.raises(AttributeError, match="hostname"):
        _collect_then_close(None)


def test_our_transport_closes_cleanly_and_leaves_the_message_to_redelivery():
    _collect_then_close("tracepoint.broker:Transport")


def _ack_after_the_connection_went(transport: str | None) -> None:
    """A task that was running when Redis went finishes and is acknowledged after the reconnect, on
    the old channel whose connection is gone."""
    connection = Connection(settings.REDIS_URL, transport=transport)
    queue = connection.SimpleQueue(f"tp-broker-test-{uuid.uuid4().hex}")
    try:
        queue.put({"n": 2})
        message = queue.get(timeout=5)
        # What closing the channel on the lost connection left behind (its restore having failed
        # while Redis was down): no connection, no cached client, no pool.
        queue.channel.connection = None
        queue.channel.__dict__.pop("client", None)
        queue.channel._pool = None
        message.ack()
    finally:
        # Nothing left for kombu's exit-time finaliser to restore through the dead channel.
        if queue.channel._qos is not None:
            queue.channel._qos._delivered.clear()
        with Connection(settings.REDIS_URL) as cleanup:
            cleanup.default_channel.queue_delete(queue.queue.name)


def test_the_stock_transport_dies_acknowledging_after_the_connection_went():
    with pytest.raises(AttributeError):
        _ack_after_the_connection_went(None)


def test_our_transport_drops_that_acknowledgement_and_leaves_the_message_to_redelivery():
    _ack_after_the_connection_went("tracepoint.broker:Transport")


def test_redis_brokers_use_our_transport():
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.CELERY_BROKER_TRANSPORT == "tracepoint.broker:Transport"
