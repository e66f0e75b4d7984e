#!/usr/bin/env python3
"""Monitor scheduling in the production layout: N HTTP monitors every 60 s against a fast local target.

Starts a trivial local HTTP target (gunicorn, one worker), a Celery worker and
Celery beat (database scheduler) on PostgreSQL and Redis with their own
database, creates N monitors due evenly over the first interval, lets them run
for D seconds, then reports checks per second sustained, the schedule lag
(from the workers' per-tick lag histograms: actual start - due), the CPU each
program spent per check, and the rows inserted per hour against the checks run
(status periods, rollups and pings: what grows with time).

    .venv/bin/python bench/monitors.py [--monitors 10000] [--seconds 180] [--worker-concurrency 2]

Target (issue 6): every monitor checked every minute (>= N/60 checks/s) with
lag p95 <= 5 s, and rows written per hour <= 1 % of the checks run.

``--locations 3`` (issue 18): every monitor is checked from 3 locations (monitors/locations.py). One
more Celery worker per location consumes only ``checks.<name>`` (``--probe-concurrency`` processes
each), as a probe on another machine would; the main worker claims and sends the rounds, the probes
check, answer and decide by quorum. Checks are then location checks (3 per monitor per minute); lag is
probe start - due; CPU is reported per location check and per monitor round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis
from ingest import cpu_by_program
from procs import bench_environment, free_port, start_celery, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
BIN_DIR = ROOT / ".venv" / "bin"
TARGET_APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""
# What grows with time (a LocationResult is one row per monitor and location, overwritten each round).
MONITOR_TABLES = ("monitors_statusperiod", "monitors_latencyrollup", "monitors_heartbeatping")


def inserted(conn) -> int:
    rows = conn.execute(
        "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname = ANY(%s)", [list(MONITOR_TABLES)]
    ).fetchone()
    return int(rows[0])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_monitor_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--monitors", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--locations", type=int, default=0, help="check every monitor from this many locations")
    parser.add_argument("--probe-concurrency", type=int, default=1, help="worker processes per location")
    parser.add_argument(
        "--part",
        choices=("checks", "pings", "list", "all"),
        default="all",
        help="list: the monitor list with --monitors monitors (bench/monitor_list.py, in a database of its own)",
    )
    parser.add_argument("--heartbeats", type=int, default=1000, help="heartbeat monitors pinged round-robin")
    parser.add_argument("--ping-seconds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections for the pings")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers for the pings")
    parser.add_argument("--web-threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    args = parser.parse_args()
    if args.part == "list":  # its own data set (history, rollups) in its own database
        return subprocess.run(
            [PYTHON, str(Path(__file__).with_name("monitor_list.py")), "--monitors", str(args.monitors)], check=False
        ).returncode
    env, var_dir = bench_environment(
        args.database_url,
        args.redis_url,
        prefix="tp-monitor-bench-",
        LOG_LEVEL="INFO",
        CELERY_WORKER_CONCURRENCY=str(args.worker_concurrency),
        ALLOW_PRIVATE_TARGETS="true",
    )
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    ok = True
    if args.part in ("checks", "all"):
        ok = bench_checks(args, env, var_dir) and ok
    if args.part in ("pings", "all"):
        ok = bench_pings(args, env, var_dir) and ok
    return 0 if ok else 1


def bench_checks(args, env: dict, var_dir: str) -> bool:
    python, bin_dir = PYTHON, BIN_DIR
    locations = [f"loc{number}" for number in range(1, args.locations + 1)]
    (Path(var_dir) / "target.py").write_text(TARGET_APP)
    port = free_port()
    target = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--workers", "1", "--bind", f"127.0.0.1:{port}", "target:application"],
        cwd=var_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    setup = f"""
