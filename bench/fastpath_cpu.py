"""CPU per request of the production WSGI application (``tracepoint.wsgi``), in-process: no server,
no client, no network but Redis, so a few microseconds of difference on the fast path show.

Run it against a database that ``bench/monitors.py --part pings`` (heartbeat monitors) or
``bench/statuspage.py`` (the cached page ``bench``) has filled:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tracepoint_monitor_bench REDIS_URL=redis://127.0.0.1:6379/6 \\
        SECRET_KEY=<40 characters> DEBUG=false .venv/bin/python bench/fastpath_cpu.py ping
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tracepoint_statuspage_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        SECRET_KEY=<40 characters> DEBUG=false .venv/bin/python bench/fastpath_cpu.py page

Prints the minimum over ``--rounds`` of the CPU time per request (``time.process_time``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracepoint.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("ping", "page"))
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from django.db import connection

    from tracepoint.wsgi import application

    if args.kind == "ping":
        with connection.cursor() as cursor:
            cursor.execute("SELECT ping_key FROM monitors_monitor WHERE kind = 'heartbeat' LIMIT 500")
            paths = [f"/ping/{row[0]}" for row in cursor.fetchall()]
    else:  # the outputs served from the cache (the HTML page needs collectstatic when DEBUG is off)
        paths = ["/status/bench/api/v2/summary.json", "/badge/bench.svg", "/status/bench/feed.atom"]
    if not paths:
        sys.exit("nothing to request: fill the database with the bench named in the docstring first")
    statuses: dict[str, int] = {}

    def start_response(status, headers, exc_info=None):
        statuses[status] = statuses.get(status, 0) + 1

    def run(count: int) -> float:
        started = time.process_time()
        for index in range(count):
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": paths[index % len(paths)],
                "QUERY_STRING": "",
                "SERVER_NAME": "localhost",
                "SERVER_PORT": "80",
                "HTTP_HOST": "localhost",
                "REMOTE_ADDR": "127.0.0.1",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr,
            }
            result = application(environ, start_response)
            b"".join(result)
            getattr(result, "close", lambda: None)()
        return time.process_time() - started

    run(args.requests // 2)  # warm: caches, connections, the per-process memo
    best = min(run(args.requests) for _ in range(args.rounds)) / args.requests
    print(f"{args.kind}: {best * 1e6:.0f} µs of CPU per request; answers {statuses}")


if __name__ == "__main__":
    main()
