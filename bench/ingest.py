#!/usr/bin/env python3
"""Sentry-envelope ingest throughput, against a bare-view ceiling measured in the same run.

Builds N realistic Sentry events shaped like what sentry-sdk 2.x sends: an exception with
5 frames carrying context lines and local variables, 10 breadcrumbs, request, user,
contexts (os, runtime, browser, device, trace), tags. That is 4.6 KB of JSON per event
(the issue's were "about 3 KB"; every part it lists, even trimmed to one line of context
around each frame's line, comes to this). G distinct error groups, values varying per
event; each event is one envelope, compressed as the SDK does (gzip level 9, or
``--compression br``, the SDK's choice when brotli is installed). Then, with the same
bodies and the same wrk client (``bench/ingest.lua``) over C connections:

1. the ceilings: ``bench/bare_view.py``, a WSGI app that only inflates the envelope and
   answers its id, and the same as a bare Django view (no middleware, no database), each
   on gunicorn with as many sync workers as Tracepoint's web; measured again at the end (3.),
   and Tracepoint is read against the mean of the two, since the machine's speed drifts within a run;
2. Tracepoint, in one of two layouts:
   - production (default): the ingest service as compose runs it (gunicorn with
     ``tracepoint.gunicorn_conf``, uvicorn workers, ``tracepoint.ingest_asgi``; ``--front web``:
     web's sync workers instead), a Celery worker (at niceness 10, as compose runs it;
     ``--worker-nice``) and beat, PostgreSQL and Redis, with a database of its own (created if
     missing, tables emptied);
   - ``--embedded``: the app as ``make run`` runs it (``scripts/run-embedded``: SQLite
     and the filesystem broker under a scratch var dir, Procfile.embedded's web, worker
     and beat).
3. the ceilings again, once every event is grouped (production: after Tracepoint's processes stopped;
   embedded: beside the idle app, as before it).

Reports events/s of both and the ratio, request latency p50/p95/p99, the time from the
last answer until every event is grouped, the number of issues (must be G), the CPU each
program spent per accepted event, and whether every event answered 2xx is stored.

    apt-get install wrk   # a C load generator: a Python client would eat the CPU it measures
    .venv/bin/python bench/ingest.py [--events 20000] [--concurrency 16] [--groups 50] [--workers 3]
    .venv/bin/python bench/ingest.py --embedded [--events 20000]

Targets (issue 19): production >= 50 % of the bare Django view's ceiling (the issue's table's; the plain
WSGI one is printed as the stricter bound), p99 <= 50 ms, grouped within 5 s,
exactly G issues, web CPU <= 0.5 ms per event, nothing lost; embedded >= 800 events/s,
p99 <= 100 ms, grouped within 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests
from procs import (
    bench_environment,
    cpu_snapshot,
    descendants,
    free_port,
    start_celery,
    start_embedded,
    start_gunicorn,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
# compose's ingest service: the same gunicorn settings with uvicorn workers and the ASGI ingest app.
INGEST_SERVICE = ("--worker-class", "uvicorn_worker.UvicornWorker", "tracepoint.ingest_asgi:application")
FRONTS = {
    "ingest": "the ingest service (gunicorn, uvicorn workers, group commit)",
    "web": "web (gunicorn sync workers)",
}
PYTHON = str(ROOT / ".venv" / "bin" / "python")
EXCEPTIONS = ["ValueError", "KeyError", "TimeoutError", "ConnectionError", "PermissionError", "RuntimeError"]
MODULES = ["shop.checkout", "shop.cart", "shop.payments", "api.users", "api.orders", "worker.sync", "web.views"]
BROWSERS = [("Chrome", "131.0.0"), ("Firefox", "133.0"), ("Safari", "18.1"), ("Edge", "131.0.0")]
DEVICES = [("Mac", "MacBookPro18,1"), ("iPhone", "iPhone15,2"), ("Other", "Desktop"), ("Pixel", "Pixel 8")]


def _frame(module: str, function: str, lineno: int, code: list[str], variables: dict, *, in_app: bool) -> dict:
    """One stack frame as sentry-sdk fills it (lines of context around the line, local variables as reprs).
    The SDK sends up to 5 lines on either side; one on each side keeps the event near the issue's size."""
    path = module.replace(".", "/") + ".py"
    return {
        "filename": path,
        "function": function,
        "module": module,
        "lineno": lineno,
        "pre_context": code[4:5],
        "context_line": code[5],
        "post_context": code[6:7],
        "vars": variables,
        "in_app": in_app,
    }