import django; django.setup()
from datetime import timedelta
from django.utils import timezone
from monitors.models import Monitor, ProbeLocation
from django_celery_beat.models import PeriodicTask
Monitor.objects.all().delete()
ProbeLocation.objects.all().delete()
PeriodicTask.objects.all().delete()
now = timezone.now() + timedelta(seconds=10)
n = {args.monitors}
monitors = Monitor.objects.bulk_create(
    [Monitor(name=f"m{{i}}", kind="http", url="http://127.0.0.1:{port}/", interval_seconds=60, timeout_seconds=5,
             next_check_at=now + timedelta(seconds=60 * i / n)) for i in range(n)],
    batch_size=2000,
)
places = [ProbeLocation.objects.create(name=name, last_seen_at=timezone.now()) for name in {locations!r}]
Monitor.locations.through.objects.bulk_create(
    [Monitor.locations.through(monitor_id=m.pk, probelocation_id=p.pk) for m in monitors for p in places],
    batch_size=5000,
)
"""
    subprocess.run([python, "-c", setup], cwd=ROOT, env=env, check=True)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        for table in ("monitors_monitor", "monitors_monitor_locations", "monitors_probelocation"):
            conn.execute(f"VACUUM ANALYZE {table}")
    log_paths = [Path(var_dir) / "worker.log", *(Path(var_dir) / f"probe-{name}.log" for name in locations)]
    logs = [open(path, "w") for path in log_paths]  # noqa: SIM115 - closed below
    processes = [start_celery(env, loglevel="INFO", log=logs[0])]
    for name, log in zip(locations, logs[1:], strict=True):
        queue_args = ("--queues", f"checks.{name}", "--hostname", f"{name}@%h")
        concurrency = ("--concurrency", str(args.probe_concurrency))
        processes.append(start_celery(env, loglevel="INFO", log=log, extra=(*queue_args, *concurrency)))
    processes.append(
        start_celery(env, "beat", extra=("--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"))
    )
    try:
        # Start-up and one full interval (every monitor's first check writes its first
        # status period), then measure a steady stretch once every monitor has had it.
        time.sleep(15 + 60)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            unchecked = "SELECT count(*) FROM monitors_monitor WHERE last_checked_at IS NULL"
            waited = time.monotonic()
            while conn.execute(unchecked).fetchone()[0] and time.monotonic() - waited < 60:
                time.sleep(1)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            rows_before = inserted(conn)
        cpu_before, started = cpu_by_program(), time.monotonic()
        log_offsets = [path.stat().st_size for path in log_paths]
        time.sleep(args.seconds)
        elapsed, cpu_after = time.monotonic() - started, cpu_by_program()
    finally:
        for proc in (*processes, target):
            proc.terminate()
        for proc in (*processes, target):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
    checks, histogram = 0, {}
    for path, offset in zip(log_paths, log_offsets, strict=True):
        with open(path) as log:
            log.seek(offset)
            for line in log:
                if '"checked ' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                checks += record.get("checks", 0)
                for bound, count in record.get("lag_histogram", {}).items():
                    histogram[bound] = histogram.get(bound, 0) + count
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        rows = inserted(conn) - rows_before
        statuses = dict(conn.execute("SELECT status, count(*) FROM monitors_monitor GROUP BY status").fetchall())

    def percentile(fraction: float) -> str:
        total, seen = sum(histogram.values()), 0
        for bound in [*(f"le_{b:g}" for b in (0.5, 1, 2, 3, 5, 10, 30, 60)), "inf"]:
            seen += histogram.get(bound, 0)
            if total and seen >= fraction * total:
                return "> 60 s" if bound == "inf" else f"<= {bound[3:]} s"
        return "n/a"

    spent = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
    rate = checks / elapsed if elapsed else 0
    per_round = max(1, len(locations))
    needed = args.monitors / 60 * per_round
    where = f" from {len(locations)} locations (probe concurrency {args.probe_concurrency})" if locations else ""
    print(
        f"monitors {args.monitors} at 60 s{where}, worker concurrency {args.worker_concurrency},"
        f" measured {elapsed:.0f} s"
    )
    print(f"checks/s sustained: {rate:.0f} (needed {needed:.0f})")
    print(f"schedule lag: p50 {percentile(0.5)}, p95 {percentile(0.95)}  histogram {histogram}")
    print(f"rows inserted: {rows} for {checks} checks = {100 * rows / max(1, checks):.2f} %")
    print(
        "CPU ms per check: " + ", ".join(f"{n} {s * 1000 / max(1, checks):.2f}" for n, s in sorted(spent.items()) if s)
    )
    if locations:
        rounds = checks / per_round
        print(
            f"CPU ms per monitor round ({per_round} location checks + the decision): "
            + ", ".join(f"{n} {s * 1000 / max(1, rounds):.2f}" for n, s in sorted(spent.items()) if s)
            + f"; total {sum(spent.values()) * 1000 / max(1, rounds):.2f}"
        )
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            fresh = conn.execute(
                "SELECT count(*) FROM monitors_monitor WHERE last_checked_at > now() - interval '75 seconds'"
            ).fetchone()[0]
        print(f"monitors decided in the last 75 s: {fresh} of {args.monitors}")
    print(f"monitor statuses: {statuses}")
    ok = rate >= needed * 0.98 and percentile(0.95) in ("<= 0.5 s", "<= 1 s", "<= 2 s", "<= 3 s", "<= 5 s")
    ok = ok and rows <= 0.01 * checks
    print("PASS" if ok else "FAIL (target: every monitor every minute, lag p95 <= 5 s, rows <= 1 % of checks)")
    return ok


PING_SETUP = """
import django; django.setup()
from datetime import timedelta
from django.utils import timezone
from monitors.models import Monitor, HeartbeatPing
from monitors.ping import record_ping
Monitor.objects.all().delete()
now = timezone.now()
n = {n}
monitors = Monitor.objects.bulk_create(
    [Monitor(name=f"h{{i}}", kind="heartbeat", period_seconds=60, grace_seconds=60) for i in range(n)],
    batch_size=2000,
)
for monitor in monitors:  # one success each: UP, with a schedule, as a running fleet would be
    record_ping(monitor.ping_key, now=now)
