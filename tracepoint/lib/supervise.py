"""Run a command and start it again whenever it exits by itself: ``python -m tracepoint.lib.supervise CMD…``.

`make run` starts web, worker and beat under honcho, which stops every process as soon as one
exits: a crashed worker would take the web process down with it. Under this supervisor the crash
stays the worker's: it is logged and the worker starts again after a short pause that grows while
it keeps crashing (1 s, 2 s, 4 s … 30 s; back to 1 s after a minute of good health). SIGTERM,
SIGINT and SIGHUP are passed on to the command and end the supervision. Compose and Kubernetes
restart containers themselves and do not need it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

MIN_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


def _log(message: str, **fields) -> None:
    line = {"message": message, "time": datetime.now(tz=UTC).isoformat(), "level": "WARNING"}
    line.update(logger="tracepoint.supervise", **fields)
    print(json.dumps(line), file=sys.stderr, flush=True)


def supervise(command: list[str], *, min_delay: float = MIN_DELAY_SECONDS, max_delay: float = MAX_DELAY_SECONDS) -> int:
    stopping: list[int] = []
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)

    delay = min_delay
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)  # noqa: S603 - the command is the operator's own
        if stopping and child.poll() is None:  # told to stop while it was starting
            child.send_signal(stopping[0])
        code = child.wait()
        if stopping:
            return code
        if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
            delay = min_delay
        _log(f"{command[0]} exited with status {code}; starting it again in {delay:g} s", command=command, status=code)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return code
        delay = min(delay * 2, max_delay)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tracepoint.lib.supervise COMMAND [ARG…]", file=sys.stderr)
        return 2
    return supervise(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
