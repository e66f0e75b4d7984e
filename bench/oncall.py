#!/usr/bin/env python3
"""Latency of ``GET /api/v1/schedules/{id}/oncall?at=…`` on a schedule with 3 layers and 50 overrides,
through gunicorn in the production layout (PostgreSQL, Redis, ``tracepoint.gunicorn_conf``, 2 workers).

    .venv/bin/python bench/oncall.py [--requests 1000] [--warmup 50]

The schedule (Europe/Paris, so DST days are among the instants): a weekly rotation of 6 people, a
12-hour rotation of 4 handing off at 08:00/20:00 restricted to nights (20:00-08:00), and an office-hours
layer of 3 on weekdays 09:00-18:00; 50 overrides of 2-48 hours spread over ±60 days around now.
N sequential requests (one connection at a time, as a script or the escalation engine asks) at
instants drawn uniformly from the same ±60 days. Also prints the in-process cost of the lookup
(``services.on_call_shifts_at``, its queries included) for the same instants, to show what the HTTP
and Django layers add.

Target (issue 16): p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from procs import bench_environment, free_port, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
TARGET_P95_MS = 20.0

SETUP = """
import django, json, random, sys; django.setup()
from datetime import date, time, timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from incidents.oncall import services
from incidents.oncall.models import Override, Schedule, Team
from tracepoint.accounts.models import ApiToken
from tracepoint.accounts.roles import set_role

seed = int(sys.argv[1])
rng = random.Random(seed)
User = get_user_model()
Schedule.objects.filter(team__slug="bench-oncall").delete()
Team.objects.filter(slug="bench-oncall").delete()
people = []
for index in range(10):
    user, _ = User.objects.get_or_create(username=f"bench-oncall-{index}", defaults={"email": f"b{index}@example.com"})
    people.append(user)
reader, _ = User.objects.get_or_create(username="bench-oncall-reader")
set_role(reader, "viewer")
ApiToken.objects.filter(user=reader).delete()
_, key = ApiToken.issue(reader, "bench")
team = services.create_team(name="Bench on-call", slug="bench-oncall", members=people)
schedule = services.create_schedule(team=team, name="Primary", time_zone="Europe/Paris")
now = timezone.now()
start = (now - timedelta(days=400)).date()
services.create_layer(schedule, name="Weekly", start_date=start, participants=people[:6], shift_unit="weeks", order=1)
services.create_layer(schedule, name="Nights", start_date=start, participants=people[6:10], shift_count=12,
                      shift_unit="hours", handoff_time=time(8, 0), order=2,
                      restrictions=[{"start": "20:00", "end": "08:00"}])
services.create_layer(schedule, name="Office", start_date=start, participants=people[3:6], shift_unit="days",
                      order=3, restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                                              "end": "18:00"}])
for index in range(50):
    begins = now + timedelta(minutes=rng.randint(-60 * 24 * 60, 60 * 24 * 60))
    services.create_override(schedule, user=rng.choice(people), start=begins,
                             end=begins + timedelta(hours=rng.randint(2, 48)), note=f"bench {index}")
assert Override.objects.filter(schedule=schedule).count() == 50 and schedule.layers.count() == 3
print(json.dumps({"schedule": schedule.pk, "token": key, "now": now.isoformat()}))
"""

IN_PROCESS = """
import django, json, sys, time; django.setup()
from datetime import datetime
from incidents.oncall import services
from incidents.oncall.models import Schedule
schedule = Schedule.objects.get(pk=int(sys.argv[1]))
instants = [datetime.fromisoformat(at) for at in json.loads(sys.stdin.read())]
for at in instants[:20]:
    services.on_call_shifts_at(schedule, at)
took = []
for at in instants:
    began = time.perf_counter()
    services.on_call_shifts_at(schedule, at)
    took.append((time.perf_counter() - began) * 1000)
print(json.dumps(took))
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):6.2f}  p95 {percentile(values, 95):6.2f}  "
        f"p99 {percentile(values, 99):6.2f}  max {max(values):6.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_oncall_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()

    env, _ = bench_environment(args.database_url, args.redis_url, prefix="tp-oncall-bench-")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    made = subprocess.run(
        [PYTHON, "-c", SETUP, str(args.seed)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    setup = json.loads(made.stdout.strip().splitlines()[-1])
    schedule, token = setup["schedule"], setup["token"]
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(setup["now"])
    rng = random.Random(args.seed + 1)
    span = int(timedelta(days=60).total_seconds())
    instants = [
        (now + timedelta(seconds=rng.randint(-span, span))).isoformat(timespec="seconds")
        for _ in range(args.warmup + args.requests)
    ]

    port = free_port()
    web = start_gunicorn(env, port, workers=args.workers)
    base = f"http://127.0.0.1:{port}/api/v1/schedules/{schedule}/oncall?at="
    took: list[float] = []
    statuses: dict[int, int] = {}
    gaps = 0
    sources: dict[str, int] = {}
    try:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            for index, at in enumerate(instants):
                began = time.perf_counter()
                response = session.get(base + quote(at))
                elapsed = (time.perf_counter() - began) * 1000
                if index < args.warmup:
                    continue
                took.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    on_call = response.json()["on_call"]
                    gaps += not on_call
                    for entry in on_call:
                        sources[entry["source"]] = sources.get(entry["source"], 0) + 1
    finally:
        web.terminate()
        web.wait(timeout=30)

    measured = instants[args.warmup :]
    in_process = json.loads(
        subprocess.run(
            [PYTHON, "-c", IN_PROCESS, str(schedule)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            input=json.dumps(measured),
        ).stdout
    )

    print(
        f"schedule {schedule}: 3 layers, 50 overrides; {args.requests} sequential GET …/oncall?at= "
        f"(after {args.warmup} warm-up), gunicorn --workers {args.workers}, instants over ±60 days"
    )
    print(f"answers: {statuses}; on call from {sources}; gaps {gaps}")
    print(f"HTTP (client-side):            {summary(took)}")
    print(f"in process (on_call_shifts_at): {summary(in_process)}")
    p95 = percentile(took, 95)
    ok = statuses.get(200, 0) == args.requests and p95 <= TARGET_P95_MS
    print("PASS" if ok else f"FAIL (target: every answer 200, p95 <= {TARGET_P95_MS:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
