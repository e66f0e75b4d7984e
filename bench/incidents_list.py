#!/usr/bin/env python3
"""Latency of ``GET /api/v1/incidents`` on a million incidents, through gunicorn.

Loads ``--rows`` incidents into a PostgreSQL database of its own (created if
missing, migrated with ``manage.py migrate``) with COPY, then starts
``gunicorn --workers 2`` on a free port and measures, with N sequential
requests per scenario over one ``requests.Session``:

* ``first_page``   ``/api/v1/incidents`` (newest first, page 1, COUNT included)
* ``filters``      ``?severity=SEV1,SEV2&status=OPEN``
* ``search``       ``?search=replication lag`` (ranked full-text search, ~2.5 % of rows match)
* ``search_narrow`` ``?search=kafka consumer lag`` (~0.2 % of rows match)
* ``deep_offset``  ``?page=5001`` (OFFSET 50,000 at page_size 10)
* ``deep_cursor``  ``?pagination=cursor`` from row 50,000 on, following ``next``

For each scenario it also replays the same request in-process (Django test
client), captures every SQL statement it runs, and EXPLAIN ANALYZEs each
SELECT: the sum of their planning + execution times is the "SQL floor" of the
request. It prints the plan nodes and flags any ``Seq Scan on
incidents_incident``.

    .venv/bin/python bench/incidents_list.py                       # load + measure
    .venv/bin/python bench/incidents_list.py --reuse               # keep the loaded rows

Targets (issue): p95 <= 30 ms, p95 <= 3x the SQL floor, no sequential scan of
the table. The bench database is left in place for ``--reuse``.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import requests
from procs import free_port
from psycopg import sql as pgsql

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tracepoint_bench"
TABLE = "incidents_incident"
API = "/api/v1/incidents"
HOST_HEADER = "127.0.0.1"
DEEP_OFFSET = 50_000
PAGE_SIZE = 10  # the API's default page size
P95_TARGET_MS = 30.0
FLOOR_FACTOR = 3.0
EXPLAIN_REPEAT = 7

# --- data: a realistic-looking incident history ---------------------------------------------------------------------

SERVICES = [
    "api-gateway", "checkout", "payments", "auth", "search", "catalog", "inventory", "orders", "shipping",
    "notifications", "email-relay", "billing", "invoicing", "ledger", "fraud", "recommendations", "media",
    "cdn-edge", "dns", "postgres-main", "redis-cache", "kafka", "scheduler", "reporting", "analytics",
    "mobile-bff", "web-frontend", "admin-portal", "webhooks", "identity",
]  # fmt: skip
SYMPTOMS = [
    "Elevated 5xx errors", "Increased p99 latency", "Request timeouts", "Connection pool exhaustion",
    "Disk almost full", "Memory leak", "Replication lag", "Expired TLS certificate", "DNS resolution failures",
    "Queue backlog growing", "Failed deployment", "Crash loop", "Rate limiting misfiring", "Packet loss",
    "Cache stampede", "OOM kills", "Stale reads", "Login failures", "Payment declines spiking",
    "Webhook delivery delays", "CPU saturation", "Thread pool starvation", "Deadlocks", "Slow queries",
    "Consumer lag", "Partial outage", "Full outage", "Degraded search relevance", "Missing emails",
    "Duplicate charges", "Broken images", "Session loss", "Clock skew", "Certificate rotation failed",
    "Health checks flapping", "Autoscaling stuck", "Leader election loop", "Corrupted index",
    "Backup job failing", "Cron jobs not running",
]  # fmt: skip
COMPONENTS = [
    "the checkout API", "the payments gateway", "the Postgres primary", "a Postgres replica", "the Redis cluster",
    "the Kafka consumers", "the search indexer", "the CDN edge", "the auth service", "the session store",
    "the mobile backend", "the admin portal", "the order pipeline", "the billing batch", "the webhook workers",
    "the image resizer", "the load balancer", "the service mesh", "the internal DNS", "the object storage",
    "the message broker", "the feature flag service", "the recommendation model", "the fraud scorer",
    "the inventory sync", "the email relay", "the SMS provider", "the ledger writer", "the report generator",
    "the GraphQL layer",
]  # fmt: skip
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1", "ap-northeast-1", "sa-east-1"]
CAUSES = [
    "a bad config push", "an expired certificate", "a missing database index", "a runaway batch job",
    "a noisy neighbour on the host", "a dependency upgrade", "a schema migration holding a lock",
    "an unbounded retry loop", "a full disk on the log volume", "a network partition between zones",
    "a cloud provider incident", "a leaked file descriptor", "a cache key collision", "a DNS TTL change",
    "a hot partition", "an unindexed query from a new report", "a connection leak in the ORM",
    "a regression in the serializer", "a misrouted feature flag", "an exhausted API quota at the vendor",
    "garbage collection pauses", "a kernel upgrade", "a failed failover", "clock drift on the workers",
    "a corrupted deploy artifact", "an overloaded replica", "a poison message in the queue",
    "a slow third-party webhook", "an expired OAuth secret", "a thundering herd after a cache flush",
]  # fmt: skip
ACTIONS = [
    "rolling back the deploy", "failing over to the replica", "restarting the workers", "scaling out the pool",
    "raising the connection limit", "purging the cache", "disabling the feature flag", "adding the missing index",
    "rotating the certificate", "draining the bad node", "pausing the batch job", "throttling the noisy client",
    "increasing the disk size", "replaying the dead letter queue", "pinning the previous version",
    "switching traffic to another region", "killing the long-running query", "reindexing the table",
]  # fmt: skip
IMPACTS = [
    "slow page loads", "failed checkouts", "delayed notifications", "errors on login", "missing search results",
    "timeouts in the mobile app", "stale dashboards", "duplicate emails", "declined payments", "broken uploads",
    "no impact visible to customers", "intermittent 502 responses",
]  # fmt: skip
FOLLOWUPS = [
    "add an alert on queue depth", "write a runbook", "add a canary stage", "load test the new path",
    "review the retry policy", "add a circuit breaker", "tune the autovacuum settings", "audit certificate expiry",
    "document the failover", "add capacity headroom", "improve the dashboard", "add a regression test",
    "page the owning team earlier", "set a statement timeout", "cap the batch size",
]  # fmt: skip
OBSERVERS = ["On-call", "Synthetic monitoring", "Support", "A customer", "The SRE team", "Alerting", "Datadog"]
# (severity, cumulative weight): SEV1 3 %, SEV2 12 %, SEV3 35 %, SEV4 50 %
SEVERITIES = (("SEV1", 0.03), ("SEV2", 0.15), ("SEV3", 0.50), ("SEV4", 1.0))
# (status, cumulative weight): OPEN 5 %, ACKNOWLEDGED 1 %, MITIGATED 1 %, RESOLVED 93 %
STATUSES = (("OPEN", 0.05), ("ACKNOWLEDGED", 0.06), ("MITIGATED", 0.07), ("RESOLVED", 1.0))
DELETED_SHARE = 0.01
OWNED_SHARE = 0.7
HISTORY = timedelta(days=730)
OWNERS = 25
UUID_MASK = ~((0xF << 76) | (0x3 << 62))
UUID_V4 = (0x4 << 76) | (0x2 << 62)

COLUMNS = (
    "id",
    "title",
    "service",
    "severity",
    "status",
    "summary",
    "created_at",
    "updated_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "deleted_at",
    "owner_id",
    "created_by_id",
    "acknowledged_by_id",
    "mitigated_by_id",
    "resolved_by_id",
    "deleted_by_id",
)


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return [value / total for value in out]


def _ts(epoch: float, _from=datetime.fromtimestamp) -> str:
    return _from(epoch, UTC).isoformat(" ")  # '2025-01-02 03:04:05.678901+00:00'


def generate_copy_chunks(rows: int, user_ids: list[int], seed: int, now: datetime, chunk_rows: int = 20_000):
    """COPY text-format chunks of incidents in creation order (as a real table fills up).

    Created_at is spread evenly over two years (with jitter), so the heap is
    correlated with created_at like a real append-only table. No value holds a
    tab, newline or backslash, so no COPY escaping is needed.
    """
    rng = random.Random(seed)
    service_cum = _cumulative([1 / (rank + 1) ** 0.8 for rank in range(len(SERVICES))])  # a few busy services
    start, end = (now - HISTORY).timestamp(), now.timestamp()
    step = HISTORY.total_seconds() / rows
    sev_names, sev_cum = [s for s, _ in SEVERITIES], [w for _, w in SEVERITIES]
    status_names, status_cum = [s for s, _ in STATUSES], [w for _, w in STATUSES]
    null = "\\N"
    rnd = rng.random

    def pick(seq):
        return seq[int(rnd() * len(seq))]

    out: list[str] = []
    for i in range(rows):
        created = start + (i + rng.random()) * step
        service = SERVICES[bisect.bisect(service_cum, rng.random())]
        severity = sev_names[bisect.bisect(sev_cum, rng.random())]
        status = status_names[bisect.bisect(status_cum, rng.random())]
        symptom = pick(SYMPTOMS)
        component = pick(COMPONENTS)
        region = pick(REGIONS)
        title = f"{symptom} on {component}"
        if rng.random() < 0.5:
            title += f" in {region}"
        sentences = [
            f"{pick(OBSERVERS)} reported {symptom.lower()} affecting {1 + int(rnd() * 100)}% of requests "
            f"to {component} ({service}, {region}, host {service}-{1 + int(rnd() * 40):02d}).",
            f"Customers saw {pick(IMPACTS)}.",
        ]
        if status != "OPEN" or rng.random() < 0.3:
            sentences.append(f"Likely cause: {pick(CAUSES)}.")
        if status in ("MITIGATED", "RESOLVED"):
            sentences.append(f"Mitigated by {pick(ACTIONS)}.")
        if status == "RESOLVED" and rng.random() < 0.6:
            sentences.append(f"Follow-up: {pick(FOLLOWUPS)} (OPS-{1000 + int(rnd() * 99000)}).")
        summary = " ".join(sentences)
        owner = pick(user_ids) if rng.random() < OWNED_SHARE else None
        creator = pick(user_ids) if rng.random() < 0.6 else None
        ack = mitigated = resolved = None
        ack_by = mitigated_by = resolved_by = None
        updated = created
        if status != "OPEN":
            ack = min(created + rng.expovariate(1 / 600), end)
            ack_by = owner or pick(user_ids)
            updated = ack
        if status in ("MITIGATED", "RESOLVED"):
            mitigated = min(ack + rng.expovariate(1 / 2400), end)
            mitigated_by = ack_by
            updated = mitigated
        if status == "RESOLVED":
            resolved = min(mitigated + rng.expovariate(1 / 10800), end)
            resolved_by = ack_by
            updated = resolved
        deleted = deleted_by = None
        if rng.random() < DELETED_SHARE:
            deleted = min(updated + rng.expovariate(1 / 86400), end)
            deleted_by = pick(user_ids)
        values = (
            f"{rng.getrandbits(128) & UUID_MASK | UUID_V4:032x}",  # a random (version 4) UUID
            title,
            service,
            severity,
            status,
            summary,
            _ts(created),
            _ts(updated),
            _ts(ack) if ack else null,
            _ts(mitigated) if mitigated else null,
            _ts(resolved) if resolved else null,
            _ts(deleted) if deleted else null,
            str(owner) if owner else null,
            str(creator) if creator else null,
            str(ack_by) if ack_by else null,
            str(mitigated_by) if mitigated_by else null,
            str(resolved_by) if resolved_by else null,
            str(deleted_by) if deleted_by else null,
        )
        out.append("\t".join(values))
        if len(out) == chunk_rows:
            yield ("\n".join(out) + "\n").encode()
            out = []
    if out:
        yield ("\n".join(out) + "\n").encode()


# --- database set-up ------------------------------------------------------------------------------------------------


def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def ensure_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_dbname(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # name comes from the operator's own URL
            print(f"created database {name}")


def django_env(url: str, var_dir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings",
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-incidents-list-not-a-secret-0123456789",
        "TRACEPOINT_VAR_DIR": var_dir,
        "LOG_LEVEL": "INFO",
    }
    # No Redis: the list endpoint touches no cache, and GETs are not rate limited,
    # so the file cache in the scratch var dir is enough (and leaves Redis alone).
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_CONN_MAX_AGE", "ALLOWED_HOSTS"):
        env.pop(name, None)
    return env


def migrate(env: dict[str, str]) -> None:
    started = time.perf_counter()
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    print(f"migrate: {time.perf_counter() - started:.1f} s")


def setup_django(env: dict[str, str]) -> None:
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DEBUG", "SECRET_KEY", "TRACEPOINT_VAR_DIR", "LOG_LEVEL"):
        os.environ[name] = env[name]
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_CONN_MAX_AGE", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    logging.getLogger("tracepoint.request").setLevel(logging.WARNING)  # in-process replays: no request log


def ensure_users() -> tuple[list[int], str]:
    """Owners for the rows, and a viewer with a fresh API token; returns (owner ids, token key)."""
    from django.contrib.auth import get_user_model

    from tracepoint.accounts.models import ApiToken
    from tracepoint.accounts.roles import set_role

    User = get_user_model()
    owner_ids = []
    for n in range(1, OWNERS + 1):
        user, _ = User.objects.get_or_create(username=f"bench-owner-{n:02d}", defaults={"email": ""})
        owner_ids.append(user.pk)
    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    set_role(viewer, "viewer")
    ApiToken.objects.filter(user=viewer, name="bench").delete()
    _, key = ApiToken.issue(viewer, "bench")
    return owner_ids, key


def count_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(TABLE))).fetchone()[0]


def load(url: str, rows: int, owner_ids: list[int], seed: int) -> None:
    """TRUNCATE, drop the secondary indexes, COPY, rebuild them, VACUUM ANALYZE.

    Index definitions are read back from pg_indexes and recreated verbatim, so
    the bench runs on exactly the migrated schema. The primary key stays (other
    tables reference it). Foreign-key triggers are skipped during the COPY
    (session_replication_role = replica, superuser only): every id written is a
    bench user created just before.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE} CASCADE")
        indexes = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = %s AND i.schemaname = current_schema()
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [TABLE],
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        try:
            try:
                conn.execute("SET session_replication_role = replica")
            except psycopg.errors.InsufficientPrivilege:
                print("  (not a superuser: foreign-key checks stay on during COPY; slower)")
            now = datetime.now(UTC)
            with conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for done, chunk in enumerate(generate_copy_chunks(rows, owner_ids, seed, now), start=1):
                    copy.write(chunk)
                    if done % 10 == 0:
                        print(f"\r  copied {done * 20_000:>9,} rows", end="", flush=True)
            print(f"\r  COPY {rows:,} rows: {time.perf_counter() - started:.1f} s")
        finally:
            # Even after a failed COPY (which leaves the table empty): never leave the schema without its indexes.
            conn.execute("SET session_replication_role = DEFAULT")
            conn.execute("SET maintenance_work_mem = '512MB'")
            for name, definition in indexes:
                t = time.perf_counter()
                conn.execute(definition)
                print(f"  {name}: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        # VACUUM too, not just ANALYZE: it sets the visibility map, as autovacuum
        # would have on a table that grew over two years (index-only scans need it).
        conn.execute(f"VACUUM (ANALYZE) {TABLE}")
        print(f"  VACUUM ANALYZE: {time.perf_counter() - t:.1f} s")
        size = conn.execute(f"SELECT pg_size_pretty(pg_total_relation_size('{TABLE}'))").fetchone()[0]
        print(f"  load total: {time.perf_counter() - started:.1f} s, table + indexes {size}")


# --- gunicorn -------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log_path: Path):
    port = free_port()
    cmd = [str(GUNICORN), "tracepoint.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log_path}")
            time.sleep(0.3)
        print(f"gunicorn: {' '.join(cmd[1:])} (pid {proc.pid})")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- scenarios ------------------------------------------------------------------------------------------------------


def cursor_url(position: str) -> str:
    """The URL DRF's CursorPagination would put in ``next`` after the row at ``position``."""
    token = base64.b64encode(urlencode({"p": position}).encode("ascii")).decode("ascii")
    return f"{API}?{urlencode({'cursor': token, 'pagination': 'cursor'})}"


def scenarios(search: str, search_narrow: str) -> dict[str, str]:
    from incidents.models import Incident

    alive = Incident.objects.alive().order_by("-created_at", "-id")
    # The last row of the page before row DEEP_OFFSET: the cursor continues right after it.
    before = alive.values_list("created_at", flat=True)[DEEP_OFFSET - 1]
    return {
        "first_page": API,
        "filters": f"{API}?{urlencode({'severity': 'SEV1,SEV2', 'status': 'OPEN'})}",
        "search": f"{API}?{urlencode({'search': search})}",
        "search_narrow": f"{API}?{urlencode({'search': search_narrow})}",
        "deep_offset": f"{API}?page={DEEP_OFFSET // PAGE_SIZE + 1}",
        "deep_cursor": cursor_url(str(before)),
    }


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def measure(session: requests.Session, base: str, name: str, url: str, n: int, warmup: int) -> dict:
    """N sequential GETs of ``url``; the cursor scenario follows ``next`` instead (a new deep page each time)."""

    def run(count: int) -> tuple[list[float], list[int], dict | None]:
        latencies, sizes, first = [], [], None
        target = base + url
        for _ in range(count):
            t = time.perf_counter()
            response = session.get(target, timeout=30)
            body = response.content
            latencies.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code} for {target}: {body[:300]!r}")
            data = json.loads(body)
            sizes.append(len(data["results"]))
            first = first or data
            if name == "deep_cursor":
                target = data["next"]
                if target is None:
                    raise SystemExit("deep_cursor: ran out of pages")
        return latencies, sizes, first

    run(warmup)
    latencies, sizes, first = run(n)
    return {
        "load": os.getloadavg()[0],
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
        "results": (min(sizes), max(sizes)),
        "count": first.get("count"),
        "count_exact": first.get("count_exact"),
        "first_id": first["results"][0]["id"] if first["results"] else None,
    }


