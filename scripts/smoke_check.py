"""The round trips of the production smoke stage (scripts/production-smoke), one per job.

Runs from the dev environment against servers started from a runtime-only virtualenv:
- the real sentry-sdk sends an exception to the DSN, which names the ingest service, and it is grouped into
  an issue;
- an HTTP monitor against a local target that answers 500 goes DOWN and opens an incident;
- a heartbeat ping is applied;
- an incident transition is delivered, signed, to a local webhook receiver;
- a status page answers summary.json;
- /ready answers 200 with a recent worker heartbeat.
Fails at once when one of the server processes (--pids) has exited.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests


class Failed(Exception):
    pass


class Smoke:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.base = args.base.rstrip("/")
        self.pids = dict(zip(args.names.split(","), map(int, args.pids.split(",")), strict=True))
        self.session = requests.Session()
        self.hooks: list[tuple[dict, bytes]] = []

    # --- plumbing ---------------------------------------------------------------------------------
    def alive(self) -> None:
        for name, pid in self.pids.items():
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                state = "gone"
            if state in ("Z", "gone"):
                raise Failed(f"the {name} process exited")

    def wait(self, what: str, probe, *, timeout: float = 60.0, every: float = 0.5):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.alive()
            try:
                result = probe()
            except requests.RequestException as exc:
                result, last = None, exc
            if result:
                return result
            time.sleep(every)
        raise Failed(f"timed out after {timeout:g} s waiting for {what} (last error: {last})")

    def api(self, method: str, path: str, expect: int, **kwargs) -> dict:
        response = self.session.request(method, f"{self.base}/api/v1/{path}", timeout=15, **kwargs)
        if response.status_code != expect:
            raise Failed(f"{method} /api/v1/{path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def step(self, name: str, fn) -> None:
        started = time.monotonic()
        fn()
        print(f"[smoke] ok  {name} ({time.monotonic() - started:.1f} s)", flush=True)

    # --- local peers ------------------------------------------------------------------------------
    def serve(self, port: int, handler_class) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def start_peers(self) -> None:
        smoke = self

        class Failing(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"down for the smoke test")

            def log_message(self, *args):
                pass

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                smoke.hooks.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(self.args.target_port, Failing)
        self.serve(self.args.hook_port, Receiver)

    # --- the checks -------------------------------------------------------------------------------
    def login(self) -> None:
        self.wait("web to answer /health", lambda: requests.get(f"{self.base}/health", timeout=2).ok)
        stream = self.args.stream.rstrip("/")
        self.wait("the stream service to answer /health", lambda: requests.get(f"{stream}/health", timeout=2).ok)
        body = self.api(
            "POST", "auth/token", 201, json={"username": self.args.username, "password": self.args.password}
        )
        self.session.headers["Authorization"] = f"Token {body['token']}"

    def ready(self) -> None:
        def probe():
            response = requests.get(f"{self.base}/ready", timeout=10)
            if response.status_code != 200:
                return None
            body = response.json()
            stamp = datetime.fromisoformat(body["worker_heartbeat"])
            return body if (datetime.now(tz=UTC) - stamp).total_seconds() < 120 else None

        body = self.wait("/ready to answer 200 with a recent worker heartbeat", probe, timeout=90)
        assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"}, body

    def sentry(self) -> None:
        import sentry_sdk

        project = self.api("POST", "projects", 201, json={"name": "Smoke", "slug": f"smoke-{uuid.uuid4().hex[:6]}"})
        ingest = urlsplit(self.args.ingest)
        assert urlsplit(project["dsn"]).port == ingest.port, f"the DSN {project['dsn']} should name {self.args.ingest}"
        sentry_sdk.init(dsn=project["dsn"], default_integrations=False, traces_sample_rate=0)
        try:
            raise RuntimeError("smoke test exception 42")
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=10)

        def grouped():
            issues = self.api("GET", f"issues?project={project['id']}", 200)["results"]
            return issues if issues and issues[0]["event_count"] >= 1 else None

        issues = self.wait("the exception to be grouped into an issue", grouped, timeout=60)
        assert len(issues) == 1 and "RuntimeError" in issues[0]["title"], issues

    def monitor(self) -> None:
        created = self.api(
            "POST",
            "monitors",
            201,
            json={
                "name": "Smoke target",
                "kind": "http",
                "url": f"http://127.0.0.1:{self.args.target_port}/",
                "interval_seconds": 10,
                "timeout_seconds": 5,
                "down_after": 1,
                "open_incident": True,
                "incident_severity": "SEV2",
            },
        )

        def down():
            monitor = self.api("GET", f"monitors/{created['id']}", 200)
            return monitor if monitor["status"] == "down" else None

        monitor = self.wait("the monitor to go DOWN", down, timeout=60)
        assert "HTTP 500" in monitor["last_error"], monitor

        def opened():
            found = self.api("GET", "incidents?service=smoke-target&status=OPEN", 200)["results"]
            return found or None

        [incident] = self.wait("the monitor to open an incident", opened, timeout=30)
        assert incident["title"] == "Smoke target is down" and incident["severity"] == "SEV2", incident

    def heartbeat(self) -> None:
        created = self.api(
            "POST",
            "monitors",
            201,
            json={"name": "Smoke job", "kind": "heartbeat", "period_seconds": 3600, "grace_seconds": 600},
        )
        assert created["last_ping_at"] is None
        ping = requests.post(created["ping_url"].replace(self.args.public_base, self.base), data=b"ok", timeout=10)
        assert ping.status_code == 200, ping.text

        def applied():
            monitor = self.api("GET", f"monitors/{created['id']}", 200)
            return monitor if monitor["last_ping_at"] and monitor["status"] == "up" else None

        self.wait("the ping to be applied", applied, timeout=60)

    def webhook(self) -> None:
        incident = self.api(
            "POST", "incidents", 201, json={"title": "Smoke incident", "service": "smoke", "severity": "SEV3"}
        )
        self.api("PATCH", f"incidents/{incident['id']}/status", 200, json={"status": "ACKNOWLEDGED"})

        def delivered():
            for headers, body in self.hooks:
                document = json.loads(body)
                about = document.get("payload", {}).get("incident", {})
                if (
                    document.get("topic") == "incident.status_changed"
                    and about.get("id") == str(incident["id"])
                    and about.get("status") == "ACKNOWLEDGED"
                ):
                    return headers, body
            return None

        headers, body = self.wait("the acknowledgement to reach the webhook receiver", delivered, timeout=60)
        signature = {k.lower(): v for k, v in headers.items()}.get("x-tracepoint-signature", "")
        expected = hmac.new(self.args.hook_secret.encode(), body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}", (signature, expected)

    def status_page(self) -> None:
        slug = f"smoke-{uuid.uuid4().hex[:6]}"
        self.api("POST", "status-pages", 201, json={"slug": slug, "title": "Smoke status", "is_public": True})
        response = requests.get(f"{self.base}/status/{slug}/api/v2/summary.json", timeout=10)
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert body["page"]["name"] == "Smoke status" and body["status"]["indicator"] == "none", body

    def run(self) -> None:
        self.start_peers()
        for name, fn in (
            ("web answers and issues an API token", self.login),
            ("/ready is 200 with a recent worker heartbeat", self.ready),
            ("sentry-sdk exception grouped", self.sentry),
            ("heartbeat ping applied", self.heartbeat),
            ("incident transition delivered to a webhook", self.webhook),
            ("status page summary.json", self.status_page),
            ("HTTP monitor DOWN opens an incident", self.monitor),
            ("/ready still 200", self.ready),
        ):
            self.step(name, fn)
        self.alive()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--ingest", required=True, help="the ingest service (TRACEPOINT_INGEST_URL)")
    parser.add_argument("--public-base", help="TRACEPOINT_BASE_URL, when it differs from --base")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--hook-port", type=int, required=True)
    parser.add_argument("--hook-secret", required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--pids", required=True)
    parser.add_argument("--names", required=True)
    args = parser.parse_args()
    args.public_base = (args.public_base or args.base).rstrip("/")
    try:
        Smoke(args).run()
    except (Failed, AssertionError) as exc:
        print(f"[smoke] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
