"""Long-running processes take start-up's objects out of the garbage collector's walks (tracepoint.lib.heap)."""

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from celery import signals

from tests.net import free_port, wait_for_http
from tracepoint.lib import heap

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def collector_restored():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_alive_and_lets_more_young_objects_build_up(collector_restored):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    heap.settle()
    assert gc.get_freeze_count() > 1000  # this process's modules, at least
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, 10, 10)


def test_celery_worker_and_its_pool_processes_settle_their_heap(collector_restored):
    for signal in (signals.worker_init, signals.worker_process_init):
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
        signal.send(sender="celery@test")
        assert gc.get_freeze_count() > 1000, signal.name
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD, signal.name


@pytest.mark.parametrize(
    ("worker_args", "app"),
    [
        ((), "tests.heap_app:application"),
        (("--worker-class", "uvicorn_worker.UvicornWorker"), "tests.heap_app:asgi_application"),
    ],
    ids=["sync", "uvicorn"],
)
def test_gunicorn_workers_serve_with_start_up_objects_frozen(tmp_path, worker_args, app):
    port = free_port()
    env = {**os.environ, "TRACEPOINT_VAR_DIR": str(tmp_path)}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:tracepoint.gunicorn_conf", *worker_args, "--workers", "1",
         "--bind", f"127.0.0.1:{port}", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process=proc)
        state = requests.get(f"http://127.0.0.1:{port}/", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state["frozen"] > 1000
    assert state["threshold"][0] == heap.YOUNG_THRESHOLD


def test_the_gunicorn_master_freezes_the_preloaded_app_before_each_fork(collector_restored):
    from tracepoint import gunicorn_conf

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    gunicorn_conf.pre_fork(server=None, worker=None)
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