print("\\n".join(str(m.ping_key) for m in monitors))
"""


def bench_pings(args, env: dict, var_dir: str) -> bool:
    """Heartbeat ping throughput: plain success pings round-robin over N UP monitors, C connections."""
    if not shutil.which("wrk"):
        sys.exit("the ping part drives the load with wrk: apt-get install wrk")
    out = subprocess.run(
        [PYTHON, "-c", PING_SETUP.format(n=args.heartbeats)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys_path = Path(var_dir) / "ping-keys"
    keys_path.write_text(out.stdout)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE monitors_monitor")
        conn.execute("VACUUM ANALYZE monitors_heartbeatping")
    port = free_port()
    web = start_gunicorn(env, port, workers=args.web_workers, threads=args.web_threads)
    # Pings go through Redis: the worker applies them (monitors.pingbuffer).
    worker = start_celery(env)
    stream_key = env.get("CACHE_KEY_PREFIX", "tp") + ":monitors:pings:stream"
    redis_client = redis.Redis.from_url(args.redis_url)
    redis_client.delete(stream_key)

    def drained(limit: float = 120) -> float:
        """Seconds until the worker has applied every buffered ping."""
        began = time.monotonic()
        while redis_client.xlen(stream_key) and time.monotonic() - began < limit:
            time.sleep(0.05)
        return time.monotonic() - began

    def logged(conn) -> int:
        return int(
            conn.execute(
                "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'monitors_heartbeatping'"
            ).fetchone()[0]
        )

    def run_wrk(seconds: int) -> dict[str, int]:
        proc = subprocess.run(
            [
                "wrk",
                "--threads=2",
                f"--connections={args.concurrency}",
                f"--duration={seconds}s",
                "--timeout=10s",
                "--latency",
                f"--script={ROOT / 'bench' / 'ping.lua'}",
                f"http://127.0.0.1:{port}",
            ],
            env={**os.environ, "PING_KEYS": str(keys_path)},
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
        return {k: int(v) for k, v in (pair.split("=") for pair in line.split()[1:])}

    try:
        run_wrk(3)  # warm-up: every web process has its connections and knows the keys
        drained()
        time.sleep(1)  # pg_stat counters are sent when a backend goes idle
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            logged_before = logged(conn)
        started = datetime.now(UTC)
        cpu_before = cpu_by_program()
        result = run_wrk(args.ping_seconds)
        lag = drained()
        cpu_after = cpu_by_program()
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            proc.wait(timeout=30)
    time.sleep(1)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        logged_during = logged(conn) - logged_before
        fresh = conn.execute(
            "SELECT count(*) FROM monitors_monitor WHERE kind = 'heartbeat' AND last_ping_at >= %s", [started]
        ).fetchone()[0]
        statuses = dict(conn.execute("SELECT status, count(*) FROM monitors_monitor GROUP BY status").fetchall())
    elapsed = result["duration_us"] / 1e6
    rate = result["ok"] / elapsed
    spent = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
    print(
        f"pings: {args.heartbeats} heartbeat monitors, {args.concurrency} connections,"
        f" gunicorn {args.web_workers} workers"
    )
    print(f"pings/s: {rate:.0f}  p50 {result['p50_us'] / 1000:.1f} ms  p99 {result['p99_us'] / 1000:.1f} ms")
    print(f"answers: {result['ok']} ok, {result['failed']} not 200, {result['errors']} socket errors")
    print(f"monitors with a ping recorded during the run: {fresh} of {args.heartbeats}; statuses {statuses}")
    print(f"pings logged: {logged_during} for {result['ok']} answered; all applied {lag:.1f} s after the last answer")
    print(
        "CPU ms per ping: "
        + ", ".join(f"{n} {s * 1000 / max(1, result['ok']):.3f}" for n, s in sorted(spent.items()) if s)
    )
    ok = rate >= 2000 and not result["failed"] and not result["errors"] and fresh == args.heartbeats
    ok = ok and logged_during >= result["ok"] and lag < 10
    print("PASS" if ok else "FAIL (target: >= 2,000 pings/s at 32 connections, every ping answered 200 and recorded)")
    return ok


if __name__ == "__main__":
    sys.exit(main())
