#!/usr/bin/env python3
"""Sentry-envelope ingest throughput in the production layout.

Starts gunicorn (``tracepoint.wsgi``, sync workers) and a Celery worker against
PostgreSQL and Redis (its own database, created if missing, tables emptied),
creates a project, then sends N realistic gzip envelopes (one event each, as
sentry-sdk does) over C connections with wrk (``bench/ingest.lua``), with G
distinct error groups whose messages carry varying values. Reports accepted
events/s, request latency p50/p95/p99, the time from the last request until
every event is grouped, the number of issues (must be G), the peak memory
(RSS) of the server processes and the CPU each program spent per event.

    apt-get install wrk   # a C load generator: a Python client would eat the CPU it measures
    .venv/bin/python bench/ingest.py [--events 10000] [--concurrency 16] [--groups 50] [--workers 3]

Target (issue): >= 1,000 accepted events/s at C=16, p99 <= 100 ms, all grouped
within 10 s of the last request, exactly G issues.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from procs import bench_environment, descendants, free_port, start_celery, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ["ValueError", "KeyError", "TimeoutError", "ConnectionError", "PermissionError", "RuntimeError"]
MODULES = ["shop.checkout", "shop.cart", "shop.payments", "api.users", "api.orders", "worker.sync", "web.views"]


def envelope(key: str, group: int, rng: random.Random) -> bytes:
    event_id = uuid.uuid4().hex
    exc_type = EXCEPTIONS[group % len(EXCEPTIONS)]
    module = MODULES[group % len(MODULES)]
    value = f"group {group}: order {rng.randint(1, 10**6)} failed for user{rng.randint(1, 500)}@example.com"
    event = {
        "event_id": event_id,
        "timestamp": datetime.now(tz=UTC).isoformat(),
        "platform": "python",
        "level": "error",
        "release": "shop@1.4.2",
        "environment": "production",
        "server_name": "web-1",
        "transaction": f"/orders/{{id}}/step{group % 5}",
        "user": {"id": f"u{rng.randint(1, 500)}"},
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": value,
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "frames": [
                            {
                                "module": "django.core.handlers.base",
                                "function": "_get_response",
                                "lineno": 197,
                                "in_app": False,
                            },
                            {
                                "module": module,
                                "function": f"handler_{group}",
                                "lineno": rng.randint(10, 400),
                                "in_app": True,
                                "context_line": "    raise error",
                            },
                        ]
                    },
                }
            ]
        },
        "tags": {"region": rng.choice(["eu", "us"])},
        "sdk": {"name": "sentry.python", "version": "2.75.0"},
    }
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event_id, "sent_at": datetime.now(tz=UTC).isoformat()}).encode()
    item = json.dumps({"type": "event", "content_type": "application/json", "length": len(payload)}).encode()
    return gzip.compress(header + b"\n" + item + b"\n" + payload + b"\n", compresslevel=6)


def cpu_by_program() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process and its reaped children, summed per program."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = next(
            (n for n in ("gunicorn", "celery", "postgres", "redis-server", "wrk") if n in cmdline),
            "other",
        )
        # utime + stime, plus cutime + cstime: the CPU of children already reaped (a
        # PostgreSQL backend ends with its connection; the postmaster keeps its total).
        totals[name] = totals.get(name, 0.0) + sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    return totals


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_ingest_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/ingest.py drives the load with wrk: apt-get install wrk")
    env, var_dir = bench_environment(
        args.database_url,
        args.redis_url,
        prefix="tp-ingest-bench-",
        LOG_LEVEL="WARNING",
        CELERY_WORKER_CONCURRENCY=str(args.worker_concurrency),
    )
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = (
        "import django; django.setup(); "
        "from events.models import Event, Issue, Project; from events import keys; "
        "Project.objects.filter(slug='bench').delete(); "
        "p = keys.create_project(name='Bench', slug='bench', services=['shop']); "
        "print(p.pk, p.active_key().public_key)"
    )
    # Every run starts from empty tables without dead rows (a DELETE would leave
    # autovacuum work that lands in the middle of the next run).
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE events_event, events_issue, events_issuegrouping, events_issueactivity, events_issueuser CASCADE"
        )
        conn.execute("VACUUM ANALYZE events_event")
    out = subprocess.run([python, "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    project_id, key = out.stdout.split()

    port = free_port()
    web = start_gunicorn(env, port, workers=args.workers, threads=args.threads)
    worker = start_celery(env)
    base = f"http://127.0.0.1:{port}"
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(descendants(web.pid) + descendants(worker.pid)))
            time.sleep(0.2)

    try:
        rng = random.Random(3)
        warmup = [envelope(key, i % args.groups, rng) for i in range(20)]
        # 64 spare bodies per wrk thread: requests in flight when a thread has its count.
        bodies = [envelope(key, i % args.groups, rng) for i in range(args.events + 64 * args.client_threads)]
        url = f"{base}/api/{project_id}/envelope/"
        auth = f"Sentry sentry_key={key}, sentry_version=7, sentry_client=bench/1.0"
        headers = {"Content-Type": "application/x-sentry-envelope", "Content-Encoding": "gzip", "X-Sentry-Auth": auth}
        with requests.Session() as session:
            for body in warmup:
                session.post(url, data=body, headers=headers, timeout=30).raise_for_status()
        bodies_path = Path(var_dir) / "bodies"
        bodies_path.write_bytes(b"".join(bodies))
        bodies_path.with_name("bodies.sizes").write_text("".join(f"{len(b)}\n" for b in bodies))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu_before = cpu_by_program()
        done_marker = Path(var_dir) / "done"
        wrk = subprocess.Popen(
            [
                "wrk",
                f"--threads={args.client_threads}",
                f"--connections={args.concurrency}",
                "--duration=600s",
                "--timeout=30s",
                f"--script={ROOT / 'bench' / 'ingest.lua'}",
                url,
            ],
            env={
                **os.environ,
                "INGEST_BODIES": str(bodies_path),
                "INGEST_PER_THREAD": str(args.events // args.client_threads),
                "INGEST_AUTH": auth,
                "INGEST_DONE": str(done_marker),
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        while wrk.poll() is None and len(list(done_marker.parent.glob("done.*"))) < args.client_threads:
            time.sleep(0.005)
        wrk.send_signal(signal.SIGINT)
        stdout, _ = wrk.communicate(timeout=60)
        cpu_after = cpu_by_program()
        last_request = time.monotonic()
        line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
        result = {k: int(v) for k, v in (pair.split("=") for pair in line.split()[1:])}
        accepted = result["accepted"]
        elapsed = result["duration_us"] / 1e6

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                waiting = conn.execute("SELECT count(*) FROM events_event WHERE digested_at IS NULL").fetchone()[0]
                if waiting == 0:
                    break
                time.sleep(0.1)
            grouped_after = time.monotonic() - last_request
            stored = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]
            issues = conn.execute("SELECT count(*) FROM events_issue").fetchone()[0]
            counted = conn.execute("SELECT coalesce(sum(event_count), 0) FROM events_issue").fetchone()[0]
        stop.set()

        p50, p95, p99, slowest = (result[k] / 1000 for k in ("p50_us", "p95_us", "p99_us", "max_us"))
        print(
            f"events sent {accepted + result['rejected']} (+20 warm-up), accepted {accepted}, "
            f"rejected {result['rejected']}, socket errors {result['errors']}, stored {stored}, counted {counted}"
        )
        print(
            f"concurrency {args.concurrency}, gunicorn {args.workers}x{args.threads}, celery {args.worker_concurrency}"
        )
        print(f"accepted events/s: {accepted / elapsed:.0f}")
        print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {slowest:.1f}")
        print(f"all grouped {grouped_after:.1f} s after the last request (waiting rows: {waiting})")
        print(f"issues: {issues} (expected {args.groups})")
        print(f"peak RSS of gunicorn + worker: {peak[0] / 1024:.0f} MiB")
        spent = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
        print(
            "CPU ms per accepted event during the run: "
            + ", ".join(f"{name} {seconds * 1000 / accepted:.2f}" for name, seconds in sorted(spent.items()) if seconds)
        )
        ok = (
            accepted / elapsed >= 1000 and p99 <= 100 and waiting == 0 and grouped_after <= 10 and issues == args.groups
        )
        print("PASS" if ok else "FAIL (target: >= 1000 events/s, p99 <= 100 ms, grouped within 10 s, exactly G issues)")
        return 0 if ok else 1
    finally:
        stop.set()
        stop(web, worker)


if __name__ == "__main__":
    sys.exit(main())
