#!/usr/bin/env python3
"""A status page under a traffic spike: C concurrent clients for D seconds against gunicorn in the
production layout (PostgreSQL, Redis cache), for the HTML page, summary.json and the badge, and for a
static file from the same server as the ceiling.

    apt-get install wrk
    .venv/bin/python bench/statuspage.py [--connections 200] [--seconds 30] [--workers 3]

Target (issue 7): each of the three at >= 50 % of the static file's requests/s, p99 <= 100 ms, no errors.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from procs import bench_environment, cpu_by_name, free_port, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")

SETUP = """
import django; django.setup()
from datetime import timedelta
from django.utils import timezone
from incidents.services import Actor, create_incident
from monitors.models import Monitor, MonitorStatus, StatusPeriod
from statuspages import services
from statuspages.models import Component, ComponentGroup, Maintenance, StatusPage
StatusPage.objects.filter(slug="bench").delete()
Monitor.objects.filter(name__startswith="bench ").delete()
now = timezone.now()
page = StatusPage.objects.create(slug="bench", title="Bench Corp", description="A page under load")
group = ComponentGroup.objects.create(page=page, name="Platform", position=1)
for index in range(8):
    monitor = Monitor.objects.create(name=f"bench {index}", kind="http", url="https://example.com/",
                                     status=MonitorStatus.UP)
    StatusPeriod.objects.create(monitor=monitor, status="up", started_at=now - timedelta(days=90),
                                ended_at=now - timedelta(days=20, hours=index))
    StatusPeriod.objects.create(monitor=monitor, status="down", started_at=now - timedelta(days=20, hours=index),
                                ended_at=now - timedelta(days=20, hours=index) + timedelta(minutes=30))
    StatusPeriod.objects.create(monitor=monitor, status="up",
                                started_at=now - timedelta(days=20, hours=index) + timedelta(minutes=30))
    component = Component.objects.create(page=page, group=group if index < 5 else None, name=f"Service {index}",
                                         position=index)
    component.monitors.add(monitor)
incident = create_incident(title="Elevated error rates", service="api", severity="SEV2", by=Actor(label="bench"))
link = services.publish_incident(page, incident, components=list(page.components.all()[:2]), body="Investigating.")
services.post_update(link, body="Identified; fix rolling out.", status="identified")
Maintenance.objects.create(page=page, title="Database upgrade", scheduled_for=now + timedelta(days=2),
                           scheduled_until=now + timedelta(days=2, hours=1))
print(page.components.first().public_id)
"""


def run_wrk(url: str, connections: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "--threads=2", f"--connections={connections}", f"--duration={seconds}s", "--timeout=10s", "--latency",
         url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(p99[1]) * {"us": 0.001, "ms": 1, "s": 1000}[p99[2]]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total_errors = (int(errors[1]) if errors else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return {"rate": rate, "p99_ms": p99_ms, "errors": total_errors}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_statuspage_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/statuspage.py drives the load with wrk: apt-get install wrk")
    env, _ = bench_environment(args.database_url, args.redis_url, prefix="tp-statuspage-bench-")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    component = subprocess.run(
        [PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    port = free_port()
    web = start_gunicorn(env, port, workers=args.workers, threads=args.threads, extra=("--backlog", "2048"))
    base = f"http://127.0.0.1:{port}"
    targets = {
        "static file (ceiling)": "/static/css/statuspage.css",
        "HTML page": "/status/bench/",
        "summary.json": "/status/bench/api/v2/summary.json",
        "badge": "/badge/bench.svg",
        "component badge": f"/badge/bench/{component}.svg",
    }
    results = {}
    try:
        for name, path in targets.items():
            run_wrk(base + path, 8, 2)  # warm: code loaded, the cache filled
            before = cpu_by_name()
            results[name] = run_wrk(base + path, args.connections, args.seconds)
            after = cpu_by_name()
            results[name]["cpu"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    finally:
        web.terminate()
        web.wait(timeout=30)
    ceiling = results["static file (ceiling)"]["rate"]
    print(f"{args.connections} connections, {args.seconds} s each, gunicorn {args.workers}x{args.threads}")
    print(f"{'target':24} {'req/s':>8} {'of static':>9} {'p99 ms':>8} {'errors':>7}  CPU s (gunicorn/postgres/redis)")
    ok = True
    for name, result in results.items():
        share = result["rate"] / ceiling if ceiling else 0
        cpu = result["cpu"]
        print(
            f"{name:24} {result['rate']:8.0f} {share:9.0%} {result['p99_ms']:8.1f} {result['errors']:7d}  "
            f"{cpu.get('gunicorn', 0):.1f}/{cpu.get('postgres', 0):.1f}/{cpu.get('redis-server', 0):.1f}"
        )
        if name != "static file (ceiling)":
            ok = ok and share >= 0.5 and result["p99_ms"] <= 100 and result["errors"] == 0
    print("PASS" if ok else "FAIL (target: each >= 50 % of the static file's req/s, p99 <= 100 ms, no errors)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