def measure_health(session: requests.Session, base: str, n: int) -> dict:
    """The stack's own floor: ``/health`` answers from the first middleware, no database, no DRF."""
    latencies = []
    for i in range(n + 20):
        t = time.perf_counter()
        session.get(base + "/health", timeout=10).raise_for_status()
        if i >= 20:
            latencies.append((time.perf_counter() - t) * 1000)
    return {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}


def measure_in_process(url: str, key: str, n: int) -> float:
    """p50 of the same request through Django's test client: the whole app and its SQL, without HTTP and gunicorn."""
    from django.test import Client

    client = Client(HTTP_HOST=HOST_HEADER)
    latencies = []
    for i in range(n + 5):
        t = time.perf_counter()
        client.get(url, HTTP_AUTHORIZATION=f"Token {key}")
        if i >= 5:
            latencies.append((time.perf_counter() - t) * 1000)
    return percentile(latencies, 50)


# --- SQL floor ------------------------------------------------------------------------------------------------------


def capture_queries(url: str, key: str) -> list[tuple[str, tuple]]:
    """Replay the request in-process and return every (sql, params) it sent."""
    from django.db import connection
    from django.test import Client

    captured: list[tuple[str, tuple]] = []

    def wrapper(execute, sql, params, many, context):
        captured.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    client = Client(HTTP_HOST=HOST_HEADER)
    with connection.execute_wrapper(wrapper):
        response = client.get(url, HTTP_AUTHORIZATION=f"Token {key}")
    if response.status_code != 200:
        raise SystemExit(f"in-process replay of {url}: HTTP {response.status_code}")
    return captured