def event(group: int, rng: random.Random, *, event_id: str, now: datetime) -> dict:
    """A realistic error event of ``group``: the group fixes the type, the in-app frames and the route;
    the values (order numbers, users, line numbers, variables, breadcrumbs) vary per event."""
    exc_type = EXCEPTIONS[group % len(EXCEPTIONS)]
    module = MODULES[group % len(MODULES)]
    order, user = rng.randint(1, 10**6), rng.randint(1, 500)
    route = f"/orders/{{id}}/step{group % 5}"
    browser, device = BROWSERS[rng.randrange(len(BROWSERS))], DEVICES[rng.randrange(len(DEVICES))]
    handler = f"handle_step_{group}"
    frames = [
        _frame(
            "django.core.handlers.base",
            "_get_response",
            197,
            [
                "        if response is None:",
                "            wrapped_callback = self.make_view_atomic(callback)",
                "            # If it is an asynchronous view, run it in a subthread.",
                "            if iscoroutinefunction(wrapped_callback):",
                "                wrapped_callback = async_to_sync(wrapped_callback)",
                "                response = wrapped_callback(request, *args, **kwargs)",
                "            except Exception as e:",
                "                response = self.process_exception(e, request)",
            ],
            {"request": f"<WSGIRequest: POST '/orders/{order}/step{group % 5}'>"},
            in_app=False,
        ),
        _frame(
            "django.views.generic.base",
            "view",
            104,
            [
                "            self = cls(**initkwargs)",
                "            self.setup(request, *args, **kwargs)",
                "            if not hasattr(self, 'request'):",
                "                raise AttributeError(",
                "                    f\"{cls.__name__} instance has no 'request' attribute.\"",
                "            return self.dispatch(request, *args, **kwargs)",
                "",
                "        view.view_class = cls",
            ],
            {"kwargs": f"{{'id': {order}}}"},
            in_app=False,
        ),
        _frame(
            f"{module}.views",
            f"post_step{group % 5}",
            rng.randint(30, 90),
            [
                "    def post(self, request, id):",
                "        order = get_object_or_404(Order, pk=id, customer=request.user)",
                "        form = StepForm(request.POST, instance=order)",
                "        if not form.is_valid():",
                "            return self.form_invalid(form)",
                f"        result = services.{handler}(order, form.cleaned_data)",
                "        return redirect(order.next_step_url(result))",
                "",
            ],
            {"self": f"<{module}.views.StepView object at 0x7f{rng.getrandbits(40):010x}>", "id": str(order)},
            in_app=True,
        ),
        _frame(
            f"{module}.services",
            handler,
            rng.randint(100, 300),
            [
                f"def {handler}(order, data):",
                "    with transaction.atomic():",
                "        order = Order.objects.select_for_update().get(pk=order.pk)",
                "        lines = list(order.lines.select_related('product'))",
                "        total = sum(line.total for line in lines)",
                "        return _apply(order, lines, total, data)",
                "",
                "",
            ],
            {
                "order": f"<Order: {order}>",
                "data": f"{{'coupon': 'SAVE{rng.randint(1, 99)}'}}",
                "total": str(order % 997),
            },
            in_app=True,
        ),
        _frame(
            f"{module}.services",
            "_apply",
            rng.randint(300, 500),
            [
                "def _apply(order, lines, total, data):",
                "    if data.get('coupon'):",
                "        total = coupons.apply(data['coupon'], total)",
                "    if total > order.customer.credit_limit:",
                "        log.info('over limit')",
                f"        raise {exc_type}(f'group {group}: order {{order.pk}} failed')",
                "    order.total = total",
                "    order.save(update_fields=['total'])",
            ],
            {
                "order": f"<Order: {order}>",
                "lines": f"[<OrderLine: {rng.randint(1, 9999)}>]",
                "total": str(order % 997),
            },
            in_app=True,
        ),
    ]
    crumbs = []
    for i in range(10):
        at = (now - timedelta(seconds=(10 - i) * 3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i % 3 == 0:
            crumbs.append({"category": "query", "timestamp": at,
                           "message": f"SELECT total FROM order WHERE id = {order}"})  # fmt: skip
        elif i % 3 == 1:
            charge = f"https://pay.example.com/c/{rng.getrandbits(32):08x}"
            crumbs.append({"type": "http", "category": "httplib", "timestamp": at,
                           "data": {"url": charge, "status_code": 200}})  # fmt: skip
        else:
            crumbs.append({"category": "log", "timestamp": at,
                           "message": f"step {group % 5} for order {order}"})  # fmt: skip
    ua = f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {browser[0]}/{browser[1]} Safari/537.36"
    return {
        "event_id": event_id,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "platform": "python",
        "level": "error",
        "logger": f"{module}.services",
        "release": "shop@1.4.2",
        "environment": "production",
        "server_name": f"web-{rng.randint(1, 4)}",
        "transaction": route,
        "transaction_info": {"source": "route"},
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": f"group {group}: order {order} failed for user{user}@example.com",
                    "module": None,
                    "mechanism": {"type": "django", "handled": False},
                    "stacktrace": {"frames": frames},
                }
            ]
        },
        "breadcrumbs": {"values": crumbs},
        "request": {
            "url": f"https://shop.example.com/orders/{order}/step{group % 5}",
            "method": "POST",
            "query_string": f"ref=mail&campaign=c{rng.randint(1, 40)}",
            "headers": {
                "Host": "shop.example.com",
                "User-Agent": ua,
                "Accept": "text/html,application/xhtml+xml",
                "X-Forwarded-For": f"203.0.113.{rng.randint(1, 254)}",
            },
            "data": {"coupon": f"SAVE{rng.randint(1, 99)}", "quantity": str(rng.randint(1, 9))},
        },
        "user": {
            "id": f"u{user}",
            "email": f"user{user}@example.com",
            "ip_address": f"203.0.113.{rng.randint(1, 254)}",
        },
        "contexts": {
            "trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16], "op": "http.server"},
            "os": {"name": "Linux", "version": "6.1.0-28-amd64"},
            "runtime": {"name": "CPython", "version": "3.11.11", "build": "3.11.11 (main) [GCC 12.2.0]"},
            "browser": {"name": browser[0], "version": browser[1]},
            "device": {"family": device[0], "model": device[1]},
        },
        "tags": {
            "region": rng.choice(["eu-west-1", "us-east-1"]),
            "customer_tier": rng.choice(["free", "pro", "enterprise"]),
            "url": f"https://shop.example.com/orders/{order}/step{group % 5}",
            "browser": f"{browser[0]} {browser[1]}",
        },
        "extra": {"sys.argv": ["gunicorn", "shop.wsgi"]},
        "sdk": {
            "name": "sentry.python.django",
            "version": "2.75.0",
            "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
            "integrations": ["celery", "django", "logging", "redis"],
        },
    }


