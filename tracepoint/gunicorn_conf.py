"""gunicorn settings shared by `make run`, the Docker image and compose (`-c python:tracepoint.gunicorn_conf`).

Command-line flags still win, so deployments can override any of these.
"""

import os
import shutil

from gunicorn import glogging

from tracepoint.lib import heap
from tracepoint.logging import formatter_config

wsgi_app = "tracepoint.wsgi:application"


def _metrics_dir() -> str:
    """prometheus-client's multiprocess mode: each worker writes its counters to files here and
    /metrics sums them. Set before the app is loaded; emptied when gunicorn starts."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        var_dir = os.environ.get("TRACEPOINT_VAR_DIR") or os.path.join(
            os.path.dirname(os.path.dirname(__file__)), "var"
        )
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(var_dir, f"metrics-{os.getpid()}")
        _remove_dead_metrics_dirs(var_dir)
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return path


def _remove_dead_metrics_dirs(var_dir: str) -> None:
    """The directories of gunicorn masters that are gone (each run makes its own): they only grow.

    Judged by process id, so a var/ shared by containers with PID namespaces of their own would need
    PROMETHEUS_MULTIPROC_DIR set per container (then nothing here is removed)."""
    try:
        names = os.listdir(var_dir)
    except OSError:
        return
    for name in names:
        pid = name.removeprefix("metrics-")
        if name.startswith("metrics-") and pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(var_dir, name), ignore_errors=True)
            except PermissionError:
                pass  # alive, another user's


_metrics_dir()


def child_exit(server, worker) -> None:
    # Late: prometheus_client picks its multiprocess mode when first imported, after _metrics_dir() ran.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def pre_fork(server, worker) -> None:
    # The app is loaded (preload_app): frozen here, its objects stay shared with the workers instead of
    # being copied when a worker's collector walks them.
    heap.settle()


def post_worker_init(worker) -> None:
    # What the worker loaded itself: the app when preload is off (--no-preload), its own start-up otherwise.
    heap.settle()


# Load the app in the master: a bad setting stops gunicorn with one line
# instead of workers failing to boot forever, and workers share memory.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 60
graceful_timeout = 10
# The control socket lives in $HOME; parallel instances would share it.
control_socket_disable = True
# Requests are logged by Tracepoint itself (one JSON line with the request id).
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": formatter_config(os.environ.get("LOG_FORMAT", "json").lower())},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


class Logger(glogging.Logger):
    """gunicorn's logger, minus the access-log atoms it builds for every request whenever
    logconfig_dict is set (even with the access logger silenced as above)."""

    def access(self, resp, req, environ, request_time) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = Logger