def plan_nodes(plan: dict, out: list[dict]) -> list[dict]:
    out.append(plan)
    for child in plan.get("Plans", []):
        plan_nodes(child, out)
    return out


def describe_node(node: dict) -> str:
    text = node["Node Type"]
    if "Index Name" in node:
        text += f" using {node['Index Name']}"
    elif "Relation Name" in node:
        text += f" on {node['Relation Name']}"
    return text


def query_kind(sql: str) -> str:
    if TABLE not in sql:
        return "other"
    # EXPLAIN: the paginator asking the planner for a row estimate instead of counting.
    return "count" if sql.lstrip().upper().startswith(("SELECT COUNT(", "EXPLAIN")) else "list"


def time_statement(sql: str, params: tuple) -> float:
    """Median wall time of a statement that cannot be EXPLAIN ANALYZEd itself (an EXPLAIN), in ms."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(EXPLAIN_REPEAT):
            t = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def explain(sql: str, params: tuple) -> dict:
    """Plan (one EXPLAIN ANALYZE, BUFFERS) and median planning + execution time over EXPLAIN_REPEAT runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        detail = _json(cursor.fetchone()[0])[0]
        times = []
        for _ in range(EXPLAIN_REPEAT):
            # TIMING OFF: per-node clock reads would inflate the total on large scans.
            cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params)
            run = _json(cursor.fetchone()[0])[0]
            times.append(run["Planning Time"] + run["Execution Time"])
    nodes = plan_nodes(detail["Plan"], [])
    jit = detail.get("JIT", {}).get("Timing", {}).get("Total")
    return {
        "ms": statistics.median(times),
        "nodes": [describe_node(n) for n in nodes],
        "seq_scan": any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == TABLE for n in nodes),
        "jit_ms": jit,
        "rows": detail["Plan"].get("Actual Rows"),
        "hit": detail["Plan"].get("Shared Hit Blocks", 0),
        "read": detail["Plan"].get("Shared Read Blocks", 0),
    }


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def sql_floor(url: str, key: str, verbose: bool) -> dict:
    queries = capture_queries(url, key)
    total = 0.0
    by_kind = {"list": 0.0, "count": 0.0, "other": 0.0}
    seq = False
    lines = []
    for sql, params in queries:
        kind = query_kind(sql)
        if sql.lstrip().upper().startswith("EXPLAIN"):
            ms = time_statement(sql, params)
            total += ms
            by_kind[kind] += ms
            lines.append(f"    [{kind}] {ms:.2f} ms (wall time, planner estimate): {sql[:60]}...")
            continue
        if not sql.lstrip().upper().startswith("SELECT"):
            lines.append(f"    [skip] {sql[:100]}")
            continue
        result = explain(sql, params)
        total += result["ms"]
        by_kind[kind] += result["ms"]
        seq = seq or result["seq_scan"]
        if kind != "other" or verbose:
            jit = f", JIT {result['jit_ms']:.1f} ms" if result["jit_ms"] else ""
            lines.append(
                f"    [{kind}] {result['ms']:.2f} ms{jit}, buffers hit {result['hit']} read {result['read']},"
                f" rows {result['rows']}: {' > '.join(result['nodes'])}"
            )
            if verbose:
                lines.append(f"        {sql[:400]}  {params}")
        else:
            lines.append(f"    [{kind}] {result['ms']:.2f} ms: {sql[:70]}...")
    return {"ms": total, **by_kind, "seq_scan": seq, "lines": lines, "queries": len(queries)}


