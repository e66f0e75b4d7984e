#!/usr/bin/env python3
"""The monitor list with N monitors (issue 18: 10,000 monitors answer in <= 200 ms).

Loads N monitors into a database of its own (status periods with some history, a day of latency rollups
each, as 60-second checks leave them), times the beat task that refreshes the cached uptime columns,
then starts gunicorn with the production settings and times GET /monitors/ as a logged-in viewer:
the first page, sorted worst first, sorted by uptime, a deep page, a name search and a status filter.

    .venv/bin/python bench/monitor_list.py [--monitors 10000] [--requests 100] [--reuse]

`bench/monitors.py --part list` runs the same.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import bench_environment, free_port, start_gunicorn, stop

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "first page": "/monitors/",
    "worst first": "/monitors/?sort=status",
    "by uptime": "/monitors/?sort=uptime",
    "page 200": "/monitors/?page=200",
    "search": "/monitors/?q=api-01",
    "down only": "/monitors/?status=down",
}


def setup_django(env: dict) -> None:
    os.environ.update({key: value for key, value in env.items() if key not in os.environ or key.startswith(("D", "T"))})
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load(n: int, now: datetime, seed: int = 18) -> None:
    """N HTTP monitors: ~1 % down, ~2 % degraded, a few status changes in 30 days, 8 rollup blocks of 3 hours."""
    from django.db import connection

    from monitors.models import LatencyRollup, Monitor, StatusPeriod

    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE monitors_monitor RESTART IDENTITY CASCADE")
    monitors = []
    for index in range(n):
        roll = rng.random()
        status = "down" if roll < 0.01 else "degraded" if roll < 0.03 else "up"
        monitors.append(
            Monitor(
                name=f"api-{index:05d} {rng.choice(['checkout', 'search', 'login', 'cdn', 'db'])}",
                kind="http",
                url=f"https://svc{index}.example/health",
                status=status,
                status_changed_at=now - timedelta(hours=rng.randint(1, 700)),
                last_checked_at=now - timedelta(seconds=rng.randint(0, 59)),
                last_latency_ms=rng.randint(20, 400),
                next_check_at=now + timedelta(days=1),  # nothing runs: this measures the page
                created_at=now - timedelta(days=40),
            )
        )
    Monitor.objects.bulk_create(monitors, batch_size=2000)
    ids = list(Monitor.objects.order_by("pk").values_list("pk", "status"))
    periods = []
    for pk, status in ids:
        start = now - timedelta(days=40)
        for _ in range(rng.randint(0, 4)):  # a few past outages
            down_at = start + timedelta(hours=rng.randint(1, 200))
            periods.append(StatusPeriod(monitor_id=pk, status="up", started_at=start, ended_at=down_at))
            start = down_at + timedelta(minutes=rng.randint(1, 90))
            periods.append(StatusPeriod(monitor_id=pk, status="down", started_at=down_at, ended_at=start))
        periods.append(StatusPeriod(monitor_id=pk, status=status, started_at=start, ended_at=None))
    StatusPeriod.objects.bulk_create(periods, batch_size=5000)
    block = LatencyRollup.BLOCK_HOURS
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=now.hour % block + 24)
    rollups = []
    for pk, _status in ids:
        for b in range(9):
            hours = {}
            minutes = {}
            for h in range(block):
                samples = [rng.randint(20, 400) for _ in range(60)]
                buckets = [0] * 12
                hours[str(h)] = [60, 0, min(samples), max(samples), sum(samples), buckets]
                if b >= 8:  # only the newest block keeps minutes (the first 48 hours do; enough for the size)
                    for m in range(60):
                        minutes[str(h * 60 + m)] = [1, 0, [samples[m]]]
            rollups.append(LatencyRollup(monitor_id=pk, start=first + timedelta(hours=b * block), hours=hours,
                                         minutes=minutes))  # fmt: skip
        if len(rollups) >= 9000:
            LatencyRollup.objects.bulk_create(rollups)
            rollups = []
    LatencyRollup.objects.bulk_create(rollups)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE monitors_monitor") if connection.vendor == "postgresql" else None


def viewer_cookie() -> tuple[str, str]:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    from tracepoint.accounts.roles import set_role

    user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
    set_role(user, "viewer")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return settings.SESSION_COOKIE_NAME, session.session_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_monitor_list_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--monitors", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--reuse", action="store_true", help="keep the monitors already loaded")
    args = parser.parse_args()
    env, _var_dir = bench_environment(args.database_url, args.redis_url, prefix="tp-bench-mlist-")
    import subprocess

    env["STATIC_ROOT"] = str(Path(tempfile.gettempdir()) / "tp-bench-static")  # collected once, then reused
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", *command], cwd=ROOT, env=env, check=True)
    setup_django(env)
    from monitors import uptime
    from monitors.models import Monitor

    now = datetime.now(UTC)
    if not (args.reuse and Monitor.objects.count() == args.monitors):
        started = time.perf_counter()
        load(args.monitors, now)
        print(f"loaded {args.monitors:,} monitors in {time.perf_counter() - started:.0f} s")
    started, cpu = time.perf_counter(), time.process_time()
    refreshed = uptime.refresh_cached(now=datetime.now(UTC))
    print(
        f"beat's uptime refresh: {refreshed:,} monitors in {time.perf_counter() - started:.2f} s "
        f"({time.process_time() - cpu:.2f} s CPU in the worker)"
    )
    name, key = viewer_cookie()
    port = free_port()
    web = start_gunicorn(env, port, workers=2)
    try:
        with requests.Session() as http:
            http.cookies.set(name, key)
            for label, path in SCENARIOS.items():
                url = f"http://127.0.0.1:{port}{path}"
                for _ in range(5):
                    http.get(url, timeout=30).raise_for_status()
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = http.get(url, timeout=30)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200 and b'id="monitor-table"' in response.content, (
                        response.status_code
                    )
                times.sort()
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                print(
                    f"{label:<12} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  max {times[-1]:6.1f} ms"
                    f"  {path}"
                )
    finally:
        stop(web)
    return 0


if __name__ == "__main__":
    sys.exit(main())
