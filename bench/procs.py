"""Helpers the benchmarks share: a free local port and the processes under a pid."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """pid -> (command line, CPU seconds: user + system of the process and of its reaped children)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    snapshot = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        snapshot[int(entry.name)] = (cmdline, sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick)
    return snapshot


def cpu_by_name() -> dict[str, float]:
    """CPU seconds used so far, summed per server program by its command line (gunicorn, celery,
    postgres, redis-server, wrk; a PostgreSQL backend that ended is counted by the postmaster);
    "bench" is this process and its reaped children (a receiver thread, the openers, the client).
    Take two and subtract."""
    import os

    totals: dict[str, float] = {}
    for pid, (cmdline, seconds) in cpu_snapshot().items():
        name = next((n for n in ("gunicorn", "celery", "postgres", "redis-server", "wrk") if n in cmdline), None)
        if name is not None and pid != os.getpid():
            totals[name] = totals.get(name, 0.0) + seconds
    own = os.times()
    totals["bench"] = own.user + own.system + own.children_user + own.children_system
    return totals


def bench_environment(database_url: str, redis_url: str, *, prefix: str, **extra: str) -> tuple[dict, str]:
    """A database of the benchmark's own (created if missing; its name must say 'bench') and the
    environment for the app's processes against it. Returns (env, var_dir)."""
    import os
    import sys
    import tempfile

    import psycopg

    dbname = database_url.rsplit("/", 1)[-1]
    if "bench" not in dbname:
        sys.exit("refusing: the database name must contain 'bench' (the benchmark deletes its data)")
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')
    var_dir = tempfile.mkdtemp(prefix=prefix)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "TRACEPOINT_VAR_DIR": var_dir,
        **extra,
    }
    return env, var_dir


def start_gunicorn(env: dict, port: int, *, workers: int, threads: int = 1, extra: tuple[str, ...] = ()):
    """gunicorn with the production settings (tracepoint.gunicorn_conf) on 127.0.0.1:port, once it listens."""
    import subprocess
    import time

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [str(root / ".venv" / "bin" / "gunicorn"), "-c", "python:tracepoint.gunicorn_conf", "--workers", str(workers),
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}", *extra],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not listen on port {port} within 30 s")


def start_celery(
    env: dict, command: str = "worker", *, loglevel: str = "WARNING", log=None, extra: tuple = (), nice: int = 0
):
    """A Celery worker (or beat) of the app; output to ``log`` (a file) or nowhere; ``nice``: its CPU niceness."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    args = ["--without-gossip", "--without-mingle"] if command == "worker" else []
    prefix = ["nice", "-n", str(nice)] if nice else []
    return subprocess.Popen(
        [*prefix, str(root / ".venv" / "bin" / "celery"), "-A", "tracepoint", "--quiet", command, "--loglevel",
         loglevel, *args, *extra],
        cwd=root, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )  # fmt: skip


def stop(*procs) -> None:
    """Terminate the processes, then kill whichever has not ended within 20 s."""
    import subprocess

    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_embedded(var_dir, port: int):
    """``scripts/run-embedded`` (what ``make run`` runs) in ``var_dir`` on ``port``, in a session of its own
    (stop it with ``os.killpg``), with none of this environment's database, broker or Django settings:
    the embedded default. Returns (process, its environment)."""
    import os
    import subprocess

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PORT": str(port), "TRACEPOINT_VAR_DIR": str(var_dir)}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(root / "scripts" / "run-embedded")],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, env
