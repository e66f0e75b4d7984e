"""A real Celery worker for test_subscriber_fanout_crash: its own queue, a short visibility timeout (a
killed worker's task comes back in seconds, not an hour), mail written to files, and optionally a
fan-out slowed down after each batch so that the test can kill it half-way."""

from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.conf import settings

    from tracepoint.celery import app
    from tracepoint.notifications import services

    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = os.environ["FANOUT_TEST_MAIL_DIR"]
    queue = os.environ["FANOUT_TEST_QUEUE"]
    app.conf.task_default_queue = queue
    app.conf.broker_transport_options = {
        "visibility_timeout": 2,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    pause = float(os.environ.get("FANOUT_TEST_PAUSE_SECONDS") or 0)
    if pause:
        real_queue_direct = services.queue_direct

        def slow_queue_direct(*args, **kwargs):
            queued = real_queue_direct(*args, **kwargs)
            print("fan-out batch committed", flush=True)
            time.sleep(pause)
            return queued

        services.queue_direct = slow_queue_direct
    app.worker_main(
        ["worker", "-P", "solo", "-Q", queue, "--without-heartbeat", "--without-gossip", "--without-mingle",
         "-l", "WARNING", *sys.argv[1:]]
    )  # fmt: skip


if __name__ == "__main__":
    main()