# --- main -----------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per scenario")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per scenario first")
    parser.add_argument("--reuse", action="store_true", help="skip loading if the table has >= --rows rows")
    parser.add_argument("--search", default="replication lag", help="full-text query of 'search' (~2.5%% of rows)")
    parser.add_argument(
        "--search-narrow", default="kafka consumer lag", help="full-text query of 'search_narrow' (~0.2%% of rows)"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--verbose", action="store_true", help="print every SQL statement and its plan")
    args = parser.parse_args()
    if args.rows <= DEEP_OFFSET:
        parser.error(f"--rows must exceed {DEEP_OFFSET} for the deep-page scenarios")
    if "bench" not in urlsplit(args.database_url).path:
        # It truncates the incidents table and adds users: never on a real database.
        parser.error("the database name must contain 'bench'")

    var_dir = tempfile.mkdtemp(prefix="tp-bench-list-")
    try:
        env = django_env(args.database_url, var_dir)
        ensure_database(args.database_url)
        migrate(env)
        setup_django(env)
        owner_ids, key = ensure_users()
        existing = count_rows(args.database_url)
        if args.reuse and existing >= args.rows:
            print(f"reusing {existing:,} rows in {TABLE}")
        else:
            print(f"loading {args.rows:,} rows into {TABLE} (had {existing:,})")
            load(args.database_url, args.rows, owner_ids, args.seed)

        urls = scenarios(args.search, args.search_narrow)
        results: dict[str, dict] = {}
        with gunicorn(env, Path(var_dir) / "gunicorn.log") as base, requests.Session() as session:
            session.headers["Authorization"] = f"Token {key}"
            health = measure_health(session, base, args.requests)
            print(f"{'/health':<13} p50 {health['p50']:6.1f} ms  p95 {health['p95']:6.1f} ms  (stack floor: no DB)")
            for name, url in urls.items():
                results[name] = measure(session, base, name, url, args.requests, args.warmup)
                r = results[name]
                count = f", count {r['count']:,}" if r["count"] is not None else ""
                count += " (estimate)" if r["count_exact"] is False else ""
                print(
                    f"{name:<13} p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  max {r['max']:6.1f} ms"
                    f"  results/page {r['results'][0]}-{r['results'][1]}{count}  load {r['load']:.1f}   {url}"
                )
        # Sanity: the cursor continues exactly where OFFSET 50,000 starts.
        if results["deep_cursor"]["first_id"] != results["deep_offset"]["first_id"]:
            print("WARNING: deep_cursor and deep_offset do not start on the same row")

        print("\nSQL floor (EXPLAIN ANALYZE of the statements one in-process request runs; median of "
              f"{EXPLAIN_REPEAT}, planning + execution):")  # fmt: skip
        for name, url in urls.items():
            floor = sql_floor(url, key, args.verbose)
            results[name]["floor"] = floor
            results[name]["in_process"] = measure_in_process(url, key, min(args.requests, 50))
            print(f"  {name}: {floor['queries']} statements, {floor['ms']:.2f} ms")
            for line in floor["lines"]:
                print(line)

        rows = count_rows(args.database_url)
        print(
            f"\n{args.requests} sequential requests per scenario, gunicorn --workers 2, {rows:,} rows;"
            f" /health p50 {health['p50']:.1f} ms; 'app' = in-process p50 (Django test client, no HTTP)"
        )
        header = (
            f"{'scenario':<13} {'p50 ms':>7} {'p95 ms':>7} {'app ms':>7} {'floor ms':>9} {'(list':>7} {'count)':>7}"
            f" {'p95/floor':>9} {'seq scan':>8} {'p95<=30':>7} {'<=3x':>5}  result"
        )  # fmt: skip
        print(header)
        print("-" * len(header))
        failed = 0
        for name, r in results.items():
            f = r["floor"]
            ratio = r["p95"] / f["ms"] if f["ms"] else float("inf")
            ok_p95 = r["p95"] <= P95_TARGET_MS
            ok_ratio = ratio <= FLOOR_FACTOR
            verdict = ok_p95 and ok_ratio and not f["seq_scan"]
            failed += not verdict
            print(
                f"{name:<13} {r['p50']:7.1f} {r['p95']:7.1f} {r['in_process']:7.1f} {f['ms']:9.2f} {f['list']:7.2f}"
                f" {f['count']:7.2f}"
                f" {ratio:9.1f} {'YES' if f['seq_scan'] else 'no':>8} {'ok' if ok_p95 else 'FAIL':>7}"
                f" {'ok' if ok_ratio else 'FAIL':>5}  {'PASS' if verdict else 'FAIL'}"
            )
        return 1 if failed else 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
