"""`make run`'s supervisor: a crashed worker or beat starts again, and web is never taken down with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _supervise(script: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tracepoint.lib.supervise", "sh", "-c", script],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_command_that_exits_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    proc = _supervise(f"echo start >> {starts}; exit 3", tmp_path)
    try:
        # 1 s, then 2 s between starts: three starts within ~3.5 s.
        _wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 3, timeout=10)
        assert proc.poll() is None  # the supervisor itself keeps running
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert "exited with status 3; starting it again in 1 s" in stderr
    assert "starting it again in 2 s" in stderr


def test_sigterm_is_passed_on_and_ends_the_supervision(tmp_path):
    marker = tmp_path / "terminated"
    started = tmp_path / "started"
    proc = _supervise(f"trap 'touch {marker}; exit 0' TERM; touch {started}; while true; do sleep 0.1; done", tmp_path)
    _wait_for(started.exists)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert marker.exists()


def test_the_embedded_procfiles_supervise_worker_and_beat():
    for name in ("Procfile.embedded", "Procfile.redis"):
        lines = dict(line.split(": ", 1) for line in (ROOT / name).read_text().splitlines() if line.strip())
        # Each process names itself on its log lines (LOG_FORMAT=console under make run).
        for process, command in lines.items():
            assert command.startswith(f"TRACEPOINT_PROCESS={process} "), (name, process)
            lines[process] = command.removeprefix(f"TRACEPOINT_PROCESS={process} ")
        for process in ("worker", "beat"):
            command = lines[process].removeprefix("nice -n 10 ") if process == "worker" else lines[process]
            assert command.startswith("python -m tracepoint.lib.supervise celery -A tracepoint"), (name, process)
        # On one machine the worker yields the CPU to web requests (bench/alert_storm.py shows why).
        assert lines["worker"].startswith("nice -n 10 "), name
        assert "supervise" not in lines["web"]
