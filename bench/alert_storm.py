"""Alert storm: 10,000 alerts in 2,000 Alertmanager notifications within 20 s, from 50 groups.

Starts gunicorn (``tracepoint.gunicorn_conf``) and a Celery worker against a PostgreSQL database of
its own and Redis, creates one Alertmanager integration and one webhook channel pointed at a local
HTTP receiver, then plays 50 groups as Alertmanager would: every 0.5 s each group sends its next
notification (the whole current state: 5 new firing alerts, and the 5 before them as resolved), so
2,000 notifications arrive in 20 s, 100 per second, over 32 connections. Each group keeps its own
timer, as Alertmanager's do (a group's timer starts when the group appears), so the groups' sends are
spread over each 0.5 s rather than fired together; ``--together`` sends all 50 at once instead. Groups belong to 10
services, so correlation should join the 5 groups of a service into one incident.

Reports intake latency (p50/p95/p99 as the client saw it), how long after the last answer every
group was correlated, the counts the issue asks for (each alert once, one incident per group or
fewer), and the time from the first notification to the first channel message (incident.created).

    .venv/bin/python bench/alert_storm.py
    # --database-url postgres://postgres@127.0.0.1:5432/tracepoint_storm_bench --redis-url redis://127.0.0.1:6379/6
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from procs import bench_environment, cpu_by_name, free_port, start_celery, start_gunicorn, stop

ROOT = Path(__file__).resolve().parent.parent
FIRING_END = "0001-01-01T00:00:00Z"


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def notification(group: int, index: int, *, per: int, services: int, t0: datetime) -> dict:
    """The ``index``-th notification of ``group``: ``per`` new firing alerts and the previous ones resolved."""
    service = f"svc-{group % services}"

    def alert(number: int, *, resolved: bool) -> dict:
        started = t0 + timedelta(seconds=number // per)
        return {
            "status": "resolved" if resolved else "firing",
            "labels": {
                "alertname": f"Storm{group}",
                "service": service,
                "instance": f"host-{number}:9100",
                "severity": "critical",
            },
            "annotations": {"summary": f"Storm {group}: host-{number} is on fire"},
            "startsAt": rfc3339(started),
            "endsAt": rfc3339(started + timedelta(seconds=1)) if resolved else FIRING_END,
            "generatorURL": "http://prometheus.bench:9090/graph",
            "fingerprint": f"{group:04x}{number:012x}",
        }

    firing = [alert(index * per + i, resolved=False) for i in range(per)]
    resolved = [alert((index - 1) * per + i, resolved=True) for i in range(per)] if index else []
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="Storm{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tracepoint",
        "groupLabels": {"alertname": f"Storm{group}"},
        "commonLabels": {"alertname": f"Storm{group}", "service": service, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench:9093",
        "notification_reason": "first notification" if index == 0 else "new alerts added",
        "alerts": firing + resolved,
    }


class Receiver(BaseHTTPRequestHandler):
    """The channel's webhook target: records when each incident.created message arrives."""

    received: queue.Queue = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.put((time.time(), json.loads(body or b"{}")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_storm_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--notifications", type=int, default=40, help="per group")
    parser.add_argument("--alerts-per-notification", type=int, default=5)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="the storm lasts this long")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="the Celery worker's niceness: 10, as the Procfiles and docker-compose.yml run it",
    )
    parser.add_argument("--verbose", action="store_true", help="latency per second of the storm")
    parser.add_argument("--together", action="store_true", help="every group sends at the same instant")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args()

    env, _var_dir = bench_environment(
        args.database_url,
        args.redis_url,
        prefix="tp-storm-bench-",
        LOG_LEVEL="WARNING",
        CELERY_WORKER_CONCURRENCY=str(args.worker_concurrency),
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32",  # the channel's receiver; the guard stays on for the rest
    )
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE intake_integration, intake_alertgroup, intake_alert, intake_alertpayload, "
            "incidents_incident, incidents_incidentsignal, incidents_timelineentry, "
            "notifications_delivery, notifications_notificationchannel CASCADE"
        )
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    setup = (
        "import django; django.setup(); "
        "from incidents.intake.services import create_integration; "
        "from tracepoint.notifications.models import NotificationChannel; "
        "NotificationChannel.objects.create(name='storm hook', kind='WEBHOOK', "
        f"webhook_url='http://127.0.0.1:{hook.server_address[1]}/hook', topics=['incident.created']); "
        "integration, token = create_integration(kind='alertmanager', name='Storm', service_label='service'); "
        "print(token)"
    )
    out = subprocess.run([python, "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    token = out.stdout.split()[-1]

    port = free_port()
    web = start_gunicorn(env, port, workers=args.workers)
    worker = start_celery(env, nice=args.worker_nice)
    url = f"http://127.0.0.1:{port}/api/v1/intake/alertmanager"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sessions = threading.local()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    interval = args.seconds / args.notifications
    bodies = [
        (index * interval + (0 if args.together else group * interval / args.groups), group,
         json.dumps(notification(group, index, per=args.alerts_per_notification,
                                                          services=args.services, t0=t0)).encode())
        for index in range(args.notifications) for group in range(args.groups)
    ]  # fmt: skip
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []  # (scheduled second, latency)
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def send(item: tuple[float, int, bytes], start: float) -> None:
        at, _group, body = item
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session = getattr(sessions, "session", None) or requests.Session()
        sessions.session = session
        began = time.monotonic()
        response = session.post(url, data=body, headers=headers, timeout=30)
        spent = time.monotonic() - began
        with lock:
            latencies.append(spent)
            timeline.append((at, spent))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    try:
        with requests.Session() as warm:  # one request per worker process's first-request costs
            for _ in range(args.workers * 2):
                warm.get(f"http://127.0.0.1:{port}/health", timeout=10)
        cpu_before, client_before = cpu_by_name(), time.process_time()
        first_sent_at = time.time()
        start = time.monotonic()
        with ThreadPoolExecutor(args.connections) as pool:
            list(pool.map(lambda item: send(item, start), bodies))
        storm_seconds = time.monotonic() - start
        cpu_after, client_cpu = cpu_by_name(), time.process_time() - client_before
        last_answer = time.monotonic()

        expected_alerts = args.groups * args.notifications * args.alerts_per_notification
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                uncorrelated = conn.execute(
                    "SELECT count(*) FROM intake_alertgroup g WHERE NOT EXISTS (SELECT 1 FROM "
                    "incidents_incidentsignal s WHERE s.kind = 'alert' AND s.ref = g.id::text)"
                ).fetchone()[0]
                if uncorrelated == 0:
                    break
                time.sleep(0.1)
            correlated_after = time.monotonic() - last_answer
            alerts = conn.execute("SELECT count(*) FROM intake_alert").fetchone()[0]
            distinct = conn.execute("SELECT count(DISTINCT (fingerprint, starts_at)) FROM intake_alert").fetchone()[0]
            payloads = conn.execute("SELECT count(*) FROM intake_alertpayload").fetchone()[0]
            groups = conn.execute("SELECT count(*) FROM intake_alertgroup").fetchone()[0]
            incidents = conn.execute("SELECT count(*) FROM incidents_incident").fetchone()[0]
            signals_per_group = conn.execute(
                "SELECT max(n) FROM (SELECT count(*) n FROM incidents_incidentsignal WHERE kind = 'alert' "
                "GROUP BY ref) t"
            ).fetchone()[0]
            by_service = conn.execute("SELECT count(DISTINCT service) FROM incidents_incident").fetchone()[0]
        messages = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(messages) < incidents:
            with contextlib.suppress(queue.Empty):
                messages.append(Receiver.received.get(timeout=0.5))
        first_message = min((at for at, _ in messages), default=None)

        ms = [value * 1000 for value in latencies]
        p50, p95, p99 = (percentile(ms, f) for f in (0.5, 0.95, 0.99))
        print(
            f"notifications sent {len(latencies)} in {storm_seconds:.1f} s over {args.connections} connections, "
            f"answers {dict(sorted(statuses.items()))}"
        )
        if args.verbose:
            for second in range(int(args.seconds) + 1):
                bucket = [spent * 1000 for at, spent in timeline if second <= at < second + 1]
                if bucket:
                    print(f"  second {second:2d}: p50 {percentile(bucket, 0.5):6.1f}  max {max(bucket):6.1f} ms")
        print(f"gunicorn {args.workers} workers, celery concurrency {args.worker_concurrency}")
        print(f"intake latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {max(ms):.1f}")
        print(
            f"alerts recorded {alerts} (distinct {distinct}, expected {expected_alerts}); payloads {payloads}; "
            f"groups {groups}"
        )
        print(
            f"incidents {incidents} for {groups} groups of {args.services} services "
            f"(incident services {by_service}); max incidents per group {signals_per_group}"
        )
        spent = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
        spent["bench client"] = client_cpu
        spent.pop("bench", None)  # the client, counted by itself
        print(
            "CPU ms per notification during the storm: "
            + ", ".join(f"{name} {sec * 1000 / len(latencies):.2f}" for name, sec in sorted(spent.items()) if sec)
        )
        print(f"every group correlated {correlated_after:.1f} s after the last answer (uncorrelated {uncorrelated})")
        if first_message is not None:
            print(
                f"first channel message {first_message - first_sent_at:.2f} s after the first notification; "
                f"{len(messages)} incident.created messages received"
            )
        else:
            print("no channel message received")
        ok = (
            statuses.get(202, 0) == len(bodies)
            and alerts == distinct == expected_alerts
            and groups == args.groups
            and incidents <= args.groups
            and signals_per_group == 1
            and uncorrelated == 0
            and p99 <= 200
            and first_message is not None
            and first_message - first_sent_at <= 5
        )
        print(
            "PASS"
            if ok
            else "FAIL (target: every alert once, <= one incident per group, intake p99 <= 200 ms, "
            "first message <= 5 s)"
        )
        return 0 if ok else 1
    finally:
        hook.shutdown()
        stop(web, worker)


if __name__ == "__main__":
    sys.exit(main())
