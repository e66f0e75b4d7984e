"""`make run`'s script, for real: web + worker + beat on SQLite and the filesystem broker."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.net import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        if proc.poll() is not None:
            pytest.fail(f"embedded run exited while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _ready_body(base: str):
    try:
        response = requests.get(f"{base}/ready", timeout=2)
    except requests.ConnectionError:
        return None
    return response.json() if response.status_code == 200 else None


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def test_embedded_run_serves_logs_in_runs_tasks_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(
        PORT=str(port),
        TRACEPOINT_VAR_DIR=str(tmp_path / "var"),
        TRACEPOINT_ADMIN_PASSWORD="",
        HEARTBEAT_INTERVAL_SECONDS="2",
        DJANGO_SETTINGS_MODULE="tracepoint.settings",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run-embedded")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        body = _wait_for(lambda: _ready_body(base), 90, "/ready", proc, log)
        # Ready only once beat → broker → worker has recorded a heartbeat.
        assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"}
        assert body["worker_heartbeat"]
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
        assert (tmp_path / "var" / "tracepoint.sqlite3").exists()

        # The admin login printed once works.
        password = re.search(r"password: (\S+)", log.read_text()).group(1)
        session = requests.Session()
        login = session.get(f"{base}/login/", timeout=5)
        assert login.status_code == 200 and "Log in" in login.text
        landed = session.post(
            f"{base}/login/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{base}/login/"},
            timeout=5,
        )
        assert landed.url == f"{base}/"
        assert "<h1>Overview</h1>" in landed.text
        assert session.get(f"{base}/api/docs/", timeout=5).status_code == 200
        css = re.search(r'href="(/static/css/tracepoint\.[0-9a-f]+\.css)"', landed.text)
        assert css, "DEBUG is off: static files are served hashed by whitenoise"
        assert session.get(f"{base}{css.group(1)}", timeout=5).status_code == 200

        # Beat queued the heartbeat through the filesystem broker and the worker ran it.
        heartbeat = _wait_for(
            lambda: (_ready_body(base) or {}).get("worker_heartbeat"), 60, "a worker heartbeat", proc, log
        )
        assert heartbeat.startswith("20")

        # Readable lines for the terminal: time, process, level, message (LOG_FORMAT=console).
        lines = log.read_text().splitlines()
        readable = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (web|worker|beat)\s+(DEBUG|INFO|WARNING|ERROR)\s+\S")
        writers = {m.group(1) for m in map(readable.match, lines) if m}
        assert {"web", "beat"} <= writers, lines[-20:]
        assert any(re.search(r" web\s+INFO\s+POST /login/ 302", line) for line in lines), lines[-20:]
        assert not [line for line in lines if line.startswith('{"')], "no JSON lines in the terminal"
    finally:
        members = _group_members(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the embedded run did not stop on Ctrl-C")
    deadline = time.monotonic() + 15
    while _alive(members) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _alive(members) == [], "web, worker and beat all stop on Ctrl-C"
    assert proc.returncode is not None


def test_a_second_start_reuses_the_admin_and_prints_no_new_password(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(TRACEPOINT_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="tracepoint.settings", DEBUG="true")

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout

    manage("migrate", "--no-input", "-v", "0")
    first = manage("ensure_admin")
    second = manage("ensure_admin")
    assert "password:" in first
    assert "password:" not in second
    assert "already exists" in second