def envelope(key: str, group: int, rng: random.Random, compression: str = "gzip") -> tuple[str, bytes, int]:
    """(event id, compressed envelope, JSON bytes of the event before compression), headers and compression
    as sentry-sdk writes them: gzip level 9, or brotli quality 4 (its default when brotli is installed)."""
    event_id = uuid.uuid4().hex
    now = datetime.now(tz=UTC)
    payload = json.dumps(event(group, rng, event_id=event_id, now=now), separators=(",", ":")).encode()
    header = json.dumps(
        {
            "event_id": event_id,
            "sent_at": now.isoformat().replace("+00:00", "Z"),
            "trace": {"environment": "production", "release": "shop@1.4.2", "public_key": key},
        },
        separators=(",", ":"),
    ).encode()
    item = json.dumps({"type": "event", "content_type": "application/json", "length": len(payload)}).encode()
    raw = header + b"\n" + item + b"\n" + payload + b"\n"
    if compression == "br":
        import brotli

        return event_id, brotli.compress(raw, quality=4), len(payload)
    return event_id, gzip.compress(raw, compresslevel=9), len(payload)


def cpu_by_program(before: dict, after: dict, programs: dict[str, set[int]], dbname: str | None) -> dict[str, float]:
    """CPU seconds spent between two snapshots by each program of the run: ``programs`` names the
    pids of ours; PostgreSQL counts only the backends of the bench's database (the server is shared
    with other work; a backend that ended during the run is missed, Django keeps its connections),
    and its shared processes (WAL writer, checkpointer...) are shown apart."""
    spent: dict[str, float] = {}
    for pid, (cmdline, seconds) in after.items():
        name = next((n for n, pids in programs.items() if pid in pids), None)
        if name is None and dbname and cmdline.startswith("postgres: "):
            name = "postgres" if f" {dbname} " in cmdline else None
            if name is None and not any(c in cmdline for c in (" 127.0.0.1", " [local]", "::1")):
                name = "postgres (shared)"
        if name is None and "redis-server" in cmdline:
            name = "redis-server (shared)"
        if name is None:
            continue
        spent[name] = spent.get(name, 0.0) + seconds - before.get(pid, (cmdline, 0.0))[1]
    return spent


