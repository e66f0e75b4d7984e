"""The ASGI ingest service (``events.ingest_service``, ``tracepoint.ingest_asgi``): the real sentry-sdk and
plain HTTP clients against it under uvicorn, on the test database."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
import sentry_sdk
from django.core.asgi import get_asgi_application
from django.db import connection, connections

from events import digestion, ingest, keys, quota
from events.ingest import Received
from events.ingest_service import Batcher, IngestService
from events.models import Event, Issue, ReceivedEvent
from tests.helpers import digest_all, envelope, event_item, run_async, run_without_database, serve_asgi
from tracepoint import metrics
from tracepoint.urls import INGEST_ROUTES

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service():
    app = IngestService(get_asgi_application(), INGEST_ROUTES)
    with serve_asgi(app, lifespan="on") as url:
        yield SimpleNamespace(url=url, app=app)


def auth(key: str) -> dict:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}


def post(url: str, body: bytes, **headers) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)


def one_event(**fields) -> bytes:
    event_id = uuid.uuid4().hex
    return envelope(event_item(event_id=event_id, **fields), header={"event_id": event_id})


def _find_user(user_id: int) -> None:
    raise ValueError(f"user {user_id} not found")


def test_the_real_sdk_delivers_through_the_service_and_its_events_group(service, sentry_client):
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    sentry_client(project.active_key().dsn(service.url), release="shop@1.0.0")
    sent = []
    for user_id in (1, 2):
        try:
            _find_user(user_id)
        except ValueError:
            sent.append(sentry_sdk.capture_exception())
    sentry_sdk.flush(timeout=10)

    assert set(ReceivedEvent.objects.values_list("event_id", flat=True)) == {uuid.UUID(i) for i in sent}
    assert digest_all() == 2
    issue = Issue.objects.get(project=project)
    assert (issue.title, issue.event_count, issue.first_release) == ("ValueError: user 1 not found", 2, "shop@1.0.0")


def test_an_answer_is_the_views_with_cors_request_id_and_security_headers(service, project, project_key):
    event_id = uuid.uuid4().hex
    body = gzip.compress(envelope(event_item(event_id=event_id), header={"event_id": event_id}))
    response = post(
        f"{service.url}/api/{project.id}/envelope/",
        body,
        **auth(project_key),
        **{"Content-Encoding": "gzip", "X-Request-ID": "sdk-req-1"},
    )
    assert response.status_code == 200
    assert response.json() == {"id": event_id}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Request-ID"] == "sdk-req-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert ReceivedEvent.objects.get().event_id == uuid.UUID(event_id)


def test_the_legacy_store_endpoint_and_the_key_in_the_query_string_are_served(service, project, project_key):
    body = json.dumps({"event_id": uuid.uuid4().hex, "message": "legacy client", "level": "error"}).encode()
    response = post(f"{service.url}/api/{project.id}/store/?sentry_key={project_key}", body)
    assert response.status_code == 200
    assert digest_all() == 1
    assert Event.objects.get().message == "legacy client"


def test_the_same_event_sent_twice_is_stored_once(service, project, project_key):
    body = one_event(message="retried by the SDK")
    answers = [post(f"{service.url}/api/{project.id}/envelope/", body, **auth(project_key)) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert ReceivedEvent.objects.count() == 1


def test_concurrent_events_are_stored_in_one_insert_and_each_answered_after_it(service, project, project_key):
    writer = service.app.writer
    held = threading.Event()
    # The writer's thread is busy (as with a slow INSERT): the first events wait for it, the rest queue.
    writer.executor.submit(held.wait, 10)
    bodies = [one_event(message=f"event {n}") for n in range(30)]
    with ThreadPoolExecutor(30) as pool:
        answers = [
            pool.submit(post, f"{service.url}/api/{project.id}/envelope/", body, **auth(project_key)) for body in bodies
        ]
        deadline = time.monotonic() + 10
        while writer.waiting < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.waiting == 30
        assert ReceivedEvent.objects.count() == 0  # nobody answered yet: nothing is committed
        assert not any(answer.done() for answer in answers)
        held.set()
        statuses = [answer.result().status_code for answer in answers]
    assert statuses == [200] * 30
    assert (writer.batches, writer.items) == (2, 30)
    assert ReceivedEvent.objects.count() == 30


def test_checks_run_on_the_event_loop_once_the_key_and_a_quota_lease_are_remembered(service, project, project_key):
    url = f"{service.url}/api/{project.id}/envelope/"
    assert post(url, one_event(), **auth(project_key)).status_code == 200
    assert service.app.checker.items == 1  # the first: key and lease looked up in the checking thread
    for _ in range(5):
        assert post(url, one_event(), **auth(project_key)).status_code == 200
    assert service.app.checker.items == 1  # then remembered: checked on the loop, no trip to a thread
    assert ReceivedEvent.objects.count() == 6


def test_too_many_waiting_requests_are_refused_with_503_before_their_body_is_read(service, project, project_key):
    service.app.max_waiting = 0  # as when a slow database has let a thousand requests pile up
    response = post(f"{service.url}/api/{project.id}/envelope/", one_event(), **auth(project_key))
    assert response.status_code == 503
    assert (response.json()["code"], response.headers["Retry-After"]) == ("SERVICE_UNAVAILABLE", "2")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert ReceivedEvent.objects.count() == 0


def test_once_a_check_finds_the_database_away_the_rest_of_its_batch_is_answered_503_at_once(monkeypatch):
    from django.http import HttpRequest

    from events import ingest_service
    from tracepoint.api.errors import database_unavailable_response

    checked = []

    def check(request, view, kwargs, body):  # what _check answers after its retries when the database is away
        checked.append(body)
        return database_unavailable_response()

    monkeypatch.setattr(ingest_service, "_check", check)
    requests_ = []
    for n in range(3):
        request = HttpRequest()
        request.request_id = f"req-{n}"
        requests_.append((request, None, {}, b"body %d" % n))
    answers = ingest_service._check_all(requests_)
    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert checked == [b"body 0"]  # the others did not wait through retries of their own


def test_a_batcher_runs_what_queued_meanwhile_in_one_trip_and_answers_each_item_with_its_own_outcome():
    refused = ValueError("refused")

    def run(items: list[int]) -> list:
        return [refused if item == 3 else item * 10 for item in items]

    async def scenario() -> tuple[list, Batcher]:
        batcher = Batcher("test", run, max_items=100)
        held = threading.Event()
        batcher.executor.submit(held.wait, 10)  # busy: the first item waits for the thread, the rest queue
        tasks = [asyncio.create_task(batcher.submit(0))]
        while batcher.waiting < 1 or batcher.queue:  # taken as a batch of its own
            await asyncio.sleep(0.001)
        tasks += [asyncio.create_task(batcher.submit(item)) for item in range(1, 6)]
        while batcher.waiting < 6:
            await asyncio.sleep(0.001)
        held.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return outcomes, batcher

    outcomes, batcher = run_async(scenario())
    assert outcomes == [0, 10, 20, refused, 40, 50]
    assert (batcher.batches, batcher.items, batcher.waiting) == (2, 6, 0)


def test_a_batch_that_fails_as_a_whole_fails_each_of_its_items():
    def run(items: list[int]) -> list:
        raise OSError("the database went away")

    async def scenario() -> list:
        batcher = Batcher("test", run, max_items=2)
        outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)
        await batcher.close()
        return outcomes

    assert [str(outcome) for outcome in run_async(scenario())] == ["the database went away"] * 3


def test_a_body_over_the_limit_is_refused_whether_declared_or_streamed(service, project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 2048}
    big = one_event(message="x" * 4000)
    declared = post(f"{service.url}/api/{project.id}/envelope/", big, **auth(project_key))
    assert declared.status_code == 413
    assert declared.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert declared.headers["Access-Control-Allow-Origin"] == "*"

    # Chunked: no Content-Length to refuse up front; the service stops at the limit while reading.
    address = urlsplit(service.url)
    client = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    client.putrequest("POST", f"/api/{project.id}/envelope/")
    client.putheader("X-Sentry-Auth", auth(project_key)["X-Sentry-Auth"])
    client.putheader("Transfer-Encoding", "chunked")
    client.endheaders()
    for start in range(0, len(big), 1000):
        chunk = big[start : start + 1000]
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    client.send(b"0\r\n\r\n")
    streamed = client.getresponse()
    assert streamed.status == 413
    assert json.loads(streamed.read())["message"] == "The request body is over the limit of 2048 bytes."
    client.close()
    assert ReceivedEvent.objects.count() == 0


def test_the_quota_refuses_with_429_and_retry_after(service, project_key, project, settings, mid_window):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_BURST_PERCENT": 100}  # the rate alone
    quota.reset()
    quota.set_events_per_minute(project, 2)
    statuses = [post(f"{service.url}/api/{project.id}/envelope/", one_event(), **auth(project_key)) for _ in range(3)]
    assert [s.status_code for s in statuses] == [200, 200, 429]
    refused = statuses[2]
    assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused.headers["Retry-After"]) > 0
    assert "error" in refused.headers["X-Sentry-Rate-Limits"]
    assert ReceivedEvent.objects.count() == 2


def test_a_wrong_key_is_a_401_and_counted_as_rejected(service, project):
    before = metrics.INGEST_EVENTS.labels("rejected")._value.get()
    response = post(f"{service.url}/api/{project.id}/envelope/", one_event(), **auth("f" * 32))
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert response.headers["X-Sentry-Error"]
    assert metrics.INGEST_EVENTS.labels("rejected")._value.get() == before + 1


def test_preflights_and_other_paths_go_to_django(service, project):
    preflight = requests.options(
        f"{service.url}/api/{project.id}/envelope/",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert requests.get(f"{service.url}/health", timeout=10).status_code == 200
    wrong_method = requests.get(f"{service.url}/api/{project.id}/envelope/", timeout=10)
    assert (wrong_method.status_code, wrong_method.headers["Allow"]) == (405, "POST, OPTIONS")


def test_a_project_deleted_meanwhile_refuses_only_its_own_events(project):
    gone = keys.create_project(name="Gone", slug="gone")
    gone_id = gone.pk
    gone.delete()
    gone.pk = gone_id  # what a process that remembered its key still holds
    kept, lost = uuid.uuid4(), uuid.uuid4()
    outcomes = ingest.receive_many(
        [Received(project, kept, b"{}", "", envelope=False), Received(gone, lost, b"{}", "", envelope=False)]
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], keys.InvalidProjectKey)
    assert list(ReceivedEvent.objects.values_list("event_id", flat=True)) == [kept]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no server connection to lose")
def test_a_lost_writer_connection_is_replaced_and_the_event_kept(service, project, project_key, caplog):
    url = f"{service.url}/api/{project.id}/envelope/"
    assert post(url, one_event(), **auth(project_key)).status_code == 200
    writer_pid = service.app.writer.executor.submit(lambda: connections["default"].connection.info.backend_pid)
    with psycopg.connect(_dsn(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [writer_pid.result()]).fetchone()[0]
    assert post(url, one_event(message="after the restart"), **auth(project_key)).status_code == 200
    assert "database connection lost storing 1 events; retrying" in caplog.text
    assert ReceivedEvent.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no server connection to lose")
def test_a_database_that_stays_away_is_a_503_and_nothing_is_answered_2xx(
    service, project, project_key, settings, caplog
):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_KEY_CACHE_SECONDS": 60}
    url = f"{service.url}/api/{project.id}/envelope/"
    assert post(url, one_event(), **auth(project_key)).status_code == 200  # the key is remembered from here
    database = connections["default"].settings_dict
    writer_pid = service.app.writer.executor.submit(lambda: connections["default"].connection.info.backend_pid)
    port = database["PORT"]
    database["PORT"] = "1"  # new connections fail, as when the server is down; kept ones work until cut
    try:
        with psycopg.connect(_dsn(port), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [writer_pid.result()])
        refused = post(url, one_event(message="while the database is away"), **auth(project_key))
    finally:
        database["PORT"] = port
    assert refused.status_code == 503
    assert refused.json()["code"] == "SERVICE_UNAVAILABLE"
    assert refused.headers["Retry-After"] == "5"
    assert "database connection lost storing 1 events; retrying" in caplog.text  # refused by the writer
    assert post(url, one_event(message="back"), **auth(project_key)).status_code == 200
    assert ReceivedEvent.objects.count() == 2
    assert digestion.sweep_undigested(older_than_seconds=0) == 2
    assert not Event.objects.filter(message="while the database is away").exists()


def test_an_unreachable_database_is_a_503_from_the_service(tmp_path):
    # A separate process whose database cannot be opened at all, under a real server.
    script = f"""
import json, uvicorn, threading, time, requests
from tracepoint.ingest_asgi import application  # sets Django up
from tests.helpers import serve_asgi
with serve_asgi(application, lifespan="on") as url:
    answer = requests.post(url + "/api/1/envelope/", data=b"{{}}",
                           headers={{"X-Sentry-Auth": "Sentry sentry_key={"a" * 32}"}}, timeout=30)
print(json.dumps([answer.status_code, answer.headers.get("Retry-After"), answer.json()["code"]]))
"""
    last_line = run_without_database(script, tmp_path, allowed_host="127.0.0.1", timeout=90)
    assert json.loads(last_line) == [503, "5", "SERVICE_UNAVAILABLE"]


def _dsn(port=None) -> str:
    database = connection.settings_dict
    return (
        f"host={database['HOST'] or '127.0.0.1'} port={port or database['PORT'] or 5432} "
        f"user={database['USER']} dbname={database['NAME']}"
    )
