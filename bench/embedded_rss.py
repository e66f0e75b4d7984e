#!/usr/bin/env python3
"""Idle memory of the embedded run (web + worker + beat), measured from /proc.

Starts `scripts/run-embedded` in a scratch var/ directory on a free port, waits
for /ready, lets it idle, then sums RSS and PSS over every process of the run
(honcho, gunicorn master and workers, Celery worker and its pool, beat) and
stops it. PSS splits pages shared between forked processes fairly, so it is the
better "what does this cost the machine" figure; RSS double-counts them.

    .venv/bin/python bench/embedded_rss.py [--idle SECONDS]

Linux only (reads /proc/<pid>/smaps_rollup).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from procs import descendants, free_port, start_embedded

ROOT = Path(__file__).resolve().parent.parent


def memory_kib(pid: int) -> tuple[int, int, str]:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[-1] == "kB"}
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
    return values.get("Rss", 0), values.get("Pss", 0), cmd


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=30, help="seconds to idle after /ready before measuring")
    args = parser.parse_args()

    port = free_port()
    var_dir = tempfile.mkdtemp(prefix="tp-bench-")
    proc, _ = start_embedded(var_dir, port)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("embedded run did not become ready", file=sys.stderr)
                return 1
            time.sleep(0.5)
        time.sleep(args.idle)
        rows = [memory_kib(pid) for pid in descendants(proc.pid) if Path(f"/proc/{pid}").exists()]
        rows = [row for row in rows if row[0]]
        print(f"{'RSS MiB':>8} {'PSS MiB':>8}  process")
        for rss, pss, cmd in sorted(rows, key=lambda r: -r[0]):
            print(f"{rss / 1024:8.1f} {pss / 1024:8.1f}  {cmd}")
        total_rss = sum(r[0] for r in rows) / 1024
        total_pss = sum(r[1] for r in rows) / 1024
        print(f"{total_rss:8.1f} {total_pss:8.1f}  TOTAL ({len(rows)} processes, idle {args.idle}s after /ready)")
        return 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