@dataclass
class Load:
    """What one wrk run measured."""

    accepted: int
    rejected: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    ids: set[str] = field(default_factory=set)  # ids of the answers 2xx (up to N; a few in flight are not listed)
    peak_rss_kib: int = 0  # of the processes ``run_wrk`` was told to watch
    server_cpu_ms: float = 0.0  # CPU per answer of the server's processes (the ceilings)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


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


def run_wrk(url: str, auth: str, bodies_path: Path, args, tag: str, watch: list[int] | None = None) -> Load:
    """Send the first N bodies once each over C connections; return when every thread has its N/threads answers.
    The peak RSS of the processes under the ``watch`` pids is sampled every half second meanwhile."""
    work = bodies_path.parent / tag
    work.mkdir()
    proc = subprocess.Popen(
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
            "INGEST_ENCODING": args.compression,
            "INGEST_DONE": str(work / "done"),
            "INGEST_IDS": str(work / "ids"),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    peak, sampled = 0, 0.0
    while proc.poll() is None and len(list(work.glob("done.*"))) < args.client_threads:
        if watch and time.monotonic() - sampled > 0.5:
            peak, sampled = max(peak, rss_kib([p for pid in watch for p in descendants(pid)])), time.monotonic()
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    result = {k: int(v) for k, v in (pair.split("=") for pair in line.split()[1:])}
    ids = {i.strip().replace("-", "") for f in work.glob("ids.*") for i in f.read_text().split()}
    return Load(
        result["accepted"],
        result["rejected"],
        result["errors"],
        result["duration_us"] / 1e6,
        *(result[k] / 1000 for k in ("p50_us", "p95_us", "p99_us", "max_us")),
        ids=ids,
        peak_rss_kib=peak,
    )


CEILINGS = {"wsgi": "bare_view:application", "django": "bare_view:django_application()"}


def measure_ceilings(workers: int, auth: str, bodies_path: Path, args, when: str = "before") -> dict[str, Load]:
    """bench/bare_view.py, plain WSGI and as a bare Django view: the ceilings Tracepoint is read against."""
    return {name: measure_ceiling(app, workers, auth, bodies_path, args, when) for name, app in CEILINGS.items()}


def measure_ceiling(app: str, workers: int, auth: str, bodies_path: Path, args, when: str = "before") -> Load:
    """``app`` of bench/bare_view.py on gunicorn with ``workers`` sync workers, the same client and bodies."""
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(workers), "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), app],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/", proc, accept_any=True)
        tag = f"ceiling-{app.split(':')[1].strip('()')}-{when}"
        server = {"server": set(descendants(proc.pid))}
        before = cpu_snapshot()
        load = run_wrk(f"http://127.0.0.1:{port}/api/1/envelope/", auth, bodies_path, args, tag)
        load.server_cpu_ms = cpu_by_program(before, cpu_snapshot(), server, None)["server"] * 1000 / load.accepted
        return load
    finally:
        stop(proc)


