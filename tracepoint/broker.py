"""kombu's Redis transport with one fix: a worker survives losing Redis while it has tasks in hand.

On a lost broker connection, Celery 5.7's consumer first *collects* the connection, which drops
the transport's reference to it, then *closes* it. Closing a channel that still holds unacked
messages (we acknowledge late, so under load it always does) pushes them back to their queue
through a Redis client built from that dropped reference: an AttributeError, which is not a
connection error, so the worker stops for good with "Unrecoverable error" instead of reconnecting.

Here that push-back is skipped when the connection is already gone. Nothing is lost: the messages
stay in Redis's unacked index and kombu puts them back on their queue after the visibility
timeout, as it does for a worker that died (and our periodic sweepers pick up undigested events
and unsent deliveries long before that).

The same holds for a task that was running when Redis went: its acknowledgement (or rejection) is
sent after the reconnect on the old channel, which has no connection any more. It is dropped here
and the message stays in the unacked index (if Redis kept its data, the task runs again after the
visibility timeout; our tasks are idempotent).

Used for ``redis://`` brokers through ``CELERY_BROKER_TRANSPORT`` (tracepoint/settings.py);
tests/test_redis_loss.py kills a real Redis under load to prove it.
"""

from __future__ import annotations

import logging

from kombu.transport import redis
from kombu.transport.virtual import base as virtual

logger = logging.getLogger("tracepoint.broker")


def _connection_gone(channel) -> bool:
    return channel.connection is None or channel.connection.client is None


class QoS(redis.QoS):
    def ack(self, delivery_tag):
        if _connection_gone(self.channel):
            virtual.QoS.ack(self, delivery_tag)  # forget it here; Redis keeps it in the unacked index
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if _connection_gone(self.channel):
            virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)

    def restore_unacked(self, client=None):
        if client is None and _connection_gone(self.channel):
            if self._delivered:
                logger.warning(
                    "broker connection lost with %d unacknowledged messages; "
                    "Redis redelivers them after the visibility timeout",
                    len(self._delivered),
                )
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