def wait_for(url: str, proc: subprocess.Popen, *, accept_any: bool = False, seconds: int = 180) -> None:
    """Until ``url`` answers (200, or any status with ``accept_any``); fails if ``proc`` ends first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            if accept_any:
                return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} ended with {proc.returncode}")
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


class Store:
    """The bench's read-only view of the app's database: PostgreSQL (psycopg) or the embedded SQLite file."""

    def __init__(self, database_url: str | None, sqlite_path: Path | None) -> None:
        if database_url:
            self.conn = psycopg.connect(database_url, autocommit=True)
            self.marker = "%s"
        else:
            # Read-only, beside the app's writers: WAL lets readers in while they write.
            self.conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, timeout=30)
            self.marker = "?"

    def one(self, sql: str, *params) -> int:
        return self.conn.execute(sql.replace("%s", self.marker), params).fetchone()[0]

    def event_ids(self, project_id: str) -> set[str]:
        rows = self.conn.execute(f"SELECT event_id FROM events_event WHERE project_id = {self.marker}", [project_id])
        return {uuid.UUID(str(row[0])).hex for row in rows}

    def close(self) -> None:
        self.conn.close()


def wait_until_grouped(store: Store, project_id: str, since: float, limit: float = 120) -> tuple[int, float]:
    """(events still undigested, seconds from ``since`` until none was) — polled every 0.1 s."""
    deadline = time.monotonic() + limit
    while True:
        # Events waiting: SDK events received and not yet mapped, and stored events not yet grouped.
        waiting = store.one(
            "SELECT count(*) FROM events_event WHERE project_id = %s AND digested_at IS NULL", project_id
        ) + store.one("SELECT count(*) FROM events_receivedevent WHERE project_id = %s", project_id)
        if waiting == 0 or time.monotonic() > deadline:
            return waiting, time.monotonic() - since
        time.sleep(0.1)


def signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def settle(store: Store, project_id: str) -> None:
    """Until the warm-up events are grouped (the worker is up), then a few seconds more: the start-up
    of the worker and beat (imports, first beat tick) must not be counted as CPU spent on the load."""
    waiting, _ = wait_until_grouped(store, project_id, time.monotonic(), limit=60)
    if waiting:
        raise RuntimeError(f"{waiting} warm-up events were not grouped within 60 s: is the worker running?")
    time.sleep(5)


def create_project(env: dict) -> tuple[str, str]:
    setup = (
        "import django; django.setup(); "
        "from events.models import Project; from events import keys; "
        "Project.objects.filter(slug='bench').delete(); "
        "p = keys.create_project(name='Bench', slug='bench', services=['shop']); "
        # The quota is checked on every event, as always, but at a rate this load never reaches.
        "from events import quota; quota.set_events_per_minute(p, 1_000_000); "
        "print(p.pk, p.active_key().public_key)"
    )
    out = subprocess.run([PYTHON, "-c", setup], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"creating the bench project failed:\n{out.stderr}")
    project_id, key = out.stdout.split()[-2:]
    return project_id, key


def build_bodies(key: str, args, var_dir: Path) -> tuple[Path, list[bytes], float, float]:
    """Write the bodies for wrk; return (path, warm-up bodies, mean JSON KB before gzip, mean gzip KB)."""
    rng = random.Random(3)
    warmup = [envelope(key, i % args.groups, rng, args.compression)[1] for i in range(20)]
    # 64 spare bodies per wrk thread: requests in flight when a thread has its count.
    built = [
        envelope(key, i % args.groups, rng, args.compression) for i in range(args.events + 64 * args.client_threads)
    ]
    bodies_path = var_dir / "bodies"
    bodies_path.write_bytes(b"".join(body for _, body, _ in built))
    bodies_path.with_name("bodies.sizes").write_text("".join(f"{len(body)}\n" for _, body, _ in built))
    raw_kb = sum(size for _, _, size in built) / len(built) / 1024
    gzip_kb = sum(len(body) for _, body, _ in built) / len(built) / 1024
    return bodies_path, warmup, raw_kb, gzip_kb


def warm_up(url: str, auth: str, bodies: list[bytes], encoding: str) -> None:
    headers = {"Content-Type": "application/x-sentry-envelope", "Content-Encoding": encoding, "X-Sentry-Auth": auth}
    with requests.Session() as session:
        for body in bodies:
            session.post(url, data=body, headers=headers, timeout=30).raise_for_status()


def report(args, *, layout: str, ceilings: dict[str, Load], load: Load, store: Store, project_id: str,
           last_answer: float, spent: dict[str, float], web_workers: int, sizes: tuple[float, float],
           embedded: bool, cpu_since_start, ceilings_after) -> bool:  # fmt: skip
    """Prints the run's figures and whether it meets the issue's targets. ``ceilings_after()`` measures the
    ceilings again once everything is grouped: the machine's speed drifts within a run, so Tracepoint is read
    against the mean of the ceilings measured before and after it."""
    waiting, grouped_after = wait_until_grouped(store, project_id, last_answer)
    # Digestion goes on after the last answer: its CPU is counted until everything is grouped.
    spent_until_grouped = cpu_since_start()
    stored_ids = store.event_ids(project_id)
    issues = store.one("SELECT count(*) FROM events_issue WHERE project_id = %s", project_id)
    counted = store.one("SELECT coalesce(sum(event_count), 0) FROM events_issue WHERE project_id = %s", project_id)
    lost = load.ids - stored_ids
    after = ceilings_after()
    ceiling_rate = {name: (ceilings[name].rate + after[name].rate) / 2 for name in ceilings}
    ratio = load.rate / ceiling_rate["wsgi"]
    django_share = load.rate / ceiling_rate["django"]
    print(f"layout: {layout}")
    print(
        f"events: {args.events} (+20 warm-up), JSON {sizes[0]:.2f} KB each, {sizes[1]:.2f} KB with {args.compression}; "
        f"C={args.concurrency}, G={args.groups}, web {web_workers} sync workers"
    )
    for name in ceilings:
        for when, bare in (("before", ceilings[name]), ("after", after[name])):
            print(
                f"ceiling, bench/bare_view.py {name} on {web_workers} sync workers, {when}: {bare.rate:.0f} events/s, "
                f"p50 {bare.p50_ms:.1f} p99 {bare.p99_ms:.1f} ms, rejected {bare.rejected}, errors {bare.errors}, "
                f"server CPU {bare.server_cpu_ms:.2f} ms per answer"
            )
    print(
        f"tracepoint: {load.rate:.0f} events/s = {ratio:.1%} of the WSGI ceiling, {django_share:.1%} of the Django "
        f"one (means of before and after: {ceiling_rate['wsgi']:.0f} and {ceiling_rate['django']:.0f}); "
        f"accepted {load.accepted}, rejected {load.rejected}, socket errors {load.errors}"
    )
    print(f"latency ms: p50 {load.p50_ms:.1f}  p95 {load.p95_ms:.1f}  p99 {load.p99_ms:.1f}  max {load.max_ms:.1f}")
    print(f"all grouped {grouped_after:.1f} s after the last answer (undigested: {waiting})")
    print(f"issues: {issues} (expected {args.groups}); stored {len(stored_ids)}, counted by the issues {counted}")
    print(f"nothing lost: {len(load.ids)} ids answered 2xx, {len(lost)} of them missing from the database")
    print(f"peak RSS of the app's processes (web, worker, beat): {load.peak_rss_kib / 1024:.0f} MiB")
    for when, figures in (("during the load", spent), ("from the load's start until all grouped", spent_until_grouped)):
        print(
            f"CPU ms per accepted event, {when}: "
            + ", ".join(f"{name} {seconds * 1000 / load.accepted:.2f}" for name, seconds in sorted(figures.items()))
        )
    if embedded:
        ok = load.rate >= 800 and load.p99_ms <= 100 and waiting == 0 and grouped_after <= 10
        target = ">= 800 events/s, p99 <= 100 ms, grouped within 10 s"
    else:
        # The issue's ceiling is its table's bare Django view; the plain WSGI one is printed as the stricter bound.
        ok = (
            django_share >= 0.5
            and load.p99_ms <= 50
            and waiting == 0
            and grouped_after <= 5
            and spent.get("web", 0) * 1000 / load.accepted <= 0.5
        )
        target = ">= 50 % of the bare Django view's ceiling, p99 <= 50 ms, grouped within 5 s, web CPU <= 0.5 ms/event"
    ok = ok and issues == args.groups and not lost and load.rejected == 0
    print(
        f"PASS ({target}, exactly G issues, nothing lost; {ratio:.1%} of the plain WSGI ceiling)"
        if ok
        else f"FAIL (target: {target}, exactly G issues, nothing lost)"
    )
    return ok


def production(args) -> int:
    env, var_dir = bench_environment(
        args.database_url,
        args.redis_url,
        prefix="tp-ingest-bench-",
        LOG_LEVEL="WARNING",
        CELERY_WORKER_CONCURRENCY=str(args.worker_concurrency),
    )
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    # Every run starts from empty tables without dead rows (a DELETE would leave
    # autovacuum work that lands in the middle of the next run).
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE events_receivedevent, events_event, events_issue, events_issuegrouping, events_issueactivity, "
            "events_issueuser CASCADE"
        )
        conn.execute("VACUUM ANALYZE events_event")
    project_id, key = create_project(env)
    auth = f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0"
    bodies_path, warmup, *sizes = build_bodies(key, args, Path(var_dir))
    ceilings = measure_ceilings(args.workers, auth, bodies_path, args)

    port = free_port()
    front = INGEST_SERVICE if args.front == "ingest" else ()
    web = start_gunicorn(env, port, workers=args.workers, threads=args.threads, extra=front)
    worker = start_celery(env, nice=args.worker_nice)
    beat = start_celery(env, "beat")
    store = Store(args.database_url, None)
    try:
        url = f"http://127.0.0.1:{port}/api/{project_id}/envelope/"
        warm_up(url, auth, warmup, args.compression)
        settle(store, project_id)
        programs = {"web": set(descendants(web.pid)), "celery": set(descendants(worker.pid))}
        programs["celery beat"] = set(descendants(beat.pid))
        if args.digest_after_load:  # frozen, not stopped: a restart's imports would be counted as digestion
            signal_all(programs["celery"] | programs["celery beat"], signal.SIGSTOP)
        before = cpu_snapshot()
        load = run_wrk(url, auth, bodies_path, args, "tracepoint", watch=[web.pid, worker.pid, beat.pid])
        last_answer = time.monotonic()
        dbname = args.database_url.rsplit("/", 1)[-1]
        if args.digest_after_load:
            signal_all(programs["celery"] | programs["celery beat"], signal.SIGCONT)
        spent = cpu_by_program(before, cpu_snapshot(), programs, dbname)
        again = (args.workers, auth, bodies_path, args, "after")  # with Tracepoint's processes stopped
        ok = report(
            args, layout=f"production ({FRONTS[args.front]} + Celery worker and beat, PostgreSQL, Redis)",
            ceilings=ceilings,
            load=load, store=store, project_id=project_id, last_answer=last_answer, spent=spent,
            web_workers=args.workers, sizes=sizes, embedded=False,
            cpu_since_start=lambda: cpu_by_program(before, cpu_snapshot(), programs, dbname),
            ceilings_after=lambda: stop(web, worker, beat) or measure_ceilings(*again),
        )  # fmt: skip
        print(
            f"{FRONTS[args.front]}: {args.workers} workers, celery worker {args.worker_concurrency} processes "
            f"at niceness {args.worker_nice}"
        )
        return 0 if ok else 1
    finally:
        store.close()
        stop(web, worker, beat)
        shutil.rmtree(var_dir, ignore_errors=True)  # the bodies alone are 40 MB


def embedded(args) -> int:
    """The app as `make run` runs it, in a scratch var dir, on a free port."""
    var_dir = Path(tempfile.mkdtemp(prefix="tp-ingest-embedded-bench-"))
    port = free_port()
    run, env = start_embedded(var_dir, port)
    web_workers = int(env.get("WEB_CONCURRENCY", "2"))  # tracepoint/gunicorn_conf.py's default
    store = None
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", run, seconds=300)
        project_id, key = create_project(
            {**env, "DJANGO_SETTINGS_MODULE": "tracepoint.settings", "SECRET_KEY_FILE": str(var_dir / "secret_key")}
        )
        auth = f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0"
        bodies_path, warmup, *sizes = build_bodies(key, args, var_dir)
        url = f"http://127.0.0.1:{port}/api/{project_id}/envelope/"
        warm_up(url, auth, warmup, args.compression)
        # The ceiling runs beside the idle embedded app (stopping it would mean a second start-up).
        ceilings = measure_ceilings(web_workers, auth, bodies_path, args)
        tree = descendants(run.pid)
        commands = {pid: cmd for pid, (cmd, _) in cpu_snapshot().items() if pid in tree}
        programs = {
            "web": {pid for pid, cmd in commands.items() if "gunicorn" in cmd},
            "celery": {pid for pid, cmd in commands.items() if "celery" in cmd and " worker" in cmd},
            "celery beat": {pid for pid, cmd in commands.items() if "celery" in cmd and " beat" in cmd},
        }
        store = Store(None, var_dir / "tracepoint.sqlite3")
        settle(store, project_id)
        before = cpu_snapshot()
        load = run_wrk(url, auth, bodies_path, args, "tracepoint", watch=[run.pid])
        last_answer = time.monotonic()
        spent = cpu_by_program(before, cpu_snapshot(), programs, None)
        ok = report(
            args, layout="embedded default (scripts/run-embedded: SQLite, filesystem broker, web + worker + beat)",
            ceilings=ceilings, load=load, store=store, project_id=project_id, last_answer=last_answer, spent=spent,
            web_workers=web_workers, sizes=sizes, embedded=True,
            cpu_since_start=lambda: cpu_by_program(before, cpu_snapshot(), programs, None),
            ceilings_after=lambda: measure_ceilings(web_workers, auth, bodies_path, args, "after"),
        )  # fmt: skip
        return 0 if ok else 1
    finally:
        if store:
            store.close()
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
        shutil.rmtree(var_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedded", action="store_true", help="measure the embedded default (make run) instead")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tracepoint_ingest_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=int,
        help="gunicorn workers (production layout), for the ceilings too; default as compose runs the front: 2 for "
        "the ingest service (INGEST_CONCURRENCY), 3 for web (WEB_CONCURRENCY)",
    )
    parser.add_argument(
        "--front",
        choices=sorted(FRONTS),
        default="ingest",
        help="production: what the SDKs' requests reach: the ingest service (compose's DSNs) or web's sync workers",
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    parser.add_argument("--compression", choices=["gzip", "br"], default="gzip", help="as sentry-sdk compresses")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (production)")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="production: the Celery worker's niceness: 10, as docker-compose.yml and the Procfiles run it",
    )
    parser.add_argument(
        "--digest-after-load",
        action="store_true",
        help="production: freeze the Celery worker and beat during the load (SIGSTOP) and let them go after the last "
        "answer, so the web side and digestion are each measured alone (as on separate machines)",
    )
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 2 if args.front == "ingest" else 3
    if not shutil.which("wrk"):
        sys.exit("bench/ingest.py drives the load with wrk: apt-get install wrk")
    return embedded(args) if args.embedded else production(args)


if __name__ == "__main__":
    sys.exit(main())
